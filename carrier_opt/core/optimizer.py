"""The rate-plan optimizer: near-optimal assignment of SIMs to plans, with a proof of quality.

How it works, and why:

1. **Lower bound and prices.** :func:`core.bound.lagrangian_bound` finds one price ``λ_p``
   per pool (USD per MB of pool load) at which the LP relaxation is tight. At those
   prices each SIM's best plan is the cheapest *line* ``lin[d, p] + λ_p · load[d, p]`` — the
   whole account is priced at once, so pools shared across communication groups are handled
   together.
2. **Start.** Every SIM takes its cheapest line (locked SIMs stay put). This is the LP optimum
   except for SIMs tied between plans, which decide whether pools end at their allowance.
   An LP over the tied pairs splits them; its few fractional SIMs are fixed and it is solved
   again, on large fleets warm from the last basis (:mod:`core.highs`). The LP bills a pool's
   overage by the MB, the carrier by the whole unit, so each rounding is then *landed*: the
   near-tie SIMs that move MB out of a pool and into it are combined (a knapsack,
   :mod:`core.pool_landing`) so the pool ends under the unit boundary that costs least.
3. **Polish.** Numba local search with exact costs (pooled ``ceil`` included): single moves
   until none improves, then swaps among SIMs close to a tie (where single moves get stuck
   because a pool sits at its allowance), and landings again. The current assignment and any
   caller-given starts (the legacy baseline) are polished too; the cheapest wins, so the
   answer is never worse than any of them. Then **kicks**: the SIMs farthest from their
   cheapest line are moved there at a loss and held while the SIMs near a tie refill what they
   left; a kick is kept when the whole saves money (the heavy SIM using a pool's spare
   allowance that light SIMs would use better, a move no swap or two-move chain makes). Last,
   each of those SIMs is moved there again with the pools it left and joined landed at once
   (:func:`core.pool_landing.kick_and_land`), kept when that saves.
4. **Prove or improve.** For any assignment ``x``, ``cost(x) ≥ L(λ) + Σ_d (rc[d, x_d] −
   min_p rc[d, p])`` with reduced costs ``rc = lin + λ·load``. So a (SIM, plan) pair whose
   reduced-cost excess alone exceeds ``best − L(λ)`` cannot appear in any better assignment.
   What is left is usually small: an exact MILP (HiGHS) over it either improves the answer or
   proves it optimal.
5. **Stop when proven good.** After every stage (and every polish round and tie-LP round) the
   proven gap ``(cost − proven lower bound) / proven lower bound`` is checked against the gap
   target (the contract's ``--gap-target``, in percent): once it is met, or the cost is at the
   bound, the later stages are skipped. A stage that cannot close more than the target is not
   worth its seconds, and on most fleets the priced start is within 0.001 % of the bound long
   before the time limit. The time limit stays a ceiling; :attr:`OptimizationResult.stopped_by`
   says which of the three ended the search.

Pool kernels see only pools that bill (:attr:`Instance.pool_of`, a pool being a pooled plan
alone or the pooled plans sharing a ``rate_pool``) at billed overage rates, so charge types
and multi-plan pools (``docs/optimizer-contract-extensions.md``) follow the pricing module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from carrier_opt.core import local_search as ls
from carrier_opt.core.bound import LowerBound, lagrangian_bound
from carrier_opt.core.highs import WarmLP, native_stdout_silenced
from carrier_opt.core.instance import Instance
from carrier_opt.core.pair_costs import PairCosts, ReducedCosts
from carrier_opt.core.pool_landing import kick_and_land, land_pools
from carrier_opt.core.pricing import total_cost
from carrier_opt.core.reference_lp import ReferenceTieLP
from carrier_opt.core.sifting import SiftedLP
from carrier_opt.errors import InputError

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

MILP_REL_GAP = 1e-9
"""HiGHS's relative gap when the target asks for an optimal answer (a gap target of 0)."""

KICKS = 128
"""SIMs farthest from their cheapest line (at the bound's prices) that the kick stage moves
there at a loss, to see whether the SIMs near a tie refill what they leave better."""

LANDED_KICKS = 128
"""SIMs farthest from their cheapest line that the landed-kick stage tries, dearest first."""

KICK_ROUNDS = 3
"""Kick stages in a row while each saves money (the polish after one finds new misplaced SIMs;
on customer-20k the second round saved 2 USD, the third nothing)."""

MAX_POLISH_ROUNDS = 20

MAX_TIE_ROUNDS = 8
"""LP re-solves while fixing fractional SIMs; the cheapest rounding seen is kept (they end
sooner once they stop paying: ``STALE_TIE_ROUNDS``)."""

MAX_TWO_LINE_ROUNDS = 16
"""The same for the two-line LP of fleets too large for the full tie LP, whose rounds are warm
simplex solves of about 0.1 s at 1 M SIMs (they end sooner once they stop paying:
``STALE_TIE_ROUNDS``)."""

STALE_TIE_ROUNDS = 3
"""The tie LP's rounds (both forms) stop after this many in a row that did not lower the best
rounding. customer-20k and shared_pool-20k gave the same rounding in all 8 rounds (0.3 s
each), customer-200k in all 8 warm ones; synthetic-2k's best came after two stale rounds.
On synthetic-1000k's two-line LP the rounds after the second lowered it by 14 USD of 23.3 M,
which the polish after them moves anyway, for 1.3 s (synthetic-1000k 7.3 -> 5.6 s, 4.95 USD dearer;
seed 7: 6.0 -> 5.0 s, 3.34 USD cheaper; both stopped by the gap target)."""

