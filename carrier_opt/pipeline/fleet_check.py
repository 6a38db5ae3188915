"""Cross-checks of a sync's listing against what else the carrier and the database say.

Paging faults are caught page by page (:mod:`carrier_opt.jasper.paging`), but a carrier can
lose SIMs in ways no single page shows. Two facts tell, before the sync completes and moves
its watermark (after which the lost SIMs would stay lost, issue 26):

* **SIMs the usage knows but the listing does not.** Get Usage by Rate Plan lists every SIM on
  each plan; a SIM it lists that is neither stored nor staged was left out of the search. A
  few can be honest: SIMs added after the search began (their details say so, and they are
  staged from them) and records the search sent without a usable ICCID (skipped, and stored).
* **Known SIMs modified inside the window but not listed.** A SIM's modification time only
  moves forward, so every stored SIM modified at or after ``modifiedSince`` must be in the
  listing. A few may have been purged at the carrier; more than :data:`SHORTFALL_SHARE` of
  them (and more than :data:`SHORTFALL_ALLOWED`) means the listing is short.

Either failure raises :class:`IncompleteListingError`: the sync fails without merging, and the
next sync sweeps the whole window afresh (``JasperSyncRun.full_sweep_next``) instead of
resuming the short listing. ``carrier-opt sync NAME --since ...`` repairs by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.payloads import Device, PayloadProblem

SHORTFALL_SHARE = 0.02
"""Share of the known SIMs modified in the window that may be missing from the listing
(purged at the carrier) before the sync stops."""

SHORTFALL_ALLOWED = 5
"""Known SIMs that may be missing from the listing whatever the share (small fleets)."""

LATE_ARRIVAL_LOOKUPS = 20
"""Unknown SIMs in the usage whose details are read to tell a late arrival from a lost SIM;
beyond this many the listing is taken as short without spending the calls."""

EXAMPLES = 3


class IncompleteListingError(CarrierApiError):
    """The carrier's device listing left SIMs out: the sync stops before it completes, and
    the next one sweeps the whole window (a year back) afresh."""


@dataclass(frozen=True)
class UsageCrossCheck:
    """What the bulk usage check found: SIMs staged from their details as late arrivals, and
    the unknown SIMs accepted because the search sent that many records without an ICCID."""

    late_arrivals: tuple[Device, ...]
    unmatched: tuple[str, ...]


def check_listing_shortfall(expected: set[str], listed: set[str], *, since: datetime) -> None:
    """Raise when more known SIMs modified since ``since`` are missing from the listing than
    a purge at the carrier explains (see the module docstring)."""
    missing = sorted(expected - listed)
    allowed = max(SHORTFALL_ALLOWED, int(SHORTFALL_SHARE * len(expected)))
    if len(missing) <= allowed:
        return
    raise IncompleteListingError(
        f"the carrier's device listing is short: {len(missing):,} of the {len(expected):,} "
        f"known SIMs modified since {since:%Y-%m-%d %H:%M} UTC are not in it (e.g. "
        f"{', '.join(missing[:EXAMPLES])}; at most {allowed:,} may be purged); nothing was "
        f"merged and the watermark did not move; {_NEXT_SYNC}"
    )


def check_usage_against_listing(
    in_usage: set[str],
    known: set[str],
    *,
    skipped: Iterable[PayloadProblem],
    search_began: datetime,
    details_of: Callable[[str], Device | None],
) -> UsageCrossCheck:
    """SIMs the bulk usage lists that the listing never held: late arrivals (their details
    dated after ``search_began``) are answered to be staged; the search's records without an
    ICCID may account for as many others; more raises :class:`IncompleteListingError`."""
    skipped = list(skipped)
    skipped_iccids = {p.iccid for p in skipped if p.iccid}
    unknown = sorted(in_usage - known - skipped_iccids)
    if not unknown:
        return UsageCrossCheck((), ())
    without_iccid = sum(1 for p in skipped if p.iccid is None and p.endpoint == "GET /devices")
    if len(unknown) > without_iccid + LATE_ARRIVAL_LOOKUPS:
        raise _usage_error(unknown, len(in_usage), without_iccid)
    late, lost = [], []
    for iccid in unknown:
        device = details_of(iccid)
        if device is not None and _arrived_after(device, search_began):
            late.append(device)
        else:
            lost.append(iccid)
    if len(lost) > without_iccid:
        raise _usage_error(lost, len(in_usage), without_iccid)
    return UsageCrossCheck(tuple(late), tuple(lost))


def _arrived_after(device: Device, moment: datetime) -> bool:
    stamps = [stamp for stamp in (device.date_added, device.date_updated) if stamp is not None]
    return bool(stamps) and max(stamps) >= moment


def _usage_error(unknown: list[str], in_usage: int, without_iccid: int) -> IncompleteListingError:
    excuse = (
        f" (the search sent {without_iccid} record(s) without an ICCID)" if without_iccid else ""
    )
    return IncompleteListingError(
        f"the carrier's usage lists {len(unknown):,} SIMs of {in_usage:,} that its device "
        f"listing left out{excuse} (e.g. {', '.join(unknown[:EXAMPLES])}); nothing was merged "
        f"and the watermark did not move; {_NEXT_SYNC}"
    )


_NEXT_SYNC = (
    "the next sync sweeps the whole fleet (a year back) afresh; "
    "`carrier-opt sync NAME --since ...` sweeps another window"
)
