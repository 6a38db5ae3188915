"""A sync's call budget, and the order calls are spent in when there is one (issue 27).

The carrier, not compute, bounds a sync: about 5 calls a second, one in flight. With a budget
(``carrier-opt sync NAME --max-calls N``, or a Dagster run's deadline) a sync spends its calls
in the order they are worth to the decision:

1. **search pages** (50 SIMs a call): without the whole listing nothing can be merged, so a
   budget spent before the search ends stops the sync (:class:`CallBudgetSpent`): its pages are
   kept and the next sync resumes them; the run decides on the usage already stored and says so;
2. **usage** — on an account that may call Get Usage by Rate Plan, its pages (a few per plan);
   per SIM otherwise (Essential accounts, SIMs the bulk answer missed), highest money at stake
   first (:func:`carrier_opt.core.staleness.money_at_stake`: heavy users in pools, SIMs near a
   break point, old readings);
3. **details that matter to money**: SIMs new to us first (their activation date prorates them),
   then SIMs the search listed as modified;
4. **everything else, stalest first**: SIMs whose details a budget left for later
   (``Device.details_at`` NULL).

A SIM whose usage was not refreshed keeps its last reading, projected from that reading's own
time (the merge leaves it alone). Without a budget every call is made, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from carrier_opt.errors import CarrierOptError
from carrier_opt.jasper.client import JasperClient


class CallBudgetSpent(CarrierOptError):
    """The call budget ran out before the search listing ended: nothing was merged; the next
    sync resumes the listing, and the run decides on the usage stored before."""


@dataclass
class CallBudget:
    """At most ``limit`` HTTP calls (retries included) from the moment it is made."""

    limit: int | None
    client: JasperClient
    start: int = 0

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise CarrierOptError(f"a call budget is at least 1 call, not {self.limit}")
        self.start = self.client.stats.calls

    @property
    def spent(self) -> int:
        return self.client.stats.calls - self.start

    def left(self) -> int | None:
        """Calls left (None: no budget)."""
        return None if self.limit is None else max(0, self.limit - self.spent)

    def allows(self, calls: int = 1) -> bool:
        """Whether ``calls`` more fit."""
        left = self.left()
        return left is None or left >= calls

    def take(self, wanted: int) -> int:
        """How many of ``wanted`` one-call items fit in what is left."""
        left = self.left()
        return wanted if left is None else min(wanted, left)

    def describe(self) -> str:
        return "no call budget" if self.limit is None else f"{self.spent:,} of {self.limit:,} calls"
