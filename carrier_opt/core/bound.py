"""Lower bound on the cost of any valid assignment: the LP relaxation through its Lagrangian.

Why: a bound tells how far from optimal an answer can be (``gap = (cost − bound) / bound``),
which is what makes an optimizer's result trustworthy.

The relaxation drops the pooled overage's ``ceil`` and lets assignments be fractional. A SIM
``d`` on a plan ``p`` then costs linearly::

    lin[d, p] = base_rate_p·proration_d + sms_rate_p·sms_d
                + (not pooled_p) · own overage charge of d on p (ceil kept)

A plan that is not pooled bills each SIM on its own, so that charge is a constant per
(SIM, plan) and keeping it exact is still a valid (and tighter) relaxation. With
``r_p = overage_rate_p / data_per_overage_charge_mb_p``, a pooled plan adds
``r_p · max(0, Σ_d x[d,p]·g[d,p])`` where ``g[d, p] = usage_d − allowance_p·proration_d``;
a pool ``P`` of several plans (a shared ``rate_pool``) adds
``r_P · max(0, Σ_{p∈P} Σ_d x[d,p]·g[d,p])`` once. Pricing each pool's load with
``λ_P ∈ [0, r_P]`` gives the Lagrangian dual function::

    L(λ) = Σ_d min_{p allowed for d} (lin[d, p] + λ_{P(p)}·g[d, p])

Every ``λ`` in the box gives a valid lower bound, each SIM picks its plan independently (one
vectorised pass over devices × plans), and ``max_λ L(λ)`` equals the LP optimum (LP duality).
Locked SIMs have a single allowed plan: their own, so they still load their pool.

Charge types enter only through the billed rates: an ``overage_only`` plan's base term is 0,
a ``rate_only`` plan bills no own overage and — even when pooled — has no pool (no load, price
cap 0), because its pool never bills. Everything downstream (the optimizer's ``PairCosts``
included) reads these pieces, so it follows automatically.

``L`` is concave and piecewise linear in as many variables as there are pools (a dozen or
so). :func:`lagrangian_bound` maximises it in two stages:

1. a trust-region cutting-plane (bundle) method on ``λ``, every step one pass over the devices;
2. an exact finish by column generation: the LP restricted to the plans each SIM nearly prefers
   at the current ``λ`` is small; its optimal duals are new prices, its value an upper bound on
   the LP. Columns a SIM prefers at those prices are added until no SIM wants another plan;
   then ``L(λ) =`` the restricted LP ``=`` the LP optimum (up to solver tolerance).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from carrier_opt.core.highs import CuttingPlaneLP
from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import overage_units


@dataclass(frozen=True)
class LowerBound:
    """The best dual point found and what it proves."""

    value: float  # USD: no valid assignment costs less
    prices: np.ndarray  # λ per plan: its pool's price (USD per MB of load), 0 when no pool
    upper_estimate: float  # USD: the LP optimum is at most this (so value is within the gap)
    iterations: int  # passes over the devices
    seconds: float

    @property
    def relative_gap(self) -> float:
        """How far ``value`` may be below the LP optimum, relative to it."""
        return (self.upper_estimate - self.value) / max(abs(self.upper_estimate), 1e-12)


# --------------------------------------------------------------------------- the dual function


@dataclass(frozen=True)
class _Group:
    """SIMs sharing one set of candidate plans, with their linearised costs."""

    plans: np.ndarray  # (k,) plan indices
    slots: np.ndarray  # (k,) price slot of each plan: its pool, or the last (priceless) slot
    devices: np.ndarray  # (n,) device indices
    lin: np.ndarray  # (n, k) USD
    load: np.ndarray  # (n, k) MB added to the pool (0 on plans not pooled)


@dataclass(frozen=True)
class DualFunction:
    """L(λ) of one instance, ready to be evaluated many times."""

    groups: tuple[_Group, ...]
    # One slot per pool plus a last slot (cap 0) for plans without one: λ ∈ [0, price_cap].
    price_cap: np.ndarray  # r_P = overage_rate_P / unit_P per pool, then 0
    n_slots: int
    n_devices: int
    # Threads for the evaluation of large fleets (see evaluate), given by lagrangian_bound for
    # its passes and shut down after them.
    pool: ThreadPoolExecutor | None = None

    def evaluate(self, prices: np.ndarray) -> tuple[float, np.ndarray]:
        """(L(λ), a supergradient: the load of every pool when SIMs choose freely).

        With a ``pool``, the SIMs are priced in row blocks of at least ``BLOCK_ROWS`` on its
        threads (the kernel releases the GIL): this is the bound's hot loop, one pass per
        bundle step. The blocks are fixed by the fleet alone and summed in their order, so
        the bound does not depend on the number of cores."""
        if self.pool is not None:
            return self._evaluate_in_blocks(prices, self.pool)
        value = 0.0
        load = np.zeros(self.n_slots)
        for group in self.groups:
            value += _choose_plans(group.lin, group.load, prices[group.slots], group.slots, load)
        return value, load

    def _evaluate_in_blocks(
        self, prices: np.ndarray, pool: ThreadPoolExecutor
    ) -> tuple[float, np.ndarray]:
        def price(block: tuple[_Group, int, int]) -> tuple[float, np.ndarray]:
            group, start, stop = block
            load = np.zeros(self.n_slots)
            rows = slice(start, stop)
            cost = _choose_plans(
                group.lin[rows], group.load[rows], prices[group.slots], group.slots, load
            )
            return cost, load

        value = 0.0
        load = np.zeros(self.n_slots)
        for cost, block_load in pool.map(price, self.blocks):
            value += cost
            load += block_load
        return value, load

    @functools.cached_property
    def blocks(self) -> list[tuple[_Group, int, int]]:
        """The row blocks of the parallel evaluation (:func:`_blocks`), cut once: the
        evaluation runs hundreds of times per bound."""
        return _blocks(self.groups)

    def reduced_costs(self, prices: np.ndarray) -> list[np.ndarray]:
        """Per group, every SIM's linearised cost on each candidate plan at prices λ."""
        return [group.lin + group.load * prices[group.slots] for group in self.groups]


