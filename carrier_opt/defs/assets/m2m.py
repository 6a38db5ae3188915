"""M2M optimization of one provider's billing period, as a chain of partitioned assets.

Read top to bottom, this is the data flow: carrier API → staging → ``Device`` (staged_devices)
→ usage projected for the period (device_usage) → communication groups (comm_groups) → queues
(rate_plan_permutations) → each queue's priced assignment (queue_results) → the winner
(winning_assignments) → the whole change set pushed to the carrier in safe batches under one
Go/No-Go, or recorded as a dry run (rate_plan_updates; the session ends here) → the Excel
report with the expected and the realized saving, stored and recorded (optimization_report) →
the success and warning mails (notifications).

Each asset calls one function of the pipeline (:mod:`carrier_opt.pipeline.m2m`,
``period_sync``, ``reports``, ``push``) and shapes its metadata (:mod:`carrier_opt.defs.metadata`).
State lives in the legacy tables; a run finds its session by run id (the delivery assets, in a
re-execution of failed steps, the original run's), so they work from what is stored.
"""

import dagster as dg

from carrier_opt.db import optimization_runs as runs
from carrier_opt.defs import run_context
from carrier_opt.defs.catalog import CHANGES_CARRIER, EMAIL, EXCEL, JASPER, READS_CARRIER
from carrier_opt.defs.deliver import (
    file_links,
    push_and_mail,
    recipients,
    send_all,
    warning_count,
)
from carrier_opt.defs.metadata import (
    comm_groups_metadata,
    device_usage_metadata,
    push_metadata,
    queue_results_metadata,
    report_metadata,
    staged_metadata,
    winner_metadata,
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
    always_syncs,
    close_session_unless_pushed,
    open_period_run,
    period_asset,
    run_ids,
    run_partition,
    run_progress,
    sync_logger,
)
from carrier_opt.delivery.messages import sim_count_warning, success_message, warning_message
from carrier_opt.pipeline import m2m
from carrier_opt.pipeline.period_sync import usage_for_run
from carrier_opt.pipeline.reports import (
    m2m_report,
    m2m_report_file_name,
    m2m_report_uri,
    store_m2m_report,
)

GROUP = "m2m"
PUSH_ASSET = "rate_plan_updates"


def stage_devices(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    progress: PlatformProgress,
) -> dg.MaterializeResult:
    """The first step of a fleet's chain (M2M here, mobility's `mobility_staged_devices`):
    opens the run's session and gets the period's usage, synced or stored."""
    run = open_period_run(context, database.engine(), progress)
    usage = usage_for_run(
        run,
        always_sync=always_syncs(context.run.tags),
        client_for=lambda: jasper.client_for(run.engine, run.provider),
        holder=f"run {context.run.run_id}",
        sync_progress=sync_logger(context),
    )
    return dg.MaterializeResult(metadata=staged_metadata(usage))


def record_usage(context: dg.AssetExecutionContext, database: DatabaseResource):
    """The second step of a fleet's chain: the period's SIMs, usage projected, proration."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    tables = m2m.record_devices(
        engine, runs.run_ids_for(engine, context.run.run_id), provider, period_key
    )
    return dg.MaterializeResult(metadata=device_usage_metadata(tables))


@period_asset(GROUP, kinds=[JASPER], carrier=READS_CARRIER, fails_session=True)
def staged_devices(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    progress: PlatformProgress,
) -> dg.MaterializeResult:
    """SIMs and usage synced from the carrier into staging, then merged into `Device`.

    Opens the run's optimization session (refused while another runs). A closed period is
    not synced — the carrier has no cycle-to-date usage for it — and uses stored usage; an
    open one reuses a sync of the last hours (`CARRIER_OPT_SYNC_REUSE_HOURS`), except in the
    last day's hourly runs.
    """
    return stage_devices(context, database, jasper, progress)


@period_asset(GROUP, deps=[staged_devices], fails_session=True)
def device_usage(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """The period's billable SIMs with usage projected to the period end and proration."""
    return record_usage(context, database)


