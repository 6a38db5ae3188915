"""Batches of rate-plan changes that never leave the bill above where it started.

A push moves SIMs from the plans the carrier shows (the *state*) to the winning assignment (the
*target*) in batches of at most 250 PUTs. A push can stop after any batch (the deadline, a
carrier outage, a crash), so the bill the period then closes on is the bill of a *prefix* of the
batches. With pooled plans a SIM can cost more on its own and still belong to the cheapest
assignment (it brings allowance to a pool that others drain), so sending changes one by one,
biggest saving first, can leave a bill *higher* than doing nothing. The rule here:

    cost(state after any prefix of batches) ≤ cost(state before the push)

checked with the contract's cost model (:func:`~carrier_opt.core.pricing.total_cost`) at every
batch boundary. :func:`next_batch` picks one batch from a given state, so a push can re-plan
from the carrier's *actual* state after each batch (some PUTs may have failed);
:func:`plan_push` chains it, assuming every change is accepted, for previews and dry runs.

How a batch is chosen (a heuristic; only the exact check above decides what is safe):

1. every remaining change is priced alone against the current state (its *marginal* cost);
   the cheapest ``limit`` changes, most saving first, form the batch if the bill after them
   is within the baseline, else the longest safe prefix of that order does;
2. otherwise changes that only save together are taken together: the changes linked through
   the pools they leave or join (a connected component of pooled plans), whole, or their
   cheapest ``limit``;
3. when neither fits, nothing more is safe within the batch limit: the rest is held back and
   the reason says how far above the baseline the next step would take the bill.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import overage_units, pool_loads_mb, total_cost
from carrier_opt.errors import InputError

BATCH_LIMIT = 250
"""Most PUTs in one batch (the legacy system's batch size)."""

COST_TOLERANCE_USD = 1e-6
"""Float noise forgiven when a bill is compared with the baseline."""


@dataclass(frozen=True)
class PushBatch:
    """One batch: the SIMs it moves (device indices) and the bill before and after it."""

    devices: np.ndarray
    bill_before_usd: float
    bill_after_usd: float


@dataclass(frozen=True)
class PushPlan:
    """The batches of a whole push, assuming the carrier accepts every change."""

    baseline_usd: float
    """The bill of the state before the push: no prefix may end above it."""
    target_usd: float
    """The bill once every change is made (the winner's cost on the same SIMs)."""
    batches: list[PushBatch] = field(default_factory=list)
    held_back: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Devices whose change no safe batch could carry."""
    held_back_reason: str | None = None

    @property
    def changes(self) -> int:
        """Changes placed in batches."""
        return sum(len(batch.devices) for batch in self.batches)


def changed_devices(state: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Indices of the SIMs whose target differs from their state."""
    return np.flatnonzero(np.asarray(state) != np.asarray(target))


def next_batch(
    instance: Instance,
    state: np.ndarray,
    target: np.ndarray,
    remaining: np.ndarray,
    *,
    baseline_usd: float,
    limit: int = BATCH_LIMIT,
) -> PushBatch | None:
    """The next safe batch of ``remaining`` changes from ``state``, or ``None`` when no batch
    of at most ``limit`` changes keeps the bill within ``baseline_usd``."""
    state, target, remaining = _checked(instance, state, target, remaining, limit)
    if remaining.size == 0:
        return None
    before = total_cost(instance, state)
    deltas = marginal_costs(instance, state, target, remaining)
    order = remaining[np.lexsort((remaining, deltas))]
    chosen = _longest_safe_prefix(instance, state, target, order[:limit], baseline_usd)
    if chosen is None:
        chosen = _best_component(instance, state, target, remaining, deltas, baseline_usd, limit)
    if chosen is None:
        return None
    devices, after = chosen
    return PushBatch(np.sort(devices), before, after)


def plan_push(
    instance: Instance,
    state: np.ndarray,
    target: np.ndarray,
    *,
    limit: int = BATCH_LIMIT,
    devices: np.ndarray | None = None,
) -> PushPlan:
    """Every batch from ``state`` to ``target`` (only ``devices`` may move when given), as if
    the carrier accepted each change; what no safe batch carries is held back, with why."""
    state = np.array(state, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    remaining = changed_devices(state, target)
    if devices is not None:
        remaining = np.intersect1d(remaining, np.asarray(devices, dtype=np.int64))
    baseline = total_cost(instance, state)
    goal = state.copy()
    goal[remaining] = target[remaining]
    plan = PushPlan(baseline_usd=baseline, target_usd=total_cost(instance, goal))
    while remaining.size:
        batch = next_batch(instance, state, target, remaining, baseline_usd=baseline, limit=limit)
        if batch is None:
            reason = held_back_reason(instance, state, target, remaining, baseline, limit)
            return PushPlan(plan.baseline_usd, plan.target_usd, plan.batches, remaining, reason)
        plan.batches.append(batch)
        state[batch.devices] = target[batch.devices]
        remaining = np.setdiff1d(remaining, batch.devices, assume_unique=True)
    return plan


def held_back_reason(
    instance: Instance,
    state: np.ndarray,
    target: np.ndarray,
    remaining: np.ndarray,
    baseline_usd: float,
    limit: int,
) -> str:
    """Why ``remaining`` cannot be sent: the bill the cheapest next batch would leave."""
    state = np.asarray(state, dtype=np.int64)
    deltas = marginal_costs(instance, state, np.asarray(target), remaining)
    order = remaining[np.lexsort((remaining, deltas))][:limit]
    trial = state.copy()
    trial[order] = np.asarray(target)[order]
    over = total_cost(instance, trial) - baseline_usd
    return (
        f"{remaining.size} change(s) held back: no batch of at most {limit} of them keeps the "
        f"bill at or below ${baseline_usd:,.2f} (the best next batch of {order.size} would "
        f"raise it by ${over:,.2f}); they only save together with changes that did not "
        "go through, or the winner no longer beats the carrier's state"
    )


def marginal_costs(
    instance: Instance, state: np.ndarray, target: np.ndarray, devices: np.ndarray
) -> np.ndarray:
    """What each change of ``devices`` alone does to the bill of ``state`` (negative: saves).

    Exact for one change at a time: a pool is re-priced with the SIM's load taken out of (or
    added to) it; a change between two plans of one pool moves only the difference of loads.
    """
    devices = np.asarray(devices, dtype=np.int64)
    if devices.size == 0:
        return np.zeros(0)
    state = np.asarray(state, dtype=np.int64)
    usage, proration = instance.usage_mb[devices], instance.proration[devices]
    source, goal = state[devices], np.asarray(target, dtype=np.int64)[devices]
    # Slot n_pools stands for "no pool": its load and price are 0.
    slot_of = instance.pool_slot
    pool_load = np.append(pool_loads_mb(instance, state), 0.0)
    rate = np.append(instance.pool_overage_rate, 0.0)
    unit = np.append(instance.pool_unit_mb, 1.0)

    def charge(slots: np.ndarray, load: np.ndarray) -> np.ndarray:
        return overage_units(load, unit[slots]) * rate[slots]

    def fixed(plans: np.ndarray) -> np.ndarray:
        return instance.billed_base_rate[plans] * proration + (
            instance.sms_rate[plans] * instance.sms_count[devices]
        )

    def own_overage(plans: np.ndarray) -> np.ndarray:
        excess = usage - instance.allowance_mb[plans] * proration
        units = overage_units(excess, instance.overage_unit_mb[plans])
        return np.where(
            slot_of[plans] < instance.n_pools, 0.0, units * instance.billed_overage_rate[plans]
        )

    source_slot, goal_slot = slot_of[source], slot_of[goal]
    out_load = usage - instance.allowance_mb[source] * proration
    in_load = usage - instance.allowance_mb[goal] * proration
    same = (source_slot == goal_slot) & (source_slot < instance.n_pools)
    before_source = pool_load[source_slot]
    leave = charge(source_slot, before_source - out_load) - charge(source_slot, before_source)
    before_goal = pool_load[goal_slot]
    join = charge(goal_slot, before_goal + in_load) - charge(goal_slot, before_goal)
    within = charge(source_slot, before_source - out_load + in_load) - charge(
        source_slot, before_source
    )
    pools = np.where(same, within, leave + join)
    return fixed(goal) - fixed(source) + own_overage(goal) - own_overage(source) + pools


# --------------------------------------------------------------------------- internals


def _checked(
    instance: Instance, state: np.ndarray, target: np.ndarray, remaining: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not 1 <= limit <= BATCH_LIMIT:
        raise InputError(f"the batch limit must be 1..{BATCH_LIMIT}, got {limit}")
    state = np.asarray(state, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    shape = (instance.n_devices,)
    if state.shape != shape or target.shape != shape:
        raise InputError(f"state and target need one plan per SIM ({instance.n_devices})")
    for name, plans in (("state", state), ("target", target)):
        if plans.size and (plans.min() < 0 or plans.max() >= instance.n_plans):
            raise InputError(f"the {name} names a plan that is not priced")
    return state, target, np.asarray(remaining, dtype=np.int64)


def _longest_safe_prefix(
    instance: Instance,
    state: np.ndarray,
    target: np.ndarray,
    order: np.ndarray,
    baseline_usd: float,
) -> tuple[np.ndarray, float] | None:
    """The longest prefix of ``order`` (tried whole, then halved) ending within the baseline."""
    size = order.size
    while size >= 1:
        after = _bill_after(instance, state, target, order[:size])
        if after <= baseline_usd + COST_TOLERANCE_USD:
            return order[:size], after
        size //= 2
    return None


def _best_component(
    instance: Instance,
    state: np.ndarray,
    target: np.ndarray,
    remaining: np.ndarray,
    deltas: np.ndarray,
    baseline_usd: float,
    limit: int,
) -> tuple[np.ndarray, float] | None:
    """The cheapest safe group of changes linked through pooled plans (whole when it fits,
    else its ``limit`` cheapest changes, else its longest safe prefix)."""
    best: tuple[np.ndarray, float] | None = None
    for members in _pool_components(instance, state, target, remaining):
        ranked = members[np.lexsort((remaining[members], deltas[members]))]
        found = _longest_safe_prefix(
            instance, state, target, remaining[ranked[:limit]], baseline_usd
        )
        if found is not None and (best is None or found[1] < best[1] - COST_TOLERANCE_USD):
            best = found
    return best


def _pool_components(
    instance: Instance, state: np.ndarray, target: np.ndarray, remaining: np.ndarray
) -> list[np.ndarray]:
    """Positions in ``remaining`` grouped by the pools their changes leave or join
    (connected components; changes touching no pool are left out: they never need company)."""
    pool_of = instance.pool_of
    parent = list(range(instance.n_pools))

    def root(pool: int) -> int:
        while parent[pool] != pool:
            parent[pool] = parent[parent[pool]]
            pool = parent[pool]
        return pool

    sources, goals = pool_of[state[remaining]], pool_of[target[remaining]]
    for source, goal in zip(sources.tolist(), goals.tolist(), strict=True):
        if source >= 0 and goal >= 0:
            parent[root(source)] = root(goal)
    groups: dict[int, list[int]] = {}
    for position, (source, goal) in enumerate(zip(sources.tolist(), goals.tolist(), strict=True)):
        anchor = goal if goal >= 0 else source if source >= 0 else None
        if anchor is not None:
            groups.setdefault(root(anchor), []).append(position)
    return [np.asarray(members, dtype=np.int64) for _, members in sorted(groups.items())]


def _bill_after(
    instance: Instance, state: np.ndarray, target: np.ndarray, devices: np.ndarray
) -> float:
    trial = state.copy()
    trial[devices] = target[devices]
    return total_cost(instance, trial)


__all__ = [
    "BATCH_LIMIT",
    "PushBatch",
    "PushPlan",
    "changed_devices",
    "held_back_reason",
    "marginal_costs",
    "next_batch",
    "plan_push",
]