SIFTED_FIRST, SIFTED_BATCH = 10_000, 10_000
"""The two-line LP is solved over a working set of its columns (:class:`core.sifting.SiftedLP`)
once it has more than ``SIFTED_FIRST`` of them: the ``SIFTED_FIRST`` SIMs closest to a tie to
start, then up to ``SIFTED_BATCH`` more after each solve that prices them out. On the 1 M
fleet's LP (279 k columns) the first solve took 0.65-0.86 s where the interior point over
every column took 2.2-2.4 s; starting with 5 k, 20 k or 50 k columns, or batches of 5 k or
20 k, took 0.65-1.4 s."""

FEW_POOLS = 2
"""Tie LPs of fleets with at most this many pools are presolved without HiGHS's parallel
columns rule (:data:`core.highs.PRESOLVE_RULE_PARALLEL_ROWS_AND_COLS`): with one or two pool
rows most columns are parallel, and the rule took 21 of the 22 s of mobility-200k's tie LP
(one pool) and 1.7 of the 2.7 s of customer-200k's (two). That holds for the fresh tie LPs;
the warm one (from ``WARM_TIE_LP_MIN_SIMS``) is not presolved at all, and on such fleets its
first solve is the primal simplex (:class:`core.reference_lp.ReferenceTieLP`)."""


def _parallel_columns_pay(instance: Instance) -> bool:
    """Whether HiGHS's parallel-columns presolve rule stays on for this fleet's tie LPs (it
    has more than ``FEW_POOLS`` pools)."""
    return instance.n_pools > FEW_POOLS


EXACT_TIE = 1e-9
"""Reduced-cost excess (USD) up to which two lines of a SIM count as exactly tied."""

NEGLIGIBLE_EXCESS = 1e-6
"""Excess (USD) below which a line is as good as tied on a large fleet: pool prices come from
a time-limited bound, so lines tied in exact arithmetic differ by such crumbs."""

TIE_TIME_SHARE = 0.3
"""Share of the remaining time the tie-splitting LPs may use."""

WARM_TIE_LP_MIN_SIMS = 50_000
"""Fleets from this size keep the tie LP in HiGHS between rounds (:class:`_WarmTieLP`).
Below it the fresh solves cost little (a second or two in all at 20 k SIMs), and a warm
LP's other vertex gives another rounding, which the time-limited MILP of small fleets
follows: warm everywhere, p03 ended 1.23 USD and synthetic-2k 1.40 USD higher."""

DEFAULT_GAP_TARGET_PCT = 0.001
"""The contract's default ``--gap-target``: the search stops once its answer is proven within
0.001 % of the optimum (10 USD on a bill of a million) — below what usage projection moves."""

AT_THE_BOUND_USD = 0.005
"""Cost above the proven lower bound up to which the answer is optimal: the contract compares
totals with a tolerance of half a cent."""

StoppedBy = Literal["optimal", "gap_target", "time_limit"]
"""What ended the search (the summary's ``stopped_by``)."""


BOUND_STAGE = "lower bound"
"""The stage whose ``cost`` is the LP bound, not the cost of an answer."""


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
    stopped_by: StoppedBy = "time_limit"
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT
    stop_reason: str = ""  # ``stopped_by`` in a sentence, with the figures behind it

    @property
    def gap(self) -> float:
        """``(cost − bound) / bound`` against the LP bound, as the contract defines it."""
        return (self.cost - self.bound.value) / max(abs(self.bound.value), 1e-12)

    @property
    def proven_gap_pct(self) -> float:
        """``(cost − proven bound) / proven bound × 100``: what the gap target is held to."""
        return proven_gap_pct(self.cost, self.proven_bound)

    def seconds_to_within(self, pct: float) -> float:
        """Seconds from the start until the search held an answer within ``pct`` percent of its
        final cost: the time the answer was as good as it needed to be, beside the time spent.

        Stages report their cost when they end, so this is the end of the first stage that
        was that good (an upper bound when the improvement came early inside a stage)."""
        good_enough = self.cost * (1 + pct / 100) + AT_THE_BOUND_USD
        answers = (stage for stage in self.stages if stage.name != BOUND_STAGE)
        return next((stage.seconds for stage in answers if stage.cost <= good_enough), self.seconds)


def proven_gap_pct(cost: float, proven_bound: float) -> float:
    """How far ``cost`` may be above the optimum, in percent of the proven lower bound."""
    return 100 * (cost - proven_bound) / max(abs(proven_bound), 1e-12)


def check_gap_target(gap_target_pct: float) -> float:
    """The gap target (percent) itself, or one line saying why it is none: a negative or
    non-finite target would never be met, and the search would always run to its limit."""
    if not (math.isfinite(gap_target_pct) and gap_target_pct >= 0):
        raise InputError(f"gap target {gap_target_pct!r}: give a percentage of 0 or more")
    return gap_target_pct


def stopped_by(cost: float, proven_bound: float, gap_target_pct: float) -> StoppedBy:
    """``optimal`` when the cost is at the proven bound (to half a cent), ``gap_target`` when it
    is within the target of it, else ``time_limit``: the search ran out of time, or what was
    left of it (the exact MILP) was too large to finish within the time limit."""
    if cost - proven_bound <= AT_THE_BOUND_USD:
        return "optimal"
    if proven_gap_pct(cost, proven_bound) <= gap_target_pct:
        return "gap_target"
    return "time_limit"