@period_asset(GROUP, deps=[device_usage], fails_session=True)
def comm_groups(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """Communication plans grouped by identical allowed rate plans; over-limit groups skipped
    with a warning (their SIMs keep their plans but still count in their pools)."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    groups = m2m.record_comm_groups(
        engine, runs.run_ids_for(engine, context.run.run_id), provider, period_key
    )
    for group in groups:
        if group.skipped_reason:
            context.log.warning("%s skipped: %s", group.name, group.skipped_reason)
    return dg.MaterializeResult(metadata=comm_groups_metadata(groups))


@period_asset(GROUP, deps=[comm_groups], fails_session=True)
def rate_plan_permutations(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """The queues tried for the period, each with its rate-plan sequence: the current
    assignment, every legacy strategy (base assignment, then rate-plan sequences × {no
    grouping, by communication plan} × {largest, smallest first}) and the optimizer."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    created = m2m.create_queues(engine, ids, provider, period_key)
    run_progress(engine, ids, progress).milestone(40, "queues created")
    return dg.MaterializeResult(
        metadata={
            "queues": created.queues,
            "legacy_queues": created.legacy_queues,
            "plans": created.plans,
        },
    )


@period_asset(GROUP, deps=[rate_plan_permutations], fails_session=True)
def queue_results(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    progress: PlatformProgress,
    config: OptimizerConfig,
) -> dg.MaterializeResult:
    """Each queue's assignment priced SIM by SIM; the optimizer's lower bound and gap."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    priced = m2m.price_queues_and_bound(
        engine,
        ids,
        provider,
        period_key,
        time_limit_s=config.time_limit_s,
        gap_target_pct=config.gap_target_pct,
    )
    run_progress(engine, ids, progress).milestone(50, "optimization calculated")
    return dg.MaterializeResult(metadata=queue_results_metadata(priced))


@period_asset(GROUP, deps=[queue_results], fails_session=True)
def winning_assignments(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """The cheapest queue wins; losers' device results are deleted; the instance completes.

    The session stays open until the push (`rate_plan_updates`) has ended, so no second run
    of the provider starts while changes may still be reaching the carrier."""
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    winner = m2m.choose_winner(engine, ids)
    close_session_unless_pushed(context, run_progress(engine, ids, progress), PUSH_ASSET)
    return dg.MaterializeResult(metadata=winner_metadata(winner, ids.session_guid))


@period_asset(GROUP, deps=[winning_assignments], kinds=[JASPER, EMAIL], carrier=CHANGES_CARRIER)
def rate_plan_updates(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    notifier: NotifierResource,
    progress: PlatformProgress,
) -> dg.MaterializeResult:
    """The whole winning assignment pushed to the carrier: every SIM whose recommended plan
    differs from what the carrier shows now (re-read first), in batches of at most 250 that
    never leave the bill above where it started, under one Go/No-Go — when the provider allows
    automatic updates; otherwise a dry run records what would be sent. The carrier is read back
    afterwards and the realized saving recorded. One push per provider at a time; the session
    ends here."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = run_ids(context, engine)
    outcomes = push_and_mail(
        context,
        run_progress(engine, ids, progress),
        jasper=jasper,
        notifier=notifier,
        provider=provider,
        period_key=period_key,
        solved=lambda: [(provider, m2m.solved_instance(engine, ids, provider, period_key))],
    )
    (outcome,) = outcomes.values()
    return dg.MaterializeResult(metadata=push_metadata(outcome))


@period_asset(GROUP, deps=[rate_plan_updates], kinds=[EXCEL])
def optimization_report(
    context: dg.AssetExecutionContext, database: DatabaseResource, result_store: ResultStoreResource
) -> dg.MaterializeResult:
    """The Excel report of the winning assignment, stored (local folder or S3) and recorded in
    `OptimizationInstanceResultFile`; its totals equal the instance's stored costs."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    store = result_store.store()
    report = store_m2m_report(
        engine, store, run_ids(context, engine), provider, period_key, run_context.clock()
    )
    context.log.info("optimization report stored at %s", report.stored.uri)
    if not report.matches_database:
        context.log.warning(
            "report totals %s/%s differ from the database's %s/%s",
            report.data.cost_before,
            report.data.cost_after,
            report.row.cost_before,
            report.row.cost_after,
        )
    return dg.MaterializeResult(
        metadata=report_metadata(report) | file_links(store, report.stored.uri)
    )


@period_asset(GROUP, deps=[optimization_report], kinds=[EMAIL])
def notifications(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    result_store: ResultStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """The success mail (headline figures, the stored workbook attached) and, when groups were
    skipped or plans dropped, the warnings mail, to the provider's recipients."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = run_ids(context, engine)
    report = m2m_report(engine, ids, provider, period_key, run_context.clock())
    uri = m2m_report_uri(engine, ids, provider, period_key)
    run_url = notifier.run_url(context.run.run_id)
    success = success_message(
        report.data,
        workbook=result_store.store().get(uri),
        file_name=m2m_report_file_name(ids, provider, period_key),
        report_uri=uri,
        run_url=run_url,
    )
    warnings = warning_message(
        provider=provider,
        period_key=period_key,
        oversized_groups=report.oversized_groups,
        max_plans_per_group=report.plan_limit,
        dropped_plans=report.data.dropped_plans,
        run_url=run_url,
        other=[w for w in (sim_count_warning(report.data.sync),) if w],
    )
    to = recipients(engine, ids.provider_id)
    sent = send_all(notifier, [success, warnings], to)
    return dg.MaterializeResult(
        metadata={
            "notifier": notifier.kind,
            "recipients": len(to.everyone),
            "sent": ", ".join(sent) or "none",
            "warnings": warning_count(warnings),
        }
    )


optimization_assets = [
    staged_devices,
    device_usage,
    comm_groups,
    rate_plan_permutations,
    queue_results,
    winning_assignments,
]
delivery_assets = [rate_plan_updates, optimization_report, notifications]
m2m_assets = [*optimization_assets, *delivery_assets]
