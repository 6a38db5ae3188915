"""Mobility optimization: a mobility provider's period, optimized per optimization group.

The chain shares the carrier sync with M2M (staged_devices → device_usage), then
mobility_devices splits the period's SIMs into the provider's optimization groups (and
refreshes ``MobilityDevice``), and mobility_winning_assignments solves each group as its own
instance (its SIMs share the group's pools; only plans of the group's types are offered).
"""

import dagster as dg

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.mobility import (
    mobility_device_ids,
    period_groups,
    refresh_mobility_devices,
)
from carrier_opt.defs.assets.optimization import clock, device_usage
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.metadata import solved_metadata
from carrier_opt.defs.partitions import provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource, PlatformProgress
from carrier_opt.defs.run_context import (
    OptimizerConfig,
    close_session_unless_pushed,
    guarded,
    run_partition,
    run_progress,
)
from carrier_opt.pipeline.mobility import solve_group
from carrier_opt.pipeline.solve import SolvedInstance

GROUP = "mobility"


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[device_usage])
@guarded
@operator_failures
def mobility_devices(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """The period's SIMs split into optimization groups and stored in ``MobilityDevice``;
    groups over their rate-plan limit are skipped with a warning (the M2M alert path)."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    split = period_groups(engine, provider, period_key)
    refresh_mobility_devices(engine, ids.provider_id, ids.billing_period_id, split, clock())
    for group in split.groups:
        if group.skipped_reason:
            context.log.warning("group %s skipped: %s", group.group.name, group.skipped_reason)
        if len(group.excluded):
            context.log.warning(
                "group %s: %d SIMs are on plans of types the group does not allow; they keep "
                "their plans", group.group.name, len(group.excluded),
            )  # fmt: skip
    rows = "\n".join(
        f"| {g.group.name} | {', '.join(g.group.rate_plan_types)} | {len(g.devices)} | "
        f"{len(g.excluded)} | {len(g.rate_plans)} / {g.group.max_rate_plans} | "
        f"{g.skipped_reason or 'optimized'} |"
        for g in split.groups
    )
    return dg.MaterializeResult(
        metadata={
            "groups": len(split.groups),
            "skipped_groups": sum(1 for g in split.groups if g.skipped_reason),
            "devices": sum(len(g.devices) for g in split.groups),
            "excluded_devices": sum(len(g.excluded) for g in split.groups),
            "groups_table": dg.MetadataValue.md(
                "| group | plan types | SIMs | excluded SIMs | plans / limit | status |\n"
                "|---|---|---:|---:|---:|---|\n" + rows
            ),
        }
    )


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[mobility_devices])
@guarded
@operator_failures
def mobility_winning_assignments(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    progress: PlatformProgress,
    config: OptimizerConfig,
) -> dg.MaterializeResult:
    """Each optimization group solved as its own instance (current, legacy and optimizer
    queues); the cheapest queue wins; per-SIM rows in ``OptimizationMobilityDeviceResult``."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    split = period_groups(engine, provider, period_key)
    with engine.connect() as connection:  # mobility_devices stored them for this period
        device_ids = mobility_device_ids(connection, ids.provider_id)
        plan_ids = runs.carrier_plan_ids(connection, ids.provider_id)
    run_progress(engine, ids, progress).milestone(40, "queues created")
    solved: dict[str, SolvedInstance] = {}
    for group in split.groups:
        if group.skipped_reason:
            continue
        if group.pool_note:
            context.log.warning(group.pool_note)
        solved[group.group.name] = solve_group(
            engine, ids, group, split.group_ids[group.group.name], (device_ids, plan_ids),
            time_limit_s=config.time_limit_s, now=clock,
        )  # fmt: skip
    run_progress(engine, ids, progress).milestone(50, "optimization calculated")
    # The session stays open until mobility_rate_plan_updates has pushed (or dry-run) them.
    close_session_unless_pushed(
        context, run_progress(engine, ids, progress), "mobility_rate_plan_updates"
    )
    return dg.MaterializeResult(
        metadata={**solved_metadata(solved, "group"), "session_guid": ids.session_guid}
    )


mobility_assets = [mobility_devices, mobility_winning_assignments]