class _Run:
    """Deadline, gap target, progress and stage bookkeeping of one optimization."""

    def __init__(
        self, time_limit_s: float, progress: ProgressCallback | None, gap_target_pct: float
    ) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + time_limit_s
        self.time_limit_s = time_limit_s
        self.progress = progress
        self.gap_target_pct = gap_target_pct
        self.floor = -np.inf  # proven lower bound (USD), known once the bound stage ran
        self.untried: str | None = None  # why a stage that could close the gap did not run
        self.stages: list[Stage] = []
        # The re-split around the polished answer may pay: only after a two-line split whose
        # first solve gave an answer (see _split_ties and _split_crowded_ties).
        self.resplit_pays = False

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def proven_good(self, cost: float) -> bool:
        """Whether an answer of ``cost`` meets the gap target (or is at the bound): the search
        may stop there."""
        return stopped_by(cost, self.floor, self.gap_target_pct) != "time_limit"

    def searching(self, cost: float) -> bool:
        """Whether a further stage may run: time is left and ``cost`` is not proven good."""
        return self.left() > 0 and not self.proven_good(cost)

    def report(self, name: str, cost: float) -> None:
        elapsed = time.monotonic() - self.started
        self.stages.append(Stage(name, cost, elapsed))
        if self.progress is not None:
            self.progress(name, min(elapsed / self.time_limit_s, 1.0))


def optimize(
    instance: Instance,
    *,
    time_limit_s: float = 60.0,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
    starts: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]] = (),
    progress: ProgressCallback | None = None,
) -> OptimizationResult:
    """Cheapest assignment found within ``time_limit_s``, never worse than any valid start.

    The search stops as soon as the answer is proven within ``gap_target_pct`` percent of the
    optimum (or at it); ``time_limit_s`` is the ceiling. ``starts`` are extra assignments to
    compare with and polish (the legacy baseline); the current assignment is always one when
    it is valid. ``starts`` may be a function returning them, called only when they are
    compared (after the tie split): a start that takes long to compute (the legacy baseline,
    seconds at 1 M SIMs) can then be computed beside the bound and the tie split
    (:func:`core.run.legacy_and_optimized`).
    """
    run = _Run(time_limit_s, progress, check_gap_target(gap_target_pct))
    # The bound first: its per-group cost tables are freed before the optimizer's own are
    # built, which keeps them out of each other's peak (150 + 240 MB at 1 M SIMs).
    bound = lagrangian_bound(instance, time_limit_s=max(0.25 * time_limit_s, 1.0))
    pieces = PairCosts.of(instance)
    run.floor = bound.value
    run.report(BOUND_STAGE, bound.value)
    # No SIMs × plans table of them: at 1 M SIMs it was 120 MB at the run's peak.
    reduced = ReducedCosts(pieces, bound.prices)
    near_ties = _near_ties(reduced, pieces.movable)
    start = _split_ties(instance, pieces, reduced, near_ties, run)
    best = _polish(instance, pieces, start, reduced, near_ties, run)
    best_cost = _cost(instance, pieces, best)
    run.report("priced start polished", best_cost)
    if run.searching(best_cost) and run.resplit_pays:
        # The polish balances pools with "filler" SIMs off their cheapest line; one more tie
        # LP around the polished answer lets the tied SIMs take that role instead.
        again = _split_crowded_ties(instance, pieces, reduced, near_ties, run, base=best)
        again = _polish(instance, pieces, again, reduced, near_ties, run)
        if _cost(instance, pieces, again) < best_cost:
            best, best_cost = again, _cost(instance, pieces, again)
        run.report("re-split around the polished answer", best_cost)
    others = (instance.current_plan, *(starts() if callable(starts) else starts))
    best, best_cost = _compare_starts(instance, pieces, others, best, (reduced, near_ties), run)
    run.report("starts compared", best_cost)
    if run.searching(best_cost):
        best, best_cost = _kick_rounds(
            instance, pieces, (best, best_cost), (reduced, near_ties), run
        )
        run.report("misplaced SIMs kicked", best_cost)
    if run.searching(best_cost):
        landed = _kick(instance, pieces, best, reduced, near_ties, run, land=True)
        landed_cost = _cost(instance, pieces, landed)
        if landed_cost < best_cost:
            best, best_cost = landed, landed_cost
        run.report("kicked SIMs' pools landed", best_cost)
    proven, proven_bound = False, bound.value
    if run.searching(best_cost):
        best, proven, proven_bound = _prove_or_improve(instance, pieces, reduced, best, run)
        best_cost = _cost(instance, pieces, best)
        run.report("MILP", best_cost)
    cost = total_cost(instance, best)  # the pricing module is the reference cost model
    proven_bound = max(proven_bound, bound.value)
    ended = "optimal" if proven else stopped_by(cost, proven_bound, gap_target_pct)
    why = _stop_reason(ended, proven_gap_pct(cost, proven_bound), proven, run)
    return OptimizationResult(
        assignment=best,
        cost=cost,
        bound=bound,
        proven_optimal=ended == "optimal",
        proven_bound=proven_bound,
        seconds=time.monotonic() - run.started,
        stages=tuple(run.stages),
        stopped_by=ended,
        gap_target_pct=gap_target_pct,
        stop_reason=why,
    )


