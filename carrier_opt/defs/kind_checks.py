"""Asset checks of the mobility and customer winners: the M2M invariants, per instance (one
per optimization group or customer), plus what each kind promises on top.

* every instance: lower bound ≤ winning cost ≤ the cheaper of its current assignment and its
  legacy baseline;
* every SIM of an instance has exactly one row (customer: the customer's own SIMs in the
  result table, the other customers' locked SIMs in the shared-pool table);
* mobility: every SIM's plan is of a type its optimization group allows;
* customer: no SIM's carrier plan changes (customer optimization never touches the carrier).
"""

import dagster as dg
from sqlalchemy import func, select, union_all

from carrier_opt.db.instance_results import session_instances
from carrier_opt.db.models import (
    JasperCarrierRatePlan,
    MobilityDevice,
    OptimizationDeviceResult,
    OptimizationGroup,
    OptimizationInstance,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationQueue,
    OptimizationSharedPoolResult,
    OptimizationType,
)
from carrier_opt.defs.assets.customer import customer_winning_assignments
from carrier_opt.defs.assets.mobility import mobility_winning_assignments
from carrier_opt.defs.checks import (
    cost_check,
    latest_completed_run,
    missing_result,
    once_result,
    winner_rows,
)
from carrier_opt.defs.partitions import provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource


def _in_session(query, result, session_id: int):
    """``query`` over ``result`` limited to the rows of the session's queues."""
    return (
        query.join(OptimizationQueue, OptimizationQueue.id == result.optimization_queue_id)
        .join(OptimizationInstance,
              OptimizationInstance.id == OptimizationQueue.optimization_instance_id)
        .where(OptimizationInstance.optimization_session_id == session_id)
    )  # fmt: skip


def _shared_rows(shared, sim_column):
    return select(
        shared.optimization_instance_id.label("instance_id"),
        getattr(shared, sim_column).label("sim_id"),
    )


mobility_cost_between_bound_and_baselines = cost_check(
    mobility_winning_assignments, OptimizationType.MOBILITY, "Per optimization group: "
)
customer_cost_between_bound_and_baselines = cost_check(
    customer_winning_assignments, OptimizationType.CUSTOMER, "Per customer: "
)


@dg.asset_check(
    partitions_def=provider_period_partitions,
    asset=mobility_winning_assignments,
    name="every_sim_assigned_once",
    blocking=False,
)
def mobility_every_sim_assigned_once(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """Per optimization group: one winning row per SIM of the group, never two."""
    ids = latest_completed_run(database, context.partition_key, OptimizationType.MOBILITY)
    if ids is None:
        return missing_result()
    rows = winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id")
    return once_result(database, session_instances(database.engine(), ids.session_id), rows)


@dg.asset_check(
    partitions_def=provider_period_partitions,
    asset=mobility_winning_assignments,
    name="plans_of_the_groups_types",
    blocking=False,
)
def mobility_plans_of_the_groups_types(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """Every winning SIM is on a plan of a type its optimization group allows, and of its own
    plan's type (the legacy rule: a phone SIM never moves to a hotspot plan)."""
    return plan_types_result(database, context.partition_key)


def plan_types_result(database: DatabaseResource, partition_key: str) -> dg.AssetCheckResult:
    """The body of ``plans_of_the_groups_types`` for a partition (callable on its own)."""
    ids = latest_completed_run(database, partition_key, OptimizationType.MOBILITY)
    if ids is None:
        return missing_result()
    result = OptimizationMobilityDeviceResult
    with database.engine().connect() as connection:
        query = (
            select(
                JasperCarrierRatePlan.rate_plan_type,
                OptimizationGroup.rate_plan_types,
                MobilityDevice.rate_plan_type,
            )
            .select_from(result)
            .join(JasperCarrierRatePlan,
                  JasperCarrierRatePlan.id == result.assigned_carrier_rate_plan_id)
            .join(OptimizationGroup, OptimizationGroup.id == result.optimization_group_id)
            .join(MobilityDevice, MobilityDevice.id == result.mobility_device_id)
        )  # fmt: skip
        rows = connection.execute(
            _in_session(query, result, ids.session_id).where(OptimizationQueue.is_winner.is_(True))
        ).all()
    wrong = sum(1 for kind, allowed, _ in rows if kind not in (allowed or "").split(";"))
    moved = sum(1 for kind, _, own in rows if own is not None and kind != own)
    return dg.AssetCheckResult(
        passed=bool(rows) and wrong == 0 and moved == 0,
        metadata={
            "sims_checked": len(rows),
            "sims_on_a_plan_of_another_type": wrong,
            "sims_moved_to_another_plan_type": moved,
        },
    )


@dg.asset_check(
    partitions_def=provider_period_partitions,
    asset=customer_winning_assignments,
    name="every_sim_assigned_once",
    blocking=False,
)
def customer_every_sim_assigned_once(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """Per customer: one row per SIM — its own SIMs among the winner's rows, the other
    customers' locked shared-pool SIMs among the shared-pool rows — never two."""
    ids = latest_completed_run(database, context.partition_key, OptimizationType.CUSTOMER)
    if ids is None:
        return missing_result()
    rows = union_all(
        winner_rows(OptimizationDeviceResult, "device_id"),
        _shared_rows(OptimizationSharedPoolResult, "device_id"),
        winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id"),
        _shared_rows(OptimizationMobilitySharedPoolResult, "mobility_device_id"),
    )
    return once_result(database, session_instances(database.engine(), ids.session_id), rows)


@dg.asset_check(
    partitions_def=provider_period_partitions,
    asset=customer_winning_assignments,
    name="carrier_plans_unchanged",
    blocking=False,
)
def customer_carrier_plans_unchanged(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """Customer optimization re-prices on customer plans: no SIM's carrier plan changes."""
    return carrier_plans_result(database, context.partition_key)


def carrier_plans_result(database: DatabaseResource, partition_key: str) -> dg.AssetCheckResult:
    """The body of ``carrier_plans_unchanged`` for a partition (callable on its own)."""
    ids = latest_completed_run(database, partition_key, OptimizationType.CUSTOMER)
    if ids is None:
        return missing_result()
    changed = 0
    with database.engine().connect() as connection:
        for result in (OptimizationDeviceResult, OptimizationMobilityDeviceResult):
            query = _in_session(select(func.count()).select_from(result), result, ids.session_id)
            changed += connection.scalar(
                query.where(
                    result.assigned_carrier_rate_plan_id.is_distinct_from(
                        result.current_carrier_rate_plan_id
                    )
                )
            )
    return dg.AssetCheckResult(passed=changed == 0, metadata={"carrier_plan_changes": changed})


mobility_checks = [
    mobility_cost_between_bound_and_baselines,
    mobility_every_sim_assigned_once,
    mobility_plans_of_the_groups_types,
]
customer_checks = [
    customer_cost_between_bound_and_baselines,
    customer_every_sim_assigned_once,
    customer_carrier_plans_unchanged,
]
