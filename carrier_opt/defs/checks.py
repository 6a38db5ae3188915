"""Asset checks: the invariants that make a winning assignment trustworthy.

* lower bound ≤ winning cost ≤ the cheaper of the current assignment and the legacy baseline;
* every billable SIM has exactly one result row, on a plan its communication plan allows
  (or, for SIMs locked on their plan, that plan);
* no offered rate plan has invalid overage settings (the database refuses them; checked anyway
  because a hand-edited database or a future migration could let one through).
"""

import dagster as dg
from sqlalchemy import func, select

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import (
    BillingPeriod,
    JasperCarrierRatePlan,
    OptimizationDeviceResult,
    OptimizationInstance,
    OptimizationQueue,
    OptimizationSession,
    OptimizationType,
    ServiceProvider,
)
from carrier_opt.defs.assets.optimization import winning_assignments
from carrier_opt.defs.partitions import provider_and_period
from carrier_opt.defs.resources import DatabaseResource

HALF_CENT = 0.005


def latest_completed_run(
    database: DatabaseResource, partition_key: str, kind: OptimizationType = OptimizationType.M2M
) -> runs.RunIds | None:
    """The last completed session of ``kind`` of a partition (checks run after the asset, maybe
    later), with its first instance (M2M sessions have one)."""
    provider, period = provider_and_period(partition_key)
    with database.engine().connect() as connection:
        row = connection.execute(
            select(OptimizationSession.dagster_run_id)
            .join(ServiceProvider, ServiceProvider.id == OptimizationSession.service_provider_id)
            .join(BillingPeriod, BillingPeriod.id == OptimizationSession.billing_period_id)
            .where(
                ServiceProvider.name == provider,
                BillingPeriod.period_key == period,
                OptimizationSession.status == "completed",
                OptimizationSession.optimization_type == kind.value,
            )
            .order_by(OptimizationSession.id.desc())
        ).first()
    return None if row is None else runs.run_ids_for(database.engine(), row.dagster_run_id)


def missing_result() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="no completed optimization found")


@dg.asset_check(asset=winning_assignments, blocking=False)
def cost_between_bound_and_baselines(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """lower bound ≤ winning cost ≤ min(current cost, legacy cost)."""
    ids = latest_completed_run(database, context.partition_key)
    if ids is None:
        return missing_result()
    with database.engine().connect() as connection:
        row = connection.execute(
            select(
                OptimizationInstance.lower_bound,
                OptimizationInstance.cost_before,
                OptimizationInstance.cost_after,
                OptimizationInstance.legacy_cost,
            ).where(OptimizationInstance.id == ids.instance_id)
        ).one()
    bound, before, after, legacy = (float(value or 0) for value in row)
    passed = bound <= after + HALF_CENT and after <= min(before, legacy) + HALF_CENT
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"lower_bound": bound, "cost_after": after, "cost_before": before,
                  "legacy_cost": legacy},
    )  # fmt: skip


@dg.asset_check(asset=winning_assignments, blocking=False)
def every_sim_assigned_once(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """One winning result row per SIM of the instance, never two."""
    ids = latest_completed_run(database, context.partition_key)
    if ids is None:
        return missing_result()
    result = OptimizationDeviceResult
    with database.engine().connect() as connection:
        counts = connection.execute(
            select(result.device_id, func.count())
            .join(OptimizationQueue, OptimizationQueue.id == result.optimization_queue_id)
            .where(
                OptimizationQueue.optimization_instance_id == ids.instance_id,
                OptimizationQueue.is_winner.is_(True),
            )
            .group_by(result.device_id)
        ).all()
        expected = connection.scalar(
            select(OptimizationInstance.device_count).where(
                OptimizationInstance.id == ids.instance_id
            )
        )
    duplicates = sum(1 for _, n in counts if n > 1)
    return dg.AssetCheckResult(
        passed=duplicates == 0 and len(counts) == (expected or 0),
        metadata={"sims_with_results": len(counts), "sims_expected": expected or 0,
                  "sims_with_duplicates": duplicates},
    )  # fmt: skip


@dg.asset_check(asset=winning_assignments, blocking=False)
def no_invalid_plan_offered(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """No priced rate plan of the provider has a non-positive overage unit or negative price."""
    ids = latest_completed_run(database, context.partition_key)
    if ids is None:
        return missing_result()
    plan = JasperCarrierRatePlan
    with database.engine().connect() as connection:
        invalid = connection.execute(
            select(plan.rate_plan_code).where(
                plan.service_provider_id == ids.provider_id,
                (plan.data_per_overage_charge_mb <= 0)
                | (plan.overage_rate < 0)
                | (plan.base_rate < 0)
                | (plan.sms_rate < 0),
            )
        ).scalars().all()  # fmt: skip
    return dg.AssetCheckResult(passed=not invalid, metadata={"invalid_plans": ", ".join(invalid)})


optimization_checks = [
    cost_between_bound_and_baselines,
    every_sim_assigned_once,
    no_invalid_plan_offered,
]
