"""HiGHS, the LP/MILP solver: its console kept quiet, and an LP kept between solves.

The optimizer's tie split solves the LP over the (nearly) tied (SIM, plan) pairs, fixes the
few SIMs it leaves fractional to their largest share and solves again, up to eight times.
Fixing a SIM changes only its columns' bounds, so HiGHS can start each round from the last
round's basis instead of from scratch. ``scipy.optimize`` builds a new model at every call,
so :class:`WarmLP` talks to ``highspy`` (HiGHS's own Python binding) directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from highspy import Highs, HighsLp, HighsModelStatus, MatrixFormat
from scipy import sparse
from scipy.optimize import LinearConstraint


@contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Silence C-level stdout while HiGHS runs.

    Some HiGHS builds print MIP debugging lines (and highspy its banner) straight to file
    descriptor 1 even with output switched off; they would corrupt a CLI's output or a piped
    CSV.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


PRESOLVE_RULE_PARALLEL_ROWS_AND_COLS = 1 << 13
"""HiGHS's ``presolve_rule_off`` bit of its parallel rows and columns rule (rule 13 of its
``HighsPresolveRuleType``). Found by switching each rule off in turn on mobility-60k's
two-line tie LP: only this one took it from 2.7 s to 0.04 s. On mobility-200k (one pool) the
rule took 31 of the 32 s of that LP and 21 of the 22 s of the full tie LP; on customer-200k
(two pools) 1.7 of 2.7 s. It pays where the LP has more pool rows: shared-pool 1 M SIMs
(three pools) solve in 0.3 s with it, 1.7 s without."""


class WarmLP:
    """min c·x s.t. the ``constraints``, lower ≤ x ≤ upper, held in one HiGHS instance: columns
    fixed between solves (:meth:`fix`) keep the basis, so the next solve starts from it."""

    def __init__(
        self,
        c: np.ndarray,
        constraints: Sequence[LinearConstraint],
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        parallel_columns_presolved: bool = True,
        presolve: bool = True,
    ) -> None:
        """``parallel_columns_presolved=False`` switches off HiGHS's presolve rule for parallel
        rows and columns: on a LP with very few rows it can take minutes (see
        :data:`PRESOLVE_RULE_PARALLEL_ROWS_AND_COLS`). ``presolve=False`` switches presolve
        off: the simplex then starts from the slack basis of the model as given."""
        matrix = stacked_rows(constraints)
        lp = HighsLp()
        lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
        lp.col_cost_ = np.asarray(c, dtype=np.float64)
        lp.col_lower_ = np.asarray(lower, dtype=np.float64)
        lp.col_upper_ = np.asarray(upper, dtype=np.float64)
        lp.row_lower_ = row_bounds(constraints, "lb")
        lp.row_upper_ = row_bounds(constraints, "ub")
        lp.a_matrix_.format_ = MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(np.float64)
        with native_stdout_silenced():
            self._highs = Highs()
            self._highs.setOptionValue("output_flag", False)
            if not presolve:
                self._highs.setOptionValue("presolve", "off")
            if not parallel_columns_presolved:
                self._highs.setOptionValue(
                    "presolve_rule_off", PRESOLVE_RULE_PARALLEL_ROWS_AND_COLS
                )
            self._highs.passModel(lp)

    def solve(
        self, time_limit_s: float, solver: str = "choose", simplex_strategy: int | None = None
    ) -> np.ndarray | None:
        """The optimal column values, or None when HiGHS did not reach the optimum in time.

        ``solver`` is HiGHS's ``solver`` option: ``ipm`` (interior point, then crossover to a
        basis the next solves start from) suits a first solve of a model with few rows and
        very many columns; ``simplex`` the warm solves after it. ``simplex_strategy`` is
        HiGHS's option of that name (1: dual, 4: primal; None: HiGHS's choice)."""
        self._highs.setOptionValue("time_limit", max(time_limit_s, 0.1))
        self._highs.setOptionValue("solver", solver)
        if simplex_strategy is not None:
            self._highs.setOptionValue("simplex_strategy", simplex_strategy)
        with native_stdout_silenced():
            self._highs.run()
        if self._highs.getModelStatus() != HighsModelStatus.kOptimal:
            return None
        return np.asarray(self._highs.getSolution().col_value)

    @property
    def objective(self) -> float:
        """The last solve's objective value."""
        return float(self._highs.getInfo().objective_function_value)

    @property
    def iterations(self) -> int:
        """The last solve's simplex iterations."""
        return int(self._highs.getInfo().simplex_iteration_count)

    def fix(self, columns: np.ndarray, values: np.ndarray) -> None:
        """Fix ``columns`` at ``values`` (lower = upper); the basis stays for the next solve."""
        columns = np.asarray(columns, dtype=np.int32)
        values = np.asarray(values, dtype=np.float64)
        self._highs.changeColsBounds(len(columns), columns, values, values)

    def row_duals(self) -> np.ndarray:
        """The last solve's row duals ``y``: a column's reduced cost is ``c − Aᵀy``."""
        return np.asarray(self._highs.getSolution().row_dual)

    def add_columns(
        self, c: np.ndarray, lower: np.ndarray, upper: np.ndarray, matrix: sparse.csc_matrix
    ) -> None:
        """Append columns (``matrix``: their entries in every row); they join the basis as
        non-basic, so the next solve still starts from the last one's basis."""
        matrix = sparse.csc_matrix(matrix)
        self._highs.addCols(
            matrix.shape[1],
            np.asarray(c, dtype=np.float64),
            np.asarray(lower, dtype=np.float64),
            np.asarray(upper, dtype=np.float64),
            matrix.nnz,
            matrix.indptr[:-1].astype(np.int32),
            matrix.indices.astype(np.int32),
            matrix.data.astype(np.float64),
        )


