"""The tie LP with each SIM's preferred pair eliminated: rows for the pools, not for the SIMs.

The tie LP (:func:`core.optimizer._split_ties`) has a variable ``x[d, p]`` per kept (SIM, plan)
pair, one row ``Σ_p x[d, p] = 1`` per free SIM and one capacity row per pool. At 200 k SIMs
that is about 55 k SIM rows, and HiGHS spent 1.9-2.7 s on its first solve: 0.4 s of presolve,
which removes most SIM rows (doubleton equations), then 11.5 k dual simplex iterations
(synthetic-200k). A starting basis from the bound's prices cut those to 412, but HiGHS does
not presolve a model given a basis, and the solve was no faster.

Here every SIM keeps one *reference* pair (its cheapest at the bound's prices) implicitly,
``x[d, r] = 1 − Σ_{p≠r} y[d, p]``, so the LP has a column ``y`` per other pair and rows only
for the pools and for the SIMs with three or more pairs (``Σ y ≤ 1``); a SIM with two pairs
is a column with bounds [0, 1]. It is the same LP — the same optimum, the shares of every
pair are recovered — but HiGHS solves it without presolve, from a slack basis that is the
reference assignment:

- fleets with one or two pools by the primal simplex: 0.10-0.14 s where the full model took
  1.9-2.7 s (customer-200k, mobility-200k), a few dozen iterations;
- fleets with more pools by the dual simplex: 1.0-1.4 s where it took 2.1-2.7 s
  (synthetic-200k, twelve pools; the primal simplex took 16 s there). 82 % of it goes to the
  bound-flipping ratio test (HiGHS's ``CHUZC4``), among the equal ratios of tied SIMs.

Each later round (a few SIMs fixed) is a warm dual simplex: 0.04-0.08 s where it was 0.1-0.15.
The optimum is the LP's, but its vertex, and so the rounding of the few fractional SIMs, can
differ from the full model's.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import LinearConstraint

from carrier_opt.core.highs import WarmLP

PRIMAL_SIMPLEX, DUAL_SIMPLEX = 4, 1
"""HiGHS's ``simplex_strategy`` values for the primal and the (serial) dual simplex."""


