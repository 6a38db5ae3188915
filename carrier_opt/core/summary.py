"""The run summary the contract's ``--summary`` file holds, built from an optimization result."""

from __future__ import annotations

from typing import Any

from carrier_opt.core.instance import Instance
from carrier_opt.core.optimizer import OptimizationResult
from carrier_opt.core.pricing import total_cost


def cents(amount: float) -> float:
    """Money rounded to cents, only at the edge (files, UI)."""
    return round(float(amount), 2)


def optimization_summary(
    instance: Instance,
    result: OptimizationResult,
    *,
    legacy_cost: float | None,
    seconds: float,
) -> dict[str, Any]:
    """The contract's summary fields plus what a user needs to trust the answer.

    ``gap_target`` is in percent, as ``--gap-target`` takes it; ``stopped_by`` says what ended
    the search: ``optimal``, ``gap_target`` or ``time_limit``, and ``stop_reason`` the same in
    a sentence with its figures."""
    current = total_cost(instance, instance.current_plan) if _current_is_valid(instance) else None
    summary: dict[str, Any] = {
        "devices": instance.n_devices,
        "plans": instance.n_plans,
        "current_cost": None if current is None else cents(current),
        "optimized_cost": cents(result.cost),
        "lower_bound": cents(result.bound.value),
        "gap": result.gap,
        "legacy_cost": None if legacy_cost is None else cents(legacy_cost),
        "seconds": round(seconds, 3),
        "proven_optimal": result.proven_optimal,
        "proven_lower_bound": cents(result.proven_bound),
        "gap_target": result.gap_target_pct,
        "stopped_by": result.stopped_by,
        "stop_reason": result.stop_reason,
        "devices_changed": int((result.assignment != instance.current_plan).sum()),
        "dropped_plans": [
            {"rate_plan_code": plan.rate_plan_code, "reason": plan.reason}
            for plan in instance.dropped_plans
        ],
        "stages": [
            {"name": stage.name, "cost": cents(stage.cost), "seconds": round(stage.seconds, 3)}
            for stage in result.stages
        ],
    }
    if current is not None:
        summary["saving_vs_current"] = cents(current - result.cost)
    if legacy_cost is not None:
        summary["saving_vs_legacy"] = cents(legacy_cost - result.cost)
    return summary


def _current_is_valid(instance: Instance) -> bool:
    """The current assignment can be priced only when every SIM's plan is still offered."""
    return bool((instance.current_plan >= 0).all())
