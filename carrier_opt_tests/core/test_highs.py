"""The warm-started LPs (core/highs.py): the tie split's gives the same optimum as a cold
solve after columns are fixed, the bound's cutting-plane model the same as a cold solve after
every cut and box move, and nothing is printed on the console."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import LinearConstraint, linprog

from carrier_opt.core.highs import CuttingPlaneLP, WarmLP


def assignment_lp():
    """Three SIMs, two plans, one pool row: by hand, SIM i on plan p costs c[i, p]; plan 1
    is pooled and holds at most 1.5 SIMs' load (each SIM loads it by 1).

    Optimum: SIM 0 on plan 1 (saves 3), then half of SIM 1 or 2 (each saves 2): 10 − 3 − 1 = 6.
    """
    cost = np.array([[4.0, 1.0], [3.0, 1.0], [3.0, 1.0]])
    c = cost.ravel()  # column 2·i + p
    one_plan = sparse.kron(sparse.eye(3), np.ones((1, 2)))
    pool = sparse.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 0], [1, 3, 5])), shape=(1, 6))
    constraints = [LinearConstraint(one_plan, 1, 1), LinearConstraint(pool, -np.inf, 1.5)]
    return c, constraints


def cold(c, constraints, lower, upper):
    a = sparse.vstack([con.A for con in constraints]).toarray()
    lb = np.concatenate([np.broadcast_to(con.lb, con.A.shape[0]) for con in constraints])
    ub = np.concatenate([np.broadcast_to(con.ub, con.A.shape[0]) for con in constraints])
    eq = lb == ub
    result = linprog(
        c,
        A_ub=a[~eq],
        b_ub=ub[~eq],
        A_eq=a[eq],
        b_eq=ub[eq],
        bounds=np.column_stack([lower, upper]),
    )
    return result.fun


def test_fixing_columns_then_solving_again_gives_the_cold_optimum():
    c, constraints = assignment_lp()
    lower, upper = np.zeros(6), np.ones(6)
    lp = WarmLP(c, constraints, lower, upper)
    first = lp.solve(10.0)
    assert c @ first == 6.0  # 4·0 + 1 (SIM 0) + 3·½ + 1·½ + 3 = 6, by hand above
    assert first[1] == 1.0
    # SIM 0 kept off the pool (its plan-0 column fixed at 1, its plan-1 column at 0): SIMs 1
    # and 2 then share it, 1.5 SIMs: 4 + (1 + 3·½ + 1·½) = 7.
    lp.fix(np.array([0, 1]), np.array([1.0, 0.0]))
    second = lp.solve(10.0)
    lower[[0, 1]] = upper[[0, 1]] = [1.0, 0.0]
    assert c @ second == cold(c, constraints, lower, upper) == 7.0
    assert second[0] == 1.0 and second[1] == 0.0


def test_the_cutting_plane_model_kept_between_cuts_matches_a_cold_solve_after_each():
    # A concave function of 3 prices, min of 40 random planes, cut at random points as the
    # bundle does; after each cut the model is maximised over a moving box.
    rng = np.random.default_rng(7)
    n = 3
    model = CuttingPlaneLP(n)
    offsets, slopes = [], []
    for _ in range(40):
        slope = rng.normal(size=n)
        offset = float(rng.normal())
        model.add(offset, slope)
        offsets.append(offset)
        slopes.append(slope)
        lower = rng.uniform(0.0, 0.5, size=n)
        upper = lower + rng.uniform(0.1, 1.0, size=n)
        value, point = model.maximise(lower, upper)
        # max t s.t. t − s·μ ≤ offset, in scipy's form: minimise −t.
        a_ub = np.hstack([-np.array(slopes), np.ones((len(slopes), 1))])
        bounds = [*zip(lower, upper, strict=True), (None, None)]
        cold_fit = linprog(np.append(np.zeros(n), -1.0), A_ub=a_ub, b_ub=offsets, bounds=bounds)
        assert value == pytest.approx(-cold_fit.fun, abs=1e-9)
        assert np.all(point >= lower - 1e-9) and np.all(point <= upper + 1e-9)
        # The point reaches the value: the model there (the lowest cut) is the optimum.
        assert min(o + s @ point for o, s in zip(offsets, slopes, strict=True)) == pytest.approx(
            value, abs=1e-9
        )


def test_a_one_row_lp_of_many_columns_solves_by_interior_point_then_warm_simplex():
    """The two-line tie LP's shape (one row per pool, one column per SIM, few pools: a
    mobility fleet has one). HiGHS's parallel-columns presolve rule spent 31 of 32 s on such a
    LP of 70 k columns; without it the answer must still be the exact optimum, by interior
    point first and by the warm simplex after columns are fixed (the fractional knapsack of
    2,000 items here, against a cold linprog)."""
    rng = np.random.default_rng(5)
    n = 2_000
    c = np.append(-rng.uniform(0.1, 1.0, n), 0.015)  # each move saves; the pool's unit costs
    load = rng.uniform(0.5, 50.0, n)
    row = sparse.csr_matrix(np.append(load, -1.0)[None, :])
    constraints = [LinearConstraint(row, -np.inf, 10_000.0)]  # load − units ≤ allowance
    lower, upper = np.zeros(n + 1), np.append(np.ones(n), np.inf)
    lp = WarmLP(c, constraints, lower, upper, parallel_columns_presolved=False)
    first = lp.solve(10.0, solver="ipm")
    assert np.isclose(c @ first, cold(c, constraints, lower, upper), rtol=1e-9)
    assert ((first[:n] > 1e-9) & (first[:n] < 1 - 1e-9)).sum() <= 1  # a basic answer
    fixed = np.argsort(-first[:n])[:10]  # the ten largest moves kept off
    lp.fix(fixed, np.zeros(10))
    second = lp.solve(10.0, solver="simplex")
    lower[fixed] = upper[fixed] = 0.0
    assert np.isclose(c @ second, cold(c, constraints, lower, upper), rtol=1e-9)
    assert (second[fixed] == 0.0).all()


def test_highs_prints_nothing_on_the_console():
    """highspy prints a banner on fd 1 when a process makes its first solver; a CLI's CSV on
    stdout must not carry it. A fresh interpreter, so that this is its first."""
    script = (
        "from carrier_opt_tests.core.test_highs import assignment_lp\n"
        "from carrier_opt.core.highs import CuttingPlaneLP, WarmLP\n"
        "import numpy as np\n"
        "c, constraints = assignment_lp()\n"
        "WarmLP(c, constraints, np.zeros(6), np.ones(6)).solve(10.0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
