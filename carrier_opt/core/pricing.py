"""The contract's cost model, vectorised: what an assignment of SIMs to rate plans costs.

An *assignment* is an int array with one plan index (into ``Instance.plan_codes``) per device.
For every rate plan with its set of devices ``D`` (see ``optimizer-contract.md``)::

    base    = base_rate × Σ proration
    sms     = sms_rate  × Σ sms_count
    not pooled: overage = Σ ceil(max(0, usage − allowance × proration) / unit) × overage_rate
    pooled:     the plan's SIMs load its pool (below), which bills its overage once

Charge types (the optional ``charge_type`` column, ``docs/optimizer-contract-extensions.md``)
only switch terms off: ``overage_only`` plans bill no base (it was billed in advance),
``rate_only`` plans bill no overage, own or pooled. So the formulas above run on the
instance's *billed* rates (:attr:`Instance.billed_base_rate`,
:attr:`Instance.billed_overage_rate`); plans without a ``charge_type`` bill exactly as before.

``ceil`` forgives :data:`CEIL_TOLERANCE` overage units of float noise. Money stays float here;
rounding to cents happens only at the edges (files, reports).

Pools (:attr:`Instance.pool_of`) are a pooled plan alone or every pooled plan sharing a
``rate_pool``: ``over_P = max(0, Σ usage − Σ allowance × proration)`` over the SIMs of all the
pool's plans, priced once at the pool's (common) overage price.

Per-device attribution of a pool's overage (a reporting choice — the bill itself is per
pool): each SIM pays the share of the pool's overage charge proportional to its own *excess*,
``max(0, usage − allowance × proration)``, over the pool's total excess. SIMs within their own
share of the pool pay nothing; the SIMs that drain the pool pay for it. The pool overage is
positive only if some SIM has a positive excess, so the shares are always defined and sum to
the pool's charge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carrier_opt.core.instance import Instance, Problem
from carrier_opt.errors import InputError

CEIL_TOLERANCE = 1e-9
"""Overage units forgiven inside ``ceil`` so that 3.0000000001 units bill as 3."""

MAX_REPORTED_PROBLEMS = 100
"""How many invalid devices :func:`validate_assignment` spells out before summarising."""


def overage_units(excess_mb: np.ndarray, unit_mb: np.ndarray | float) -> np.ndarray:
    """Whole overage units billed for ``excess_mb`` (negative excess bills nothing)."""
    units = np.ceil(np.maximum(excess_mb, 0.0) / unit_mb - CEIL_TOLERANCE)
    return np.maximum(units, 0.0)


def _plan_sums(instance: Instance, assignment: np.ndarray) -> dict[str, np.ndarray]:
    """Per-plan sums of devices, proration, SMS and usage (np.bincount, one pass each)."""
    n_plans = instance.n_plans

    def total(weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(assignment, weights=weights, minlength=n_plans).astype(float)

    return {
        "devices": total(None),
        "proration": total(instance.proration),
        "sms": total(instance.sms_count),
        "usage_mb": total(instance.usage_mb),
    }


def _device_load_mb(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """Each SIM's usage minus its own prorated allowance: what it adds to its pool's load."""
    return instance.usage_mb - instance.allowance_mb[assignment] * instance.proration


def _device_excess_mb(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """Each SIM's usage beyond its own prorated allowance (0 when within it)."""
    return np.maximum(_device_load_mb(instance, assignment), 0.0)


def pool_loads_mb(
    instance: Instance, assignment: np.ndarray, among: np.ndarray | None = None
) -> np.ndarray:
    """Each pool's load ``Σ usage − allowance × proration`` under ``assignment`` (of the SIMs
    in the bool mask ``among`` only, when given)."""
    pool = instance.pool_of[assignment]
    counted = pool >= 0 if among is None else (pool >= 0) & among
    load = _device_load_mb(instance, assignment)
    return np.bincount(pool[counted], weights=load[counted], minlength=instance.n_pools).astype(
        float
    )