class ReferenceTieLP:
    """min Σ c·x over the free pairs plus Σ rate·o over the pools, each SIM's shares summing to
    one, each pool's load within ``unit · o`` of its allowance — held in HiGHS in reference
    form (see the module docstring), between rounds that fix SIMs."""

    def __init__(
        self,
        sims: np.ndarray,
        cost: np.ndarray,
        load: np.ndarray,
        pool: np.ndarray,
        preference: np.ndarray,
        fixed_load: np.ndarray,
        rate: np.ndarray,
        unit: np.ndarray,
        *,
        primal_first: bool,
    ) -> None:
        """One entry per free pair: ``sims`` (the SIM, any integer label, each SIM with at least
        two pairs), ``cost`` (its linear cost), ``load`` (MB it adds to its pool), ``pool``
        (-1: none) and ``preference`` (the reference pair of a SIM is its pair of smallest
        preference, the first on ties). ``fixed_load`` is what the SIMs outside the LP add to
        each pool, beyond its allowance. ``primal_first``: the first solve by the primal
        simplex (fleets with few pools), else the dual."""
        n_pairs, n_pools = len(sims), len(rate)
        _, self._sim = np.unique(sims, return_inverse=True)
        n_sims = int(self._sim.max(initial=-1)) + 1
        order = np.lexsort((preference, self._sim))  # per SIM, its preferred pair first
        first = np.ones(n_pairs, dtype=bool)
        first[1:] = self._sim[order][1:] != self._sim[order][:-1]
        self._reference = np.empty(n_sims, dtype=np.int64)
        self._reference[self._sim[order[first]]] = order[first]
        is_reference = np.zeros(n_pairs, dtype=bool)
        is_reference[self._reference] = True
        self._pairs = np.flatnonzero(~is_reference)  # the pair of each y column
        self._column = np.full(n_pairs, -1)
        self._column[self._pairs] = np.arange(len(self._pairs))
        self._constant = float(cost[self._reference].sum())
        ref_of = self._reference[self._sim[self._pairs]]  # each y column's reference pair
        n_y = len(self._pairs)
        constraints = [
            _pool_rows(load, pool, self._pairs, ref_of, self._reference, fixed_load, unit)
        ]
        pairs_per_sim = np.bincount(self._sim, minlength=n_sims)
        crowded = pairs_per_sim[self._sim[self._pairs]] >= 3
        if crowded.any():
            _, row = np.unique(self._sim[self._pairs][crowded], return_inverse=True)
            one_at_most = sparse.csr_matrix(
                (np.ones(int(crowded.sum())), (row, np.flatnonzero(crowded))),
                shape=(int(row.max()) + 1, n_y + n_pools),
            )
            constraints.append(LinearConstraint(one_at_most, -np.inf, 1.0))
        self._lp = WarmLP(
            np.concatenate([cost[self._pairs] - cost[ref_of], rate]),
            constraints,
            np.zeros(n_y + n_pools),
            np.concatenate([np.ones(n_y), np.full(n_pools, np.inf)]),
            presolve=False,
        )
        self._n_pairs, self._n_sims = n_pairs, n_sims
        self._strategy = PRIMAL_SIMPLEX if primal_first else DUAL_SIMPLEX

    def solve(self, time_limit_s: float) -> np.ndarray | None:
        """Every pair's share at the optimum, or None when HiGHS did not reach it in time."""
        values = self._lp.solve(time_limit_s, solver="simplex", simplex_strategy=self._strategy)
        self._strategy = DUAL_SIMPLEX  # later rounds start from this basis, a few SIMs fixed
        if values is None:
            return None
        y = values[: len(self._pairs)]
        share = np.zeros(self._n_pairs)
        share[self._pairs] = y
        moved = np.bincount(self._sim[self._pairs], weights=y, minlength=self._n_sims)
        share[self._reference] = 1.0 - moved
        return share

    @property
    def objective(self) -> float:
        """The last solve's optimum in the full model's terms (the references' cost added)."""
        return self._lp.objective + self._constant

    def fix(self, pairs: np.ndarray, values: np.ndarray) -> None:
        """Fix the shares of ``pairs`` (every pair of each SIM fixed, one of them at 1)."""
        columns = self._column[pairs]
        kept = columns >= 0  # a reference pair follows from its SIM's other pairs
        self._lp.fix(columns[kept], np.asarray(values, dtype=np.float64)[kept])


def _pool_rows(
    load: np.ndarray,
    pool: np.ndarray,
    pairs: np.ndarray,
    ref_of: np.ndarray,
    reference: np.ndarray,
    fixed_load: np.ndarray,
    unit: np.ndarray,
) -> LinearConstraint:
    """unit_P · o_P − Σ y·(load of the pair in P − load of its reference in P) ≥ the fixed
    load plus the references' load in P, for every pool P (columns: the y, then the o)."""
    n_y, n_pools = len(pairs), len(unit)
    into, out_of = pool[pairs] >= 0, pool[ref_of] >= 0
    rows = np.concatenate([pool[pairs][into], pool[ref_of][out_of], np.arange(n_pools)])
    cols = np.concatenate([np.flatnonzero(into), np.flatnonzero(out_of), n_y + np.arange(n_pools)])
    vals = np.concatenate([-load[pairs][into], load[ref_of][out_of], unit])
    # A pair and its reference in one pool: their two entries are summed (COO duplicates).
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(n_pools, n_y + n_pools))
    matrix.eliminate_zeros()
    in_pool = pool[reference] >= 0
    references = np.bincount(
        pool[reference][in_pool], weights=load[reference][in_pool], minlength=n_pools
    )
    return LinearConstraint(matrix, fixed_load + references, np.inf)
