"""Why each SIM moves: a short reason per changed SIM, in the cost model's own terms.

An operator who approves a push wants to see, per SIM, why the new plan is cheaper: "12.0 MB:
M2M Data 10MB $2.20 (base $1.80 + overage $0.40 for 2.0 MB beyond 10 MB) → M2M Data 25MB $3.00
(fits 25 MB)", or, on a pool, how much room the pool has. Every figure in a reason is read
from :mod:`carrier_opt.core.pricing` — the SIM's charges from :func:`device_breakdown`, a
pool's load from :func:`pool_loads_mb`, its charge from :func:`pool_charges` — on the two
assignments being compared, so a reason cannot drift from the bill the report shows (the
report's cent columns apportion the same charges; each is within a cent of them).
"""

from __future__ import annotations

import numpy as np

from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import device_breakdown, pool_charges, pool_loads_mb

CHARGES = ("cost_usd", "base_usd", "sms_usd", "overage_usd")

NOT_PRICED = "its current plan is not offered, so it must move"
"""The reason of a SIM whose current plan was dropped (no "before" side to price)."""

UNPRICED_FLEET = "today's bill is not priced: another SIM's current plan is not offered"
"""Why a SIM's current side has no figures when some other SIM's plan was dropped."""


class _Side:
    """One assignment's terms for the reasons: every SIM's charges and every pool's state."""

    def __init__(self, instance: Instance, assignment: np.ndarray) -> None:
        self.instance = instance
        self.assignment = assignment
        lines = device_breakdown(instance, assignment)
        # Plain arrays: a reason reads four charges of one SIM, for every changed SIM.
        self.charges = {c: lines[c].to_numpy(dtype=float) for c in CHARGES}
        self.pool_load = pool_loads_mb(instance, assignment)
        self.pool_charge = pool_charges(instance, assignment)

    def describe(self, sim: int) -> str:
        """``PLAN $cost (why it costs that)`` of ``sim`` on this side."""
        instance = self.instance
        plan = int(self.assignment[sim])
        line = {charge: values[sim] for charge, values in self.charges.items()}
        allowance = instance.allowance_mb[plan] * instance.proration[sim]
        excess = instance.usage_mb[sim] - allowance
        head = f"{instance.plan_codes[plan]} ${line['cost_usd']:,.2f}"
        sms = f", SMS ${line['sms_usd']:,.2f}" if line["sms_usd"] > 0 else ""
        pool = instance.pool_of[plan]
        if pool >= 0:
            return f"{head} ({self._fit(excess, allowance)} in {self._pool_state(pool)}{sms})"
        if line["overage_usd"] > 0:
            return (
                f"{head} (base ${line['base_usd']:,.2f} + overage ${line['overage_usd']:,.2f} "
                f"for {excess:,.1f} MB beyond {allowance:,.4g} MB{sms})"
            )
        return f"{head} ({self._fit(excess, allowance)}{sms})"

    @staticmethod
    def _fit(excess: float, allowance: float) -> str:
        if excess <= 0:
            return f"fits {allowance:,.4g} MB"
        return f"{excess:,.1f} MB beyond its {allowance:,.4g} MB"

    def _pool_state(self, pool: int) -> str:
        name = self.instance.pool_names[pool]
        load = self.pool_load[pool]
        if load <= 0:
            return f"pool {name}, {-load:,.1f} MB spare"
        return f"pool {name}, {load:,.1f} MB over: ${self.pool_charge[pool]:,.2f} shared by excess"


def move_reasons(instance: Instance, current: np.ndarray, recommended: np.ndarray) -> np.ndarray:
    """One reason per SIM (object array; empty for SIMs that stay): its usage, what it costs
    on its current plan in the current assignment and on its new plan in the recommended
    one. ``current`` may hold -1 for SIMs on a dropped plan."""
    current = np.asarray(current, dtype=np.int64)
    recommended = np.asarray(recommended, dtype=np.int64)
    reasons = np.full(instance.n_devices, "", dtype=object)
    moving = np.flatnonzero(current != recommended)
    if len(moving) == 0:
        return reasons
    after = _Side(instance, recommended)
    priced = bool((current >= 0).all())
    before = _Side(instance, current) if priced else None
    for sim in moving.tolist():
        usage = f"{instance.usage_mb[sim]:,.1f} MB"
        if current[sim] < 0:
            was = NOT_PRICED
        elif before is None:  # pools cannot be priced while some SIM's plan is not offered
            was = f"{instance.plan_codes[current[sim]]} ({UNPRICED_FLEET})"
        else:
            was = before.describe(sim)
        reasons[sim] = f"{usage}: {was} → {after.describe(sim)}"
    return reasons