def _stop_reason(ended: StoppedBy, gap_pct: float, by_milp: bool, run: _Run) -> str:
    """``stopped_by`` in a sentence: a ``time_limit`` stop before the limit says which stage
    that could have closed the gap was too large to run within it."""
    target = f"target {run.gap_target_pct:g} %"
    if ended == "optimal":
        return "proven optimal by the exact MILP" if by_milp else "cost at the proven bound"
    if ended == "gap_target":
        return f"proven within {gap_pct:.4f} % of the optimum ({target})"
    if run.untried is not None and run.left() > 0:
        return f"{gap_pct:.4f} % above the proven bound ({target}): {run.untried}"
    above = f"{gap_pct:.4f} % above the proven bound ({target})"
    return f"time limit of {run.time_limit_s:g} s reached {above}"


def _compare_starts(
    instance: Instance,
    pieces: PairCosts,
    starts: Sequence[np.ndarray],
    best: np.ndarray,
    prices: tuple[ReducedCosts, np.ndarray],
    run: _Run,
) -> tuple[np.ndarray, float]:
    """The cheapest of ``best`` and the valid ``starts``, and its cost: the answer is never
    worse than any of them, whatever stopped the search. ``prices``: the reduced costs and
    near ties the polish uses.

    Polishing a worse start rarely beats the priced one, so only a cheaper start is polished
    (once the answer is proven good, by its single moves only: see :func:`_polish`)."""
    best_cost = _cost(instance, pieces, best)
    for start in starts:
        if not _is_valid(pieces, start):
            continue
        cost = _cost(instance, pieces, start)
        if cost >= best_cost:
            continue
        best = _polish(instance, pieces, start.astype(np.int64), *prices, run)
        best_cost = _cost(instance, pieces, best)
    return best, best_cost


def _split_ties(
    instance: Instance,
    pieces: PairCosts,
    reduced: ReducedCosts,
    near_ties: np.ndarray,
    run: _Run,
) -> np.ndarray:
    """Each SIM on its cheapest line, with SIMs (nearly) tied split by the LP over them.

    Ties are where pools end up over or under their allowance: deciding them one SIM at a
    time (local search) gets stuck, while the LP over the tied pairs splits each tie class so
    the pools end at their allowance. A basic LP solution leaves at most one SIM per pool
    fractional; rounding a heavy one would throw its pool far off balance, so fractional SIMs
    are fixed to their largest share and the LP is solved again — the other tied SIMs then
    rebalance around them — until every SIM is whole. Each rounding is landed on its pools'
    unit boundaries by the ``near_ties`` (:func:`_landed`): the LP bills overage by the MB,
    the carrier by the whole unit.

    No second split around the polished answer follows this one (that re-split is the
    two-line form's, :func:`_split_crowded_ties`): since the kicks and the pool landing came,
    it lowered no row of the bench, warm or fresh, and took 0.7-4.3 s of each (p04-medium
    4.2 s of 10.4, synthetic-20k 4.3 of 10.5, customer-20k 2.9 of 6.8).
    """
    if reduced.n_sims // 3 > MAX_TIE_PAIRS and reduced.n_plans > 1:
        return _split_crowded_ties(instance, pieces, reduced, near_ties, run)
    start = reduced.cheapest.copy()
    excess = reduced.table()
    excess -= reduced.floor[:, None]
    keep = excess <= _tie_threshold(excess, pieces.movable)
    if keep.sum() - keep.shape[0] <= 0:
        return start
    best, best_cost = start, _cost(instance, pieces, start)
    deadline = time.monotonic() + run.left() * TIE_TIME_SHARE
    lp: _FreshTieLP | _WarmTieLP
    if instance.n_devices >= WARM_TIE_LP_MIN_SIMS:
        lp = _WarmTieLP(_restricted_model(instance, pieces, keep), instance, pieces, reduced)
    else:
        lp = _FreshTieLP(instance, pieces, keep)
    stale = 0  # rounds since the best rounding last got cheaper
    for _ in range(MAX_TIE_ROUNDS):
        left = deadline - time.monotonic()
        if left <= 0 or stale >= STALE_TIE_ROUNDS:
            break
        found = lp.solve(left)
        if found is None:
            break
        model, shares = found
        rounded = _rounded(model, shares)
        landed = _landed(instance, pieces, rounded, near_ties)
        cost = _cost(instance, pieces, landed)
        stale += 1
        if cost < best_cost:
            best, best_cost, stale = landed, cost, 0
        fractional = np.unique(model.free_rows[(shares > 1e-6) & (shares < 1 - 1e-6)])
        if len(fractional) == 0 or run.proven_good(best_cost):
            break
        lp.fix(model, fractional, rounded)  # they keep their rounded plan from now on
    return best


