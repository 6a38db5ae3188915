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

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import (
    JasperCarrierRatePlan,
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
from carrier_opt.defs.checks import HALF_CENT, latest_completed_run, missing_result
from carrier_opt.defs.resources import DatabaseResource


def _instances(database: DatabaseResource, ids: runs.RunIds) -> list:
    with database.engine().connect() as connection:
        return connection.execute(
            select(
                OptimizationInstance.id, OptimizationInstance.lower_bound,
                OptimizationInstance.cost_before, OptimizationInstance.cost_after,
                OptimizationInstance.legacy_cost, OptimizationInstance.device_count,
            )
            .where(OptimizationInstance.optimization_session_id == ids.session_id)
            .order_by(OptimizationInstance.id)
        ).all()  # fmt: skip


def _costs_result(instances: list) -> dg.AssetCheckResult:
    failing = []
    for row in instances:
        bound, before, after, legacy = (
            float(v or 0) for v in (row.lower_bound, row.cost_before, row.cost_after,
                                    row.legacy_cost)
        )  # fmt: skip
        if not (bound <= after + HALF_CENT and after <= min(before, legacy) + HALF_CENT):
            failing.append(row.id)
    return dg.AssetCheckResult(
        passed=bool(instances) and not failing,
        metadata={"instances": len(instances), "failing_instances": str(failing or "none")},
    )


def _winner_rows(result, sim_column):
    """(instance id, SIM id) of every winning row of ``result``."""
    return (
        select(OptimizationQueue.optimization_instance_id.label("instance_id"),
               getattr(result, sim_column).label("sim_id"))
        .join(OptimizationQueue, OptimizationQueue.id == result.optimization_queue_id)
        .where(OptimizationQueue.is_winner.is_(True))
    )  # fmt: skip


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


def _once_result(database: DatabaseResource, instances: list, rows) -> dg.AssetCheckResult:
    """Each instance: one row per SIM, as many SIMs as it was solved with."""
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
            "rows_found": sum(n for n, _ in found.values()),
            "failing_instances": str(failing or "none"),
        },
    )


def _cost_check(asset, kind: OptimizationType, per: str) -> dg.AssetChecksDefinition:
    """``cost_between_bound_and_baselines`` of ``asset``, over every instance of the run."""

    @dg.asset_check(
        asset=asset,
        name="cost_between_bound_and_baselines",
        blocking=False,
        description=f"Per {per}: lower bound ≤ winning cost ≤ min(current cost, legacy cost).",
    )
    def cost_between_bound_and_baselines(
        context: dg.AssetCheckExecutionContext, database: DatabaseResource
    ) -> dg.AssetCheckResult:
        ids = latest_completed_run(database, context.partition_key, kind)
        return missing_result() if ids is None else _costs_result(_instances(database, ids))

    return cost_between_bound_and_baselines


mobility_cost_between_bound_and_baselines = _cost_check(
    mobility_winning_assignments, OptimizationType.MOBILITY, "optimization group"
)
customer_cost_between_bound_and_baselines = _cost_check(
    customer_winning_assignments, OptimizationType.CUSTOMER, "customer"
)


@dg.asset_check(asset=mobility_winning_assignments, name="every_sim_assigned_once", blocking=False)
def mobility_every_sim_assigned_once(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """Per optimization group: one winning row per SIM of the group, never two."""
    ids = latest_completed_run(database, context.partition_key, OptimizationType.MOBILITY)
    if ids is None:
        return missing_result()
    rows = _winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id")
    return _once_result(database, _instances(database, ids), rows)


@dg.asset_check(
    asset=mobility_winning_assignments, name="plans_of_the_groups_types", blocking=False
)
def mobility_plans_of_the_groups_types(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """Every winning SIM is on a plan of a type its optimization group allows."""
    return plan_types_result(database, context.partition_key)


def plan_types_result(database: DatabaseResource, partition_key: str) -> dg.AssetCheckResult:
    """The body of ``plans_of_the_groups_types`` for a partition (callable on its own)."""
    ids = latest_completed_run(database, partition_key, OptimizationType.MOBILITY)
    if ids is None:
        return missing_result()
    result = OptimizationMobilityDeviceResult
    with database.engine().connect() as connection:
        query = (
            select(JasperCarrierRatePlan.rate_plan_type, OptimizationGroup.rate_plan_types)
            .select_from(result)
            .join(JasperCarrierRatePlan,
                  JasperCarrierRatePlan.id == result.assigned_carrier_rate_plan_id)
            .join(OptimizationGroup, OptimizationGroup.id == result.optimization_group_id)
        )  # fmt: skip
        rows = connection.execute(
            _in_session(query, result, ids.session_id).where(OptimizationQueue.is_winner.is_(True))
        ).all()
    wrong = sum(1 for kind, allowed in rows if kind not in (allowed or "").split(";"))
    return dg.AssetCheckResult(
        passed=bool(rows) and wrong == 0,
        metadata={"sims_checked": len(rows), "sims_on_a_plan_of_another_type": wrong},
    )


@dg.asset_check(asset=customer_winning_assignments, name="every_sim_assigned_once", blocking=False)
def customer_every_sim_assigned_once(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource
) -> dg.AssetCheckResult:
    """Per customer: one row per SIM — its own SIMs among the winner's rows, the other
    customers' locked shared-pool SIMs among the shared-pool rows — never two."""
    ids = latest_completed_run(database, context.partition_key, OptimizationType.CUSTOMER)
    if ids is None:
        return missing_result()
    rows = union_all(
        _winner_rows(OptimizationDeviceResult, "device_id"),
        _shared_rows(OptimizationSharedPoolResult, "device_id"),
        _winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id"),
        _shared_rows(OptimizationMobilitySharedPoolResult, "mobility_device_id"),
    )
    return _once_result(database, _instances(database, ids), rows)


@dg.asset_check(asset=customer_winning_assignments, name="carrier_plans_unchanged", blocking=False)
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
