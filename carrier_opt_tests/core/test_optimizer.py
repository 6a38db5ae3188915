"""The optimizer: valid, never worse than its starts, at the bound where it can prove it."""

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from carrier_opt.core import local_search as ls
from carrier_opt.core import optimizer, reference_lp, run, sifting
from carrier_opt.core.instance import load_instance
from carrier_opt.core.legacy import legacy_baseline
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.pair_costs import PairCosts
from carrier_opt.core.pricing import total_cost, validate_assignment
from carrier_opt.core.run import default_legacy_sequences, legacy_and_optimized
from carrier_opt.core.synthetic import customer_account, mobility_account, synthetic_account
from carrier_opt.errors import InputError
from carrier_opt_tests.core.strategies import REFERENCE_NAMES, instances, reference_dir

HALF_CENT = 0.005


def brute_force_optimum(instance) -> float:
    """Cheapest valid assignment by enumeration (tiny instances only)."""
    allowed = instance.allowed_for_devices()
    choices = [np.flatnonzero(row) for row in allowed]
    return min(
        total_cost(instance, np.array(assignment, dtype=np.int64))
        for assignment in itertools.product(*choices)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_devices=6, max_plans=3))
def test_small_instances_are_solved_to_optimality(instance):
    legacy = legacy_baseline(instance, max_sequences=20)
    result = optimize(instance, time_limit_s=10, gap_target_pct=0, starts=[legacy.assignment])
    validate_assignment(instance, result.assignment)
    assert result.cost == pytest.approx(total_cost(instance, result.assignment), abs=1e-6)
    locked = instance.locked
    assert (result.assignment[locked] == instance.current_plan[locked]).all()
    optimum = brute_force_optimum(instance)
    assert result.bound.value <= optimum + 1e-6
    assert result.cost <= optimum + HALF_CENT
    assert result.cost <= total_cost(instance, instance.current_plan) + 1e-9
    assert result.cost <= legacy.cost + 1e-9
    assert result.stopped_by == "optimal" and result.proven_optimal


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_devices=40, max_plans=5))
def test_never_worse_than_the_current_assignment_or_a_given_start(instance):
    rng = np.random.default_rng(0)
    allowed = instance.allowed_for_devices()
    start = np.array([rng.choice(np.flatnonzero(row)) for row in allowed], dtype=np.int64)
    result = optimize(instance, time_limit_s=5, starts=[start])
    validate_assignment(instance, result.assignment)
    assert result.bound.value <= result.cost + 1e-6
    assert result.cost <= total_cost(instance, instance.current_plan) + 1e-9
    assert result.cost <= total_cost(instance, start) + 1e-9
    assert_stopped_by_is_what_the_figures_say(result)


def assert_stopped_by_is_what_the_figures_say(result) -> None:
    """``optimal``: at the proven bound to half a cent (or proven by the MILP); ``gap_target``:
    within the target of it; ``time_limit``: neither."""
    assert result.bound.value <= result.proven_bound <= result.cost + 1e-6
    at_bound = result.cost - result.proven_bound <= HALF_CENT
    within = result.proven_gap_pct <= result.gap_target_pct
    assert result.proven_optimal == (result.stopped_by == "optimal")
    if result.stopped_by == "optimal":
        assert at_bound or result.stages[-1].name == "MILP"
    elif result.stopped_by == "gap_target":
        assert within and not at_bound
    else:
        assert result.stopped_by == "time_limit" and not within and not at_bound


def test_an_answer_at_its_bound_stops_before_the_later_stages():
    """p01's priced start costs its LP bound: nothing is left to search for."""
    instance = load_instance(reference_dir("p01-tiny"))
    result = optimize(instance, time_limit_s=30, gap_target_pct=0)
    assert result.stopped_by == "optimal" and result.proven_optimal
    assert [stage.name for stage in result.stages] == [
        "lower bound",
        "priced start polished",
        "starts compared",
    ]
    assert_stopped_by_is_what_the_figures_say(result)