class _FreshTieLP:
    """The tie LP built again each round from the kept pairs: a fixed SIM leaves the model.

    Solved through ``scipy.optimize``, except on fleets with at most ``FEW_POOLS`` pools:
    there HiGHS's parallel-columns presolve rule, which scipy cannot switch off, took most of
    each solve (the demo's 15.6 k SIMs, two pools: 16 solves of 0.3 s), so the model goes to
    HiGHS directly without it (:class:`core.highs.WarmLP`, built fresh each round)."""

    def __init__(self, instance: Instance, pieces: PairCosts, keep: np.ndarray) -> None:
        self.instance, self.pieces, self.keep = instance, pieces, keep

    def solve(self, time_left_s: float) -> tuple[_Restricted, np.ndarray] | None:
        """The model solved and its free pairs' shares, or None (nothing free, no answer)."""
        model = _restricted_model(self.instance, self.pieces, self.keep)
        if len(model.free_rows) == 0:
            return None
        if not _parallel_columns_pay(self.instance):
            values = _highs_lp(model, parallel_columns_presolved=False).solve(time_left_s)
            return None if values is None else (model, values[: len(model.free_rows)])
        found = _solve(model, integral=False, time_left_s=time_left_s)
        return None if found is None else (model, found[3])

    def fix(self, model: _Restricted, sims: np.ndarray, rounded: np.ndarray) -> None:
        self.keep[sims] = False
        self.keep[sims, rounded[sims]] = True


class _WarmTieLP:
    """The tie LP kept in HiGHS between rounds (from ``WARM_TIE_LP_MIN_SIMS`` SIMs): fixing a
    fractional SIM changes its columns' bounds only, so each round starts from the last one's
    basis (200 k SIMs: the tie split 2 to 3 times faster). The LP's optimum is the same, but
    its vertex, and so its rounding, can differ from a fresh solve's, hence only on fleets
    where the solves take seconds. It is held in reference form
    (:class:`core.reference_lp.ReferenceTieLP`: rows for the pools, not for the SIMs), whose
    first solve took 0.1-1.4 s where the full model's took 1.9-2.7 s."""

    def __init__(
        self, model: _Restricted, instance: Instance, pieces: PairCosts, reduced: ReducedCosts
    ) -> None:
        self.model = model
        rows, plans = model.free_rows, model.free_plans
        self.lp = ReferenceTieLP(
            rows,
            model.c[: len(rows)],
            pieces.load.at(rows, plans),
            instance.pool_of[plans],
            reduced.at(rows, plans),
            model.fixed_load,
            instance.pool_overage_rate,
            instance.pool_unit_mb,
            primal_first=instance.n_pools <= FEW_POOLS,
        )

    def solve(self, time_left_s: float) -> tuple[_Restricted, np.ndarray] | None:
        """The model and its free pairs' shares, or None (nothing free, no answer)."""
        if len(self.model.free_rows) == 0:
            return None
        shares = self.lp.solve(time_left_s)
        return None if shares is None else (self.model, shares)

    def fix(self, model: _Restricted, sims: np.ndarray, rounded: np.ndarray) -> None:
        columns = np.flatnonzero(np.isin(model.free_rows, sims))
        chosen = model.free_plans[columns] == rounded[model.free_rows[columns]]
        self.lp.fix(columns, chosen * 1.0)


def _highs_lp(model: _Restricted, parallel_columns_presolved: bool) -> WarmLP:
    """The restricted model's LP relaxation held in HiGHS (see :class:`core.highs.WarmLP`)."""
    return WarmLP(
        model.c,
        model.constraints,
        model.lower,
        model.upper,
        parallel_columns_presolved=parallel_columns_presolved,
    )