PARALLEL_MIN_SIMS = 100_000
"""Fleets from this size evaluate the dual function on a thread per core
(:meth:`DualFunction.evaluate`): 1.5 times faster at 1 M SIMs on 2 cores (the pass reads
150 MB, so memory bandwidth caps it). Below it one pass takes a millisecond or two."""

BLOCK_ROWS = 25_000
"""Fewest rows of a block of the parallel evaluation (a larger group is cut into blocks)."""


def _blocks(groups: tuple[_Group, ...]) -> list[tuple[_Group, int, int]]:
    """(group, first row, end row) blocks of every group, at least ``BLOCK_ROWS`` rows each
    (or the whole group), a function of the groups' sizes only."""
    blocks = []
    for group in groups:
        rows = group.lin.shape[0]
        n_blocks = max(1, rows // BLOCK_ROWS)
        edges = np.linspace(0, rows, n_blocks + 1).astype(np.int64)
        blocks += [(group, int(a), int(b)) for a, b in itertools.pairwise(edges)]
    return blocks


@numba.njit(cache=True, nogil=True)
def _choose_plans(
    lin: np.ndarray, load: np.ndarray, prices: np.ndarray, slots: np.ndarray, pool_load: np.ndarray
) -> float:
    """Each SIM takes its cheapest candidate at ``prices``; returns Σ cost, adds to pool_load.

    One fused pass (numba) instead of numpy temporaries: this is the hot loop of the bound.
    """
    total = 0.0
    for row in range(lin.shape[0]):
        best_cost = lin[row, 0] + load[row, 0] * prices[0]
        best = 0
        for column in range(1, lin.shape[1]):
            cost = lin[row, column] + load[row, column] * prices[column]
            if cost < best_cost:
                best_cost = cost
                best = column
        total += best_cost
        pool_load[slots[best]] += load[row, best]
    return total


def linearised_costs(
    instance: Instance, devices: np.ndarray, plans: np.ndarray, with_load: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """(lin, load) of ``devices`` × ``plans``: the relaxation's cost pieces (module docstring);
    load is None without ``with_load`` (the optimizer computes it where it reads it).

    One fused pass (:func:`_linearised`): the numpy expression built a dozen temporaries of
    SIMs × plans, 1.3 s and 120 MB each at 1 M SIMs × 15 plans."""
    devices = np.asarray(devices, dtype=np.int64)
    plans = np.asarray(plans, dtype=np.int64)
    lin = np.empty((len(devices), len(plans)))
    load = np.empty((len(devices), len(plans)) if with_load else (0, 0))
    _linearised(
        devices,
        plans,
        np.asarray(instance.proration, dtype=np.float64),
        np.asarray(instance.usage_mb, dtype=np.float64),
        np.asarray(instance.sms_count, dtype=np.float64),
        np.asarray(instance.billed_base_rate, dtype=np.float64),
        np.asarray(instance.sms_rate, dtype=np.float64),
        np.asarray(instance.allowance_mb, dtype=np.float64),
        np.asarray(instance.overage_unit_mb, dtype=np.float64),
        np.asarray(instance.billed_overage_rate, dtype=np.float64),
        np.asarray(instance.bills_pool, dtype=np.bool_),
        lin,
        load,
        with_load,
    )
    return lin, (load if with_load else None)


_overage_units = numba.njit(cache=True, nogil=True)(overage_units)
"""The cost model's :func:`core.pricing.overage_units`, compiled for the kernel below: one
formula for a SIM's own overage units (ceil tolerance included) in the pricing and the bound."""


@numba.njit(cache=True, nogil=True)
def _linearised(
    devices,
    plans,
    proration,
    usage,
    sms,
    base_rate,
    sms_rate,
    allowance,
    unit,
    rate,
    pooled,
    lin,
    load,
    with_load,
) -> None:
    """Fill ``lin`` and, ``with_load``, ``load`` (devices × plans) with the formulas of the
    module docstring (``local_search.sim_load`` is the same load formula, in the same
    operations).

    A SIM's own overage on a plan that is not pooled does not depend on the others: it is
    kept exact (ceil included) — still a valid relaxation, and a tighter one. A rate_only
    pool never bills, so it carries no load: its SIMs cost only lin."""
    for i in range(devices.shape[0]):
        d = devices[i]
        for j in range(plans.shape[0]):
            p = plans[j]
            excess = usage[d] - allowance[p] * proration[d]
            cost = base_rate[p] * proration[d] + sms_rate[p] * sms[d]
            if pooled[p]:
                lin[i, j] = cost
            else:
                lin[i, j] = cost + _overage_units(excess, unit[p]) * rate[p]
            if with_load:
                load[i, j] = excess if pooled[p] else 0.0


def dual_function(instance: Instance) -> DualFunction:
    """Build L(λ) for ``instance``: SIMs grouped by communication plan, locked SIMs by plan."""
    slot_of = instance.pool_slot
    groups = []
    unlocked = ~instance.locked
    for comm in range(len(instance.comm_plan_codes)):
        devices = np.flatnonzero(unlocked & (instance.comm_plan == comm))
        plans = np.flatnonzero(instance.allowed[comm])
        if len(devices) and len(plans):
            pieces = linearised_costs(instance, devices, plans)
            groups.append(_Group(plans, slot_of[plans], devices, *pieces))
    for plan in np.unique(instance.current_plan[instance.locked]):
        devices = np.flatnonzero(instance.locked & (instance.current_plan == plan))
        plans = np.array([plan])
        pieces = linearised_costs(instance, devices, plans)
        groups.append(_Group(plans, slot_of[plans], devices, *pieces))
    cap = np.append(instance.pool_rate_per_mb, 0.0)
    return DualFunction(tuple(groups), cap, instance.n_pools + 1, instance.n_devices)


# --------------------------------------------------------------------------- stage 1: bundle


class _Cuts:
    """Supergradient cuts L(μ) ≤ f_i + s_i·(μ − λ_i), in the free coordinates only, and the
    cutting-plane model they make, kept in HiGHS between passes (:class:`CuttingPlaneLP`)."""

    def __init__(self, n: int) -> None:
        self.points: list[np.ndarray] = []
        self.values: list[float] = []
        self._model = CuttingPlaneLP(n)

    def add(self, point: np.ndarray, value: float, slope: np.ndarray) -> None:
        self.points.append(point)
        self.values.append(value)
        self._model.add(value - float(np.dot(slope, point)), slope)

    def model_max(self, lower: np.ndarray, upper: np.ndarray) -> tuple[float, np.ndarray]:
        """Maximise the cutting-plane model over the box [lower, upper]."""
        found = self._model.maximise(lower, upper)
        if found is None:
            return float(np.max(self.values)), self.points[int(np.argmax(self.values))]
        value, point = found
        return value, np.clip(point, lower, upper)


def _certified_upper(
    center_value: float, predicted: float, radius: np.ndarray, cap: np.ndarray
) -> float:
    """Upper bound on max L from the trust-region model around the centre.

    The model over-estimates L, so L ≤ ``predicted`` inside the region. Any point y outside
    it lies beyond a region-boundary point z on the segment from the centre, at a fraction
    t ≥ min(radius / cap) of the way; concavity gives L(y) − L(c) ≤ (L(z) − L(c)) / t.
    """
    fraction = float(np.min(np.minimum(radius / cap, 1.0)))
    return center_value + max(predicted - center_value, 0.0) / fraction


def _bundle(
    dual: DualFunction, free: np.ndarray, deadline: float, tolerance: float, max_passes: int
) -> tuple[np.ndarray, float, float, int]:
    """Trust-region cutting planes on λ; returns (best λ, L there, certified upper, passes)."""
    cap = dual.price_cap[free]
    prices = np.zeros(dual.n_slots)

    def evaluate(point: np.ndarray) -> tuple[float, np.ndarray]:
        prices[free] = point
        value, load = dual.evaluate(prices)
        return value, load[free]

    center = cap / 2
    center_value, slope = evaluate(center)
    cuts = _Cuts(len(free))
    cuts.add(center, center_value, slope)
    radius = cap / 4
    upper, passes, history = np.inf, 1, [center_value]
    while passes < max_passes and time.monotonic() < deadline:
        if passes % 10 == 0:
            upper = min(upper, cuts.model_max(np.zeros_like(cap), cap)[0])
        predicted, candidate = cuts.model_max(
            np.maximum(center - radius, 0.0), np.minimum(center + radius, cap)
        )
        upper = min(upper, _certified_upper(center_value, predicted, radius, cap))
        scale = max(abs(upper), 1.0)
        if upper - center_value <= tolerance * scale or _stalled(history, tolerance * scale):
            break
        value, slope = evaluate(candidate)
        passes += 1
        cuts.add(candidate, value, slope)
        gain, promised = value - center_value, predicted - center_value
        if gain >= 0.1 * promised and gain > 0:
            center, center_value = candidate, value
            if gain >= 0.5 * promised:
                radius = np.minimum(radius * 2, cap)
        elif gain < 0:
            radius = np.maximum(radius / 2, cap * 1e-9)
        history.append(center_value)
    return center, center_value, max(upper, center_value), passes


STALL_PASSES = 40
"""Passes without a gain worth ``tolerance / 100`` after which the bundle stops."""


def _stalled(history: list[float], tolerance_usd: float) -> bool:
    """True when the centre stopped moving: more passes would only tighten the certificate."""
    if len(history) <= STALL_PASSES:
        return False
    return history[-1] - history[-1 - STALL_PASSES] <= tolerance_usd / 100


# --------------------------------------------------------------------------- stage 2: exact finish


def _candidates(costs: np.ndarray, slack: float) -> np.ndarray:
    """Bool mask of plans within ``slack`` USD of each SIM's cheapest."""
    return costs <= costs.min(axis=1, keepdims=True) + slack


MAX_FINISH_COLUMNS = 50_000
"""Largest restricted LP (SIM-plan pairs of undecided SIMs) the exact finish will solve."""


def _undecided_columns(masks: list[np.ndarray]) -> int:
    """SIM-plan pairs of SIMs with more than one candidate: the restricted LP's size."""
    total = 0
    for mask in masks:
        counts = mask.sum(axis=1)
        total += int(counts[counts > 1].sum())
    return total


def _restricted_lp(
    dual: DualFunction, masks: list[np.ndarray], seconds: float
) -> tuple[float, np.ndarray] | None:
    """Solve the LP with SIMs restricted to their candidate plans; (value, pool prices)."""
    pooled = np.flatnonzero(dual.price_cap > 0)
    row_of_slot = np.full(dual.n_slots, -1)
    row_of_slot[pooled] = np.arange(len(pooled))
    constant = 0.0
    fixed_load = np.zeros(dual.n_slots)
    costs, device_rows, pool_rows, pool_values = [], [], [], []
    n_columns, n_choosers = 0, 0
    for group, mask in zip(dual.groups, masks, strict=True):
        single = mask.sum(axis=1) == 1
        rows, cols = np.nonzero(mask[single])
        chosen_rows = np.flatnonzero(single)[rows]
        constant += float(group.lin[chosen_rows, cols].sum())
        fixed_load += np.bincount(
            group.slots[cols], weights=group.load[chosen_rows, cols], minlength=dual.n_slots
        )
        rows, cols = np.nonzero(mask & ~single[:, None])
        _, chooser = np.unique(rows, return_inverse=True)
        costs.append(group.lin[rows, cols])
        device_rows.append(chooser + n_choosers)
        pool_rows.append(row_of_slot[group.slots[cols]])
        pool_values.append(group.load[rows, cols])
        n_choosers += int(chooser.max()) + 1 if len(chooser) else 0
        n_columns += len(rows)
    cost = np.concatenate([*costs, dual.price_cap[pooled]])
    columns = np.arange(n_columns)
    pool_rows_all = np.concatenate(pool_rows)
    in_pool = pool_rows_all >= 0
    a_eq = sparse.csr_matrix(
        (np.ones(n_columns), (np.concatenate(device_rows), columns)),
        shape=(n_choosers, n_columns + len(pooled)),
    )
    # Σ load·x − s_p ≤ −fixed_load_p  (pool p's overage s_p covers its load)
    a_ub = sparse.csr_matrix(
        (
            np.concatenate([np.concatenate(pool_values)[in_pool], -np.ones(len(pooled))]),
            (
                np.concatenate([pool_rows_all[in_pool], np.arange(len(pooled))]),
                np.concatenate([columns[in_pool], n_columns + np.arange(len(pooled))]),
            ),
        ),
        shape=(len(pooled), n_columns + len(pooled)),
    )
    result = linprog(
        cost,
        A_ub=a_ub if len(pooled) else None,
        b_ub=-fixed_load[pooled] if len(pooled) else None,
        A_eq=a_eq if n_choosers else None,
        b_eq=np.ones(n_choosers) if n_choosers else None,
        bounds=(0, None),
        method="highs",
        options={"time_limit": max(seconds, 0.1)},
    )
    if result.status != 0:
        return None
    prices = np.zeros(dual.n_slots)
    if len(pooled):
        prices[pooled] = np.clip(-result.ineqlin.marginals, 0.0, dual.price_cap[pooled])
    return constant + float(result.fun), prices


def _column_generation(
    dual: DualFunction, prices: np.ndarray, value: float, deadline: float, tolerance: float
) -> tuple[np.ndarray, float, float, int]:
    """Exact finish from near-optimal prices; returns (λ, L(λ), LP upper bound, passes)."""
    scale = max(abs(value), 1.0)
    slack = 1e-6 * scale / max(dual.n_devices, 1) + 1e-9
    masks = [_candidates(costs, max(slack, 1e-3)) for costs in dual.reduced_costs(prices)]
    best_prices, best_value, upper, passes = prices, value, np.inf, 0
    while time.monotonic() < deadline and _undecided_columns(masks) <= MAX_FINISH_COLUMNS:
        solved = _restricted_lp(dual, masks, deadline - time.monotonic())
        if solved is None:
            break
        upper = min(upper, solved[0])
        prices = solved[1]
        value, _ = dual.evaluate(prices)
        passes += 1
        if value > best_value:
            best_prices, best_value = prices, value
        if upper - best_value <= tolerance * scale:
            break
        for mask, costs in zip(masks, dual.reduced_costs(prices), strict=True):
            mask |= _candidates(costs, 0.0)
    return best_prices, best_value, upper, passes


# --------------------------------------------------------------------------- public API


EXACT_TOLERANCE = 1e-10
"""Relative gap the exact finish aims for: the LP solver's own precision."""


def lagrangian_bound(
    instance: Instance,
    *,
    time_limit_s: float = 30.0,
    tolerance: float = 1e-6,
    max_passes: int = 400,
    exact: bool = True,
) -> LowerBound:
    """Best lower bound found on the cost of any valid assignment of ``instance``.

    ``tolerance`` is the relative distance to the LP optimum at which the bundle stops;
    ``exact`` then runs the column-generation finish (module docstring) whenever the restricted
    LP is small enough (:data:`MAX_FINISH_COLUMNS`), which makes the bound the LP optimum.
    Whatever happens before ``time_limit_s``, the returned value is a valid bound;
    ``upper_estimate`` says how much better the LP bound could still be.
    """
    started = time.monotonic()
    deadline = started + time_limit_s
    dual = dual_function(instance)
    if instance.n_devices < PARALLEL_MIN_SIMS:
        return _maximised(instance, dual, started, deadline, tolerance, max_passes, exact)
    # A pool per bound, not per process: a forked worker would inherit a cached pool's
    # bookkeeping without its threads and wait on them for ever.
    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="bound") as pool:
        dual = dataclasses.replace(dual, pool=pool)
        return _maximised(instance, dual, started, deadline, tolerance, max_passes, exact)


def _maximised(
    instance: Instance,
    dual: DualFunction,
    started: float,
    deadline: float,
    tolerance: float,
    max_passes: int,
    exact: bool,
) -> LowerBound:
    """:func:`lagrangian_bound`'s two stages on a built dual function."""
    slot_of = instance.pool_slot  # each plan's price slot (its pool; the last one is priced 0)
    free = np.flatnonzero(dual.price_cap > 0)
    prices = np.zeros(dual.n_slots)
    if len(free) == 0:
        value, _ = dual.evaluate(prices)
        return LowerBound(value, prices[slot_of], value, 1, time.monotonic() - started)
    point, value, upper, passes = _bundle(dual, free, deadline, tolerance, max_passes)
    prices[free] = point
    if exact and upper - value > EXACT_TOLERANCE * max(abs(upper), 1.0):
        found, found_value, found_upper, more = _column_generation(
            dual, prices, value, deadline, EXACT_TOLERANCE
        )
        passes += more
        upper = min(upper, found_upper)
        if found_value > value:
            prices, value = found, found_value
    return LowerBound(value, prices[slot_of], max(upper, value), passes, time.monotonic() - started)
