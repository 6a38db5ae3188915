"""Landing pools on a unit boundary (core/pool_landing.py): the move that takes whole overage
units off a pool through many SIMs at once."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier_opt.core import local_search as ls
from carrier_opt.core.pair_costs import PairCosts, PairLoads
from carrier_opt.core.pool_landing import kick_and_land, land_pools
from carrier_opt_tests.core.strategies import instances, random_valid_assignment


def _cost(pieces: PairCosts, pool_of, rate, unit, assign) -> float:
    return ls.assignment_cost(assign, pieces.lin, pieces.load.kernel, pool_of, rate, unit)


@settings(max_examples=200, deadline=None)
@given(instances(max_devices=30, max_plans=5), st.integers(0, 2**31))
def test_a_landing_saves_exactly_what_it_reports_and_never_costs_more(instance, seed):
    """On any fleet and any starting assignment: the assignment stays valid (locked SIMs
    stay, every plan allowed), the pool loads it keeps are the loads of the new assignment,
    and the saving it reports is the exact cost difference, never negative."""
    pieces = PairCosts.of(instance)
    start = random_valid_assignment(instance, seed)
    args = (instance.pool_of, instance.pool_overage_rate, instance.pool_unit_mb)
    assign = start.copy()
    loads = ls.pool_loads(assign, pieces.load.kernel, instance.pool_of, instance.n_pools)
    rows = np.arange(instance.n_devices, dtype=np.int64)
    moves, saving = land_pools(
        assign, pieces.lin, pieces.load.kernel, pieces.movable, rows, *args, loads
    )
    assert saving >= 0.0
    assert moves == 0 or saving > 0.0
    before, after = _cost(pieces, *args, start), _cost(pieces, *args, assign)
    assert after <= before + 1e-9
    assert abs((before - after) - saving) < 1e-6 * max(1.0, before)
    assert np.array_equal(assign[~pieces.movable], start[~pieces.movable])
    assert np.isfinite(pieces.lin[np.arange(len(assign)), assign]).all()
    fresh = ls.pool_loads(assign, pieces.load.kernel, instance.pool_of, instance.n_pools)
    assert np.allclose(loads, fresh, rtol=0, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(instances(max_devices=30, max_plans=5), st.integers(0, 2**31))
def test_a_landed_kick_is_kept_only_when_it_saves_and_saves_what_it_reports(instance, seed):
    """Every SIM kicked to a random allowed plan, its pools landed: a kick that does not
    save is undone to the last SIM, one that saves is kept, and the saving reported is the
    exact cost difference. The caller's ``movable`` comes back as it went in."""
    pieces = PairCosts.of(instance)
    start = random_valid_assignment(instance, seed)
    lines = random_valid_assignment(instance, seed + 1)
    args = (instance.pool_of, instance.pool_overage_rate, instance.pool_unit_mb)
    assign = start.copy()
    loads = ls.pool_loads(assign, pieces.load.kernel, instance.pool_of, instance.n_pools)
    movable = pieces.movable.copy()
    sims = np.arange(instance.n_devices, dtype=np.int64)
    kept, saving = kick_and_land(
        assign, pieces.lin, pieces.load.kernel, movable, sims, sims, lines, *args, loads
    )
    assert np.array_equal(movable, pieces.movable)
    before, after = _cost(pieces, *args, start), _cost(pieces, *args, assign)
    assert saving >= 0.0
    assert (kept == 0) == np.array_equal(assign, start)
    assert abs((before - after) - saving) < 1e-6 * max(1.0, before)
    assert np.array_equal(assign[~pieces.movable], start[~pieces.movable])
    assert np.isfinite(pieces.lin[np.arange(len(assign)), assign]).all()
    fresh = ls.pool_loads(assign, pieces.load.kernel, instance.pool_of, instance.n_pools)
    assert np.allclose(loads, fresh, rtol=0, atol=1e-6)


def _fleet(usage: list[float], lin: list[list[float]]) -> PairCosts:
    """SIMs of ``usage`` MB on three plans: 0 pooled (50 MB each, billed in 1 MB units),
    1 and 2 not; ``lin`` what each SIM pays on each plan besides the pool's overage."""
    loads = PairLoads(
        np.asarray(usage, dtype=float),
        np.ones(len(usage)),
        np.array([50.0, 0.0, 0.0]),
        np.array([True, False, False]),
    )
    return PairCosts(np.asarray(lin, dtype=float), loads, np.ones(len(usage), dtype=bool))


POOL_OF = np.array([0, -1, -1])
RATE, UNIT = np.array([0.10]), np.array([1.0])


def test_a_pool_just_over_a_boundary_lands_through_a_move_out_and_a_move_in():
    """The demo's shape, in four SIMs. The pool is 0.4 MB over its allowance and bills one
    0.10 USD unit. SIM 1 can leave it (10 MB out, +0.50 USD) and SIM 2 can join it (9.5 MB
    in, −0.46 USD): alone, one costs more than the unit and the other adds ten units;
    together they take 0.5 MB out for 0.04 USD and save the unit. SIM 3 could join for
    −0.50 USD but would add 20 MB."""
    pieces = _fleet(
        usage=[40.4, 60.0, 59.5, 70.0],
        lin=[
            [5.0, 9.0, 9.0],  # SIM 0 stays in the pool (−9.6 MB)
            [5.0, 5.50, 9.0],  # SIM 1 (+10 MB): out to plan 1 for +0.50
            [5.0, 9.0, 5.46],  # SIM 2 on plan 2: into the pool (+9.5 MB) for −0.46
            [5.0, 5.50, 9.0],  # SIM 3 on plan 1: into the pool (+20 MB) for −0.50
        ],
    )
    assign = np.array([0, 0, 2, 1])
    loads = ls.pool_loads(assign, pieces.load.kernel, POOL_OF, 1)
    assert np.isclose(loads[0], 0.4)
    args = (POOL_OF, RATE, UNIT)
    before = _cost(pieces, *args, assign)
    # SIM 1 alone cannot pay for the unit: nothing moves.
    alone = assign.copy()
    moves, saving = land_pools(
        alone, pieces.lin, pieces.load.kernel, pieces.movable,
        np.array([1], dtype=np.int64), *args, loads.copy(),
    )  # fmt: skip
    assert (moves, saving) == (0, 0.0)
    assert alone.tolist() == assign.tolist()
    moves, saving = land_pools(
        assign, pieces.lin, pieces.load.kernel, pieces.movable,
        np.arange(4, dtype=np.int64), *args, loads,
    )  # fmt: skip
    assert assign.tolist() == [0, 1, 0, 1]
    assert moves == 2
    assert np.isclose(loads[0], -0.1)
    assert np.isclose(saving, 0.10 - 0.50 + 0.46)
    assert np.isclose(before - _cost(pieces, *args, assign), saving)