def _split_crowded_ties(
    instance: Instance,
    pieces: PairCosts,
    reduced: ReducedCosts,
    near_ties: np.ndarray,
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
    which HiGHS's interior-point method (with crossover: a basic answer) solves in about a
    second at 1 M SIMs where the simplex over the full model needs several. The LP stays in
    HiGHS between rounds (:class:`core.highs.WarmLP`): fixing a fractional SIM only moves its
    column's bounds, so each later round is a warm simplex of about 0.1 s (it was another
    interior-point solve of 1 s).
    """
    sims = np.arange(reduced.n_sims)
    start = (reduced.cheapest if base is None else base).copy()
    other = reduced.cheapest_other(start)
    # How far the other line is from the SIM's cheapest: exact ties first, then the closest.
    gap = np.where(pieces.movable, reduced.at(sims, other) - reduced.floor, np.inf)
    threshold = _tie_threshold(gap[:, None], pieces.movable, beyond=NEGLIGIBLE_EXCESS)
    free = np.flatnonzero(np.isfinite(gap) & (gap <= threshold))
    best, best_cost = start, _cost(instance, pieces, start)
    if len(free) == 0:
        return best
    deadline = time.monotonic() + run.left() * TIE_TIME_SHARE
    lp = _two_line_lp(instance, pieces, start, free, other[free], closeness=gap[free])
    stale = 0  # rounds since the best rounding last got cheaper
    for tie_round in range(MAX_TWO_LINE_ROUNDS):
        left = deadline - time.monotonic()
        if left <= 0 or stale >= STALE_TIE_ROUNDS:
            break
        # Over every column, interior point first (one row per pool, a column per free SIM:
        # the simplex from scratch took 4.5 s at 1 M SIMs where this takes 1 s); its
        # crossover leaves a basis that the later rounds' simplex starts from, since fixing
        # SIMs only moves bounds. A sifted LP's working set is small: simplex from the start.
        first = "ipm" if isinstance(lp, WarmLP) else "simplex"
        solved = lp.solve(left, solver=first if tie_round == 0 else "simplex")
        if solved is None and isinstance(lp, SiftedLP) and lp.gave_up:
            lp = _two_line_lp(instance, pieces, start, free, other[free], closeness=None)
            solved = lp.solve(deadline - time.monotonic(), solver="ipm")
        if solved is None:
            break
        run.resplit_pays = run.resplit_pays or tie_round == 0
        share = np.clip(solved[: len(free)], 0.0, 1.0)
        moves = share > 0.5
        rounded = start.copy()
        rounded[free[moves]] = other[free[moves]]
        landed = _landed(instance, pieces, rounded, near_ties)
        cost = _cost(instance, pieces, landed)
        stale += 1
        if cost < best_cost:
            best, best_cost, stale = landed, cost, 0
        fractional = np.flatnonzero((share > 1e-6) & (share < 1 - 1e-6))
        if len(fractional) == 0 or run.proven_good(best_cost):
            break
        lp.fix(fractional, moves[fractional] * 1.0)  # they keep their rounded line
    return best


def _two_line_lp(
    instance: Instance,
    pieces: PairCosts,
    line: np.ndarray,
    free: np.ndarray,
    other: np.ndarray,
    closeness: np.ndarray | None,
) -> WarmLP | SiftedLP:
    """The LP of the ``free`` SIMs' shares ``x_d`` moving from ``line`` to ``other``:

    min Σ_d Δlin_d · x_d + Σ_P rate_P · o_P  s.t.  load_P(line) + Σ_d Δload_dP · x_d ≤
    unit_P · o_P for every pool P, 0 ≤ x ≤ 1, o ≥ 0 (the first ``len(free)`` columns are x).

    With more than ``SIFTED_FIRST`` free SIMs and a ``closeness`` it is sifted: the SIMs of
    smallest ``closeness`` (their reduced-cost gap to the other line) and the pools' overage
    columns start in HiGHS, the others wait at x = 0 until they price out."""
    sims = np.arange(len(line))
    n_x, pools = len(free), np.arange(instance.n_pools)
    from_line = line[free]
    c = np.concatenate(
        [pieces.lin[free, other] - pieces.lin[free, from_line], instance.pool_overage_rate]
    )
    line_pool = instance.pool_of[line]
    pooled = line_pool >= 0
    line_load = np.bincount(
        line_pool[pooled], weights=pieces.load.at(sims[pooled], line[pooled]), minlength=len(pools)
    )
    to_pool, from_pool = instance.pool_of[other], instance.pool_of[from_line]
    into, out_of = to_pool >= 0, from_pool >= 0
    rows = np.concatenate([to_pool[into], from_pool[out_of], pools])
    cols = np.concatenate([np.flatnonzero(into), np.flatnonzero(out_of), n_x + pools])
    vals = np.concatenate(
        [
            pieces.load.at(free[into], other[into]),
            -pieces.load.at(free[out_of], from_line[out_of]),
            -instance.pool_unit_mb,
        ]
    )
    # A fleet without pools still gets one empty row: HiGHS wants a matrix.
    shape = (max(len(pools), 1), n_x + len(pools))
    capacity = sparse.csr_matrix((vals, (rows, cols)), shape=shape)
    bound = np.zeros(shape[0])
    bound[: len(pools)] = -line_load
    upper = np.concatenate([np.ones(n_x), np.full(len(pools), np.inf)])
    constraints = [LinearConstraint(capacity, -np.inf, bound)]
    if closeness is None or n_x <= SIFTED_FIRST:
        parallel = _parallel_columns_pay(instance)
        return WarmLP(c, constraints, np.zeros(len(c)), upper, parallel_columns_presolved=parallel)
    closest = np.argpartition(closeness, SIFTED_FIRST)[:SIFTED_FIRST]
    return SiftedLP(
        c,
        constraints,
        np.zeros(len(c)),
        upper,
        first=np.concatenate([closest, n_x + pools]),
        batch=SIFTED_BATCH,
        presolve=False,
    )


def _landed(
    instance: Instance, pieces: PairCosts, assignment: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """A copy of ``assignment`` with every pool landed on its cheapest unit boundary by moves
    of the SIMs of ``rows`` (:mod:`core.pool_landing`)."""
    landed = assignment.copy()
    loads = ls.pool_loads(landed, pieces.load.kernel, instance.pool_of, instance.n_pools)
    land_pools(
        landed,
        pieces.lin,
        pieces.load.kernel,
        pieces.movable,
        rows,
        instance.pool_of,
        instance.pool_overage_rate,
        instance.pool_unit_mb,
        loads,
    )
    return landed


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
        pieces.load.kernel,
        instance.pool_of,
        instance.pool_overage_rate,
        instance.pool_unit_mb,
    )


def _polish(
    instance: Instance,
    pieces: PairCosts,
    assignment: np.ndarray,
    reduced: ReducedCosts,
    near_ties: np.ndarray,
    run: _Run,
) -> np.ndarray:
    """Single moves to a local optimum, then swaps and two-move chains while they help, until
    the answer is proven good.

    The single moves run to their local optimum even when the answer is already proven good:
    a pass over every SIM costs milliseconds (0.4 ms at 5 k SIMs, 0.01-0.04 s at 1 M), and
    stopping before it can leave money that no later stage would look for — p05-mobility's
    first landed tie rounding is proven within 0.00096 % (target 0.001 %), and one pass
    moves 10 of its SIMs for 49.88 USD.

    ``near_ties`` (from :func:`_near_ties`, computed once per optimization) are the SIMs the
    swaps and chains use to make room. The passes answer their savings, so the running cost
    (checked against the gap target after every pass) costs nothing to keep."""
    assign = assignment.copy()
    loads = ls.pool_loads(assign, pieces.load.kernel, instance.pool_of, instance.n_pools)
    kernel_args = (instance.pool_of, instance.pool_overage_rate, instance.pool_unit_mb, loads)
    cost = _cost(instance, pieces, assign)
    for _ in range(MAX_POLISH_ROUNDS):
        while run.left() > 0:
            moves, saving = ls.single_move_pass(
                assign, pieces.lin, pieces.load.kernel, pieces.movable, *kernel_args
            )
            cost -= saving
            if moves == 0:
                break
        if not run.searching(cost) or len(near_ties) < 2:
            break
        misplaced = _misplaced(reduced, assign, pieces.movable)
        # Swaps and chains read only these few thousand SIMs' rows, many times each: gathered
        # into small arrays they stay in the CPU's cache (scattered over a 1 M-row table, each
        # read missed it: 0.26 s per round there). The pool loads stay the fleet's.
        rows = np.union1d(near_ties, misplaced)
        sub, lin, load = assign[rows], pieces.lin[rows], pieces.load.of_sims(rows).kernel
        swaps, saving = ls.swap_pass(sub, lin, load, np.arange(len(rows)), *kernel_args)
        cost -= saving
        chains, saving = ls.ejection_pass(
            sub,
            lin,
            load,
            np.searchsorted(rows, misplaced),
            np.searchsorted(rows, near_ties),
            *kernel_args,
        )
        cost -= saving
        # Swaps and chains leave a pool over a unit boundary where many SIMs must move at once.
        landings, saving = land_pools(
            sub, lin, load, pieces.movable[rows], np.arange(len(rows)), *kernel_args
        )
        cost -= saving
        assign[rows] = sub
        if swaps + chains + landings == 0:
            break
    return assign


def _kick_rounds(
    instance: Instance,
    pieces: PairCosts,
    incumbent: tuple[np.ndarray, float],
    prices: tuple[ReducedCosts, np.ndarray],
    run: _Run,
) -> tuple[np.ndarray, float]:
    """:func:`_kick` again while it saves money (up to ``KICK_ROUNDS``), and the cost."""
    best, best_cost = incumbent
    for _ in range(KICK_ROUNDS):
        kicked = _kick(instance, pieces, best, *prices, run)
        kicked_cost = _cost(instance, pieces, kicked)
        if kicked_cost >= best_cost:
            break
        best, best_cost = kicked, kicked_cost
        if not run.searching(best_cost):
            break
    return best, best_cost


def _kick(
    instance: Instance,
    pieces: PairCosts,
    assignment: np.ndarray,
    reduced: ReducedCosts,
    near_ties: np.ndarray,
    run: _Run,
    *,
    land: bool = False,
) -> np.ndarray:
    """The SIMs farthest from their cheapest line, each moved there at a loss and held while
    the SIMs near a tie refill the room it leaves (``local_search.kick_pass``), then polished.

    After the polish, what is left above the bound is mostly a few SIMs parked far from their
    cheapest line, each costing dollars where the rest cost cents: a heavy SIM using a pool's
    spare allowance that light SIMs would use better (customer-20k: one SIM held 54 of the
    78 USD). No single move, swap or two-move chain reaches that answer; the kick does, and
    works on the near-tie SIMs only, so it costs a fraction of a second at any fleet size.

    ``land=True``: up to ``LANDED_KICKS`` SIMs, and the pools each left and joined landed by
    the near-tie SIMs instead (:func:`core.pool_landing.kick_and_land`). Where the refill
    makes single moves, the landing moves many SIMs at once, so a SIM whose allowance carries
    a pool (hundreds of MB) can leave it.
    """
    most = LANDED_KICKS if land else KICKS
    kicked, excess = _farthest(reduced, assignment, pieces.movable, most, NEGLIGIBLE_EXCESS)
    if len(kicked) == 0 or (land and instance.n_pools == 0):
        return assignment
    kicked = kicked[np.argsort(-excess[kicked], kind="stable")]
    # The kernels work on the rows of the kicked and near-tie SIMs; the loads of the others
    # stay in the pool loads.
    rows = np.union1d(near_ties, kicked)
    sub = assignment[rows]
    loads = ls.pool_loads(assignment, pieces.load.kernel, instance.pool_of, instance.n_pools)
    # pieces.movable[rows] is a copy: kick_and_land may hold a kicked SIM in it.
    rows_args = (sub, pieces.lin[rows], pieces.load.of_sims(rows).kernel, pieces.movable[rows])
    kick_args = (np.searchsorted(rows, kicked), np.argmin(reduced.rows(kicked), axis=1))
    pool_args = (instance.pool_of, instance.pool_overage_rate, instance.pool_unit_mb, loads)
    if land:
        kept, _ = kick_and_land(*rows_args, np.arange(len(rows)), *kick_args, *pool_args)
    else:
        kept, _ = ls.kick_pass(*rows_args, *kick_args, *pool_args)
    if kept == 0:
        return assignment
    kicked_answer = assignment.copy()
    kicked_answer[rows] = sub
    return _polish(instance, pieces, kicked_answer, reduced, near_ties, run)


def _misplaced(reduced: ReducedCosts, assign: np.ndarray, movable: np.ndarray) -> np.ndarray:
    """Movable SIMs farthest from their cheapest line, by index: each costs the gap its
    excess."""
    chosen, _ = _farthest(reduced, assign, movable, MISPLACED_CANDIDATES, 1e-9)
    return np.sort(chosen).astype(np.int64)


def _farthest(
    reduced: ReducedCosts, assign: np.ndarray, movable: np.ndarray, most: int, above: float
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``most`` movable SIMs whose line is more than ``above`` USD (reduced cost) from
    their cheapest, in no order, and every SIM's excess (0 for SIMs that cannot move)."""
    excess = np.where(movable, reduced.at(np.arange(len(assign)), assign) - reduced.floor, 0.0)
    count = min(most, int((excess > above).sum()))
    if count == 0:
        return np.empty(0, dtype=np.int64), excess
    return np.argpartition(-excess, count - 1)[:count], excess


