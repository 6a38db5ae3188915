"""The Lagrangian lower bound: valid (never above a real cost) and tight (equals the LP)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.optimize import linprog

from carrier_opt.core.bound import lagrangian_bound
from carrier_opt.core.instance import Instance, load_instance
from carrier_opt.core.pricing import total_cost
from carrier_opt.core.synthetic import synthetic_account
from carrier_opt_tests.core.strategies import (
    REFERENCE_NAMES,
    instances,
    random_valid_assignment,
    reference_dir,
    write_instance,
)

HALF_CENT = 0.005


def lp_relaxation(instance: Instance) -> float:
    """The LP relaxation solved directly (an independent oracle for small instances).

    Variables: x[d, p] for each allowed (SIM, plan), s_P ≥ pool P's load for every pool (a
    pooled plan, or the pooled plans sharing a rate_pool).
    A SIM's own overage on a plan that is not pooled is a constant, so it keeps its ceil.
    """
    allowed = instance.allowed_for_devices()
    pairs = np.argwhere(allowed)
    costs, pool_rows, pool_loads = [], [], []
    for d, p in pairs:
        excess = instance.usage_mb[d] - instance.allowance_mb[p] * instance.proration[d]
        cost = instance.base_rate[p] * instance.proration[d]
        cost += instance.sms_rate[p] * instance.sms_count[d]
        if instance.pooled[p]:
            pool_rows.append(int(instance.pool_of[p]))
            pool_loads.append(excess)
        else:
            units = math.ceil(max(excess, 0.0) / instance.overage_unit_mb[p] - 1e-9)
            cost += max(units, 0) * instance.overage_rate[p]
            pool_rows.append(-1)
            pool_loads.append(0.0)
        costs.append(cost)
    n_x, n_s = len(pairs), instance.n_pools
    rates = list(instance.pool_rate_per_mb)
    a_eq = sparse.csr_matrix(
        (np.ones(n_x), (pairs[:, 0], np.arange(n_x))), shape=(instance.n_devices, n_x + n_s)
    )
    a_ub = np.zeros((max(n_s, 1), n_x + n_s))
    for column, (row, load) in enumerate(zip(pool_rows, pool_loads, strict=True)):
        if row >= 0:
            a_ub[row, column] = load
    for row in range(n_s):
        a_ub[row, n_x + row] = -1.0
    result = linprog(
        np.array(costs + rates),
        A_ub=a_ub if n_s else None,
        b_ub=np.zeros(n_s) if n_s else None,
        A_eq=a_eq,
        b_eq=np.ones(instance.n_devices),
        bounds=(0, None),
        method="highs",
    )
    assert result.status == 0
    return float(result.fun)


def cheapest_assignment_cost(instance: Instance) -> float:
    """Brute force over every valid assignment (tiny instances only)."""
    choices = [np.flatnonzero(row) for row in instance.allowed_for_devices()]
    return min(
        total_cost(instance, np.array(combo, dtype=np.int64))
        for combo in itertools.product(*choices)
    )


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_bounds_match_the_lp(name):
    folder = reference_dir(name)
    expected = json.loads((folder / "expected.json").read_text())
    instance = load_instance(folder)
    bound = lagrangian_bound(instance)
    assert bound.value <= expected.get("best_known", math.inf) + HALF_CENT
    assert bound.value <= expected["current_cost"]
    assert bound.value == pytest.approx(expected["lp_bound"], rel=1e-4)
    assert bound.value >= expected["lagrange_bound"] - HALF_CENT
    assert bound.upper_estimate >= bound.value


@settings(max_examples=60, deadline=None)
@given(instance=instances(max_devices=6, max_plans=3))
def test_bound_never_exceeds_the_cheapest_assignment(instance):
    bound = lagrangian_bound(instance)
    assert bound.value <= cheapest_assignment_cost(instance) + 1e-6


@settings(max_examples=60, deadline=None)
@given(instance=instances(), seeds=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5))
def test_bound_never_exceeds_a_random_valid_assignment(instance, seeds):
    bound = lagrangian_bound(instance)
    for seed in seeds:
        assert bound.value <= total_cost(instance, random_valid_assignment(instance, seed)) + 1e-6


@settings(max_examples=60, deadline=None)
@given(instance=instances())
def test_bound_equals_the_lp_relaxation(instance):
    bound = lagrangian_bound(instance)
    expected = lp_relaxation(instance)
    assert bound.value == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert bound.upper_estimate >= expected - 1e-6 * max(abs(expected), 1.0)


def test_prices_stay_within_each_pooled_plans_overage_rate(tmp_path):
    instance = load_instance(write_instance(tmp_path))
    bound = lagrangian_bound(instance)
    cap = np.where(instance.pooled, instance.overage_rate / instance.overage_unit_mb, 0.0)
    assert np.all(bound.prices >= 0)
    assert np.all(bound.prices <= cap + 1e-12)


def test_locked_sims_still_load_their_pool(tmp_path):
    # D3 (locked, 900 MB on BIG, 1000 MB allowance) leaves 100 MB of BIG's pool free.
    # Unlocked D2 (150 MB, proration 0.5) can use POOL or BIG: on BIG its load fits in
    # D3's spare allowance. Without D3's pool share D2's choice would look costlier.
    instance = load_instance(write_instance(tmp_path))
    bound = lagrangian_bound(instance)
    assert bound.value == pytest.approx(lp_relaxation(instance), abs=1e-6)
    assert bound.value <= total_cost(instance, instance.current_plan) + 1e-9


def test_a_large_fleet_prices_its_dual_function_in_blocks_on_every_core(monkeypatch):
    """From PARALLEL_MIN_SIMS SIMs the dual function is evaluated in row blocks on a thread
    per core: the same value and pool loads as one pass (to float rounding), and bit for bit
    the same on one thread as on four, so the bound does not depend on the machine's cores.
    Blocks shrunk here so that a 6,000-SIM fleet is cut into several."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    from carrier_opt.core import bound

    instance = synthetic_account(6_000, seed=6).instance()
    dual = bound.dual_function(instance)
    prices = np.append(dual.price_cap[:-1] * 0.4, 0.0)
    one_pass = dual.evaluate(prices)
    monkeypatch.setattr(bound, "BLOCK_ROWS", 500)
    assert len(bound._blocks(dual.groups)) > len(dual.groups)  # groups were cut
    answers = []
    for workers in (1, 4):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answers.append(dataclasses.replace(dual, pool=pool).evaluate(prices))
    (value_1, load_1), (value_4, load_4) = answers
    assert value_1 == value_4 and np.array_equal(load_1, load_4)
    assert value_1 == pytest.approx(one_pass[0], rel=1e-12)
    assert np.allclose(load_1, one_pass[1], rtol=1e-12, atol=1e-6)


def test_the_bound_of_a_large_fleet_is_as_valid_and_tight_on_threads(monkeypatch):
    """The threaded bound (fleets from PARALLEL_MIN_SIMS SIMs, shrunk here) is a valid bound
    at least as tight as its certificate says, and within float rounding of the one-thread
    bound."""
    from carrier_opt.core import bound

    instance = synthetic_account(6_000, seed=6).instance()
    serial = lagrangian_bound(instance)
    monkeypatch.setattr(bound, "PARALLEL_MIN_SIMS", 1_000)
    monkeypatch.setattr(bound, "BLOCK_ROWS", 500)
    threaded = lagrangian_bound(instance)
    assert threaded.value <= total_cost(instance, instance.current_plan)
    assert threaded.value == pytest.approx(serial.value, rel=1e-9)
    assert threaded.relative_gap <= 1e-6
