"""The sifted LP (core/sifting.py) is the LP: whatever working set it starts from and however
few columns may enter at a time, its optimum is the whole LP's solved cold by
``scipy.optimize.linprog``, its answer is feasible there, and so after columns are fixed —
held ones included, at their lower bound or elsewhere."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.optimize import LinearConstraint, linprog

from carrier_opt.core import sifting
from carrier_opt.core.sifting import SiftedLP


@st.composite
def pool_lps(draw):
    """The two-line tie LP's shape: one ≤ row per pool (1-4 pools), a column per SIM moving load
    out of one pool into another (or into none) at a saving or a cost, then an overage column
    per pool; ties on purpose (two pools at one price, columns whose loads sum alike)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_pools = draw(st.integers(1, 4))
    n = draw(st.integers(1, 120))
    into = rng.integers(-1, n_pools, n)
    out_of = rng.integers(-1, n_pools, n)
    split = rng.uniform(0.0, 1.0, n).round(1)  # loads that sum to 100 or 200: many ties
    total = rng.choice([100.0, 200.0], n)
    rows, cols, vals = [], [], []
    for column in range(n):
        if into[column] >= 0:
            rows.append(into[column])
            cols.append(column)
            vals.append(split[column] * total[column])
        if out_of[column] >= 0 and out_of[column] != into[column]:
            rows.append(out_of[column])
            cols.append(column)
            vals.append(-(1 - split[column]) * total[column])
    rate = rng.choice([0.5, 0.5, 1.0, 2.0], n_pools)
    for pool in range(n_pools):
        rows.append(pool), cols.append(n + pool), vals.append(-100.0)
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(n_pools, n + n_pools))
    c = np.concatenate([rng.choice([-40.0, -20.0, 0.0, 5.0], n), 100.0 * rate])
    upper_load = rng.uniform(-500.0, 500.0, n_pools).round(0)
    lower = np.zeros(n + n_pools)
    upper = np.concatenate([np.ones(n), np.full(n_pools, np.inf)])
    first = rng.permutation(n)[: draw(st.integers(0, n))]
    batch = draw(st.integers(1, 40))
    return c, LinearConstraint(matrix, -np.inf, upper_load), lower, upper, first, batch, n


def cold(c, constraint, lower, upper):
    result = linprog(
        c,
        A_ub=constraint.A.toarray(),
        b_ub=constraint.ub,
        bounds=np.column_stack([lower, upper]),
        method="highs",
    )
    assert result.status == 0
    return result.fun


def assert_optimal(x, lp, c, constraint, lower, upper):
    optimum = cold(c, constraint, lower, upper)
    assert x is not None
    assert np.all(x >= lower - 1e-9) and np.all(x <= upper + 1e-9)
    assert np.all(constraint.A @ x <= constraint.ub + 1e-6)
    assert c @ x == pytest.approx(optimum, rel=1e-9, abs=1e-6)
    assert lp.objective == pytest.approx(optimum, rel=1e-9, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(pool_lps(), st.integers(0, 2**16))
def test_the_sifted_lp_reaches_the_whole_lps_optimum_before_and_after_fixing(lp_data, seed):
    c, constraint, lower, upper, first, batch, n = lp_data
    n_pools = len(c) - n
    lp = SiftedLP(
        c,
        [constraint],
        lower,
        upper,
        first=np.concatenate([first, n + np.arange(n_pools)]),
        batch=batch,
    )
    assert_optimal(lp.solve(10.0, solver="simplex"), lp, c, constraint, lower, upper)
    # Fix a few columns as the tie rounds do: some in the working set, some held outside it,
    # at 0 (their lower bound) or at 1 (a held column then enters, fixed).
    rng = np.random.default_rng(seed)
    fixed = rng.permutation(n)[: rng.integers(1, min(n, 6) + 1)]
    values = rng.integers(0, 2, len(fixed)).astype(float)
    lp.fix(fixed, values)
    lower, upper = lower.copy(), upper.copy()
    lower[fixed] = upper[fixed] = values
    second = lp.solve(10.0, solver="simplex")
    assert_optimal(second, lp, c, constraint, lower, upper)
    assert np.array_equal(second[fixed], values)


def test_only_the_columns_that_price_out_enter_the_working_set():
    """100 SIMs can each move 10 MB out of a full pool (at a cost of 1 USD); the pool's
    overage is 0.5 USD per MB, so a move saves 4 USD, and 30 moves bring the pool back to its
    allowance. Starting from 5 columns, batches of 10 enter, the cheapest (most negative
    reduced cost) first; the 100 − 30 that never need to move stay outside the model."""
    n = 100
    c = np.append(np.ones(n), 0.5)
    matrix = sparse.csr_matrix(np.append(np.full(n, -10.0), -1.0)[None, :])
    constraint = LinearConstraint(matrix, -np.inf, -300.0)  # 300 MB over, before any move
    lower, upper = np.zeros(n + 1), np.append(np.ones(n), np.inf)
    lp = SiftedLP(c, [constraint], lower, upper, first=np.array([0, 1, 2, 3, 4, n]), batch=10)
    x = lp.solve(10.0)
    assert c @ x == pytest.approx(30.0)  # 30 moves, no overage left
    assert x[:n].sum() == pytest.approx(30.0) and x[n] == pytest.approx(0.0)
    assert lp.working < n // 2 and lp.entered == lp.working - 6


def test_a_held_column_needs_a_finite_lower_bound():
    matrix = sparse.csr_matrix(np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="finite lower bound"):
        SiftedLP(
            np.array([1.0, 1.0]),
            [LinearConstraint(matrix, 1.0, np.inf)],
            np.array([0.0, -np.inf]),
            np.array([1.0, 1.0]),
            first=np.array([0]),
            batch=1,
        )


def test_sifting_gives_up_only_while_it_builds_its_first_working_set(monkeypatch):
    """A caller that gets ``gave_up`` solves the whole LP instead, from scratch: that is only
    right before anything was fixed. Once a solve reached the optimum, later solves never give
    up, whatever their iterations."""
    n = 100
    c = np.append(np.ones(n), 0.5)
    matrix = sparse.csr_matrix(np.append(np.full(n, -10.0), -1.0)[None, :])
    constraint = LinearConstraint(matrix, -np.inf, -300.0)
    lower, upper = np.zeros(n + 1), np.append(np.ones(n), np.inf)
    monkeypatch.setattr(sifting, "ITERATIONS_PER_ROW", -1)  # any solve is too long
    first = np.array([0, 1, 2, 3, 4, n])
    lp = SiftedLP(c, [constraint], lower, upper, first=first, batch=10)
    assert lp.solve(10.0) is None and lp.gave_up  # columns had to enter: it gave up
    monkeypatch.setattr(sifting, "ITERATIONS_PER_ROW", 1_000)
    patient = SiftedLP(c, [constraint], lower, upper, first=first, batch=10)
    assert patient.solve(10.0) is not None
    patient._most_iterations = -1  # from now on any solve is too long
    # Fixing 25 of the moves off makes 25 held columns enter; the solve still answers.
    moved = np.flatnonzero(patient.solve(10.0)[:n] > 0.5)[:25]
    patient.fix(moved, np.zeros(len(moved)))
    x = patient.solve(10.0)
    assert x is not None and not patient.gave_up
    assert c @ x == pytest.approx(30.0) and (x[moved] == 0).all()