def stacked_rows(constraints: Sequence[LinearConstraint]) -> sparse.csc_matrix:
    """Every constraint's matrix, one under the other, by columns (HiGHS's layout)."""
    return sparse.csc_matrix(sparse.vstack([sparse.csr_matrix(con.A) for con in constraints]))


def row_bounds(constraints: Sequence[LinearConstraint], side: str) -> np.ndarray:
    """One side of every constraint's row bounds, each broadcast to its rows."""
    return np.concatenate(
        [
            np.broadcast_to(np.asarray(getattr(con, side), dtype=np.float64), con.A.shape[0])
            for con in constraints
        ]
    )


class CuttingPlaneLP:
    """max t s.t. t ≤ offset_i + slope_i·μ for every cut i, lower ≤ μ ≤ upper: the bundle's
    cutting-plane model (:mod:`core.bound`), held in one HiGHS instance that gains a row per
    cut.

    Why: the bundle solves this model after every pass of the bound, hundreds of times per
    run, each time with one cut more and a moved box. Built again through
    ``scipy.optimize.linprog`` each solve took 2.8 ms, most of it setting the model up (1.2 s
    of a 1 M-SIM run's bound); kept here, each solve starts from the last one's basis."""

    def __init__(self, n: int) -> None:
        self.n = n
        with native_stdout_silenced():
            self._highs = Highs()
            self._highs.setOptionValue("output_flag", False)
        # Columns μ_0 … μ_{n-1} (bounds set per solve), then t, free; minimise −t.
        costs = np.append(np.zeros(n), -1.0)
        lower = np.append(np.zeros(n), -np.inf)
        upper = np.append(np.zeros(n), np.inf)
        self._highs.addCols(n + 1, costs, lower, upper, 0, [], [], [])
        self._columns = np.arange(n + 1, dtype=np.int32)
        self._mu = self._columns[:n]

    def add(self, offset: float, slope: np.ndarray) -> None:
        """The cut t − slope·μ ≤ offset."""
        values = np.append(-np.asarray(slope, dtype=np.float64), 1.0)
        self._highs.addRow(-np.inf, float(offset), self.n + 1, self._columns, values)

    def maximise(self, lower: np.ndarray, upper: np.ndarray) -> tuple[float, np.ndarray] | None:
        """(max t, the μ reaching it) over the box, or None when HiGHS found no optimum."""
        self._highs.changeColsBounds(
            self.n,
            self._mu,
            np.asarray(lower, dtype=np.float64),
            np.asarray(upper, dtype=np.float64),
        )
        with native_stdout_silenced():
            self._highs.run()
        if self._highs.getModelStatus() != HighsModelStatus.kOptimal:
            return None
        values = np.asarray(self._highs.getSolution().col_value)
        return -float(self._highs.getInfo().objective_function_value), values[: self.n]