@pytest.mark.parametrize("gap_target_pct", [0.05, 1.0])
def test_the_search_stops_once_its_answer_meets_the_gap_target(gap_target_pct):
    """A generated fleet's priced start lands within 0.05 % of the bound (not at it): the
    re-split and the MILP are skipped, and the answer is still never worse than its start."""
    instance = synthetic_account(5_000, seed=7).instance()
    result = optimize(instance, time_limit_s=60, gap_target_pct=gap_target_pct)
    validate_assignment(instance, result.assignment)
    assert result.stopped_by == "gap_target"
    assert 0 < result.proven_gap_pct <= gap_target_pct
    names = [stage.name for stage in result.stages]
    assert "MILP" not in names and "re-split around the polished answer" not in names
    assert result.cost <= total_cost(instance, instance.current_plan)
    assert_stopped_by_is_what_the_figures_say(result)
    assert single_moves_left(instance, result.assignment) == 0


def single_moves_left(instance, assignment) -> int:
    """How many SIMs one single-move pass over ``assignment`` still moves (0: a local optimum)."""
    pieces = PairCosts.of(instance)
    assign = assignment.copy()
    loads = ls.pool_loads(assign, pieces.load.kernel, instance.pool_of, instance.n_pools)
    moves, _ = ls.single_move_pass(
        assign,
        pieces.lin,
        pieces.load.kernel,
        pieces.movable,
        instance.pool_of,
        instance.pool_overage_rate,
        instance.pool_unit_mb,
        loads,
    )
    return moves


def test_an_answer_proven_good_still_gets_its_single_moves():
    """p05-mobility's first landed tie rounding is proven within 0.00096 % (under the default
    0.001 % target), yet one pass of single moves (under a millisecond) saves 49.88 USD on it:
    the search stops at the target only after them, at or below the 6,428,123.98 USD this row
    cost at the target before the pools were landed."""
    instance = load_instance(reference_dir("p05-mobility"))
    result = optimize(instance, time_limit_s=60)
    assert result.stopped_by == "gap_target"
    assert result.cost <= 6_428_123.98
    assert single_moves_left(instance, result.assignment) == 0
    assert_stopped_by_is_what_the_figures_say(result)


def test_the_legacy_baseline_beside_the_optimizer_gives_the_answers_of_one_after_the_other(
    monkeypatch,
):
    """``legacy_and_optimized`` computes the baseline on its own thread, started once the
    optimizer's bound (which uses both cores) is done, while the optimizer splits ties, and
    hands it over only when the starts are compared: the baseline, the optimizer's answer and
    what stopped it are those of the two run one after the other."""
    instance = synthetic_account(5_000, seed=7).instance()
    alone = legacy_baseline(instance, max_sequences=default_legacy_sequences(5_000))
    after = optimize(instance, time_limit_s=60, gap_target_pct=0.05, starts=[alone.assignment])
    events: list[str] = []
    real_bound, real_baseline = optimizer.lagrangian_bound, run.legacy_baseline

    def bound(*args, **kwargs):
        value = real_bound(*args, **kwargs)
        events.append("bound done")
        return value

    def baseline(*args, **kwargs):
        events.append("baseline started")
        return real_baseline(*args, **kwargs)

    monkeypatch.setattr(optimizer, "lagrangian_bound", bound)
    monkeypatch.setattr(run, "legacy_baseline", baseline)
    seen: list[str] = []
    legacy, beside = legacy_and_optimized(
        instance,
        time_limit_s=60,
        gap_target_pct=0.05,
        progress=lambda stage, _: seen.append(stage),
    )
    assert (legacy.cost, legacy.winner) == (alone.cost, alone.winner)
    assert np.array_equal(legacy.assignment, alone.assignment)
    assert beside.cost == after.cost and beside.stopped_by == after.stopped_by == "gap_target"
    assert np.array_equal(beside.assignment, after.assignment)
    # The optimizer did not wait for the baseline before its bound and tie split, and the
    # baseline did not start before the bound was done.
    assert seen[:3] == ["lower bound", "priced start polished", "starts compared"]
    assert events == ["bound done", "baseline started"]


def test_starts_given_as_a_function_are_asked_for_only_when_they_are_compared():
    instance = synthetic_account(2_000, seed=3).instance()
    stages_before: list[int] = []
    reported: list[str] = []
    legacy = legacy_baseline(instance, max_sequences=10)

    def starts():
        stages_before.append(len(reported))
        return [legacy.assignment]

    result = optimize(
        instance,
        time_limit_s=60,
        gap_target_pct=1.0,
        starts=starts,
        progress=lambda stage, _: reported.append(stage),
    )
    assert stages_before == [reported.index("starts compared")]
    assert result.cost <= legacy.cost


