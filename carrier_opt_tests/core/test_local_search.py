"""Numba helpers of the local search (core/local_search.py) and the pair costs computed where
they are read (core/pair_costs.py), against numpy on the tables they replace."""

import numpy as np
import pytest

from carrier_opt.core import local_search as ls
from carrier_opt.core.bound import linearised_costs
from carrier_opt.core.pair_costs import PairCosts, PairLoads, ReducedCosts
from carrier_opt.core.synthetic import (
    customer_account,
    mobility_account,
    shared_pool_account,
    synthetic_account,
)


def _pieces(lin: np.ndarray) -> PairCosts:
    """Pair costs of ``lin`` whose loads are all 0 (no plan bills a pool)."""
    n, k = lin.shape
    loads = PairLoads(np.zeros(n), np.ones(n), np.zeros(k), np.zeros(k, dtype=bool))
    return PairCosts(lin, loads, np.ones(n, dtype=bool))


def test_the_row_minima_computed_where_read_match_numpy_on_the_table():
    """``ReducedCosts`` answers a row's minimum, its plan, the two smallest values and the
    cheapest other line without the SIMs × plans table (120 MB each at 1 M SIMs × 15 plans):
    on rows with ties and +inf (plans a SIM may not use) they are numpy's answers on the
    table exactly, ties broken to the first column."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, k = int(rng.integers(1, 50)), int(rng.integers(2, 6))
        table = rng.integers(0, 3, (n, k)).astype(float)
        table[rng.random((n, k)) < 0.3] = np.inf
        reduced = ReducedCosts(_pieces(table), rng.random(k))
        assert np.array_equal(reduced.table(), table)
        assert np.array_equal(reduced.floor, table.min(axis=1))
        assert np.array_equal(reduced.cheapest, np.argmin(table, axis=1))
        line = rng.integers(0, k, n)
        elsewhere = table.copy()
        elsewhere[np.arange(n), line] = np.inf
        assert np.array_equal(reduced.cheapest_other(line), np.argmin(elsewhere, axis=1))
        smallest, second = reduced.two_smallest()
        partitioned = np.partition(table, 1, axis=1)
        assert np.array_equal(smallest, partitioned[:, 0])
        assert np.array_equal(second, partitioned[:, 1])
        budget = float(rng.integers(0, 3))
        with np.errstate(invalid="ignore"):  # inf − inf on rows without a plan: never kept
            kept = (table - table.min(axis=1)[:, None]) < budget
        assert np.array_equal(reduced.within(budget), kept)


@pytest.mark.parametrize(
    "account", [synthetic_account, shared_pool_account, mobility_account, customer_account]
)
def test_loads_computed_where_read_are_the_floats_of_the_stored_table(account):
    """The kernels compute a SIM's pool load where they read it (``sim_load``) instead of a
    SIMs × plans table (120 MB at 1 M SIMs): on every kind of fleet (pools shared by plans,
    rate_only plans that bill none, prorated SIMs) the loads and the reduced costs are the
    very floats the table and ``lin + λ·load`` gave, so no answer moves."""
    instance = account(3_000, seed=7).instance()
    devices, plans = np.arange(instance.n_devices), np.arange(instance.n_plans)
    lin, table = linearised_costs(instance, devices, plans)
    loads = PairLoads.of(instance)
    sims, cols = np.meshgrid(devices, plans, indexing="ij")
    assert np.array_equal(loads.at(sims.ravel(), cols.ravel()).reshape(table.shape), table)
    assert (table != 0).any() and (table[:, ~instance.bills_pool] == 0).all()
    prices = np.random.default_rng(3).random(instance.n_plans) * instance.bills_pool
    expected = table * prices + lin
    assert np.array_equal(
        ReducedCosts(PairCosts(lin, loads, ~instance.locked), prices).table(), expected
    )
    lin[~instance.allowed_for_devices()] = np.inf
    reduced = ReducedCosts(PairCosts(lin, loads, ~instance.locked), prices)
    expected = table * prices + lin
    assert np.array_equal(reduced.floor, expected.min(axis=1))
    rows = np.arange(0, instance.n_devices, 5)
    assert np.array_equal(reduced.rows(rows), expected[rows])
    assert np.array_equal(reduced.at(rows, reduced.cheapest[rows]), expected.min(axis=1)[rows])
    assign = np.argmin(lin, axis=1)
    expected = np.bincount(
        instance.pool_of[assign][instance.pool_of[assign] >= 0],
        weights=table[devices, assign][instance.pool_of[assign] >= 0],
        minlength=instance.n_pools,
    )
    got = ls.pool_loads(assign, loads.kernel, instance.pool_of, instance.n_pools)
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-6)
    rows = np.arange(0, instance.n_devices, 7)
    part = loads.of_sims(rows)
    assert np.array_equal(part.at(np.arange(len(rows)), assign[rows]), table[rows, assign[rows]])
