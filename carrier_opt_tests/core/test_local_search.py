"""Numba helpers of the local search (core/local_search.py) against numpy."""

import numpy as np

from carrier_opt.core import local_search as ls


def test_the_one_pass_row_minima_match_numpy():
    """``two_smallest`` and ``cheapest_other`` replace ``np.partition`` and an ``np.argmin``
    over a copy (120 MB each at 1 M SIMs × 15 plans): on rows with ties and +inf (plans a SIM
    may not use) they give numpy's answers exactly, ties broken to the first column."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, k = int(rng.integers(1, 50)), int(rng.integers(2, 6))
        values = rng.integers(0, 3, (n, k)).astype(float)
        values[rng.random((n, k)) < 0.3] = np.inf
        line = rng.integers(0, k, n)
        elsewhere = values.copy()
        elsewhere[np.arange(n), line] = np.inf
        assert np.array_equal(ls.cheapest_other(values, line), np.argmin(elsewhere, axis=1))
        smallest, second = ls.two_smallest(values)
        partitioned = np.partition(values, 1, axis=1)
        assert np.array_equal(smallest, partitioned[:, 0])
        assert np.array_equal(second, partitioned[:, 1])