def test_a_legacy_baseline_that_fails_beside_the_optimizer_fails_the_run(monkeypatch):
    def broken(*args, **kwargs):
        raise InputError("legacy: broken on purpose")

    monkeypatch.setattr(run, "legacy_baseline", broken)
    instance = synthetic_account(500, seed=1).instance()
    with pytest.raises(InputError, match="broken on purpose"):
        legacy_and_optimized(instance, time_limit_s=10)


@pytest.mark.parametrize("gap_target_pct", [-0.001, float("nan"), float("inf")])
def test_a_gap_target_that_is_no_percentage_is_refused(gap_target_pct):
    instance = load_instance(reference_dir("p01-tiny"))
    with pytest.raises(InputError, match="gap target"):
        optimize(instance, gap_target_pct=gap_target_pct)


def test_the_milp_is_asked_for_no_more_than_the_gap_target_needs():
    """HiGHS's relative gap is (P − D) / P over the restricted model; (P − D) / D ≤ target
    needs t / (1 + t), and 0 asks for an optimal answer."""
    assert optimizer._milp_rel_gap(0.0) == optimizer.MILP_REL_GAP
    t = optimizer._milp_rel_gap(1.0)
    primal, dual = 101.0, 100.0  # exactly 1 % above the dual bound
    assert (primal - dual) / primal == pytest.approx(t)


@pytest.mark.optimizer_time
@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_instances_reach_their_targets(name):
    folder = reference_dir(name)
    expected = json.loads((folder / "expected.json").read_text())
    instance = load_instance(folder)
    result = optimize(instance, time_limit_s=4, gap_target_pct=0)  # as close as it can get
    validate_assignment(instance, result.assignment)
    assert result.cost == pytest.approx(total_cost(instance, result.assignment), abs=1e-6)
    assert result.bound.value == pytest.approx(expected["lp_bound"], rel=1e-4)
    assert result.cost <= expected["current_cost"] + HALF_CENT
    assert result.gap <= 0.005
    if expected.get("best_known_proven_optimal"):
        assert result.cost == pytest.approx(expected["best_known"], abs=HALF_CENT)
    if expected["devices"] >= 20_000:
        assert result.gap <= 0.0005


@pytest.mark.optimizer_time
def test_a_generated_fleet_lands_close_to_its_bound():
    instance = synthetic_account(5_000, seed=7).instance()
    result = optimize(instance, time_limit_s=10)
    validate_assignment(instance, result.assignment)
    assert result.gap <= 0.005
    assert result.cost < 0.5 * total_cost(instance, instance.current_plan)


def test_exact_ties_leave_the_tie_lp_room_for_near_ties(monkeypatch):
    """Two pools at one price tie every SIM that may use both: on a 1 M fleet those ties
    alone filled the tie LP's budget, the LP could not bring the pools to their allowance and
    the answer stayed 0.3 % above the bound. Near ties now come on top of the (nearly) exact
    ones."""
    excess = np.array([[0.0, 1e-12], [0.0, 1e-8], [0.0, 1e-12], [0.0, 0.25], [0.0, 0.5]])
    movable = np.ones(len(excess), dtype=bool)
    monkeypatch.setattr(optimizer, "MIN_TIE_PAIRS", 1)
    monkeypatch.setattr(optimizer, "MAX_TIE_PAIRS", 1)
    assert optimizer._tie_threshold(excess, movable, beyond=optimizer.NEGLIGIBLE_EXCESS) == 0.25