def pool_charges(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """USD of overage each billed pool (:attr:`Instance.pool_names`) costs under ``assignment``."""
    pool_load = pool_loads_mb(instance, np.asarray(assignment, dtype=np.int64))
    return overage_units(pool_load, instance.pool_unit_mb) * instance.pool_overage_rate


def _own_overage_usd(instance: Instance, assignment: np.ndarray, excess: np.ndarray):
    """Each SIM's own overage charge (0 on a plan whose pool pays it instead)."""
    units = overage_units(excess, instance.overage_unit_mb[assignment])
    on_pool = instance.pool_of[assignment] >= 0
    return np.where(on_pool, 0.0, units * instance.billed_overage_rate[assignment])


def _overages(instance: Instance, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-plan overage charge, per-device overage charge) under the contract's rules.

    A pool's charge is attributed to its SIMs by excess (module docstring), and a plan's
    overage is what its SIMs were attributed, so a pool spanning several plans splits its
    charge among them the same way.
    """
    excess = _device_excess_mb(instance, assignment)
    device_overage = _own_overage_usd(instance, assignment, excess)
    # Slot n_pools collects the SIMs outside any pool, with a charge of 0.
    slot = instance.pool_slot[assignment]
    pool_charge = np.append(pool_charges(instance, assignment), 0.0)
    pooled_excess = np.where(slot < instance.n_pools, excess, 0.0)
    excess_per_pool = np.bincount(slot, weights=pooled_excess, minlength=instance.n_pools + 1)
    share = np.divide(
        pooled_excess,
        excess_per_pool[slot],
        out=np.zeros_like(pooled_excess),
        where=pooled_excess > 0,
    )
    device_overage = device_overage + share * pool_charge[slot]
    plan_overage = np.bincount(assignment, weights=device_overage, minlength=instance.n_plans)
    return plan_overage, device_overage


def total_cost(instance: Instance, assignment: np.ndarray) -> float:
    """Total bill of ``assignment`` in USD: the number every optimizer decision compares.

    Summed from the bill's own terms (per plan base and SMS, each SIM's own overage, each
    pool's overage once), not from the per-SIM attribution, so no split can shift a cent.
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    n_plans = instance.n_plans
    proration = np.bincount(assignment, weights=instance.proration, minlength=n_plans)
    sms = np.bincount(assignment, weights=instance.sms_count, minlength=n_plans)
    fixed = instance.billed_base_rate * proration + instance.sms_rate * sms
    # The SIMs' loads once, for their own overage and their pools', so the sum is that of
    # _device_excess_mb, _own_overage_usd and pool_charges to the bit; the pools' loads are
    # binned by slot (the SIMs outside a pool in a last one) rather than over a masked copy,
    # which adds the same terms to each pool in the same order. The legacy baseline prices
    # 40 queues of 1 M SIMs with it: 25 ms each before, 15 ms now.
    load = _device_load_mb(instance, assignment)
    own = _own_overage_usd(instance, assignment, np.maximum(load, 0.0))
    slot = instance.pool_slot[assignment]
    n_pools = instance.n_pools
    pool_load = np.bincount(slot, weights=load, minlength=n_pools + 1)[:n_pools]
    charges = overage_units(pool_load, instance.pool_unit_mb) * instance.pool_overage_rate
    return float(fixed.sum() + own.sum() + charges.sum())


def plan_breakdown(instance: Instance, assignment: np.ndarray) -> pd.DataFrame:
    """One row per offered rate plan: what it costs and why.

    Columns: ``devices``, ``billable_devices`` (Σ proration), ``usage_mb``, ``allowance_mb``
    (prorated allowance of its devices — the pool size when pooled), ``sms``, ``base_usd``,
    ``sms_usd``, ``overage_usd``, ``cost_usd``. ``base_usd`` is what is billed this period (0
    on ``overage_only`` plans, whose base is billed in advance). Indexed by rate plan code;
    plans without devices are included with zeros so reports can show the whole offer.
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    sums = _plan_sums(instance, assignment)
    plan_overage, _ = _overages(instance, assignment)
    frame = pd.DataFrame(
        {
            "devices": sums["devices"].astype(np.int64),
            "billable_devices": sums["proration"],
            "usage_mb": sums["usage_mb"],
            "allowance_mb": instance.allowance_mb * sums["proration"],
            "sms": sums["sms"],
            "base_usd": instance.billed_base_rate * sums["proration"],
            "sms_usd": instance.sms_rate * sums["sms"],
            "overage_usd": plan_overage,
        },
        index=pd.Index(instance.plan_codes, name="rate_plan_code"),
    )
    frame["cost_usd"] = frame["base_usd"] + frame["sms_usd"] + frame["overage_usd"]
    return frame


def device_breakdown(instance: Instance, assignment: np.ndarray) -> pd.DataFrame:
    """One row per SIM: its plan and charges; the charges sum to :func:`total_cost`.

    Pooled overage is shared out in proportion to each SIM's excess over its own prorated
    allowance (see the module docstring for why).
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    _, device_overage = _overages(instance, assignment)
    base = instance.billed_base_rate[assignment] * instance.proration
    sms = instance.sms_rate[assignment] * instance.sms_count
    return pd.DataFrame(
        {
            "iccid": instance.iccids,
            "rate_plan_code": instance.plan_codes[assignment],
            "usage_mb": instance.usage_mb,
            "base_usd": base,
            "sms_usd": sms,
            "overage_usd": device_overage,
            "cost_usd": base + sms + device_overage,
        }
    )


def pool_overage_shares(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """Each SIM's share of its pool's overage, spread evenly over the pool's SIMs (the way the
    legacy reports showed a pool's overage per SIM); 0 for SIMs on plans without a billed pool.

    Informational: :func:`device_breakdown` already attributes the pool's overage by excess
    usage; these shares add up to the same pool charges but are not the per-SIM charges.
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    slot = instance.pool_slot[assignment]  # slot n_pools: no pool, no charge
    counts = np.bincount(slot, minlength=instance.n_pools + 1).astype(float)
    charges = np.append(pool_charges(instance, assignment), 0.0)
    per_sim = np.divide(charges, counts, out=np.zeros_like(charges), where=counts > 0)
    return per_sim[slot]


def assignment_problems(instance: Instance, assignment: np.ndarray) -> list[Problem]:
    """Every way ``assignment`` breaks the contract's validity rule (empty list: valid).

    Valid: one offered plan per device, allowed by its communication plan; a locked device on
    its current plan (whether or not its communication plan lists that plan).
    """
    assignment = np.asarray(assignment)
    where = "assignment"
    if assignment.shape != (instance.n_devices,):
        message = f"has shape {assignment.shape}, expected ({instance.n_devices},)"
        return [Problem(where, None, None, message)]
    if not np.issubdtype(assignment.dtype, np.integer):
        return [Problem(where, None, None, f"holds {assignment.dtype}, expected plan indices")]
    in_range = (assignment >= 0) & (assignment < instance.n_plans)
    safe = np.where(in_range, assignment, 0)
    allowed = instance.allowed[instance.comm_plan, safe]
    locked_ok = safe == instance.current_plan
    ok = in_range & np.where(instance.locked, locked_ok, allowed)
    problems = []
    for device in np.flatnonzero(~ok)[:MAX_REPORTED_PROBLEMS]:
        problems.append(
            Problem(where, None, "rate_plan_code", _why_invalid(instance, device, assignment))
        )
    if (~ok).sum() > MAX_REPORTED_PROBLEMS:
        left_out = int((~ok).sum()) - MAX_REPORTED_PROBLEMS
        problems.append(Problem(where, None, None, f"... and {left_out} more invalid devices"))
    return problems


def _why_invalid(instance: Instance, device: int, assignment: np.ndarray) -> str:
    """A sentence naming the SIM and what is wrong with its plan."""
    iccid = instance.iccids[device]
    plan = int(assignment[device])
    if not 0 <= plan < instance.n_plans:
        return f"device {iccid!r}: plan index {plan} is not an offered rate plan"
    code = instance.plan_codes[plan]
    if instance.locked[device]:
        current = instance.current_plan[device]
        return (
            f"locked device {iccid!r} must stay on {instance.plan_codes[current]!r}, not {code!r}"
        )
    comm = instance.comm_plan_codes[instance.comm_plan[device]]
    return f"device {iccid!r}: communication plan {comm!r} does not allow rate plan {code!r}"


def validate_assignment(instance: Instance, assignment: np.ndarray) -> None:
    """Raise :class:`InputError` listing every invalid device; return quietly when valid."""
    problems = assignment_problems(instance, assignment)
    if problems:
        raise InputError("\n".join(str(problem) for problem in problems))
