"""The rate-plan optimizer: near-optimal assignment of SIMs to plans, with a proof of quality.

How it works, and why:

1. **Lower bound and prices.** :func:`core.bound.lagrangian_bound` finds one price ``λ_p``
   per pool (USD per MB of pool load) at which the LP relaxation is tight. At those
   prices each SIM's best plan is the cheapest *line* ``lin[d, p] + λ_p · load[d, p]`` — the
   whole account is priced at once, so pools shared across communication groups are handled
   together.
2. **Start.** Every SIM takes its cheapest line (locked SIMs stay put). This is the LP optimum
   except for SIMs tied between plans, which decide whether pools end at their allowance.
3. **Polish.** Numba local search with exact costs (pooled ``ceil`` included): single moves
   until none improves, then swaps among SIMs close to a tie (where single moves get stuck
   because a pool sits at its allowance). The current assignment and any caller-given starts
   (the legacy baseline) are polished too; the cheapest wins, so the answer is never worse
   than any of them.
4. **Prove or improve.** For any assignment ``x``, ``cost(x) ≥ L(λ) + Σ_d (rc[d, x_d] −
   min_p rc[d, p])`` with reduced costs ``rc = lin + λ·load``. So a (SIM, plan) pair whose
   reduced-cost excess alone exceeds ``best − L(λ)`` cannot appear in any better assignment.
   What is left is usually small: an exact MILP (HiGHS) over it either improves the answer or
   proves it optimal.

Pool kernels see only pools that bill (:attr:`Instance.pool_of`, a pool being a pooled plan
alone or the pooled plans sharing a ``rate_pool``) at billed overage rates, so charge types
and multi-plan pools (``docs/optimizer-contract-extensions.md``) follow the pricing module.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from carrier_opt.core import local_search as ls
from carrier_opt.core.bound import LowerBound, lagrangian_bound, linearised_costs
from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import total_cost

ProgressCallback = Callable[[str, float], None]
"""Called with (stage description, fraction of the run done) so a CLI can draw a bar."""

MILP_MAX_FREE_PAIRS = 20_000
"""Most (SIM, plan) alternatives handed to the exact MILP. HiGHS proves small restricted
problems optimal in seconds but may overrun its time limit on large ones, so beyond this the
polished answer stands (its gap to the bound is still reported)."""

MIN_TIE_PAIRS, MAX_TIE_PAIRS = 20_000, 100_000
"""How many near-tie (SIM, plan) alternatives the tie-splitting LP considers: a third of the
SIM count within these limits (enough for the LP over them to reach the bound, small enough
to solve in a second or two)."""

SWAP_CANDIDATES = 3_000
"""SIMs nearest a tie that take part in swaps and make room in two-move chains."""

MISPLACED_CANDIDATES = 1_000
"""SIMs farthest from their cheapest line that the swap and chain passes try to move."""

MAX_POLISH_ROUNDS = 20

MAX_TIE_ROUNDS = 8
"""LP re-solves while fixing fractional SIMs; the cheapest rounding seen is kept."""

EXACT_TIE = 1e-9
"""Reduced-cost excess (USD) up to which two lines of a SIM count as exactly tied."""

NEGLIGIBLE_EXCESS = 1e-6
"""Excess (USD) below which a line is as good as tied on a large fleet: pool prices come from
a time-limited bound, so lines tied in exact arithmetic differ by such crumbs."""

TIE_TIME_SHARE = 0.3
"""Share of the remaining time the tie-splitting LPs may use."""


@dataclass(frozen=True)
class Stage:
    """What one step of the optimizer achieved (for summaries and benchmarks)."""

    name: str
    cost: float
    seconds: float


@dataclass(frozen=True)
class OptimizationResult:
    """The best assignment found and the evidence of its quality."""

    assignment: np.ndarray  # plan index per SIM
    cost: float  # USD, exact cost model
    bound: LowerBound  # LP bound (Lagrangian): no assignment costs less than bound.value
    proven_optimal: bool  # the MILP closed the remaining gap
    proven_bound: float  # best valid lower bound known (≥ bound.value when the MILP ran)
    seconds: float
    stages: tuple[Stage, ...] = field(default=())

    @property
    def gap(self) -> float:
        """``(cost − bound) / bound`` against the LP bound, as the contract defines it."""
        return (self.cost - self.bound.value) / max(abs(self.bound.value), 1e-12)


@dataclass(frozen=True)
class PairCosts:
    """Per (SIM, plan) cost pieces shared by every stage (``lin`` is +inf if not allowed)."""

    lin: np.ndarray  # USD without pooled overage
    load: np.ndarray  # MB a SIM adds to its plan's pool (0 for plans that are not pooled)
    movable: np.ndarray  # bool per SIM: False for locked SIMs

    @classmethod
    def of(cls, instance: Instance) -> PairCosts:
        """Build the pieces with the relaxation's own formulas (one source of truth)."""
        devices = np.arange(instance.n_devices)
        plans = np.arange(instance.n_plans)
        lin, load = linearised_costs(instance, devices, plans)
        lin[~instance.allowed_for_devices()] = np.inf
        return cls(np.ascontiguousarray(lin), np.ascontiguousarray(load), ~instance.locked)