def test_a_fleet_too_large_for_the_full_tie_lp_splits_its_ties_over_two_lines(monkeypatch):
    """Above 3 × MAX_TIE_PAIRS SIMs each SIM weighs one move in the tie LP (its two closest
    lines); shrunk here so that a 6,000-SIM fleet takes that path."""
    monkeypatch.setattr(optimizer, "MIN_TIE_PAIRS", 1_000)
    monkeypatch.setattr(optimizer, "MAX_TIE_PAIRS", 1_000)
    calls = []
    real = optimizer._two_line_lp

    def counted(*args, **kwargs):
        calls.append(len(args[3]))  # the free SIMs, each a column of the LP
        return real(*args, **kwargs)

    monkeypatch.setattr(optimizer, "_two_line_lp", counted)
    solvers = []
    real_solve = optimizer.WarmLP.solve

    def solved_by(self, time_limit_s, solver="choose"):
        solvers.append(solver)
        return real_solve(self, time_limit_s, solver)

    monkeypatch.setattr(optimizer.WarmLP, "solve", solved_by)
    instance = synthetic_account(6_000, seed=7).instance()
    result = optimize(instance, time_limit_s=10)
    validate_assignment(instance, result.assignment)
    assert calls and calls[0] > 1_000  # every exact tie, then 1,000 near ones
    # One model per split: interior point once, then the simplex from its basis each round.
    assert solvers[0] == "ipm" and "simplex" in solvers
    assert solvers.count("ipm") == len(calls)
    assert result.gap <= 0.0005
    assert result.cost < total_cost(instance, instance.current_plan)


@pytest.mark.parametrize("gives_up", [False, True])
def test_a_two_line_lp_of_many_columns_is_sifted_and_whole_again_when_sifting_struggles(
    monkeypatch, gives_up
):
    """Past SIFTED_FIRST free SIMs the two-line LP holds only the closest ones in HiGHS, the
    others entering as they price out (core/sifting.py); when a solve after an entry takes
    more than ITERATIONS_PER_ROW iterations per row, the split solves the whole LP by interior
    point instead (the 1 M shared-pool fleet). Shrunk here so a 6,000-SIM fleet does both; the
    answer's quality is the whole LP's."""
    monkeypatch.setattr(optimizer, "MIN_TIE_PAIRS", 1_000)
    monkeypatch.setattr(optimizer, "MAX_TIE_PAIRS", 1_000)
    monkeypatch.setattr(optimizer, "SIFTED_FIRST", 300)
    monkeypatch.setattr(optimizer, "SIFTED_BATCH", 300)
    if gives_up:
        monkeypatch.setattr(sifting, "ITERATIONS_PER_ROW", 0)
    sifted, whole = [], []
    real_sifted, real_whole = optimizer.SiftedLP.solve, optimizer.WarmLP.solve

    def sifted_solve(self, *args, **kwargs):
        answer = real_sifted(self, *args, **kwargs)
        sifted.append((self.working, self.entered, self.gave_up, answer is not None))
        return answer

    def whole_solve(self, *args, **kwargs):
        if kwargs.get("solver") == "ipm":  # a sifted LP's own solves are simplex
            whole.append(self._highs.getNumCol())
        return real_whole(self, *args, **kwargs)

    monkeypatch.setattr(optimizer.SiftedLP, "solve", sifted_solve)
    monkeypatch.setattr(optimizer.WarmLP, "solve", whole_solve)
    instance = synthetic_account(6_000, seed=7).instance()
    result = optimize(instance, time_limit_s=20)
    validate_assignment(instance, result.assignment)
    assert sifted, "the two-line LP was not sifted"
    working, entered, gave_up, answered = sifted[0]
    if gives_up:
        assert gave_up and not answered and whole and whole[0] > working
    else:
        assert answered and not gave_up and entered > 0 and not whole
    assert result.gap <= 0.0005
    assert result.cost < total_cost(instance, instance.current_plan)


def test_time_to_quality_is_the_end_of_the_first_stage_within_it():
    """Issue 30, point 5: hand-checked on stages as the optimizer reports them."""
    result = optimizer.OptimizationResult(
        assignment=np.zeros(1, dtype=np.int64),
        cost=10_000.0,
        bound=None,  # type: ignore[arg-type]  (not read here)
        proven_optimal=False,
        proven_bound=9_990.0,
        seconds=20.5,
        stages=(
            optimizer.Stage(optimizer.BOUND_STAGE, 9_990.0, 0.4),  # a bound, not an answer
            optimizer.Stage("priced start polished", 10_002.0, 1.5),  # 0.02 % above
            optimizer.Stage("re-split", 10_000.9, 3.0),  # 0.009 % above
            optimizer.Stage("MILP", 10_000.0, 20.1),
        ),
    )
    assert result.seconds_to_within(0.01) == 3.0
    assert result.seconds_to_within(0.05) == 1.5
    assert result.seconds_to_within(0.0) == 20.1
    assert (
        optimizer.OptimizationResult(
            assignment=result.assignment,
            cost=1.0,
            bound=None,  # type: ignore[arg-type]
            proven_optimal=True,
            proven_bound=1.0,
            seconds=0.2,
        ).seconds_to_within(0.01)
        == 0.2
    )


