"""Landing a pool on a unit boundary: the move that takes a whole overage unit off a pool.

Why: a pool bills whole units (``ceil``), but the tie LP prices them by the MB. Rounding its
answer leaves a pool a fraction of a unit over a boundary, billed as a whole unit, and no
single move, swap or two-move chain brings it back: each SIM that could leave moves a few
hundredths of an MB, at a few cents. The demo's fleet (15,592 SIMs, two pools) ended 2.42 MB
over its 50 MB pool, three 0.10 USD units, where taking 2.42 MB out through a few dozen
near-tied SIMs costs about 0.17 USD.

The move is a min-cost covering knapsack per pool: each candidate SIM offers its cheapest
move (USD per MB) out of the pool — to a plan of no pool, or to a plan of the same pool that
adds less — and the cheapest of them by USD per MB are taken until the pool's load is down
to a lower boundary, then the dearest of those no longer needed are dropped again. Every
number of units from one up to ``MAX_UNITS`` is tried and the move saving the most is
applied. Moves never touch another pool, so the saving is exact; the single-move pass after
it refills whatever allowance the landing left unused.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from carrier_opt.core.local_search import (
    CEIL_TOLERANCE,
    IMPROVEMENT_EPS,
    KICK_MIN_SAVING,
    pool_charge,
    sim_load,
)

MAX_UNITS = 8
"""Most overage units one landing tries to take off a pool. A pool billing many units sits
at a price of its full overage rate, where moves out cost more than the units they save."""

ROUNDS = 4
"""Landings in a row while they save (see :func:`land_pools`)."""

CANDIDATES = 200
"""Moves out of a pool, and moves into it, that a landing weighs: the cheapest per MB of
each (near the pool's price, where a move out and a move back in nearly cancel)."""

STEP_UNITS = 0.0025
"""The knapsack's step, in overage units of the pool: each move loses at most one step of
its MB to rounding (1 MB units: 2.5 KB)."""

STEPS = 40_000
"""Steps the knapsack tells apart: 100 units of the pool, so moves of up to about 90 units
(the demo's heaviest near-tie moves are 38 MB in a pool of 1 MB units) fit beside the
units taken off."""


@njit(cache=True)
def _moves(assign, lin, load, movable, rows, pool, pool_of):
    """Per SIM of ``rows`` (by position): its cheapest move per MB taken out of ``pool``
    (``out``) and its move that saves most per MB it adds to ``pool`` (``into``), each as
    (plan, USD, MB) with plan −1 where it has none. Moves to another pool are left out."""
    n_plans = lin.shape[1]
    count = rows.shape[0]
    out_plan = np.full(count, -1, dtype=np.int64)
    into_plan = np.full(count, -1, dtype=np.int64)
    out_usd, out_mb = np.zeros(count), np.zeros(count)
    into_usd, into_mb = np.zeros(count), np.zeros(count)
    for i in range(count):
        d = rows[i]
        if not movable[d]:
            continue
        a = assign[d]
        if pool_of[a] >= 0 and pool_of[a] != pool:
            continue
        here = sim_load(load, d, a) if pool_of[a] == pool else 0.0
        out_ratio, into_ratio = np.inf, 0.0
        for b in range(n_plans):
            if b == a or not np.isfinite(lin[d, b]):
                continue
            if pool_of[b] >= 0 and pool_of[b] != pool:
                continue
            taken = here - (sim_load(load, d, b) if pool_of[b] == pool else 0.0)
            cost = lin[d, b] - lin[d, a]
            if taken > 0.0 and cost / taken < out_ratio:
                out_ratio = cost / taken
                out_plan[i], out_usd[i], out_mb[i] = b, cost, taken
            elif taken < 0.0 and cost < 0.0 and cost / taken > into_ratio:
                into_ratio = cost / taken
                into_plan[i], into_usd[i], into_mb[i] = b, cost, -taken
    return out_plan, out_usd, out_mb, into_plan, into_usd, into_mb


@njit(cache=True)
def _candidates(ratio_usd, ratio_mb, has, most, busy) -> np.ndarray:
    """Positions of up to ``most`` moves (where ``has``, SIM not ``busy``), cheapest USD per
    MB first."""
    key = np.where(has & ~busy, ratio_usd / np.where(has, ratio_mb, 1.0), np.inf)
    order = np.argsort(key, kind="mergesort")
    count = min(most, int((has & ~busy).sum()))
    return order[:count]


@njit(cache=True)
def _knapsack(sizes, usd, low, top) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest USD to take out each number of steps ``low``..``top`` (index ``s − low``;
    ``sizes`` > 0 take out, < 0 put in, in steps) over 0/1 choices of the moves; a move whose
    sum would leave the range is not taken there. Returns (cost per steps, which move
    improved which steps, for the way back)."""
    width = top - low + 1
    cost = np.full(width, np.inf)
    cost[-low] = 0.0
    took = np.zeros((sizes.shape[0], width), dtype=np.bool_)
    for k in range(sizes.shape[0]):
        size = sizes[k]
        if size > 0:
            for i in range(width - 1, size - 1, -1):
                if cost[i - size] + usd[k] < cost[i]:
                    cost[i] = cost[i - size] + usd[k]
                    took[k, i] = True
        elif size < 0:
            for i in range(0, width + size):
                if cost[i - size] + usd[k] < cost[i]:
                    cost[i] = cost[i - size] + usd[k]
                    took[k, i] = True
    return cost, took


@njit(cache=True)
def land_pool(
    assign: np.ndarray,
    lin: np.ndarray,
    load,
    movable: np.ndarray,
    rows: np.ndarray,
    pool: int,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
    loads: np.ndarray,
    max_units: int = MAX_UNITS,
) -> tuple[int, float]:
    """Land ``pool`` on the unit boundary that costs least: up to ``max_units`` whole overage
    units off, or the room under its boundary used better, by moving SIMs of ``rows`` out of
    it and others in; updates ``assign`` and ``loads`` in place. Returns (moves, saving USD).

    The knapsack's step is ``STEP_UNITS`` of a unit, coarser only where the units to take
    off would not fit in its ``STEPS`` otherwise (a kicked SIM's hundreds of MB)."""
    current = loads[pool]
    charge = pool_charge(current, rate[pool], unit[pool])
    out_plan, out_usd, out_mb, into_plan, into_usd, into_mb = _moves(
        assign, lin, load, movable, rows, pool, pool_of
    )
    none = np.zeros(rows.shape[0], dtype=np.bool_)
    outs = _candidates(out_usd, out_mb, out_plan >= 0, CANDIDATES, none)
    busy = none.copy()
    busy[outs] = True
    intos = _candidates(into_usd, into_mb, into_plan >= 0, CANDIDATES, busy)
    if intos.shape[0] == 0:
        return 0, 0.0  # without a move that saves, no landing can pay
    billed = max(math.ceil(current / unit[pool] - CEIL_TOLERANCE), 0)
    units = min(billed, max_units)
    deepest = current - (billed - units) * unit[pool]  # MB out to take ``units`` off
    step = max(unit[pool] * STEP_UNITS, deepest / (STEPS // 4))
    # Steps taken out: from the room under the billed boundary (negative: moves in may
    # fill it) up to ``units`` off, within ``STEPS`` in all.
    low = max(math.ceil((current - billed * unit[pool]) / step), -STEPS // 4)
    top = min(math.ceil(deepest / step), STEPS // 4)
    top = max(top, 0) + STEPS // 2  # room for moves out that the moves in then balance
    # Steps round in the move's disfavour (out: down, in: up), so any sum the knapsack
    # reaches takes at least that many MB out.
    count = outs.shape[0] + intos.shape[0]
    sizes = np.empty(count, dtype=np.int64)
    usd = np.empty(count)
    for k in range(outs.shape[0]):
        sizes[k] = math.floor(out_mb[outs[k]] / step)
        usd[k] = out_usd[outs[k]]
    for k in range(intos.shape[0]):
        sizes[outs.shape[0] + k] = -math.ceil(into_mb[intos[k]] / step)
        usd[outs.shape[0] + k] = into_usd[intos[k]]
    cost, took = _knapsack(sizes, usd, low, top)
    # cheapest[i]: where the cheapest cost from index i on is (its first place).
    cheapest = np.empty(cost.shape[0], dtype=np.int64)
    cheapest[-1] = cost.shape[0] - 1
    for i in range(cost.shape[0] - 2, -1, -1):
        later = cheapest[i + 1]
        cheapest[i] = i if cost[i] <= cost[later] else later
    best_saving, best_end = IMPROVEMENT_EPS, -1
    for left in range(billed, billed - units - 1, -1):
        first = max(math.ceil((current - left * unit[pool]) / step), low)
        if first > top:
            break
        end = cheapest[first - low]
        if not np.isfinite(cost[end]):
            continue
        after = current - (end + low) * step  # at least this low: steps round against moves
        saving = charge - pool_charge(after, rate[pool], unit[pool]) - cost[end]
        if saving > best_saving:
            best_saving, best_end = saving, end
    if best_end < 0:
        return 0, 0.0
    moves, change, paid = 0, 0.0, 0.0
    i = best_end
    for k in range(count - 1, -1, -1):
        if not took[k, i]:
            continue
        i -= sizes[k]
        moves += 1
        if k < outs.shape[0]:
            at = outs[k]
            assign[rows[at]] = out_plan[at]
            change -= out_mb[at]
            paid += out_usd[at]
        else:
            at = intos[k - outs.shape[0]]
            assign[rows[at]] = into_plan[at]
            change += into_mb[at]
            paid += into_usd[at]
    loads[pool] += change
    # The exact saving, from the moves' own MB rather than their steps.
    return moves, charge - pool_charge(loads[pool], rate[pool], unit[pool]) - paid


@njit(cache=True)
def _distinct_pools(left: int, joined: int) -> np.ndarray:
    """The pools a move from pool ``left`` to pool ``joined`` touches (−1: none), once each."""
    if left >= 0 and joined >= 0 and left != joined:
        return np.array([left, joined])
    if left >= 0:
        return np.array([left])
    if joined >= 0:
        return np.array([joined])
    return np.empty(0, dtype=np.int64)


@njit(cache=True)
def kick_and_land(
    assign: np.ndarray,
    lin: np.ndarray,
    load,
    movable: np.ndarray,
    rows: np.ndarray,
    kicked: np.ndarray,
    lines: np.ndarray,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
    loads: np.ndarray,
) -> tuple[int, float]:
    """Each SIM of ``kicked`` (in order) moved to its line ``lines[k]`` at a loss, then the
    pool it left and the pool it joined landed by the SIMs of ``rows`` (all the units the
    kick put on them may come off); kept when the whole saves money, else undone. Updates
    ``assign`` and ``loads`` in place; ``movable`` is the caller's copy (a kicked SIM is held
    while the pools land). Returns (kicks kept, saving USD).

    Why: after the polish, what is left above the bound is mostly a few SIMs far from their
    cheapest line, each costing dollars. On synthetic-200k, light SIMs on a 250 MB pooled plan
    (12 USD each): their 250 MB of allowance carry heavy SIMs, and only moving some tens of
    near-tie SIMs out of that pool at once lets them go, which the single-move refill of
    ``local_search.kick_pass`` does not find."""
    held = np.empty(rows.shape[0], dtype=np.int64)
    kept, saving = 0, 0.0
    for k in range(kicked.shape[0]):
        d, line = kicked[k], lines[k]
        was = assign[d]
        if was == line or not movable[d] or not np.isfinite(lin[d, line]):
            continue
        for i in range(rows.shape[0]):
            held[i] = assign[rows[i]]
        loads_before = loads.copy()
        left, joined = pool_of[was], pool_of[line]
        delta = lin[d, line] - lin[d, was]
        touched = _distinct_pools(left, joined)
        for q in touched:
            delta -= pool_charge(loads[q], rate[q], unit[q])
        if left >= 0:
            loads[left] -= sim_load(load, d, was)
        if joined >= 0:
            loads[joined] += sim_load(load, d, line)
        for q in touched:
            delta += pool_charge(loads[q], rate[q], unit[q])
        assign[d] = line
        movable[d] = False
        for q in touched:
            units = max(math.ceil(loads[q] / unit[q] - CEIL_TOLERANCE), 0)
            _, saved = land_pool(
                assign, lin, load, movable, rows, q, pool_of, rate, unit, loads,
                max(units, MAX_UNITS),
            )  # fmt: skip
            delta -= saved
        movable[d] = True
        if delta < -KICK_MIN_SAVING:
            kept += 1
            saving -= delta
            continue
        for i in range(rows.shape[0]):
            assign[rows[i]] = held[i]
        assign[d] = was
        loads[:] = loads_before
    return kept, saving


def land_pools(
    assign: np.ndarray,
    lin: np.ndarray,
    load: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    movable: np.ndarray,
    rows: np.ndarray,
    pool_of: np.ndarray,
    rate: np.ndarray,
    unit: np.ndarray,
    loads: np.ndarray,
) -> tuple[int, float]:
    """:func:`land_pool` on every pool in turn (each move touches one pool only, so the
    pools do not interfere), again while it saves, up to ``ROUNDS`` times: a landing sees
    the cheapest ``CANDIDATES`` moves of the assignment it starts from, and after it moved
    some SIMs others become the cheapest (the demo: 24,818.86 → 24,818.80 in a second
    round). Returns (moves, saving USD)."""
    moves, saving = 0, 0.0
    for _ in range(ROUNDS):
        round_moves, round_saving = 0, 0.0
        for pool in range(len(loads)):
            made, saved = land_pool(
                assign, lin, load, movable, rows, pool, pool_of, rate, unit, loads
            )
            round_moves, round_saving = round_moves + made, round_saving + saved
        moves, saving = moves + round_moves, saving + round_saving
        if round_moves == 0:
            break
    return moves, saving
