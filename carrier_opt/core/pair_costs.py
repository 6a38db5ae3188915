"""What each SIM costs on each plan, as the optimizer's stages read it, in as few SIMs × plans
tables as it can afford.

Why: at 1 M SIMs × 15 plans every float64 table is 120 MB, and three of them (the linearised
cost, the pool load and the reduced cost) were most of what a run held above the instance.
Only the linearised cost ``lin`` is stored: its own-overage term needs a ``ceil`` per pair. A
SIM's pool load is three numbers' formula, so :class:`PairLoads` computes it where it is read;
the reduced cost ``lin + λ·load`` then needs no table either (:class:`ReducedCosts`), only its
row minima, which are kept. Every value is computed in the same operations as the tables
were, so the floats, and the optimizer's answers, are the same.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numba import njit

from carrier_opt.core import local_search as ls
from carrier_opt.core.bound import linearised_costs
from carrier_opt.core.instance import Instance


@dataclass(frozen=True)
class PairLoads:
    """MB each SIM adds to each plan's pool, computed where it is read instead of stored.

    ``load[d, p] = usage_d − allowance_p·proration_d`` on a plan that bills a pool, else 0
    (the relaxation's ``g``, see :mod:`core.bound`). The kernels take :attr:`kernel`
    (``local_search.sim_load``); numpy code takes :meth:`at`."""

    usage: np.ndarray  # MB per SIM
    proration: np.ndarray  # per SIM
    allowance: np.ndarray  # MB per plan
    bills: np.ndarray  # bool per plan: whether it bills a pool

    @classmethod
    def of(cls, instance: Instance) -> PairLoads:
        return cls(
            np.ascontiguousarray(instance.usage_mb, dtype=np.float64),
            np.ascontiguousarray(instance.proration, dtype=np.float64),
            np.ascontiguousarray(instance.allowance_mb, dtype=np.float64),
            np.ascontiguousarray(instance.bills_pool, dtype=np.bool_),
        )

    @property
    def kernel(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pieces as the numba kernels take them."""
        return self.usage, self.proration, self.allowance, self.bills

    def at(self, sims: np.ndarray, plans: np.ndarray) -> np.ndarray:
        """The loads of the pairs (``sims[i]``, ``plans[i]``)."""
        excess = self.usage[sims] - self.allowance[plans] * self.proration[sims]
        return np.where(self.bills[plans], excess, 0.0)

    def of_sims(self, sims: np.ndarray) -> PairLoads:
        """The loads of ``sims`` only, renumbered 0..len(sims)-1 (as ``lin[sims]`` is)."""
        return PairLoads(self.usage[sims], self.proration[sims], self.allowance, self.bills)


@dataclass(frozen=True)
class PairCosts:
    """Per (SIM, plan) cost pieces shared by every stage (``lin`` is +inf if not allowed)."""

    lin: np.ndarray  # USD without pooled overage
    load: PairLoads  # MB a SIM adds to its plan's pool (0 for plans that are not pooled)
    movable: np.ndarray  # bool per SIM: False for locked SIMs

    @classmethod
    def of(cls, instance: Instance) -> PairCosts:
        """Build the pieces with the relaxation's own formulas (one source of truth)."""
        devices = np.arange(instance.n_devices)
        plans = np.arange(instance.n_plans)
        lin, _ = linearised_costs(instance, devices, plans, with_load=False)
        lin[~instance.allowed_for_devices()] = np.inf
        return cls(np.ascontiguousarray(lin), PairLoads.of(instance), ~instance.locked)


class ReducedCosts:
    """``lin + λ·load`` per (SIM, plan) at the bound's prices ``λ`` (one per plan), computed
    where it is read; each row's minimum and its plan are computed once and kept.

    The stages ask for a row's cheapest line, the next cheapest, a few pairs or a few rows,
    never the whole table at 1 M SIMs (:meth:`table` is for the small fleets' tie LP)."""

    def __init__(self, pieces: PairCosts, prices: np.ndarray) -> None:
        self.lin = pieces.lin
        self.load = pieces.load
        self.prices = np.ascontiguousarray(prices, dtype=np.float64)
        self.n_sims, self.n_plans = pieces.lin.shape

    @functools.cached_property
    def _row_minima(self) -> tuple[np.ndarray, np.ndarray]:
        return _row_minima(self.lin, self.load.kernel, self.prices)

    @property
    def floor(self) -> np.ndarray:
        """Each SIM's smallest reduced cost (``table.min(axis=1)``)."""
        return self._row_minima[0]

    @property
    def cheapest(self) -> np.ndarray:
        """Each SIM's plan of smallest reduced cost, the first on ties (``np.argmin``)."""
        return self._row_minima[1]

    def at(self, sims: np.ndarray, plans: np.ndarray) -> np.ndarray:
        """The reduced costs of the pairs (``sims[i]``, ``plans[i]``)."""
        return self.load.at(sims, plans) * self.prices[plans] + self.lin[sims, plans]

    def rows(self, sims: np.ndarray) -> np.ndarray:
        """The table's rows of ``sims`` (SIMs × plans)."""
        return _table(self.lin[sims], self.load.of_sims(sims).kernel, self.prices)

    def table(self) -> np.ndarray:
        """The whole table (SIMs × plans): only for fleets small enough to afford it."""
        return _table(self.lin, self.load.kernel, self.prices)

    def two_smallest(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's smallest and second smallest value (equal when the smallest is tied)."""
        return _two_smallest(self.lin, self.load.kernel, self.prices)

    def cheapest_other(self, line: np.ndarray) -> np.ndarray:
        """Per SIM, the plan of smallest reduced cost other than ``line[sim]`` (the first on
        ties; 0 when no other is finite): ``local_search.cheapest_other`` of the table."""
        return _cheapest_other(self.lin, self.load.kernel, self.prices, line)

    def within(self, budget: float) -> np.ndarray:
        """Bool SIMs × plans: pairs whose excess over their row's minimum is below ``budget``."""
        return _within(self.lin, self.load.kernel, self.prices, self.floor, budget)


@njit(cache=True, inline="always")
def _reduced(lin_dp: float, load, prices, d: int, p: int) -> float:
    """One reduced cost, ``load·λ + lin`` in the operations numpy's ``load * prices + lin``
    used on the tables (the same floats).

    It takes the pair's ``lin[d, p]``, not ``lin``: a 2-D array handed to a helper inside the
    loops cost each pair a reference count (the passes over SIMs × plans ran 45 times
    slower, 0.8 s each at 1 M SIMs)."""
    return ls.sim_load(load, d, p) * prices[p] + lin_dp


@njit(cache=True)
def _table(lin, load, prices) -> np.ndarray:
    """The reduced costs of every row of ``lin`` (SIMs × plans)."""
    n_rows, n_cols = lin.shape
    reduced = np.empty_like(lin)
    for d in range(n_rows):
        for p in range(n_cols):
            reduced[d, p] = _reduced(lin[d, p], load, prices, d, p)
    return reduced


@njit(cache=True)
def _row_minima(lin, load, prices) -> tuple[np.ndarray, np.ndarray]:
    n_rows, n_cols = lin.shape
    low = np.empty(n_rows)
    at = np.zeros(n_rows, dtype=np.int64)
    for d in range(n_rows):
        best, best_p = np.inf, 0
        for p in range(n_cols):
            value = _reduced(lin[d, p], load, prices, d, p)
            if value < best:
                best, best_p = value, p
        low[d], at[d] = best, best_p
    return low, at


@njit(cache=True)
def _two_smallest(lin, load, prices) -> tuple[np.ndarray, np.ndarray]:
    n_rows, n_cols = lin.shape
    first = np.full(n_rows, np.inf)
    second = np.full(n_rows, np.inf)
    for d in range(n_rows):
        low, next_low = np.inf, np.inf
        for p in range(n_cols):
            value = _reduced(lin[d, p], load, prices, d, p)
            if value < low:
                next_low = low
                low = value
            elif value < next_low:
                next_low = value
        first[d] = low
        second[d] = next_low
    return first, second


@njit(cache=True)
def _cheapest_other(lin, load, prices, line) -> np.ndarray:
    n_rows, n_cols = lin.shape
    other = np.zeros(n_rows, dtype=np.int64)
    for d in range(n_rows):
        best = 0
        best_value = np.inf if line[d] == 0 else _reduced(lin[d, 0], load, prices, d, 0)
        for p in range(1, n_cols):
            value = np.inf if p == line[d] else _reduced(lin[d, p], load, prices, d, p)
            if value < best_value:
                best_value = value
                best = p
        other[d] = best
    return other


@njit(cache=True)
def _within(lin, load, prices, floor, budget) -> np.ndarray:
    n_rows, n_cols = lin.shape
    keep = np.empty((n_rows, n_cols), dtype=np.bool_)
    for d in range(n_rows):
        for p in range(n_cols):
            keep[d, p] = (_reduced(lin[d, p], load, prices, d, p) - floor[d]) < budget
    return keep
