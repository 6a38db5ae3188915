"""An LP of very many columns and few rows, solved over a working set of its columns (sifting).

The tie LPs of the largest fleets have one row per pool and a column per tied SIM: the 1 M-SIM
fleet's two-line LP has 12 rows and 279 k columns. Most columns end at their lower bound, and
180 k of them tie at the optimum (two pools at one price: any SIM moving between them has a
zero reduced cost). HiGHS spent 2.2-2.4 s on that LP by interior point and each warm round
after it 0.15 s, most of it pricing and ratio tests over columns that never move.

Here HiGHS holds only a working set: the columns judged most promising first, every other one
held at its lower bound outside the model. After each solve every held column is priced with
the solve's row duals (``c − Aᵀy``); those that would lower the objective enter, the most
negative first, a batch at a time, and HiGHS solves again from its basis. When no held column
prices out, the working set's optimum is the whole LP's: held at their lower bound with
non-negative reduced costs, they satisfy its optimality conditions. On the 1 M fleet the
first solve takes 0.65-0.85 s with 10 k columns to start and batches of 10 k, ending with
about 100 k columns in the model (same optimum, to 1e-14 relative).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from scipy.optimize import LinearConstraint

from carrier_opt.core.highs import WarmLP, row_bounds, stacked_rows

ITERATIONS_PER_ROW = 25
"""Sifting gives up (:attr:`SiftedLP.gave_up`) when, before its first optimum, a solve after
columns entered took more simplex iterations than this per row: the optimum then moves a
large share of the columns, which enter a batch at a time and each costs the dual simplex
iterations. On the 1 M shared-pool fleet (3 rows) the solves took 133, 483, 1,504 ... 2,586
iterations, 0.3-0.7 s each, and 14 of them ran out of time where the interior point over
every column takes about a second; on the 1 M synthetic fleet (12 rows) they took at most
127."""

PRICED_OUT = 1e-9
"""A held column enters when its reduced cost is below −PRICED_OUT. Columns that enter only
ever join the working set, so the loop ends even where HiGHS's own tolerance (1e-7) sees no
reason to move one."""


class SiftedLP:
    """min c·x s.t. the ``constraints``, lower ≤ x ≤ upper, with only a working set of the
    columns in HiGHS (see the module docstring). The same interface as
    :class:`core.highs.WarmLP`: full-length answers, columns fixed between solves."""

    def __init__(
        self,
        c: np.ndarray,
        constraints: Sequence[LinearConstraint],
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        first: np.ndarray,
        batch: int,
        presolve: bool = True,
    ) -> None:
        """``first``: the columns to start with (the others are held at ``lower``, which must
        be finite for them); ``batch``: how many held columns may enter after one solve."""
        self._c = np.asarray(c, dtype=np.float64)
        self._lower = np.asarray(lower, dtype=np.float64).copy()
        self._upper = np.asarray(upper, dtype=np.float64).copy()
        self._matrix = stacked_rows(constraints)
        self._batch = max(int(batch), 1)
        self._position = np.full(len(self._c), -1, dtype=np.int64)  # column → HiGHS column
        working = np.unique(np.asarray(first, dtype=np.int64))
        held = np.ones(len(self._c), dtype=bool)
        held[working] = False
        if not np.isfinite(self._lower[held]).all():
            raise ValueError("a column held outside the working set needs a finite lower bound")
        self._members = working
        self._position[working] = np.arange(len(working))
        sub = self._matrix[:, working]
        self._lp = WarmLP(
            self._c[working],
            [LinearConstraint(sub, row_bounds(constraints, "lb"), row_bounds(constraints, "ub"))],
            self._lower[working],
            self._upper[working],
            presolve=presolve,
        )
        self.entered = 0  # columns that joined the working set after the first solve
        self.gave_up = False  # see ITERATIONS_PER_ROW: the caller should solve the whole LP
        self._answered = False  # whether a solve has reached the optimum
        self._most_iterations = ITERATIONS_PER_ROW * self._matrix.shape[0]

    @property
    def working(self) -> int:
        """Columns in the working set (in HiGHS)."""
        return len(self._members)

    def solve(
        self, time_limit_s: float, solver: str = "choose", simplex_strategy: int | None = None
    ) -> np.ndarray | None:
        """The optimal column values (held columns at their lower bound), or None when HiGHS
        did not reach the optimum in time or sifting gave up (:attr:`gave_up`). ``solver`` and
        ``simplex_strategy`` apply to the first solve of this call; the solves after columns
        entered are warm simplex.

        Sifting gives up only before its first optimum, while it builds its working set: a
        caller that then solves the whole LP instead has fixed nothing yet. After it, the
        columns that still enter (around the few a round fixes) are solved however long
        they take."""
        deadline = time.monotonic() + time_limit_s
        entered = False  # whether columns entered since this call's first solve
        while True:
            values = self._lp.solve(
                deadline - time.monotonic(), solver=solver, simplex_strategy=simplex_strategy
            )
            if values is None:
                return None
            entering = self._priced_out()
            if len(entering) == 0:
                break
            struggling = self._lp.iterations > self._most_iterations
            if entered and struggling and not self._answered:
                self.gave_up = True  # the optimum moves too many columns for sifting
                return None
            self._enter(entering)
            solver, entered = "simplex", True
        self._answered = True
        full = self._lower.copy()
        full[self._members] = values
        return full

    @property
    def objective(self) -> float:
        """The last solve's objective value, the held columns' cost included."""
        held = self._position < 0
        return self._lp.objective + float(self._c[held] @ self._lower[held])

    def fix(self, columns: np.ndarray, values: np.ndarray) -> None:
        """Fix ``columns`` at ``values``; a held column fixed elsewhere than its lower bound
        enters the working set fixed."""
        columns = np.asarray(columns, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        self._lower[columns], self._upper[columns] = values, values
        outside = self._position[columns] < 0
        if outside.any():
            self._enter(columns[outside])
        self._lp.fix(self._position[columns], values)

    def _priced_out(self) -> np.ndarray:
        """Held, movable columns whose reduced cost at the last solve's duals is negative,
        the most negative first, at most a batch of them."""
        reduced = self._c - self._matrix.T @ self._lp.row_duals()  # .T: a view, by rows
        candidates = np.flatnonzero(
            (self._position < 0) & (self._upper > self._lower) & (reduced < -PRICED_OUT)
        )
        if len(candidates) > self._batch:
            candidates = candidates[np.argpartition(reduced[candidates], self._batch)]
            candidates = candidates[: self._batch]
        return candidates

    def _enter(self, columns: np.ndarray) -> None:
        """Add ``columns`` to HiGHS at their bounds; the basis stays for the next solve."""
        self._position[columns] = len(self._members) + np.arange(len(columns))
        self._members = np.concatenate([self._members, columns])
        self.entered += len(columns)
        self._lp.add_columns(
            self._c[columns], self._lower[columns], self._upper[columns], self._matrix[:, columns]
        )
