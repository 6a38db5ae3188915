"""Numba kernels that polish an assignment with exact costs (pooled ``ceil`` included).

Why numba: a pass looks at every SIM × plan (15 M pairs for a million SIMs) and applies each
improving move at once, so pool loads change under the loop — a sequential algorithm numpy
cannot vectorise. Kernels are compiled with ``cache=True``, so only the first run on a machine
pays for compilation.

Costs follow the contract: a pool bills ``overage_rate · ceil(max(0, load) / unit − 1e-9)`` for
its load ``Σ (usage − allowance·proration)`` over the SIMs of all its plans; everything else a
SIM costs on a plan (base, SMS, its own overage on a plan that is not pooled) is the per-pair
``lin[d, p]``. ``pool_of[p]`` is plan ``p``'s pool (``-1``: none) and ``loads`` is indexed by
pool. What a SIM adds to its plan's pool is not stored: ``load`` is the tuple of
:class:`core.pair_costs.PairLoads` and :func:`sim_load` computes it where it is read. Two
plans of one pool make a move *within* the pool: the SIM's load changes by the
difference of its two loads, which is why every delta merges the changes of a shared pool.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

CEIL_TOLERANCE = 1e-9  # the contract's tolerance inside ceil (same as core.pricing)
IMPROVEMENT_EPS = 1e-9  # USD: smaller "improvements" are float noise and would cycle
KICK_MIN_SAVING = 1e-6  # USD a kick must save to be kept (the refill's moves are many)
PRUNE = True
"""Whether the passes skip what cannot pay before pricing it exactly: :func:`swap_pass` the
swaps between pools that bill nothing, whose linear part does not save; :func:`ejection_pass`
the onward moves that cannot beat its best chain so far (priced ahead, :func:`_onward`). Only
the tests switch it off, in the passes' Python forms, to compare them with the full ones."""
PRUNE_MARGIN = 1e-9  # USD: the pruning sums the same terms in another order than the chain
MAX_REFILL_PASSES = 50  # single-move passes after a kick (each improves, so they end sooner)


@njit(cache=True, inline="always")
def sim_load(load, d: int, p: int) -> float:
    """MB SIM ``d`` adds to plan ``p``'s pool: ``usage − allowance·proration`` on a plan that
    bills a pool, else 0 (``load`` = (usage, proration, allowance, bills), the relaxation's
    ``g`` of :mod:`core.bound`, in the same operations so the same floats)."""
    # Indexed, not unpacked: unpacking the tuple inside a loop made every call count references
    # on its arrays (the pass of row minima ran twice as slow from that alone).
    if load[3][p]:  # bills
        return load[0][d] - load[2][p] * load[1][d]  # usage − allowance·proration
    return 0.0


@njit(cache=True, inline="always")
def pool_charge(load: float, rate: float, unit: float) -> float:
    """Overage charge of a pool whose load (usage beyond allowance) is ``load`` MB."""
    if load <= 0.0:
        return 0.0
    units = math.ceil(load / unit - CEIL_TOLERANCE)
    if units <= 0.0:
        return 0.0
    return rate * units


@njit(cache=True, inline="always")
def _change(loads, q, change, rate, unit) -> float:
    """What pool ``q`` costs more when its load changes by ``change`` (0 when q < 0)."""
    if q < 0:
        return 0.0
    return pool_charge(loads[q] + change, rate[q], unit[q]) - pool_charge(
        loads[q], rate[q], unit[q]
    )


@njit(cache=True, inline="always")
def _changes(loads, q1, x1, q2, x2, q3, x3, rate, unit) -> float:
    """Cost change of up to three pool load changes, merged where the pools coincide."""
    if q2 >= 0 and q2 == q1:
        x1 += x2
        q2 = -1
    if q3 >= 0 and q3 == q1:
        x1 += x3
        q3 = -1
    elif q3 >= 0 and q3 == q2:
        x2 += x3
        q3 = -1
    return (
        _change(loads, q1, x1, rate, unit)
        + _change(loads, q2, x2, rate, unit)
        + _change(loads, q3, x3, rate, unit)
    )


@njit(cache=True)
def pool_loads(assign: np.ndarray, load, pool_of: np.ndarray, n_pools: int) -> np.ndarray:
    """Load of every pool under ``assign``."""
    loads = np.zeros(n_pools)
    for d in range(assign.shape[0]):
        p = assign[d]
        if pool_of[p] >= 0:
            loads[pool_of[p]] += sim_load(load, d, p)
    return loads


@njit(cache=True, inline="always")
def _add(loads, q, change) -> None:
    if q >= 0:
        loads[q] += change