class _Run:
    """Deadline, progress and stage bookkeeping of one optimization."""

    def __init__(self, time_limit_s: float, progress: ProgressCallback | None) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + time_limit_s
        self.time_limit_s = time_limit_s
        self.progress = progress
        self.stages: list[Stage] = []

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def report(self, name: str, cost: float) -> None:
        elapsed = time.monotonic() - self.started
        self.stages.append(Stage(name, cost, elapsed))
        if self.progress is not None:
            self.progress(name, min(elapsed / self.time_limit_s, 1.0))


def optimize(
    instance: Instance,
    *,
    time_limit_s: float = 60.0,
    starts: Sequence[np.ndarray] = (),
    progress: ProgressCallback | None = None,
) -> OptimizationResult:
    """Cheapest assignment found within ``time_limit_s``, never worse than any valid start.

    ``starts`` are extra assignments to compare with and polish (the legacy baseline); the
    current assignment is always one when it is valid.
    """
    run = _Run(time_limit_s, progress)
    pieces = PairCosts.of(instance)
    bound = lagrangian_bound(instance, time_limit_s=max(0.25 * time_limit_s, 1.0))
    run.report("lower bound", bound.value)
    reduced = pieces.lin + bound.prices * pieces.load
    near_ties = _near_ties(reduced, pieces.movable)
    start = _split_ties(instance, pieces, reduced, run)
    best = _polish(instance, pieces, start, reduced, near_ties, run)
    run.report("priced start polished", _cost(instance, pieces, best))
    if run.left() > 0:
        # The polish balances pools with "filler" SIMs off their cheapest line; one more tie
        # LP around the polished answer lets the tied SIMs take that role instead.
        again = _split_ties(instance, pieces, reduced, run, base=best)
        again = _polish(instance, pieces, again, reduced, near_ties, run)
        if _cost(instance, pieces, again) < _cost(instance, pieces, best):
            best = again
        run.report("re-split around the polished answer", _cost(instance, pieces, best))
    for start in (instance.current_plan, *starts):
        # Polishing a worse start rarely beats the priced one: only a cheaper start is polished.
        if _is_valid(pieces, start) and _cost(instance, pieces, start) < _cost(
            instance, pieces, best
        ):
            best = _polish(instance, pieces, start.astype(np.int64), reduced, near_ties, run)
    best_cost = _cost(instance, pieces, best)
    run.report("starts compared", best_cost)
    proven, proven_bound = False, bound.value
    if run.left() > 0:
        best, proven, proven_bound = _prove_or_improve(instance, pieces, reduced, best, run)
        best_cost = _cost(instance, pieces, best)
        run.report("MILP", best_cost)
    return OptimizationResult(
        assignment=best,
        cost=total_cost(instance, best),  # the pricing module is the reference cost model
        bound=bound,
        proven_optimal=proven,
        proven_bound=max(proven_bound, bound.value),
        seconds=time.monotonic() - run.started,
        stages=tuple(run.stages),
    )


