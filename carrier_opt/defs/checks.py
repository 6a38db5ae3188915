"""Asset checks: the invariants that make a winning assignment trustworthy, for every kind.

* every instance (M2M: its one; mobility: one per optimization group; customer: one per
  customer): lower bound ≤ winning cost ≤ the cheaper of its current assignment and its legacy
  baseline;
* every SIM of an instance has exactly one row, on a plan its communication plan allows (or,
  for SIMs locked on their plan, that plan); customer: the customer's own SIMs in the result
  table, the other customers' locked SIMs in the shared-pool table;
* M2M: no offered rate plan has invalid overage settings (the database refuses them; checked
  anyway because a hand-edited database or a future migration could let one through);
* mobility: every SIM's plan is of a type its optimization group allows;
* customer: no SIM's carrier plan changes (customer optimization never touches the carrier).

Every check is partitioned like its asset, so each evaluation names its provider × period in
the UI. Dagster 1.13 marks partitioned checks as a preview; the pinned version is the one the
tests run (``test_customer_job`` asserts each evaluation carries its partition), so its warning
is not repeated at every import. The queries are in :mod:`carrier_opt.db.result_checks`.
"""

import warnings

import dagster as dg
from sqlalchemy import union_all

from carrier_opt.core.money import usd, usd_text
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db import result_checks as facts
from carrier_opt.db.instance_results import SessionInstance, session_instances
from carrier_opt.db.models import (
    OptimizationDeviceResult,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationSharedPoolResult,
    OptimizationType,
)
from carrier_opt.defs.assets.customer import customer_winning_assignments
from carrier_opt.defs.assets.m2m import winning_assignments
from carrier_opt.defs.assets.mobility import mobility_winning_assignments
from carrier_opt.defs.partitions import provider_and_period, provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource

warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

HALF_CENT = 0.005


def latest_completed_run(
    database: DatabaseResource, partition_key: str, kind: OptimizationType = OptimizationType.M2M
) -> runs.RunIds | None:
    """The partition's last ``kind`` session whose instances all completed."""
    provider, period = provider_and_period(partition_key)
    return facts.latest_completed_run(database.engine(), provider, period, kind)


def missing_result() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="no completed optimization found")


def costs_result(instances: list[SessionInstance]) -> dg.AssetCheckResult:
    """Every instance: lower bound ≤ winning cost ≤ min(current cost, legacy cost); the
    metadata sums the figures over the instances and names the failing ones."""
    failing = []
    totals = dict.fromkeys(("lower_bound", "cost_after", "cost_before", "legacy_cost"), 0.0)
    for row in instances:
        figures = (row.lower_bound, row.cost_before, row.cost_after, row.legacy_cost)
        bound, before, after, legacy = (float(v or 0) for v in figures)
        for key, value in zip(totals, (bound, after, before, legacy), strict=True):
            totals[key] += value
        if not (bound <= after + HALF_CENT and after <= min(before, legacy) + HALF_CENT):
            failing.append(row.id)
    shown = {key: usd(value) for key, value in totals.items()}  # as the asset shows them
    return dg.AssetCheckResult(
        passed=bool(instances) and not failing,
        metadata={
            **shown,
            **{f"{key}_usd": usd_text(value) for key, value in shown.items()},
            "instances": len(instances),
            "failing_instances": str(failing or "none"),
        },
    )


def once_result(
    database: DatabaseResource, instances: list[SessionInstance], rows
) -> dg.AssetCheckResult:
    """Every instance has one row per SIM (``rows``: instance id, SIM id), as many SIMs as it
    was solved with, never two rows for one SIM."""
    wanted = {row.id: row.device_count or 0 for row in instances}
    found = facts.rows_per_instance(database.engine(), rows, list(wanted))
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
    last completed ``kind`` run (``scope`` prefixes the description)."""

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


def once_check(
    asset: dg.AssetsDefinition, kind: OptimizationType, rows, description: str
) -> dg.AssetChecksDefinition:
    """``every_sim_assigned_once`` of ``asset``: ``rows`` (instance id, SIM id) hold one row
    per SIM of every instance of the partition's last completed ``kind`` run."""

    @dg.asset_check(
        partitions_def=provider_period_partitions,
        asset=asset,
        name="every_sim_assigned_once",
        blocking=False,
        description=description,
    )
    def every_sim_assigned_once(
        context: dg.AssetCheckExecutionContext, database: DatabaseResource
    ) -> dg.AssetCheckResult:
        ids = latest_completed_run(database, context.partition_key, kind)
        if ids is None:
            return missing_result()
        return once_result(database, session_instances(database.engine(), ids.session_id), rows)

    return every_sim_assigned_once


# --------------------------------------------------------------------------- M2M

cost_between_bound_and_baselines = cost_check(winning_assignments, OptimizationType.M2M)
every_sim_assigned_once = once_check(
    winning_assignments,
    OptimizationType.M2M,
    facts.winner_rows(OptimizationDeviceResult, "device_id"),
    "One winning result row per SIM of the instance, never two.",
)


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
    invalid = facts.invalid_plans(database.engine(), ids.provider_id)
    return dg.AssetCheckResult(passed=not invalid, metadata={"invalid_plans": ", ".join(invalid)})


# --------------------------------------------------------------------------- mobility

mobility_cost_between_bound_and_baselines = cost_check(
    mobility_winning_assignments, OptimizationType.MOBILITY, "Per optimization group: "
)
mobility_every_sim_assigned_once = once_check(
    mobility_winning_assignments,
    OptimizationType.MOBILITY,
    facts.winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id"),
    "Per optimization group: one winning row per SIM of the group, never two.",
)


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
    rows = facts.winning_plan_types(database.engine(), ids.session_id)
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


# --------------------------------------------------------------------------- customer

customer_cost_between_bound_and_baselines = cost_check(
    customer_winning_assignments, OptimizationType.CUSTOMER, "Per customer: "
)
customer_every_sim_assigned_once = once_check(
    customer_winning_assignments,
    OptimizationType.CUSTOMER,
    union_all(
        facts.winner_rows(OptimizationDeviceResult, "device_id"),
        facts.shared_pool_rows(OptimizationSharedPoolResult, "device_id"),
        facts.winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id"),
        facts.shared_pool_rows(OptimizationMobilitySharedPoolResult, "mobility_device_id"),
    ),
    "Per customer: one row per SIM — its own SIMs among the winner's rows, the other "
    "customers' locked shared-pool SIMs among the shared-pool rows — never two.",
)


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
    changed = facts.carrier_plan_changes(database.engine(), ids.session_id)
    return dg.AssetCheckResult(passed=changed == 0, metadata={"carrier_plan_changes": changed})


optimization_checks = [
    cost_between_bound_and_baselines,
    every_sim_assigned_once,
    no_invalid_plan_offered,
]
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