def test_a_large_fleet_keeps_its_tie_lp_in_highs_between_rounds(monkeypatch):
    """From WARM_TIE_LP_MIN_SIMS SIMs the tie split's rounds share one HiGHS model, each
    warm-started (shrunk here so that a 6,000-SIM fleet takes that path), and no re-split
    follows: the answer is as valid and as close to the bound as the fresh solves give."""
    monkeypatch.setattr(optimizer, "WARM_TIE_LP_MIN_SIMS", 1_000)
    rounds = []
    real = optimizer.WarmLP.solve

    def counted(self, time_limit_s, **options):
        rounds.append(time_limit_s)
        return real(self, time_limit_s, **options)

    monkeypatch.setattr(optimizer.WarmLP, "solve", counted)
    instance = synthetic_account(6_000, seed=7).instance()
    result = optimize(instance, time_limit_s=30)
    validate_assignment(instance, result.assignment)
    assert len(rounds) >= 2  # fractional SIMs were fixed and the LP solved again, warm
    # No re-split around the polished answer follows a full tie split (it never paid).
    assert "re-split around the polished answer" not in [stage.name for stage in result.stages]
    assert result.gap <= 0.0005
    assert result.cost < total_cost(instance, instance.current_plan)


def test_a_tie_lp_that_gives_no_answer_is_not_solved_again_around_the_polish(monkeypatch):
    """mobility-200k: the tie LP's first solve ran out of its time share, and the re-split
    around the polished answer (the same LP, larger) spent as long again for nothing. A LP
    that gives no answer (stubbed here as HiGHS answers when out of time) is not tried
    again; the answer is the polished one, still valid and never worse than the current."""
    real = optimizer._solve
    tie_solves = []

    def out_of_time(model, *, integral, time_left_s, **kwargs):
        if not integral:
            tie_solves.append(time_left_s)
            return None
        return real(model, integral=integral, time_left_s=time_left_s, **kwargs)

    monkeypatch.setattr(optimizer, "_solve", out_of_time)
    instance = synthetic_account(5_000, seed=7).instance()
    result = optimize(instance, time_limit_s=5, gap_target_pct=0)
    validate_assignment(instance, result.assignment)
    assert len(tie_solves) == 1
    names = [stage.name for stage in result.stages]
    assert "priced start polished" in names
    assert "re-split around the polished answer" not in names
    assert result.cost <= total_cost(instance, instance.current_plan)


def test_a_fleet_with_one_pool_presolves_its_tie_lp_without_the_parallel_columns_rule(
    monkeypatch,
):
    """mobility-200k has one pool: HiGHS's parallel-columns presolve rule then took 21 of the
    22 s of its tie LP (and most of the demo's fresh tie LPs, two pools). Fleets with at most
    FEW_POOLS pools build their fresh tie LPs without it, and the answer stays as close to
    the bound."""
    built = []
    real = optimizer.WarmLP.__init__

    def recorded(self, *args, **kwargs):
        built.append(kwargs["parallel_columns_presolved"])
        real(self, *args, **kwargs)

    monkeypatch.setattr(optimizer.WarmLP, "__init__", recorded)
    instance = mobility_account(6_000, seed=6_000).instance()
    assert instance.n_pools <= optimizer.FEW_POOLS
    result = optimize(instance, time_limit_s=30)
    validate_assignment(instance, result.assignment)
    assert built and not any(built)
    assert result.gap <= 0.0005


