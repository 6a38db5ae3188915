"""Kicks (issue 30): a misplaced SIM moved to its cheapest line at a loss, held there while
the SIMs near a tie refill what it left; kept only when the whole saves money."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier_opt.core import local_search as ls
from carrier_opt.core import optimizer
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.pair_costs import PairCosts, PairLoads
from carrier_opt.core.pricing import total_cost, validate_assignment
from carrier_opt.core.synthetic import customer_account
from carrier_opt_tests.core.strategies import instances, random_valid_assignment

POOL, BIG, SMALL = 0, 1, 2  # plans: a pooled 10 MB plan; solo plans covering 30 and 15 MB
INF = np.inf
POOL_BILLS = np.array([True, False, False])  # only the pooled plan bills a pool


def heavy_sim_in_a_pool(lights: int):
    """By hand: one heavy SIM (30 MB) and two idle ones in a pool of 10 MB per SIM at
    1 USD/MB over; ``lights`` SIMs of 15 MB on a 3 USD solo plan beside it.

    - In the pool each SIM pays a 1 USD base; its load is usage − 10 MB: heavy +20, idle −10
      each, light +5. The pool is at its allowance (20 − 10 − 10 = 0): no overage.
    - The heavy SIM alone on the 30 MB solo plan pays 5 USD; a light one 3 USD on its own.
    - Start: 1 + 1 + 1 + 3 × lights USD.
    """
    lin = [[1.0, 5.0, 18.0], [1.0, INF, 3.0], [1.0, INF, 3.0]] + [[1.0, INF, 3.0]] * lights
    usage = np.array([30.0, 0.0, 0.0] + [15.0] * lights)
    # Loads on the pool: heavy 30 − 10 = +20, idle −10, light +5 (the solo plans carry none).
    load = PairLoads(usage, np.ones(len(usage)), np.array([10.0, 0, 0]), POOL_BILLS).kernel
    assign = np.array([POOL, POOL, POOL] + [SMALL] * lights, dtype=np.int64)
    pool_of = np.array([0, -1, -1], dtype=np.int64)
    rate, unit = np.array([1.0]), np.array([1.0])
    lin = np.array(lin)
    loads = ls.pool_loads(assign, load, pool_of, 1)
    return assign, lin, load, pool_of, rate, unit, loads


def test_no_single_move_swap_or_chain_takes_the_heavy_sim_out_but_a_kick_does():
    """Four light SIMs: the heavy SIM out (+4 USD), then each light one in (−2 USD each, the
    pool stays at its allowance: −20 + 4 × 5 = 0): 15 → 11 USD, saving 4."""
    assign, lin, load, pool_of, rate, unit, loads = heavy_sim_in_a_pool(lights=4)
    movable = np.ones(len(assign), dtype=bool)
    start = ls.assignment_cost(assign, lin, load, pool_of, rate, unit)
    assert start == 15.0
    everyone = np.arange(len(assign), dtype=np.int64)
    args = (pool_of, rate, unit, loads)
    assert ls.single_move_pass(assign.copy(), lin, load, movable, *args) == (0, 0.0)
    assert ls.swap_pass(assign.copy(), lin, load, everyone, *args) == (0, 0.0)
    assert ls.ejection_pass(assign.copy(), lin, load, everyone, everyone, *args) == (0, 0.0)

    kept, saving = ls.kick_pass(
        assign, lin, load, movable, np.array([0]), np.array([BIG]), pool_of, rate, unit, loads
    )
    assert (kept, saving) == (1, 4.0)
    assert assign.tolist() == [BIG, POOL, POOL, POOL, POOL, POOL, POOL]
    assert ls.assignment_cost(assign, lin, load, pool_of, rate, unit) == 11.0
    assert loads.tolist() == [0.0]  # −20 + 4 × 5, kept up to date in place
    assert movable.all()  # the kicked SIM was held during the refill only


def test_a_kick_that_does_not_pay_leaves_everything_as_it_was():
    """One light SIM: heavy out +4, light in −2: the kick would cost 2 USD and is undone."""
    assign, lin, load, pool_of, rate, unit, loads = heavy_sim_in_a_pool(lights=1)
    before, loads_before = assign.copy(), loads.copy()
    movable = np.ones(len(assign), dtype=bool)
    kept, saving = ls.kick_pass(
        assign, lin, load, movable, np.array([0]), np.array([BIG]), pool_of, rate, unit, loads
    )
    assert (kept, saving) == (0, 0.0)
    assert assign.tolist() == before.tolist() and loads.tolist() == loads_before.tolist()


def test_kicks_close_most_of_a_customer_fleets_gap_after_the_polish(monkeypatch):
    """A customer fleet whose polished answer keeps heavy SIMs in the pools' spare allowance:
    the kick stage lowers the cost, the answer stays valid and never worse than before it."""
    monkeypatch.setattr(optimizer, "MILP_MAX_FREE_PAIRS", 0)  # the kicks alone
    instance = customer_account(20_000, seed=20_000).instance()
    result = optimize(instance, time_limit_s=120)
    validate_assignment(instance, result.assignment)
    cost = {stage.name: stage.cost for stage in result.stages}
    bound = result.bound.value
    # 78.58 USD above the bound before the kicks, 20.45 after (measured; half is the claim).
    assert cost["misplaced SIMs kicked"] - bound < 0.5 * (cost["starts compared"] - bound)
    assert result.cost <= cost["misplaced SIMs kicked"] + 1e-6
    assert result.cost <= total_cost(instance, instance.current_plan)


# Their Python forms call numba's kernels one pair at a time: 40 fleets of 20 SIMs keep it to
# seconds (about a quarter of them make chains, most make swaps).
@pytest.mark.parametrize("pass_name", ["swap_pass", "ejection_pass"])
@settings(max_examples=40, deadline=None)
@given(instances(max_devices=20, max_plans=5), st.integers(0, 2**31))
def test_the_pruned_passes_make_the_moves_of_the_full_ones(pass_name, instance, seed):
    """The swap pass skips swaps between pools that bill nothing whose linear part does not
    save; the chain pass skips the onward moves that cannot beat its best chain so far. On any
    fleet and assignment each makes the moves the full pass makes (its Python form with the
    pruning off): the same moves, saving, assignment and pool loads."""
    pieces = PairCosts.of(instance)
    start = random_valid_assignment(instance, seed)
    rng = np.random.default_rng(seed)
    movers = np.sort(rng.permutation(instance.n_devices)[: max(1, instance.n_devices // 2)])
    everyone = np.arange(instance.n_devices, dtype=np.int64)
    sims = (everyone,) if pass_name == "swap_pass" else (movers, everyone)
    args = (instance.pool_of, instance.pool_overage_rate, instance.pool_unit_mb)

    def moves(kernel):
        assign = start.copy()
        loads = ls.pool_loads(assign, pieces.load.kernel, instance.pool_of, instance.n_pools)
        made = kernel(assign, pieces.lin, pieces.load.kernel, *sims, *args, loads)
        return made, assign, loads

    pruned = moves(getattr(ls, pass_name))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ls, "PRUNE", False)
        full = moves(getattr(ls, pass_name).py_func)
    assert pruned[0][0] == full[0][0]
    assert pruned[0][1] == pytest.approx(full[0][1], abs=1e-9)
    assert np.array_equal(pruned[1], full[1])
    assert np.allclose(pruned[2], full[2], rtol=0, atol=1e-9)
