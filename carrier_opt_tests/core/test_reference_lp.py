"""The tie LP in reference form (core/reference_lp.py) is the tie LP: on random fleets of
pairs its optimum is the full model's (solved cold by ``scipy.optimize.linprog``), the shares
it gives back are feasible there, and so after SIMs are fixed between rounds."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from carrier_opt.core.reference_lp import ReferenceTieLP


@st.composite
def tie_lps(draw):
    """Free pairs of 2-6 SIMs (2-4 pairs each, in 0-3 pools or none), their pools' rates, units and
    the load of the SIMs outside the LP (under or over the allowance)."""
    n_pools = draw(st.integers(0, 3))  # 0: no pool, the LP has no pool row
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_sims = draw(st.integers(2, 6))
    sims = np.repeat(np.arange(n_sims) * 7, rng.integers(2, 5, n_sims))  # any integer labels
    n = len(sims)
    pool = rng.integers(-1, n_pools, n)
    load = np.where(pool >= 0, rng.uniform(-20.0, 30.0, n), 0.0)
    cost = rng.uniform(0.0, 10.0, n).round(2)
    # Preference ties on purpose: the first pair of a SIM is then its reference.
    preference = rng.integers(0, 3, n).astype(float)
    fixed_load = rng.uniform(-50.0, 50.0, n_pools)
    rate = rng.uniform(0.1, 2.0, n_pools)
    unit = rng.choice([1.0, 5.0, 10.0], n_pools)
    return sims, cost, load, pool, preference, fixed_load, rate, unit


def full_model(sims, cost, load, pool, fixed_load, rate, unit, fixed=None):
    """min cost·x + rate·o s.t. Σ_p x[d, p] = 1 per SIM, unit·o − Σ load·x ≥ fixed_load per
    pool, 0 ≤ x ≤ 1 (``fixed``: pair → value), o ≥ 0; solved cold. Returns (optimum, A_eq,
    A_ub, b_ub)."""
    n, n_pools = len(sims), len(rate)
    labels = np.unique(sims)
    a_eq = np.zeros((len(labels), n + n_pools))
    a_eq[np.searchsorted(labels, sims), np.arange(n)] = 1.0
    a_ub = np.zeros((n_pools, n + n_pools))
    in_pool = pool >= 0
    a_ub[pool[in_pool], np.flatnonzero(in_pool)] = load[in_pool]
    a_ub[np.arange(n_pools), n + np.arange(n_pools)] = -unit
    bounds = [(0.0, 1.0)] * n + [(0.0, None)] * n_pools
    for pair, value in (fixed or {}).items():
        bounds[pair] = (value, value)
    result = linprog(
        np.concatenate([cost, rate]),
        A_ub=a_ub if n_pools else None,
        b_ub=-fixed_load if n_pools else None,
        A_eq=a_eq,
        b_eq=np.ones(len(labels)),
        bounds=bounds,
        method="highs",
    )
    assert result.status == 0
    return result.fun, a_eq, a_ub


def assert_feasible_with_optimum(
    share, lp, optimum, sims, cost, load, pool, fixed_load, rate, unit
):
    """The shares are a solution of the full model: each SIM's sum to one, within [0, 1], and
    with each pool's cheapest overage they cost the optimum."""
    assert share is not None
    assert np.all(share >= -1e-7) and np.all(share <= 1 + 1e-7)
    per_sim = np.bincount(np.searchsorted(np.unique(sims), sims), weights=share)
    np.testing.assert_allclose(per_sim, 1.0, atol=1e-7)
    over = fixed_load + np.bincount(
        pool[pool >= 0], weights=(load * share)[pool >= 0], minlength=len(rate)
    )
    total = cost @ share + rate @ (np.maximum(over, 0.0) / unit)
    assert abs(total - optimum) <= 1e-6 * max(1.0, abs(optimum))
    assert abs(lp.objective - optimum) <= 1e-6 * max(1.0, abs(optimum))


@settings(max_examples=120, deadline=None)
@given(tie_lps(), st.booleans(), st.integers(0, 2**16))
def test_the_reference_form_has_the_full_models_optimum_before_and_after_fixing(
    case, primal_first, seed
):
    sims, cost, load, pool, preference, fixed_load, rate, unit = case
    lp = ReferenceTieLP(
        sims, cost, load, pool, preference, fixed_load, rate, unit, primal_first=primal_first
    )
    optimum, _, _ = full_model(sims, cost, load, pool, fixed_load, rate, unit)
    share = lp.solve(10.0)
    assert_feasible_with_optimum(share, lp, optimum, sims, cost, load, pool, fixed_load, rate, unit)
    # Fix one SIM on one of its pairs (every pair of it fixed, as the rounds do), solve warm.
    rng = np.random.default_rng(seed)
    sim = rng.choice(np.unique(sims))
    pairs = np.flatnonzero(sims == sim)
    chosen = rng.choice(pairs)
    values = (pairs == chosen) * 1.0
    lp.fix(pairs, values)
    fixed = dict(zip(pairs.tolist(), values.tolist(), strict=True))
    optimum, _, _ = full_model(sims, cost, load, pool, fixed_load, rate, unit, fixed)
    share = lp.solve(10.0)
    assert_feasible_with_optimum(share, lp, optimum, sims, cost, load, pool, fixed_load, rate, unit)
    np.testing.assert_allclose(share[pairs], values, atol=1e-9)