@pytest.mark.parametrize(("kind", "primal"), [("mobility", True), ("synthetic", False)])
def test_a_warm_tie_lp_is_solved_in_reference_form_without_presolve(monkeypatch, kind, primal):
    """From WARM_TIE_LP_MIN_SIMS SIMs (shrunk here) the tie LP is held in reference form, with
    no presolve: its first solve is the primal simplex on fleets with at most FEW_POOLS pools
    (customer-200k 2.4 -> 0.1 s, mobility-200k 1.9 -> 0.12 s), the dual simplex on the others
    (synthetic-200k, twelve pools: 2.2 -> 1.0 s); later rounds the dual simplex, warm."""
    monkeypatch.setattr(optimizer, "WARM_TIE_LP_MIN_SIMS", 1_000)
    built, strategies = [], []
    real_init, real_solve = optimizer.WarmLP.__init__, optimizer.WarmLP.solve

    def recorded(self, *args, **kwargs):
        built.append(kwargs)
        real_init(self, *args, **kwargs)

    def solved(self, time_limit_s, **options):
        strategies.append(options.get("simplex_strategy"))
        return real_solve(self, time_limit_s, **options)

    monkeypatch.setattr(optimizer.WarmLP, "__init__", recorded)
    monkeypatch.setattr(optimizer.WarmLP, "solve", solved)
    account = mobility_account if kind == "mobility" else synthetic_account
    instance = account(6_000, seed=6_000).instance()
    assert (instance.n_pools <= optimizer.FEW_POOLS) == primal
    result = optimize(instance, time_limit_s=30)
    validate_assignment(instance, result.assignment)
    assert built == [{"presolve": False}]
    first = reference_lp.PRIMAL_SIMPLEX if primal else reference_lp.DUAL_SIMPLEX
    assert strategies[0] == first
    assert all(strategy == reference_lp.DUAL_SIMPLEX for strategy in strategies[1:])
    assert result.gap <= 0.0005


def test_the_two_line_rounds_stop_once_they_stop_lowering_the_rounding(monkeypatch):
    """Each warm round fixes a few fractional SIMs and rounds again; once
    STALE_TIE_ROUNDS rounds in a row have not lowered the best rounding, the rest
    (up to MAX_TWO_LINE_ROUNDS) are not solved. Here the LP gives the same fractional
    answer every round, so no round after the first can lower it."""
    monkeypatch.setattr(optimizer, "MIN_TIE_PAIRS", 1_000)
    monkeypatch.setattr(optimizer, "MAX_TIE_PAIRS", 1_000)
    solves = []

    class SameAnswer:
        def __init__(self, n_free: int) -> None:
            self.shares = np.full(n_free, 0.3)  # every SIM fractional, none moves

        def solve(self, time_limit_s, solver="choose"):
            solves.append(solver)
            return self.shares

        def fix(self, columns, values):
            pass  # the next round answers the same

    monkeypatch.setattr(
        optimizer,
        "_two_line_lp",
        lambda instance, pieces, line, free, other, closeness: SameAnswer(len(free)),
    )
    instance = synthetic_account(6_000, seed=7).instance()
    result = optimize(instance, time_limit_s=10)
    validate_assignment(instance, result.assignment)
    # The first round lowers it (its rounding, the start, is landed on the pools' unit
    # boundaries); the next STALE_TIE_ROUNDS give the same rounding and do not.
    per_split = 1 + optimizer.STALE_TIE_ROUNDS
    assert 0 < len(solves) <= 2 * per_split < 2 * optimizer.MAX_TWO_LINE_ROUNDS


def test_the_tie_rounds_stop_once_they_stop_lowering_the_rounding(monkeypatch):
    """customer-20k gave the same rounding in all 8 rounds of its tie LP (0.3 s each): once
    STALE_TIE_ROUNDS rounds in a row have not lowered the best rounding, the rest are not
    solved, and no re-split around the polished answer follows a full tie split (it lowered
    no row of the bench). Here every round after the first answers the first round's shares."""
    solves = []
    real = optimizer._FreshTieLP.solve

    def same_answer(self, time_left_s):
        solves.append(time_left_s)
        if len(solves) == 1:
            self.first = real(self, time_left_s)
        return self.first

    monkeypatch.setattr(optimizer._FreshTieLP, "solve", same_answer)
    monkeypatch.setattr(optimizer._FreshTieLP, "fix", lambda self, model, sims, rounded: None)
    instance = customer_account(3_000, seed=3_000).instance()
    result = optimize(instance, time_limit_s=30, gap_target_pct=0)
    validate_assignment(instance, result.assignment)
    # The first round may lower the start or not; no later one can.
    assert optimizer.STALE_TIE_ROUNDS <= len(solves) <= 1 + optimizer.STALE_TIE_ROUNDS
    assert len(solves) < optimizer.MAX_TIE_ROUNDS
    names = [stage.name for stage in result.stages]
    assert "re-split around the polished answer" not in names
    assert names[:2] == ["lower bound", "priced start polished"]