@njit(cache=True)
def single_move_pass(
    assign: np.ndarray,
    lin: np.ndarray,
    load,
    movable: np.ndarray,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
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
        qa = pool_of[a]
        leave = _change(loads, qa, -sim_load(load, d, a), rate, unit)
        best = -1
        best_delta = -IMPROVEMENT_EPS
        for b in range(n_plans):
            if b == a or not np.isfinite(lin[d, b]):
                continue
            qb = pool_of[b]
            delta = lin[d, b] - lin[d, a]
            if qb >= 0 and qb == qa:
                delta += _change(loads, qa, sim_load(load, d, b) - sim_load(load, d, a), rate, unit)
            else:
                delta += leave + _change(loads, qb, sim_load(load, d, b), rate, unit)
            if delta < best_delta:
                best_delta = delta
                best = b
        if best >= 0:
            _add(loads, qa, -sim_load(load, d, a))
            _add(loads, pool_of[best], sim_load(load, d, best))
            assign[d] = best
            moves += 1
            saving -= best_delta
    return moves, saving


@njit(cache=True)
def swap_pass(
    assign: np.ndarray,
    lin: np.ndarray,
    load,
    candidates: np.ndarray,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
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
    # A pool that bills nothing now cannot bill less: a swap between two such pools (or plans
    # of none) saves only if its linear part does, which rules out most pairs at one addition.
    billing = _billing(loads, rate, unit)
    for i in range(k):
        d = candidates[i]
        for j in range(i + 1, k):
            e = candidates[j]
            a = assign[d]
            b = assign[e]
            if a == b or not np.isfinite(lin[d, b]) or not np.isfinite(lin[e, a]):
                continue
            qa = pool_of[a]
            qb = pool_of[b]
            delta = lin[d, b] + lin[e, a] - lin[d, a] - lin[e, b]
            if (
                PRUNE
                and delta >= -IMPROVEMENT_EPS
                and not (qa >= 0 and billing[qa])
                and not (qb >= 0 and billing[qb])
            ):
                continue
            into_a = sim_load(load, e, a) - sim_load(load, d, a)
            into_b = sim_load(load, d, b) - sim_load(load, e, b)
            delta += _changes(loads, qa, into_a, qb, into_b, -1, 0.0, rate, unit)
            if delta < -IMPROVEMENT_EPS:
                _add(loads, qa, into_a)
                _add(loads, qb, into_b)
                assign[d] = b
                assign[e] = a
                billing = _billing(loads, rate, unit)
                moves += 1
                saving -= delta
    return moves, saving


@njit(cache=True)
def assignment_cost(
    assign: np.ndarray,
    lin: np.ndarray,
    load,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
) -> float:
    """Exact cost of ``assign`` from the per-pair pieces (the kernels' own bookkeeping)."""
    total = 0.0
    for d in range(assign.shape[0]):
        total += lin[d, assign[d]]
    loads = pool_loads(assign, load, pool_of, rate.shape[0])
    for q in range(rate.shape[0]):
        total += pool_charge(loads[q], rate[q], unit[q])
    return total


@njit(cache=True)
def ejection_pass(
    assign: np.ndarray,
    lin: np.ndarray,
    load,
    movers: np.ndarray,
    fillers: np.ndarray,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
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
    # What each filler's onward move to each plan adds at the current pool loads: a chain whose
    # onward pool is not one its head changes costs head + onward[j, c], so most of the plans
    # are ruled out by one comparison. Computed again after each chain (the loads moved).
    onward = _onward(lin, load, fillers, pool_of, rate, unit, loads)
    for i in range(movers.shape[0]):
        d = movers[i]
        a = assign[d]
        qa = pool_of[a]
        best_delta = -IMPROVEMENT_EPS
        best_e = -1
        best_c = -1
        for j in range(fillers.shape[0]):
            e = fillers[j]
            b = assign[e]
            if e == d or b == a or not np.isfinite(lin[d, b]):
                continue
            qb = pool_of[b]
            into_b = sim_load(load, d, b) - sim_load(load, e, b)
            head_lin = lin[d, b] - lin[d, a] - lin[e, b]
            head = head_lin + _changes(
                loads, qa, -sim_load(load, d, a), qb, into_b, -1, 0.0, rate, unit
            )
            # Onward plans in a pool the head changes are priced with the head's changes; the
            # others cannot beat the best chain when head + onward does not.
            plain_cannot = PRUNE and head + onward[j, n_plans] - PRUNE_MARGIN >= best_delta
            if plain_cannot and qa < 0 and qb < 0:
                continue
            for c in range(n_plans):
                if c == a or c == b or not np.isfinite(lin[e, c]):  # noqa: SIM109 (numba)
                    continue
                qc = pool_of[c]
                merged = qc >= 0 and (qc == qa or qc == qb)  # noqa: SIM109 (numba)
                if not merged and (
                    plain_cannot or (PRUNE and head + onward[j, c] - PRUNE_MARGIN >= best_delta)
                ):
                    continue
                if merged:
                    delta = head_lin + lin[e, c]
                    delta += _changes(
                        loads,
                        qa,
                        -sim_load(load, d, a),
                        qb,
                        into_b,
                        qc,
                        sim_load(load, e, c),
                        rate,
                        unit,
                    )
                else:
                    delta = head + lin[e, c] + _change(loads, qc, sim_load(load, e, c), rate, unit)
                if delta < best_delta:
                    best_delta = delta
                    best_e = e
                    best_c = c
        if best_e >= 0:
            b = assign[best_e]
            _add(loads, qa, -sim_load(load, d, a))
            _add(loads, pool_of[b], sim_load(load, d, b) - sim_load(load, best_e, b))
            _add(loads, pool_of[best_c], sim_load(load, best_e, best_c))
            assign[d] = b
            assign[best_e] = best_c
            moves += 1
            saving -= best_delta
            onward = _onward(lin, load, fillers, pool_of, rate, unit, loads)
    return moves, saving


@njit(cache=True)
def _billing(loads, rate, unit) -> np.ndarray:
    """Per pool, whether it bills overage at ``loads``."""
    billing = np.zeros(loads.shape[0], dtype=np.bool_)
    for q in range(loads.shape[0]):
        billing[q] = pool_charge(loads[q], rate[q], unit[q]) > 0.0
    return billing


@njit(cache=True)
def _onward(lin, load, fillers, pool_of, rate, unit, loads) -> np.ndarray:
    """Per filler (row) and plan (column), ``lin`` of the plan plus what the filler's load
    adds to that plan's pool at ``loads``; the last column is each row's minimum (+inf where a
    plan is not allowed)."""
    n_plans = lin.shape[1]
    onward = np.full((fillers.shape[0], n_plans + 1), np.inf)
    for j in range(fillers.shape[0]):
        e = fillers[j]
        for c in range(n_plans):
            if np.isfinite(lin[e, c]):
                value = lin[e, c] + _change(loads, pool_of[c], sim_load(load, e, c), rate, unit)
                onward[j, c] = value
                onward[j, n_plans] = min(onward[j, n_plans], value)
    return onward


@njit(cache=True)
def _move_delta(assign, lin, load, d, b, pool_of, rate, unit, loads) -> float:
    """What moving SIM ``d`` to plan ``b`` costs more (merged where both plans share a pool)."""
    a = assign[d]
    qa, qb = pool_of[a], pool_of[b]
    delta = lin[d, b] - lin[d, a]
    if qb >= 0 and qb == qa:
        return delta + _change(loads, qa, sim_load(load, d, b) - sim_load(load, d, a), rate, unit)
    return delta + _changes(
        loads, qa, -sim_load(load, d, a), qb, sim_load(load, d, b), -1, 0.0, rate, unit
    )


@njit(cache=True)
def kick_pass(
    assign: np.ndarray,
    lin: np.ndarray,
    load,
    movable: np.ndarray,
    kicked: np.ndarray,
    targets: np.ndarray,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
    loads: np.ndarray,
) -> tuple[int, float]:
    """Uphill moves that pay once the others refill: SIM ``kicked[i]`` goes to ``targets[i]``
    even at a loss, is held there, and single moves of the ``movable`` SIMs follow; the whole
    is kept only when it saves money. Updates ``assign`` and ``loads`` in place.

    This is the move the other passes miss: a heavy SIM sits in a pool whose spare allowance
    many light SIMs would use better, but taking it out alone costs more than it frees, and
    filling the freed room takes dozens of moves, not two. Returns (kicks kept, saving USD).
    """
    kept = 0
    saving = 0.0
    for i in range(kicked.shape[0]):
        d, b = kicked[i], targets[i]
        if assign[d] == b or not np.isfinite(lin[d, b]):
            continue
        trial = assign.copy()
        trial_loads = loads.copy()
        gain = -_move_delta(trial, lin, load, d, b, pool_of, rate, unit, trial_loads)
        _add(trial_loads, pool_of[trial[d]], -sim_load(load, d, trial[d]))
        _add(trial_loads, pool_of[b], sim_load(load, d, b))
        trial[d] = b
        held = movable[d]
        movable[d] = False
        for _ in range(MAX_REFILL_PASSES):
            moves, refilled = single_move_pass(
                trial, lin, load, movable, pool_of, rate, unit, trial_loads
            )
            gain += refilled
            if moves == 0:
                break
        movable[d] = held
        if gain > KICK_MIN_SAVING:
            assign[:] = trial
            loads[:] = trial_loads
            kept += 1
            saving += gain
    return kept, saving
