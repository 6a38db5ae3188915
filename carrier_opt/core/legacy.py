"""The legacy baseline: a reconstruction of the seed system's queue strategies.

Why: the optimizer must never be worse than what the legacy system would have found, so the
project needs that number. The legacy assigner was never published (``legacy-behaviour.md``);
the seed document only names its ingredients. This module's interpretation:

* **Base assignment** — every unlocked SIM goes to the allowed plan with the smallest
  allowance at or above its usage (the largest allowance when none is big enough); ties go to
  the cheaper base rate. Locked SIMs stay where they are.
* **Queue** — one *rate-plan sequence* (a subset of the offered plans, ordered by allowance)
  combined with one device order. The SIMs are taken in that order and each goes, greedily,
  to the plan of the sequence (allowed by its communication plan) that raises the bill least
  given the SIMs placed before it — pools fill up as SIMs join, exactly as billed. SIMs whose
  communication plan allows no plan of the sequence keep their base-assignment plan.
* **Sequences** — every contiguous run of the plans sorted by allowance (2 plans or more),
  then the full offer; capped at ``max_sequences`` (the reference runs report 40–200).
* **Orders** — {no grouping, grouped by communication plan} × {largest usage first, smallest
  usage first}: grouping sorts by communication plan first, then by usage.
* **Winner** — the cheapest queue; the base assignment takes part, so the winner is never
  worse than it. (The seed picked winners per communication group; with pools shared across
  groups one account-wide winner is the consistent reading.)

Costs follow the same model as :mod:`core.pricing`, charge types included: placements use the
billed base and overage rates, and a pooled ``rate_only`` plan counts as a plan without a
billed pool (its SIMs never add overage). Ties in the base assignment go to the cheaper
*billed* base rate.

Being a reconstruction, it matches the reference ``seed_style_cost`` only approximately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import CEIL_TOLERANCE, pool_loads_mb, total_cost

BASE_QUEUE = "base assignment"


@dataclass(frozen=True)
class LegacyQueue:
    """One queue the legacy strategies tried: its name, rate-plan sequence and cost."""

    name: str
    plans: tuple[int, ...]  # plan indices in sequence order
    cost: float


def queue_name(sequence_number: int, order: str) -> str:
    """Stable name of a legacy queue (sequence numbers start at 1), as recorded in the DB."""
    return f"legacy #{sequence_number:03d}, {order}"


@dataclass(frozen=True)
class LegacyResult:
    """The legacy baseline's winning assignment and what it cost."""

    assignment: np.ndarray
    cost: float
    base_cost: float  # cost of the base assignment alone
    queues: int  # queues tried (sequences × orders)
    winner: str  # "base" or a description of the winning queue
    winning_queue: str = BASE_QUEUE  # name of the winning queue (see queue_name)
    tried: tuple[LegacyQueue, ...] = ()  # every queue with its cost, base assignment first


def base_assignment(instance: Instance) -> np.ndarray:
    """Each SIM on the allowed plan whose allowance is closest above its usage."""
    allowed = instance.allowed_for_devices()
    allowance = np.broadcast_to(instance.allowance_mb, allowed.shape)
    fits = allowed & (allowance >= instance.usage_mb[:, None])
    # Rank: smallest fitting allowance first, cheaper base rate breaks ties; otherwise largest.
    big = np.inf
    base_rate = instance.billed_base_rate
    fit_rank = np.where(fits, allowance + base_rate * 1e-9, big)
    fallback_rank = np.where(allowed, -allowance + base_rate * 1e-9, big)
    has_fit = fits.any(axis=1)
    choice = np.where(has_fit, fit_rank.argmin(axis=1), fallback_rank.argmin(axis=1))
    return choice.astype(np.int64)


def rate_plan_sequences(instance: Instance, max_sequences: int) -> list[np.ndarray]:
    """Contiguous runs of the plans sorted by allowance, the whole offer first."""
    by_allowance = np.argsort(instance.allowance_mb, kind="stable")
    n = len(by_allowance)
    sequences = [by_allowance]
    for length in range(n - 1, 1, -1):
        for start in range(n - length + 1):
            sequences.append(by_allowance[start : start + length])
    return sequences[:max_sequences]


def device_orders(instance: Instance) -> dict[str, np.ndarray]:
    """The four legacy device orders, by name."""
    usage = instance.usage_mb
    comm = instance.comm_plan
    return {
        "no grouping, largest first": np.lexsort((-usage,)),
        "no grouping, smallest first": np.lexsort((usage,)),
        "by communication plan, largest first": np.lexsort((-usage, comm)),
        "by communication plan, smallest first": np.lexsort((usage, comm)),
    }