def _near_ties(reduced: ReducedCosts, movable: np.ndarray) -> np.ndarray:
    """Movable SIMs whose two cheapest lines are closest: where swaps can pay off."""
    if reduced.n_plans < 2:
        return np.empty(0, dtype=np.int64)
    cheapest, second = reduced.two_smallest()
    margin = np.where(movable & np.isfinite(second), second - cheapest, np.inf)
    count = min(SWAP_CANDIDATES, int(np.isfinite(margin).sum()))
    if count < 2:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.argpartition(margin, count - 1)[:count]).astype(np.int64)


def _prove_or_improve(
    instance: Instance,
    pieces: PairCosts,
    reduced: ReducedCosts,
    best: np.ndarray,
    run: _Run,
) -> tuple[np.ndarray, bool, float]:
    """Reduced-cost fixing, then an exact MILP over the pairs that could still improve.

    Returns (assignment, proven optimal, valid lower bound).
    """
    best_cost = _cost(instance, pieces, best)
    dual_value = float(reduced.floor.sum())
    # Slack for the contract's 1e-9 ceil tolerance and float noise: fixing stays rigorous.
    slack = float(instance.pool_overage_rate.sum()) * 1e-9 + 1e-7 * abs(best_cost)
    budget = best_cost - dual_value + slack
    if budget <= 0:
        return best, True, best_cost
    keep = reduced.within(budget)
    free_pairs = int(keep.sum()) - keep.shape[0]
    if free_pairs > MILP_MAX_FREE_PAIRS:
        run.untried = (
            f"the exact MILP that could close it has {free_pairs:,} free SIM-plan pairs, more "
            f"than the {MILP_MAX_FREE_PAIRS:,} it can finish within a time limit"
        )
        return best, False, dual_value
    found = _solve(
        _restricted_model(instance, pieces, keep),
        integral=True,
        time_left_s=run.left(),
        rel_gap=_milp_rel_gap(run.gap_target_pct),
    )
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
    fixed_load: np.ndarray  # per pool, the load of the fixed SIMs (MB beyond its allowance)

    @property
    def lower(self) -> np.ndarray:
        return np.zeros(len(self.c))


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
        weights=pieces.load.at(fixed_rows, fixed_plan[fixed_rows])[fixed_in_pool],
        minlength=instance.n_pools,
    )
    free_pool = instance.pool_of[free_plans]
    in_pool = free_pool >= 0
    # unit_P · o_P − Σ load[d, p] · x[d, p] (p in P) ≥ load of the fixed SIMs in pool P
    rows = np.concatenate([free_pool[in_pool], pools])
    cols = np.concatenate([np.flatnonzero(in_pool), n_x + pools])
    vals = np.concatenate(
        [-pieces.load.at(free_rows[in_pool], free_plans[in_pool]), instance.pool_unit_mb]
    )
    constraints = [LinearConstraint(one_plan, 1, 1)]
    if len(pools):
        capacity = sparse.csr_matrix((vals, (rows, cols)), shape=(len(pools), n_vars))
        constraints.append(LinearConstraint(capacity, fixed_load, np.inf))
    upper = np.concatenate([np.ones(n_x), np.full(len(pools), np.inf)])
    return _Restricted(fixed_plan, free_rows, free_plans, c, constraints, upper, const, fixed_load)


