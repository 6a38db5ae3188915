"""Asset checks: the invariants that make a winning assignment trustworthy.

* lower bound ≤ winning cost ≤ the cheaper of the current assignment and the legacy baseline;
* every billable SIM has exactly one result row, on a plan its communication plan allows
  (or, for SIMs locked on their plan, that plan);
* no offered rate plan has invalid overage settings (the database refuses them; checked anyway
  because a hand-edited database or a future migration could let one through).

Every check is partitioned like its asset, so each evaluation names its provider × period in
the UI. Dagster 1.13 marks partitioned checks as a preview; the pinned version is the one the
tests run (``test_customer_job`` asserts each evaluation carries its partition), so its warning
is not repeated at every import.
"""

import warnings

import dagster as dg
from sqlalchemy import func, select

from carrier_opt.core.money import usd, usd_text
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.instance_results import SessionInstance, session_instances
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
from carrier_opt.defs.partitions import provider_and_period, provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource

warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

HALF_CENT = 0.005


def latest_completed_run(
    database: DatabaseResource, partition_key: str, kind: OptimizationType = OptimizationType.M2M
) -> runs.RunIds | None:
    """The last session of ``kind`` of a partition whose instances all completed (checks run
    right after the winner is chosen, while the session is still open for the push, or later),
    with its first instance (M2M sessions have one)."""
    provider, period = provider_and_period(partition_key)
    with database.engine().connect() as connection:
        sessions = connection.execute(
            select(OptimizationSession.id, OptimizationSession.dagster_run_id)
            .join(ServiceProvider, ServiceProvider.id == OptimizationSession.service_provider_id)
            .join(BillingPeriod, BillingPeriod.id == OptimizationSession.billing_period_id)
            .where(
                ServiceProvider.name == provider,
                BillingPeriod.period_key == period,
                OptimizationSession.status.in_(["completed", "running"]),
                OptimizationSession.optimization_type == kind.value,
            )
            .order_by(OptimizationSession.id.desc())
            .limit(10)
        ).all()
        for session_id, run_id in sessions:
            statuses = connection.scalars(
                select(OptimizationInstance.status).where(
                    OptimizationInstance.optimization_session_id == session_id
                )
            ).all()
            if statuses and all(status == "completed" for status in statuses):
                return runs.run_ids_for(database.engine(), run_id)
    return None


def missing_result() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="no completed optimization found")


def costs_result(instances: list[SessionInstance]) -> dg.AssetCheckResult:
    """Every instance: lower bound ≤ winning cost ≤ min(current cost, legacy cost); the
    metadata sums the figures over the instances and names the failing ones."""
    failing = []
    totals = dict.fromkeys(("lower_bound", "cost_after", "cost_before", "legacy_cost"), 0.0)
    for row in instances:
        bound, before, after, legacy = (
            float(v or 0) for v in (row.lower_bound, row.cost_before, row.cost_after,
                                    row.legacy_cost)
        )  # fmt: skip
        for key, value in zip(totals, (bound, after, before, legacy), strict=True):
            totals[key] += value
        if not (bound <= after + HALF_CENT and after <= min(before, legacy) + HALF_CENT):
            failing.append(row.id)
    shown = {key: usd(value) for key, value in totals.items()}  # as the asset shows them
    return dg.AssetCheckResult(
        passed=bool(instances) and not failing,
        metadata={**shown, **{f"{key}_usd": usd_text(value) for key, value in shown.items()},
                  "instances": len(instances), "failing_instances": str(failing or "none")},
    )  # fmt: skip


def winner_rows(result, sim_column: str):
    """(instance id, SIM id) of every winning row of the per-SIM result table ``result``."""
    return (
        select(OptimizationQueue.optimization_instance_id.label("instance_id"),
               getattr(result, sim_column).label("sim_id"))
        .join(OptimizationQueue, OptimizationQueue.id == result.optimization_queue_id)
        .where(OptimizationQueue.is_winner.is_(True))
    )  # fmt: skip


def once_result(
    database: DatabaseResource, instances: list[SessionInstance], rows
) -> dg.AssetCheckResult:
    """Every instance has one row per SIM (``rows``: instance id, SIM id), as many SIMs as it
    was solved with, never two rows for one SIM."""
    wanted = {row.id: row.device_count or 0 for row in instances}
    rows = rows.subquery()
    with database.engine().connect() as connection:
        counts = connection.execute(
            select(rows.c.instance_id, func.count(), func.count(rows.c.sim_id.distinct()))
            .where(rows.c.instance_id.in_(list(wanted)))
            .group_by(rows.c.instance_id)
        ).all()
    found = {instance_id: (n, distinct) for instance_id, n, distinct in counts}
    failing = [i for i, n in wanted.items() if found.get(i, (0, 0)) != (n, n)]
    return dg.AssetCheckResult(
        passed=bool(instances) and not failing,
        metadata={
            "instances": len(instances),
            "sims_expected": sum(wanted.values()),
            "sims_with_results": sum(distinct for _, distinct in found.values()),
            "rows_found": sum(n for n, _ in found.values()),
            "failing_instances": str(failing or "none"),
        },
    )


def cost_check(
    asset: dg.AssetsDefinition, kind: OptimizationType, scope: str = ""
) -> dg.AssetChecksDefinition:
    """``cost_between_bound_and_baselines`` of ``asset`` over every instance of the partition's
    last completed ``kind`` run (M2M: its one instance; ``scope`` prefixes the description)."""

    @dg.asset_check(
        partitions_def=provider_period_partitions,
        asset=asset,
        name="cost_between_bound_and_baselines",
        blocking=False,
        description=f"{scope}lower bound ≤ winning cost ≤ min(current cost, legacy cost).",
    )
    def cost_between_bound_and_baselines(
        context: dg.AssetCheckExecutionContext, database: DatabaseResource
    ) -> dg.AssetCheckResult:
        ids = latest_completed_run(database, context.partition_key, kind)
        if ids is None:
            return missing_result()
        return costs_result(session_instances(database.engine(), ids.session_id))

    return cost_between_bound_and_baselines


cost_between_bound_and_baselines = cost_check(winning_assignments, OptimizationType.M2M)


@dg.asset_check(
    partitions_def=provider_period_partitions, asset=winning_assignments, blocking=False
)
def every_sim_assigned_once(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """One winning result row per SIM of the instance, never two."""
    ids = latest_completed_run(database, context.partition_key)
    if ids is None:
        return missing_result()
    instances = session_instances(database.engine(), ids.session_id)
    return once_result(database, instances, winner_rows(OptimizationDeviceResult, "device_id"))


@dg.asset_check(
    partitions_def=provider_period_partitions, asset=winning_assignments, blocking=False
)
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
