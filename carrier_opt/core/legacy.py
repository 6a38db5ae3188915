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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from carrier_opt.core.instance import Instance
from carrier_opt.core.memory import release_freed_memory
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


BASE_BLOCK_ROWS = 65_536
"""SIMs ranked at a time by :func:`base_assignment`: its SIMs × plans rankings, taken whole,
peaked at 370 MB at 1 M SIMs, on top of the optimizer's bound when the two run side by side
(:func:`core.run.legacy_and_optimized`)."""


def base_assignment(instance: Instance) -> np.ndarray:
    """Each SIM on the allowed plan whose allowance is closest above its usage."""
    allowed = instance.allowed_for_devices()
    choice = np.empty(instance.n_devices, dtype=np.int64)
    for start in range(0, instance.n_devices, BASE_BLOCK_ROWS):
        rows = slice(start, start + BASE_BLOCK_ROWS)
        choice[rows] = _closest_above(instance, allowed[rows], instance.usage_mb[rows])
    return choice


def _closest_above(instance: Instance, allowed: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """:func:`base_assignment` of some SIMs, given their allowed plans and usage."""
    allowance = np.broadcast_to(instance.allowance_mb, allowed.shape)
    fits = allowed & (allowance >= usage[:, None])
    # Rank: smallest fitting allowance first, cheaper base rate breaks ties; otherwise largest.
    big = np.inf
    base_rate = instance.billed_base_rate
    fit_rank = np.where(fits, allowance + base_rate * 1e-9, big)
    fallback_rank = np.where(allowed, -allowance + base_rate * 1e-9, big)
    has_fit = fits.any(axis=1)
    return np.where(has_fit, fit_rank.argmin(axis=1), fallback_rank.argmin(axis=1))


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
    largest = np.argsort(-usage, kind="stable")
    smallest = np.argsort(usage, kind="stable")
    # A stable sort by communication plan of a usage order is the lexicographic order
    # (communication plan, usage, position) np.lexsort gives, at a fraction of its time.
    return {
        "no grouping, largest first": largest,
        "no grouping, smallest first": smallest,
        "by communication plan, largest first": largest[np.argsort(comm[largest], kind="stable")],
        "by communication plan, smallest first": smallest[
            np.argsort(comm[smallest], kind="stable")
        ],
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


def legacy_baseline(
    instance: Instance, max_sequences: int = 200, workers: int | None = None
) -> LegacyResult:
    """Best of the base assignment and every legacy queue (module docstring).

    The queues are independent greedy passes: ``workers`` threads (default one per core) price
    them at once, the numba pass releasing the GIL. Each device order's SIM data is gathered
    into that order once, so the pass reads memory in sequence instead of jumping to a random
    SIM at every step (at 1 M SIMs the jumps were most of its time). Only costs are kept; the
    winner is chosen by the sequential rule (a queue wins only when cheaper than every earlier
    one, in queue order) and its assignment is computed again, so neither the thread count nor
    the evaluation order changes the answer."""
    base = base_assignment(instance)
    base_cost = total_cost(instance, base)
    all_plans = tuple(int(p) for p in np.argsort(instance.allowance_mb, kind="stable"))
    orders = device_orders(instance)
    sequences = rate_plan_sequences(instance, max_sequences)
    costs: dict[tuple[int, str], float] = {}
    threads = max(1, min(workers or os.cpu_count() or 1, len(sequences)))
    starts = [_QueueStart.of(instance, base, sequence) for sequence in sequences]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for name, order in orders.items():
            priced = pool.map(_OrderedSims.of(instance, order, base).priced, starts)
            for number, cost in enumerate(priced, start=1):
                costs[number, name] = cost
    if threads > 1:
        release_freed_memory()
    tried = [LegacyQueue(BASE_QUEUE, all_plans, base_cost)]
    best_cost, winner, winning_queue, won = base_cost, "base", BASE_QUEUE, None
    for number, sequence in enumerate(sequences, start=1):
        for name in orders:
            cost = costs[number, name]
            tried.append(LegacyQueue(queue_name(number, name), tuple(map(int, sequence)), cost))
            if cost < best_cost - 1e-9:
                best_cost, won = cost, (sequence, name)
                winner = f"{name}, plans {list(instance.plan_codes[sequence])}"
                winning_queue = tried[-1].name
    best = base
    if won is not None:
        sequence, name = won
        best = greedy_queue(instance, orders[name], sequence, base)
    queues = len(sequences) * len(orders)
    return LegacyResult(best, best_cost, base_cost, queues, winner, winning_queue, tuple(tried))


def greedy_queue(
    instance: Instance, order: np.ndarray, sequence: np.ndarray, base: np.ndarray
) -> np.ndarray:
    """The assignment of one legacy queue: ``sequence``'s plans, SIMs taken in ``order``."""
    return _OrderedSims.of(instance, order, base).greedy(_QueueStart.of(instance, base, sequence))


@dataclass(frozen=True)
class _QueueStart:
    """What a queue of one rate-plan sequence starts from, whatever its device order: the
    plans each communication plan may take from the sequence, and the pools' load of the SIMs
    that keep their base plan (locked, or not served by the sequence). Computed once per
    sequence, not once per queue: 9 ms of each of the 40 queues at 1 M SIMs."""

    allowed: np.ndarray  # communication plans × plans
    pool_load: np.ndarray  # per pool, MB; each queue works on a copy

    @classmethod
    def of(cls, instance: Instance, base: np.ndarray, sequence: np.ndarray) -> _QueueStart:
        in_sequence = np.zeros(instance.n_plans, dtype=bool)
        in_sequence[sequence] = True
        allowed = instance.allowed & in_sequence  # per communication plan
        placed = instance.locked | ~allowed.any(axis=1)[instance.comm_plan]
        return cls(allowed, pool_loads_mb(instance, base, among=placed))


@dataclass(frozen=True)
class _OrderedSims:
    """One device order's SIM data, gathered into that order (the greedy pass's input)."""

    instance: Instance
    order: np.ndarray
    base: np.ndarray  # the base assignment (original SIM order)
    usage: np.ndarray
    proration: np.ndarray
    sms: np.ndarray
    comm: np.ndarray
    locked: np.ndarray
    base_in_order: np.ndarray

    @classmethod
    def of(cls, instance: Instance, order: np.ndarray, base: np.ndarray) -> _OrderedSims:
        return cls(
            instance,
            order,
            base,
            np.ascontiguousarray(instance.usage_mb[order]),
            np.ascontiguousarray(instance.proration[order]),
            np.ascontiguousarray(instance.sms_count[order]),
            np.ascontiguousarray(instance.comm_plan[order]),
            np.ascontiguousarray(instance.locked[order]),
            np.ascontiguousarray(base[order]),
        )

    def priced(self, start: _QueueStart) -> float:
        """What the queue of ``start``'s sequence in this order costs."""
        return total_cost(self.instance, self.greedy(start))

    def greedy(self, start: _QueueStart) -> np.ndarray:
        """The queue of ``start``'s sequence in this order: SIMs placed one by one on the plan
        of the sequence (allowed by their communication plan) that adds the least cost; locked
        SIMs and SIMs the sequence cannot serve keep their base plan (their pool load counts
        from the start)."""
        instance = self.instance
        allowed, pool_load = start.allowed, start.pool_load.copy()
        chosen = np.empty_like(self.base_in_order)
        _place(
            self.usage,
            self.proration,
            self.sms,
            self.comm,
            self.locked,
            self.base_in_order,
            allowed,
            instance.billed_base_rate,
            instance.allowance_mb,
            instance.billed_overage_rate,
            instance.overage_unit_mb,
            instance.sms_rate,
            instance.pool_of,
            instance.pool_overage_rate,
            instance.pool_unit_mb,
            pool_load,
            chosen,
        )
        assignment = np.empty_like(self.base)
        assignment[self.order] = chosen
        return assignment


@numba.njit(cache=True, nogil=True)
def _units(excess: float, unit: float) -> float:
    """Overage units as billed (ceil with the contract's tolerance)."""
    if excess <= 0.0:
        return 0.0
    return max(np.ceil(excess / unit - CEIL_TOLERANCE), 0.0)


@numba.njit(cache=True, nogil=True)
def _place(
    usage,
    proration,
    sms,
    comm,
    locked,
    base,
    allowed,
    base_rate,
    allowance,
    overage_rate,
    unit,
    sms_rate,
    pool_of,
    pool_rate,
    pool_unit,
    pool_load,
    chosen,
):
    """Numba loop of :meth:`_OrderedSims.greedy` over SIMs already in queue order: pools are
    updated as each SIM joins."""
    for device in range(usage.shape[0]):
        chosen[device] = base[device]
        if locked[device]:
            continue
        best_plan, best_delta = -1, np.inf
        for plan in range(allowed.shape[1]):
            if not allowed[comm[device], plan]:
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
        if best_plan < 0:  # the sequence cannot serve this SIM: it keeps its base plan
            continue
        chosen[device] = best_plan
        if pool_of[best_plan] >= 0:
            pool_load[pool_of[best_plan]] += (
                usage[device] - allowance[best_plan] * proration[device]
            )