def _split_ties(
    instance: Instance,
    pieces: PairCosts,
    reduced: np.ndarray,
    run: _Run,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """Each SIM on its cheapest line, with SIMs (nearly) tied split by the LP over them.

    Ties are where pools end up over or under their allowance: deciding them one SIM at a
    time (local search) gets stuck, while the LP over the tied pairs splits each tie class so
    the pools end at their allowance. A basic LP solution leaves at most one SIM per pool
    fractional; rounding a heavy one would throw its pool far off balance, so fractional SIMs
    are fixed to their largest share and the LP is solved again — the other tied SIMs then
    rebalance around them — until every SIM is whole.

    With ``base`` (an assignment), every SIM may also keep its plan there: the LP then starts
    from that answer and only improves what the ties allow.
    """
    if reduced.shape[0] // 3 > MAX_TIE_PAIRS and reduced.shape[1] > 1:
        return _split_crowded_ties(instance, pieces, reduced, run, base)
    start = np.argmin(reduced, axis=1).astype(np.int64)
    excess = reduced - reduced.min(axis=1, keepdims=True)
    keep = excess <= _tie_threshold(excess, pieces.movable)
    if base is not None:
        start = base.copy()
        keep[np.arange(len(base)), base] = True
    if keep.sum() - keep.shape[0] <= 0:
        return start
    best, best_cost = start, _cost(instance, pieces, start)
    deadline = time.monotonic() + run.left() * TIE_TIME_SHARE
    for _ in range(MAX_TIE_ROUNDS):
        model = _restricted_model(instance, pieces, keep)
        left = deadline - time.monotonic()
        if len(model.free_rows) == 0 or left <= 0:
            break
        found = _solve(model, integral=False, time_left_s=left)
        if found is None:
            break
        rounded, shares = found[0], found[3]
        cost = _cost(instance, pieces, rounded)
        if cost < best_cost:
            best, best_cost = rounded, cost
        fractional = np.unique(model.free_rows[(shares > 1e-6) & (shares < 1 - 1e-6)])
        if len(fractional) == 0:
            break
        keep[fractional] = False
        keep[fractional, rounded[fractional]] = True
    return best


def _split_crowded_ties(
    instance: Instance,
    pieces: PairCosts,
    reduced: np.ndarray,
    run: _Run,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`_split_ties` for fleets too large for the LP to hold a third of their SIMs.

    There, (nearly) exact ties alone can fill the LP's budget: two pools at one price tie
    every SIM that may use both (143 k SIMs of a 1 M fleet). Over those ties alone the LP
    cannot bring each pool to its allowance (it stayed 0.3 % above the bound), so the closest
    near ties come on top of them. To keep that LP small, each SIM weighs one
    move only: from its line (``base``, else its cheapest) to its closest other line. The
    variable ``x_d`` is the share that moves, so the LP has one row per pool and nothing else,
    which HiGHS's interior-point method (with crossover: a basic answer) solves in a second
    or two at 1 M SIMs where the simplex over the full model needs several.
    """
    sims = np.arange(reduced.shape[0])
    start = np.argmin(reduced, axis=1).astype(np.int64) if base is None else base.copy()
    elsewhere = reduced.copy()
    elsewhere[sims, start] = np.inf
    other = np.argmin(elsewhere, axis=1)
    del elsewhere
    # How far the other line is from the SIM's cheapest: exact ties first, then the closest.
    gap = np.where(pieces.movable, reduced[sims, other] - reduced.min(axis=1), np.inf)
    threshold = _tie_threshold(gap[:, None], pieces.movable, beyond=NEGLIGIBLE_EXCESS)
    free = np.flatnonzero(np.isfinite(gap) & (gap <= threshold))
    best, best_cost = start, _cost(instance, pieces, start)
    deadline = time.monotonic() + run.left() * TIE_TIME_SHARE
    for _ in range(MAX_TIE_ROUNDS):
        left = deadline - time.monotonic()
        if len(free) == 0 or left <= 0:
            break
        share = _two_line_shares(instance, pieces, start, free, other[free], left)
        if share is None:
            break
        rounded = start.copy()
        moves = share > 0.5
        rounded[free[moves]] = other[free[moves]]
        cost = _cost(instance, pieces, rounded)
        if cost < best_cost:
            best, best_cost = rounded, cost
        fractional = (share > 1e-6) & (share < 1 - 1e-6)
        if not fractional.any():
            break
        # The fractional SIMs keep their rounded line; the others may still move either way.
        moved = free[moves & ~fractional]
        other[moved] = start[moved]
        start = rounded
        free = free[~fractional]
    return best


def _two_line_shares(
    instance: Instance,
    pieces: PairCosts,
    line: np.ndarray,
    free: np.ndarray,
    other: np.ndarray,
    time_limit_s: float,
) -> np.ndarray | None:
    """LP shares of the ``free`` SIMs moving from ``line`` to ``other``, or None.

    min Σ_d Δlin_d · x_d + Σ_P rate_P · o_P  s.t.  load_P(line) + Σ_d Δload_dP · x_d ≤
    unit_P · o_P for every pool P, 0 ≤ x ≤ 1, o ≥ 0."""
    sims = np.arange(len(line))
    n_x, pools = len(free), np.arange(instance.n_pools)
    from_line = line[free]
    c = np.concatenate(
        [pieces.lin[free, other] - pieces.lin[free, from_line], instance.pool_overage_rate]
    )
    a_ub = None
    b_ub = None
    if len(pools):
        line_pool = instance.pool_of[line]
        pooled = line_pool >= 0
        line_load = np.bincount(
            line_pool[pooled], weights=pieces.load[sims[pooled], line[pooled]], minlength=len(pools)
        )
        to_pool, from_pool = instance.pool_of[other], instance.pool_of[from_line]
        into, out_of = to_pool >= 0, from_pool >= 0
        rows = np.concatenate([to_pool[into], from_pool[out_of], pools])
        cols = np.concatenate([np.flatnonzero(into), np.flatnonzero(out_of), n_x + pools])
        vals = np.concatenate(
            [
                pieces.load[free[into], other[into]],
                -pieces.load[free[out_of], from_line[out_of]],
                -instance.pool_unit_mb,
            ]
        )
        a_ub = sparse.csr_matrix((vals, (rows, cols)), shape=(len(pools), n_x + len(pools)))
        b_ub = -line_load
    upper = np.concatenate([np.ones(n_x), np.full(len(pools), np.inf)])
    with _native_stdout_silenced():
        result = linprog(
            c,
            A_ub=a_ub,
            b_ub=b_ub,
            bounds=np.column_stack([np.zeros(len(c)), upper]),
            method="highs-ipm",
            options={"time_limit": max(time_limit_s, 0.5), "disp": False},
        )
    if result.x is None or result.status != 0:
        return None
    return np.clip(result.x[:n_x], 0.0, 1.0)


def _tie_threshold(excess: np.ndarray, movable: np.ndarray, beyond: float = 0.0) -> float:
    """Reduced-cost excess below which a pair counts as tied: exact ties at least, then the
    closest pairs up to the LP's size budget, counting only pairs whose excess is above
    ``beyond`` (near ties on top of every exact one)."""
    alternatives = excess[movable]
    alternatives = alternatives[np.isfinite(alternatives) & (alternatives > beyond)]
    if len(alternatives) == 0:
        return EXACT_TIE
    wanted = min(max(len(movable) // 3, MIN_TIE_PAIRS), MAX_TIE_PAIRS)
    budget = min(wanted, len(alternatives))
    return max(EXACT_TIE, float(np.partition(alternatives, budget - 1)[budget - 1]))


def _is_valid(pieces: PairCosts, assignment: np.ndarray) -> bool:
    if assignment.shape != pieces.movable.shape or (assignment < 0).any():
        return False
    if (assignment >= pieces.lin.shape[1]).any():
        return False
    return bool(np.isfinite(pieces.lin[np.arange(len(assignment)), assignment]).all())


def _cost(instance: Instance, pieces: PairCosts, assignment: np.ndarray) -> float:
    return ls.assignment_cost(
        assignment,
        pieces.lin,
        pieces.load,
        instance.pool_of,
        instance.pool_overage_rate,
        instance.pool_unit_mb,
    )


def _polish(
    instance: Instance,
    pieces: PairCosts,
    assignment: np.ndarray,
    reduced: np.ndarray,
    near_ties: np.ndarray,
    run: _Run,
) -> np.ndarray:
    """Single moves to a local optimum, then swaps and two-move chains while they help.

    ``near_ties`` (from :func:`_near_ties`, computed once per optimization) are the SIMs the
    swaps and chains use to make room."""
    assign = assignment.copy()
    loads = ls.pool_loads(assign, pieces.load, instance.pool_of, instance.n_pools)
    kernel_args = (instance.pool_of, instance.pool_overage_rate, instance.pool_unit_mb, loads)
    for _ in range(MAX_POLISH_ROUNDS):
        while run.left() > 0:
            moves, _ = ls.single_move_pass(
                assign, pieces.lin, pieces.load, pieces.movable, *kernel_args
            )
            if moves == 0:
                break
        if run.left() <= 0 or len(near_ties) < 2:
            break
        misplaced = _misplaced(reduced, assign, pieces.movable)
        candidates = np.union1d(near_ties, misplaced)
        swaps, _ = ls.swap_pass(assign, pieces.lin, pieces.load, candidates, *kernel_args)
        chains, _ = ls.ejection_pass(
            assign, pieces.lin, pieces.load, misplaced, near_ties, *kernel_args
        )
        if swaps + chains == 0:
            break
    return assign


def _misplaced(reduced: np.ndarray, assign: np.ndarray, movable: np.ndarray) -> np.ndarray:
    """Movable SIMs farthest from their cheapest line: each costs the gap its excess."""
    excess = reduced[np.arange(len(assign)), assign] - reduced.min(axis=1)
    excess = np.where(movable, excess, 0.0)
    count = min(MISPLACED_CANDIDATES, int((excess > 1e-9).sum()))
    if count == 0:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.argpartition(-excess, count - 1)[:count]).astype(np.int64)


def _near_ties(reduced: np.ndarray, movable: np.ndarray) -> np.ndarray:
    """Movable SIMs whose two cheapest lines are closest: where swaps can pay off."""
    if reduced.shape[1] < 2:
        return np.empty(0, dtype=np.int64)
    two = np.partition(reduced, 1, axis=1)[:, :2]
    margin = np.where(movable & np.isfinite(two[:, 1]), two[:, 1] - two[:, 0], np.inf)
    count = min(SWAP_CANDIDATES, int(np.isfinite(margin).sum()))
    if count < 2:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.argpartition(margin, count - 1)[:count]).astype(np.int64)


def _prove_or_improve(
    instance: Instance,
    pieces: PairCosts,
    reduced: np.ndarray,
    best: np.ndarray,
    run: _Run,
) -> tuple[np.ndarray, bool, float]:
    """Reduced-cost fixing, then an exact MILP over the pairs that could still improve.

    Returns (assignment, proven optimal, valid lower bound).
    """
    best_cost = _cost(instance, pieces, best)
    floor = reduced.min(axis=1)
    dual_value = float(floor.sum())
    # Slack for the contract's 1e-9 ceil tolerance and float noise: fixing stays rigorous.
    slack = float(instance.pool_overage_rate.sum()) * 1e-9 + 1e-7 * abs(best_cost)
    budget = best_cost - dual_value + slack
    if budget <= 0:
        return best, True, best_cost
    keep = (reduced - floor[:, None]) < budget
    if int(keep.sum()) - keep.shape[0] > MILP_MAX_FREE_PAIRS:
        return best, False, dual_value
    found = _solve(_restricted_model(instance, pieces, keep), integral=True, time_left_s=run.left())
    if found is None:
        return best, False, dual_value
    assignment, optimal, milp_bound, _ = found
    cost = _cost(instance, pieces, assignment)
    if cost < best_cost:
        best, best_cost = assignment, cost
    # Any better assignment lies in the restricted problem, whose optimum is ≥ milp_bound.
    proven_bound = min(best_cost, max(milp_bound, dual_value))
    return best, optimal and best_cost <= milp_bound + 0.005, proven_bound


@dataclass(frozen=True)
class _Restricted:
    """The assignment model over kept (SIM, plan) pairs; SIMs with one kept pair are fixed."""

    fixed_plan: np.ndarray  # plan per SIM (meaningful where the SIM has one kept pair)
    free_rows: np.ndarray  # SIM of each free pair
    free_plans: np.ndarray  # plan of each free pair
    c: np.ndarray
    constraints: list[LinearConstraint]
    upper: np.ndarray
    const: float  # USD of the fixed SIMs' own pieces


@contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """Silence C-level stdout while HiGHS runs.

    Some HiGHS builds print MIP debugging lines straight to file descriptor 1 even with
    output switched off; they would corrupt a CLI's output or a piped CSV.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _restricted_model(instance: Instance, pieces: PairCosts, keep: np.ndarray) -> _Restricted:
    """Variables x[d, p] for the free pairs plus whole overage units o_p per pool."""
    fixed = keep.sum(axis=1) == 1
    fixed_plan = np.argmax(keep, axis=1).astype(np.int64)
    free_rows, free_plans = np.nonzero(keep & ~fixed[:, None])
    n_x = len(free_rows)
    pools = np.arange(instance.n_pools)
    n_vars = n_x + len(pools)
    fixed_rows = np.flatnonzero(fixed)
    const = float(pieces.lin[fixed_rows, fixed_plan[fixed_rows]].sum())
    c = np.concatenate([pieces.lin[free_rows, free_plans], instance.pool_overage_rate])
    _, row_of = np.unique(free_rows, return_inverse=True)
    one_plan = sparse.csr_matrix(
        (np.ones(n_x), (row_of, np.arange(n_x))), shape=(int(row_of.max(initial=-1)) + 1, n_vars)
    )
    fixed_pool = instance.pool_of[fixed_plan[fixed_rows]]
    fixed_in_pool = fixed_pool >= 0
    fixed_load = np.bincount(
        fixed_pool[fixed_in_pool],
        weights=pieces.load[fixed_rows, fixed_plan[fixed_rows]][fixed_in_pool],
        minlength=instance.n_pools,
    )
    free_pool = instance.pool_of[free_plans]
    in_pool = free_pool >= 0
    # unit_P · o_P − Σ load[d, p] · x[d, p] (p in P) ≥ load of the fixed SIMs in pool P
    rows = np.concatenate([free_pool[in_pool], pools])
    cols = np.concatenate([np.flatnonzero(in_pool), n_x + pools])
    vals = np.concatenate(
        [-pieces.load[free_rows[in_pool], free_plans[in_pool]], instance.pool_unit_mb]
    )
    constraints = [LinearConstraint(one_plan, 1, 1)]
    if len(pools):
        capacity = sparse.csr_matrix((vals, (rows, cols)), shape=(len(pools), n_vars))
        constraints.append(LinearConstraint(capacity, fixed_load, np.inf))
    upper = np.concatenate([np.ones(n_x), np.full(len(pools), np.inf)])
    return _Restricted(fixed_plan, free_rows, free_plans, c, constraints, upper, const)


def _solve(
    model: _Restricted, *, integral: bool, time_left_s: float
) -> tuple[np.ndarray, bool, float, np.ndarray] | None:
    """Solve the restricted model with HiGHS (as a MILP, or its LP with rounding).

    Returns (assignment, solved to optimality, dual bound in USD, share of each free pair) or
    None without a solution.
    The LP's fractional SIMs (at most one per pool in a basic solution) take their largest
    share; the polish repairs what that costs.
    """
    n_x = len(model.free_rows)
    if n_x == 0:
        # Every SIM has one candidate: that single solution is the restricted optimum, and
        # the caller prices it and keeps the cheaper answer, so nothing better remains.
        return model.fixed_plan.copy(), True, np.inf, np.empty(0)
    with _native_stdout_silenced():
        result = milp(
            model.c,
            integrality=np.full(len(model.c), 1 if integral else 0),
            bounds=Bounds(np.zeros(len(model.c)), model.upper),
            constraints=model.constraints,
            options={"time_limit": max(time_left_s, 0.5), "mip_rel_gap": 1e-9, "disp": False},
        )
    if result.x is None:
        return None
    assignment = model.fixed_plan.copy()
    share = result.x[:n_x]
    order = np.lexsort((share, model.free_rows))  # per SIM, its largest share last
    assignment[model.free_rows[order]] = model.free_plans[order]
    dual_bound = getattr(result, "mip_dual_bound", None) if integral else result.fun
    bound = model.const + (dual_bound if dual_bound is not None else -np.inf)
    return assignment, result.status == 0, float(bound), share