def legacy_queues(
    instance: Instance, max_sequences: int = 200
) -> list[tuple[str, tuple[int, ...]]]:
    """(name, rate-plan sequence) of every queue :func:`legacy_baseline` tries, in its order,
    base assignment first — so the queues can be recorded before they are priced."""
    all_plans = tuple(int(p) for p in np.argsort(instance.allowance_mb, kind="stable"))
    queues = [(BASE_QUEUE, all_plans)]
    orders = list(device_orders(instance))
    for number, sequence in enumerate(rate_plan_sequences(instance, max_sequences), start=1):
        plans = tuple(int(p) for p in sequence)
        queues.extend((queue_name(number, order), plans) for order in orders)
    return queues


def legacy_baseline(instance: Instance, max_sequences: int = 200) -> LegacyResult:
    """Best of the base assignment and every legacy queue (module docstring)."""
    base = base_assignment(instance)
    base_cost = total_cost(instance, base)
    best, best_cost, winner, winning_queue = base, base_cost, "base", BASE_QUEUE
    all_plans = tuple(int(p) for p in np.argsort(instance.allowance_mb, kind="stable"))
    tried = [LegacyQueue(BASE_QUEUE, all_plans, base_cost)]
    allowed = instance.allowed_for_devices()
    orders = device_orders(instance)
    sequences = rate_plan_sequences(instance, max_sequences)
    for number, sequence in enumerate(sequences, start=1):
        in_sequence = np.zeros(instance.n_plans, dtype=bool)
        in_sequence[sequence] = True
        candidates = allowed & in_sequence & ~instance.locked[:, None]
        for name, order in orders.items():
            assignment = _greedy_queue(instance, order, candidates, base)
            cost = total_cost(instance, assignment)
            tried.append(LegacyQueue(queue_name(number, name), tuple(map(int, sequence)), cost))
            if cost < best_cost - 1e-9:
                best, best_cost = assignment, cost
                winner = f"{name}, plans {list(instance.plan_codes[sequence])}"
                winning_queue = tried[-1].name
    queues = len(sequences) * len(orders)
    return LegacyResult(best, best_cost, base_cost, queues, winner, winning_queue, tuple(tried))


def _greedy_queue(
    instance: Instance, order: np.ndarray, candidates: np.ndarray, base: np.ndarray
) -> np.ndarray:
    """Place SIMs one by one in ``order`` on the candidate plan that adds the least cost."""
    placed = ~candidates.any(axis=1)  # locked SIMs and SIMs the sequence cannot serve
    assignment = base.copy()
    pool_load = pool_loads_mb(instance, assignment, among=placed)
    _place(
        order[~placed[order]],
        candidates,
        instance.usage_mb,
        instance.proration,
        instance.sms_count,
        instance.billed_base_rate,
        instance.allowance_mb,
        instance.billed_overage_rate,
        instance.overage_unit_mb,
        instance.sms_rate,
        instance.pool_of,
        instance.pool_overage_rate,
        instance.pool_unit_mb,
        pool_load,
        assignment,
    )
    return assignment


@numba.njit(cache=True)
def _units(excess: float, unit: float) -> float:
    """Overage units as billed (ceil with the contract's tolerance)."""
    if excess <= 0.0:
        return 0.0
    return max(np.ceil(excess / unit - CEIL_TOLERANCE), 0.0)


@numba.njit(cache=True)
def _place(
    order,
    candidates,
    usage,
    proration,
    sms,
    base_rate,
    allowance,
    overage_rate,
    unit,
    sms_rate,
    pool_of,
    pool_rate,
    pool_unit,
    pool_load,
    assignment,
):
    """Numba loop of :func:`_greedy_queue`: pools are updated as each SIM joins."""
    for device in order:
        best_plan, best_delta = -1, np.inf
        for plan in range(candidates.shape[1]):
            if not candidates[device, plan]:
                continue
            delta = base_rate[plan] * proration[device] + sms_rate[plan] * sms[device]
            excess = usage[device] - allowance[plan] * proration[device]
            pool = pool_of[plan]
            if pool >= 0:
                before = pool_load[pool]
                after = before + excess
                delta += (
                    _units(after, pool_unit[pool]) - _units(before, pool_unit[pool])
                ) * pool_rate[pool]
            else:
                delta += _units(excess, unit[plan]) * overage_rate[plan]
            if delta < best_delta:
                best_plan, best_delta = plan, delta
        assignment[device] = best_plan
        if pool_of[best_plan] >= 0:
            pool_load[pool_of[best_plan]] += (
                usage[device] - allowance[best_plan] * proration[device]
            )