def _milp_rel_gap(gap_target_pct: float) -> float:
    """HiGHS's ``mip_rel_gap`` that meets the gap target: HiGHS measures ``(P − D) / P`` over
    the restricted model, the target is ``(P − D) / D`` over the whole instance (whose fixed
    SIMs add the same non-negative constant to P and D), so ``t / (1 + t)`` is enough."""
    target = gap_target_pct / 100
    return max(MILP_REL_GAP, target / (1 + target))


def _rounded(model: _Restricted, share: np.ndarray) -> np.ndarray:
    """Every SIM on its fixed plan, or on the free pair with its largest share."""
    assignment = model.fixed_plan.copy()
    order = np.lexsort((share, model.free_rows))  # per SIM, its largest share last
    assignment[model.free_rows[order]] = model.free_plans[order]
    return assignment


def _solve(
    model: _Restricted, *, integral: bool, time_left_s: float, rel_gap: float = MILP_REL_GAP
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
    with native_stdout_silenced():
        result = milp(
            model.c,
            integrality=np.full(len(model.c), 1 if integral else 0),
            bounds=Bounds(model.lower, model.upper),
            constraints=model.constraints,
            options={"time_limit": max(time_left_s, 0.5), "mip_rel_gap": rel_gap, "disp": False},
        )
    if result.x is None:
        return None
    share = result.x[:n_x]
    assignment = _rounded(model, share)
    dual_bound = getattr(result, "mip_dual_bound", None) if integral else result.fun
    bound = model.const + (dual_bound if dual_bound is not None else -np.inf)
    return assignment, result.status == 0, float(bound), share
