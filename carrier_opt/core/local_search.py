"""Numba kernels that polish an assignment with exact costs (pooled ``ceil`` included).

Why numba: a pass looks at every SIM × plan (15 M pairs for a million SIMs) and applies each
improving move at once, so pool loads change under the loop — a sequential algorithm numpy
cannot vectorise. Kernels are compiled with ``cache=True``, so only the first run on a machine
pays for compilation.

Costs follow the contract: a pooled plan bills ``overage_rate · ceil(max(0, load) / unit − 1e-9)``
for its pool's load ``Σ (usage − allowance·proration)``; everything else a SIM costs on a plan
(base, SMS, its own overage on a plan that is not pooled) is the per-pair ``lin[d, p]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

CEIL_TOLERANCE = 1e-9  # the contract's tolerance inside ceil (same as core.pricing)
IMPROVEMENT_EPS = 1e-9  # USD: smaller "improvements" are float noise and would cycle


@njit(cache=True, inline="always")
def pool_charge(load: float, rate: float, unit: float) -> float:
    """Overage charge of a pool whose load (usage beyond allowance) is ``load`` MB."""
    if load <= 0.0:
        return 0.0
    units = math.ceil(load / unit - CEIL_TOLERANCE)
    if units <= 0.0:
        return 0.0
    return rate * units


@njit(cache=True)
def pool_loads(
    assign: np.ndarray, load: np.ndarray, pooled: np.ndarray, n_plans: int
) -> np.ndarray:
    """Load of every pool under ``assign`` (0 for plans that are not pooled)."""
    loads = np.zeros(n_plans)
    for d in range(assign.shape[0]):
        p = assign[d]
        if pooled[p]:
            loads[p] += load[d, p]
    return loads


@njit(cache=True)
def single_move_pass(
    assign: np.ndarray,
    lin: np.ndarray,
    load: np.ndarray,
    movable: np.ndarray,
    pooled: np.ndarray,
    overage_rate: np.ndarray,
    overage_unit: np.ndarray,
    loads: np.ndarray,
) -> tuple[int, float]:
    """One pass of best-improvement single moves; updates ``assign`` and ``loads`` in place.

    ``lin`` holds +inf where a plan is not allowed. Returns (moves made, total saving USD).
    """
    n_devices, n_plans = lin.shape
    moves = 0
    saving = 0.0
    for d in range(n_devices):
        if not movable[d]:
            continue
        a = assign[d]
        leave = 0.0
        if pooled[a]:
            leave = pool_charge(loads[a] - load[d, a], overage_rate[a], overage_unit[a])
            leave -= pool_charge(loads[a], overage_rate[a], overage_unit[a])
        best = -1
        best_delta = -IMPROVEMENT_EPS
        for b in range(n_plans):
            if b == a or not np.isfinite(lin[d, b]):
                continue
            delta = lin[d, b] - lin[d, a] + leave
            if pooled[b]:
                delta += pool_charge(loads[b] + load[d, b], overage_rate[b], overage_unit[b])
                delta -= pool_charge(loads[b], overage_rate[b], overage_unit[b])
            if delta < best_delta:
                best_delta = delta
                best = b
        if best >= 0:
            if pooled[a]:
                loads[a] -= load[d, a]
            if pooled[best]:
                loads[best] += load[d, best]
            assign[d] = best
            moves += 1
            saving -= best_delta
    return moves, saving


@njit(cache=True)
def swap_pass(
    assign: np.ndarray,
    lin: np.ndarray,
    load: np.ndarray,
    candidates: np.ndarray,
    pooled: np.ndarray,
    overage_rate: np.ndarray,
    overage_unit: np.ndarray,
    loads: np.ndarray,
) -> tuple[int, float]:
    """Best-improvement swaps among ``candidates`` (SIM indices): d → e's plan, e → d's plan.

    Swaps escape the local optima of single moves where a pool sits at its allowance: a heavy
    SIM can only leave if a light one takes its place. Quadratic in the candidates, so callers
    pass a few thousand SIMs near a tie (small reduced-cost difference), not the whole fleet.
    """
    moves = 0
    saving = 0.0
    k = candidates.shape[0]
    for i in range(k):
        d = candidates[i]
        for j in range(i + 1, k):
            e = candidates[j]
            a = assign[d]
            b = assign[e]
            if a == b or not np.isfinite(lin[d, b]) or not np.isfinite(lin[e, a]):
                continue
            delta = lin[d, b] + lin[e, a] - lin[d, a] - lin[e, b]
            if pooled[a]:
                new_a = loads[a] - load[d, a] + load[e, a]
                delta += pool_charge(new_a, overage_rate[a], overage_unit[a])
                delta -= pool_charge(loads[a], overage_rate[a], overage_unit[a])
            if pooled[b]:
                new_b = loads[b] - load[e, b] + load[d, b]
                delta += pool_charge(new_b, overage_rate[b], overage_unit[b])
                delta -= pool_charge(loads[b], overage_rate[b], overage_unit[b])
            if delta < -IMPROVEMENT_EPS:
                if pooled[a]:
                    loads[a] += load[e, a] - load[d, a]
                if pooled[b]:
                    loads[b] += load[d, b] - load[e, b]
                assign[d] = b
                assign[e] = a
                moves += 1
                saving -= delta
    return moves, saving


@njit(cache=True)
def assignment_cost(
    assign: np.ndarray,
    lin: np.ndarray,
    load: np.ndarray,
    pooled: np.ndarray,
    overage_rate: np.ndarray,
    overage_unit: np.ndarray,
) -> float:
    """Exact cost of ``assign`` from the per-pair pieces (the kernels' own bookkeeping)."""
    n_plans = lin.shape[1]
    total = 0.0
    for d in range(assign.shape[0]):
        total += lin[d, assign[d]]
    loads = pool_loads(assign, load, pooled, n_plans)
    for p in range(n_plans):
        if pooled[p]:
            total += pool_charge(loads[p], overage_rate[p], overage_unit[p])
    return total


@njit(cache=True)
def ejection_pass(
    assign: np.ndarray,
    lin: np.ndarray,
    load: np.ndarray,
    movers: np.ndarray,
    fillers: np.ndarray,
    pooled: np.ndarray,
    overage_rate: np.ndarray,
    overage_unit: np.ndarray,
    loads: np.ndarray,
) -> tuple[int, float]:
    """Chains of two moves: a mover d goes to filler e's plan b, and e makes room by moving on
    to any plan c. Applies the best chain per mover when it saves money.

    This is the move single moves and swaps miss when pools sit at their allowance: a heavy
    SIM parked on the wrong tier can only move up if a light SIM leaves the tier above for a
    third one. ``movers`` are SIMs off their cheapest line, ``fillers`` SIMs near a tie.
    """
    n_plans = lin.shape[1]
    moves = 0
    saving = 0.0
    for i in range(movers.shape[0]):
        d = movers[i]
        a = assign[d]
        leave_a = 0.0
        if pooled[a]:
            leave_a = pool_charge(loads[a] - load[d, a], overage_rate[a], overage_unit[a])
            leave_a -= pool_charge(loads[a], overage_rate[a], overage_unit[a])
        best_delta = -IMPROVEMENT_EPS
        best_e = -1
        best_c = -1
        for j in range(fillers.shape[0]):
            e = fillers[j]
            b = assign[e]
            if e == d or b == a or not np.isfinite(lin[d, b]):
                continue
            head = lin[d, b] - lin[d, a] + leave_a
            new_b = loads[b] + load[d, b] - load[e, b]
            if pooled[b]:
                head += pool_charge(new_b, overage_rate[b], overage_unit[b])
                head -= pool_charge(loads[b], overage_rate[b], overage_unit[b])
            for c in range(n_plans):
                if c == a or c == b or not np.isfinite(lin[e, c]):  # noqa: SIM109 (numba)
                    continue
                delta = head + lin[e, c] - lin[e, b]
                if pooled[c]:
                    delta += pool_charge(loads[c] + load[e, c], overage_rate[c], overage_unit[c])
                    delta -= pool_charge(loads[c], overage_rate[c], overage_unit[c])
                if delta < best_delta:
                    best_delta = delta
                    best_e = e
                    best_c = c
        if best_e >= 0:
            b = assign[best_e]
            if pooled[a]:
                loads[a] -= load[d, a]
            if pooled[b]:
                loads[b] += load[d, b] - load[best_e, b]
            if pooled[best_c]:
                loads[best_c] += load[best_e, best_c]
            assign[d] = b
            assign[best_e] = best_c
            moves += 1
            saving -= best_delta
    return moves, saving
