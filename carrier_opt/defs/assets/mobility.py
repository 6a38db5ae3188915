"""Mobility optimization: a mobility provider's period, optimized per optimization group.

The chain starts with the carrier sync M2M runs too, as its own steps on the mobility
providers' partitions (mobility_staged_devices → mobility_device_usage), then
mobility_devices splits the period's SIMs into the provider's optimization groups (and
refreshes ``MobilityDevice``), mobility_winning_assignments solves each group as its own
instance, mobility_rate_plan_updates pushes each group's winner under the M2M push rules (the
session ends here), and mobility_report stores one workbook per group and mails them all, with
the warnings mail of the M2M alert path for skipped groups and SIMs left out.

Each asset calls the pipeline (:mod:`carrier_opt.pipeline.mobility`, ``reports``, ``mail``) and
shapes its metadata (:mod:`carrier_opt.defs.metadata`).
"""

import dagster as dg

from carrier_opt.db import optimization_runs as runs
from carrier_opt.defs import run_context
from carrier_opt.defs.assets.m2m import record_usage, stage_devices
from carrier_opt.defs.catalog import CHANGES_CARRIER, EMAIL, EXCEL, JASPER, READS_CARRIER
from carrier_opt.defs.deliver import (
    push_and_mail,
    recipients,
    reports_links,
    send_all,
    warning_count,
)
from carrier_opt.defs.metadata import (
    mobility_groups_metadata,
    mobility_reports_table,
    pushes_metadata,
    solved_metadata,
)
from carrier_opt.defs.resources import (
    DatabaseResource,
    JasperResource,
    NotifierResource,
    PlatformProgress,
    ResultStoreResource,
)
from carrier_opt.defs.run_context import (
    OptimizerConfig,
    close_session_unless_pushed,
    period_asset,
    period_run,
    run_ids,
    run_partition,
    run_progress,
)
from carrier_opt.delivery.messages import ReportFile, reports_message
from carrier_opt.pipeline.mail import attention, mobility_warnings
from carrier_opt.pipeline.mobility import solve_groups, split_into_groups
from carrier_opt.pipeline.reports import store_mobility_reports
from carrier_opt.pipeline.solved import InstanceWinner, mobility_solved

GROUP = "mobility"
PUSH_ASSET = "mobility_rate_plan_updates"


@period_asset(GROUP, kinds=[JASPER], carrier=READS_CARRIER, fails_session=True)
def mobility_staged_devices(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    progress: PlatformProgress,
) -> dg.MaterializeResult:
    """The mobility SIMs and usage synced from the carrier (as M2M's `staged_devices`): opens
    the run's session; a closed period uses stored usage, an open one reuses a recent sync."""
    return stage_devices(context, database, jasper, progress)


@period_asset(GROUP, deps=[mobility_staged_devices], fails_session=True)
def mobility_device_usage(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """The period's billable SIMs with usage projected to the period end and proration."""
    return record_usage(context, database)


@period_asset(GROUP, deps=[mobility_device_usage], fails_session=True)
def mobility_devices(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """The period's SIMs split into optimization groups and stored in `MobilityDevice`;
    groups over their rate-plan limit are skipped with a warning (the M2M alert path)."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    split = split_into_groups(engine, ids, provider, period_key, now=run_context.clock)
    for group in split.groups:
        if group.skipped_reason:
            context.log.warning("group %s skipped: %s", group.group.name, group.skipped_reason)
        if len(group.excluded):
            context.log.warning(
                "group %s: %d SIMs are on plans of types the group does not allow; they keep "
                "their plans",
                group.group.name,
                len(group.excluded),
            )
    return dg.MaterializeResult(metadata=mobility_groups_metadata(split.groups))


@period_asset(GROUP, deps=[mobility_devices], fails_session=True)
def mobility_winning_assignments(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    progress: PlatformProgress,
    config: OptimizerConfig,
) -> dg.MaterializeResult:
    """Each optimization group solved as its own instance (current, legacy and optimizer
    queues); the cheapest queue wins; per-SIM rows in `OptimizationMobilityDeviceResult`."""
    run = period_run(context, database.engine(), progress)
    solved = solve_groups(
        run, time_limit_s=config.time_limit_s, gap_target_pct=config.gap_target_pct
    )
    # The session stays open until mobility_rate_plan_updates has pushed (or dry-run) them.
    close_session_unless_pushed(context, run.progress, PUSH_ASSET)
    return dg.MaterializeResult(
        metadata={**solved_metadata(solved, "group"), "session_guid": run.ids.session_guid}
    )


@period_asset(
    GROUP, deps=[mobility_winning_assignments], kinds=[JASPER, EMAIL], carrier=CHANGES_CARRIER
)
def mobility_rate_plan_updates(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    notifier: NotifierResource,
    progress: PlatformProgress,
) -> dg.MaterializeResult:
    """Each group's whole winning assignment pushed as M2M's is (carrier re-read, one Go/No-Go,
    safe batches of 250, realized saving read back), only when the provider allows automatic
    updates (a dry run otherwise); one push per provider at a time. Groups go one after the
    other, so a later group's Go/No-Go sees the time the earlier ones took. The session ends
    here."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = run_ids(context, engine)

    def groups() -> list[tuple[str, InstanceWinner]]:
        _, solved = mobility_solved(engine, ids.session_id, ids.session_guid, provider, period_key)
        return [(group.group.group.name, group.solved) for group in solved]

    outcomes = push_and_mail(
        context,
        run_progress(engine, ids, progress),
        jasper=jasper,
        notifier=notifier,
        provider=provider,
        period_key=period_key,
        solved=groups,
    )
    return dg.MaterializeResult(metadata=pushes_metadata(outcomes))


@period_asset(GROUP, deps=[mobility_rate_plan_updates], kinds=[EXCEL, EMAIL])
def mobility_report(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    result_store: ResultStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """A workbook per optimized group, stored and recorded; one mail with all of them to the
    provider's recipients, and a warnings mail for skipped groups and SIMs left out."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = run_ids(context, engine)
    split, reports = store_mobility_reports(engine, result_store.store(), ids, provider, period_key)
    run_url = notifier.run_url(context.run.run_id)
    warnings = mobility_warnings(provider, period_key, split.groups, reports, run_url)
    message = reports_message(
        [ReportFile(r.data, r.workbook, r.file_name, r.stored.uri) for r in reports],
        provider=provider,
        period_key=period_key,
        what="mobility optimization",
        not_optimized={
            f"Optimization group {g.group.name}": g.skipped_reason
            for g in split.groups
            if g.skipped_reason
        },
        remarks=attention(warnings),
        run_url=run_url,
    )
    to = recipients(engine, ids.provider_id)
    sent = send_all(notifier, [message, warnings], to)
    return dg.MaterializeResult(
        metadata={
            "files": dg.MetadataValue.json(reports_links(result_store, reports)),
            "recipients": len(to.everyone),
            "sent": ", ".join(sent) or "none",
            "warnings": warning_count(warnings),
            "totals_match_database": all(r.matches_database for r in reports),
            "groups_table": dg.MetadataValue.md(mobility_reports_table(split.groups, reports)),
        }
    )


mobility_assets = [
    mobility_staged_devices,
    mobility_device_usage,
    mobility_devices,
    mobility_winning_assignments,
]
mobility_delivery_assets = [mobility_rate_plan_updates, mobility_report]
