"""What leaves the system after the winner is known: the report, the e-mail, the carrier updates.

Read top to bottom: the winning assignment → the whole change set pushed to the carrier in safe
batches under one Go/No-Go, or recorded as a dry run (rate_plan_updates; the session ends
here) → the Excel report with the expected and the realized saving, stored and recorded
(optimization_report) → the success and warning mails (notifications). A failed run of any
partition mails its diagnostics (optimization_failure_mail). A person approves a dry run with
the approved_rate_plan_push asset (or ``carrier-opt push``).

Each asset finds its optimization instance by run id, like the optimization chain, and rebuilds
the report's figures from the database (the instance tables and the winner's device results),
so a partial re-execution of these assets works from what is stored.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

import dagster as dg
import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.core.money import usd
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.export import instance_tables
from carrier_opt.db.models import (
    OptimizationInstance,
    OptimizationInstanceResultFile,
    RatePlanPush,
)
from carrier_opt.db.providers import load_provider
from carrier_opt.db.sync_facts import sync_facts
from carrier_opt.defs.assets import optimization
from carrier_opt.defs.failures import operator_failures, step_failure_text
from carrier_opt.defs.partitions import (
    BILLING_PERIOD,
    SERVICE_PROVIDER,
    provider_and_period,
    provider_period_partitions,
)
from carrier_opt.defs.resources import (
    DatabaseResource,
    JasperResource,
    NotifierResource,
    PlatformProgress,
    ResultStoreResource,
)
from carrier_opt.defs.run_context import run_ids, run_progress
from carrier_opt.delivery.notify import (
    Notification,
    Recipients,
    already_running_message,
    error_message,
    notification_recipients,
    push_message,
    sim_count_warning,
    success_message,
    warning_message,
)
from carrier_opt.delivery.rate_plan_updates import PushOutcome
from carrier_opt.delivery.report_data import (
    PushSummary,
    ReportData,
    report_data_from,
)
from carrier_opt.delivery.storage import (
    OPTIMIZATION_REPORT,
    ResultStore,
    S3ResultStore,
    StoredFile,
    record_result_file,
    report_file_name,
    report_key,
    store_file,
)
from carrier_opt.delivery.workbook import CONTENT_TYPE, build_workbook
from carrier_opt.errors import CarrierOptError
from carrier_opt.pipeline.push import push_mode, push_solved
from carrier_opt.pipeline.session import session_ends_here
from carrier_opt.pipeline.solved import InstanceWinner, m2m_solved

GROUP = "delivery"
TOP_SAVINGS_ROWS = 15


@dataclass(frozen=True)
class _Delivery:
    """What every delivery asset starts from: the run's rows and the report's figures."""

    provider: str
    period_key: str
    ids: runs.RunIds
    data: ReportData
    oversized_groups: dict[str, int]
    plan_limit: int


# --------------------------------------------------------------------------- assets


@dg.asset(
    group_name=GROUP,
    partitions_def=provider_period_partitions,
    deps=[optimization.winning_assignments],
    kinds={"jasper"},
)
@operator_failures
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
    provider, period_key = provider_and_period(context.partition_key)
    engine = database.engine()
    ids = run_ids(context, engine)
    with session_ends_here(run_progress(engine, ids, progress)):
        tables = instance_tables(engine, provider, period_key)
        solved, _, _ = m2m_solved(engine, ids, provider, tables)
        outcome = push_run(context, engine, jasper, provider, ids.provider_id, solved)
    mail_push(engine, notifier, outcome, ids.provider_id, provider_label=provider,
              period_key=period_key, run_url=notifier.run_url(context.run.run_id))  # fmt: skip
    return dg.MaterializeResult(metadata=push_metadata(outcome))


@dg.asset(
    group_name=GROUP,
    partitions_def=provider_period_partitions,
    deps=[rate_plan_updates],
    kinds={"excel"},
)
@operator_failures
def optimization_report(
    context: dg.AssetExecutionContext, database: DatabaseResource, result_store: ResultStoreResource
) -> dg.MaterializeResult:
    """The Excel report of the winning assignment, stored (local folder or S3) and recorded in
    ``OptimizationInstanceResultFile``; its totals equal the instance's stored costs."""
    engine = database.engine()
    delivery = _delivery(context, engine)
    stored = store_report(engine, result_store, delivery)
    context.log.info("optimization report stored at %s", stored.uri)
    metadata = _report_metadata(context, engine, delivery, stored)
    return dg.MaterializeResult(metadata=metadata | file_links(result_store.store(), stored.uri))


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[optimization_report])
@operator_failures
def notifications(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    result_store: ResultStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """The success mail (headline figures, the stored workbook attached) and, when groups were
    skipped or plans dropped, the warnings mail, to the provider's recipients."""
    engine = database.engine()
    delivery = _delivery(context, engine)
    name, _ = _report_name_and_key(delivery)
    uri = _stored_report_uri(engine, delivery.ids.instance_id, name)
    run_url = notifier.run_url(context.run.run_id)
    success = success_message(
        delivery.data, workbook=result_store.store().get(uri), file_name=name, report_uri=uri,
        run_url=run_url,
    )  # fmt: skip
    warnings = warning_message(
        provider=delivery.provider, period_key=delivery.period_key,
        oversized_groups=delivery.oversized_groups, max_plans_per_group=delivery.plan_limit,
        dropped_plans=delivery.data.dropped_plans, run_url=run_url,
        other=[w for w in (sim_count_warning(delivery.data.sync),) if w],
    )  # fmt: skip
    recipients = _recipients(engine, delivery.ids.provider_id)
    sent = [
        message.kind
        for message in (success, warnings)
        if message is not None and notifier.send(message, recipients) is not None
    ]
    return dg.MaterializeResult(
        metadata={
            "notifier": notifier.kind,
            "recipients": len(recipients.everyone),
            "sent": ", ".join(sent) or "none",
            "warnings": _warning_count(warnings),
        }
    )


def partition_of_run(tags: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(provider, period) of a run, however it was launched: the per-dimension tags that
    sensors and backfills set, or only ``dagster/partition`` (``YYYY-MM|provider``), which the
    GraphQL client and some UI launches set. ``(None, None)`` when it has neither."""
    provider = tags.get(f"dagster/partition/{SERVICE_PROVIDER}")
    period_key = tags.get(f"dagster/partition/{BILLING_PERIOD}")
    if provider:
        return provider, period_key
    key = tags.get("dagster/partition")
    if not key:
        return None, None
    try:
        return provider_and_period(key)
    except Exception:  # not a key of these partitions (another job's run)
        return None, None


@dg.run_failure_sensor(
    name="optimization_failure_mail",
    description="Mails the diagnostics of a failed run of a provider × billing period partition "
    "(which asset, the error, a link to the run) to the provider's recipients.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def optimization_failure_mail(
    context: dg.RunFailureSensorContext, database: DatabaseResource, notifier: NotifierResource
) -> dg.SkipReason | None:
    """The error mail for a failed partitioned run (optimize_billing_period or an ad-hoc
    materialization of these assets); runs without a provider partition are skipped."""
    run = context.dagster_run
    provider, period_key = partition_of_run(run.tags)
    if not provider:
        return dg.SkipReason(f"run {run.run_id} has no service provider partition")
    step, error, error_class = _failure_of(context)
    if error_class == runs.SessionRefused.__name__:
        # Refused because another run of the provider is still going: the legacy warning,
        # not an error mail (nothing failed).
        message = already_running_message(
            provider=provider, period_key=period_key, detail=error.splitlines()[0],
            run_url=notifier.run_url(run.run_id),
        )  # fmt: skip
    else:
        message = error_message(
            asset=step, error=error, provider=provider, period_key=period_key,
            run_url=notifier.run_url(run.run_id), run_id=run.run_id,
        )  # fmt: skip
    with database.engine().connect() as connection:
        recipients = notification_recipients(connection, load_provider(connection, provider).id)
    notifier.send(message, recipients)
    return None


delivery_assets = [rate_plan_updates, optimization_report, notifications]
delivery_sensors = [optimization_failure_mail]


# --------------------------------------------------------------------------- helpers


def _delivery(context: dg.AssetExecutionContext, engine: Engine) -> _Delivery:
    """The run's rows and the report's figures, rebuilt from the database."""
    provider, period_key = provider_and_period(context.partition_key)
    return delivery_for(engine, run_ids(context, engine), provider, period_key)


def delivery_for(engine: Engine, ids: runs.RunIds, provider: str, period_key: str) -> _Delivery:
    """A session's rows and its report's figures, rebuilt from the database."""
    data, oversized, limit = _report_data(engine, ids, provider, period_key)
    return _Delivery(provider, period_key, ids, data, oversized, limit)


def store_report(
    engine: Engine, result_store: ResultStoreResource, delivery: _Delivery
) -> StoredFile:
    """Build the workbook, store it (replacing an earlier version) and record it."""
    name, key = _report_name_and_key(delivery)
    stored = store_file(result_store.store(), key, build_workbook(delivery.data), CONTENT_TYPE)
    with engine.begin() as connection:
        record_result_file(
            connection, delivery.ids.instance_id, name, OPTIMIZATION_REPORT, CONTENT_TYPE,
            stored.uri, stored.size, stored.sha256,
        )  # fmt: skip
    return stored


def _report_data(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str
) -> tuple[ReportData, dict[str, int], int]:
    """The report of the winner, priced on the instance the optimizer saw (SIMs of skipped
    groups locked on their plans), with its push; also the skipped groups and the plan limit."""
    tables = instance_tables(engine, provider, period_key)
    solved, groups, limit = m2m_solved(engine, ids, provider, tables)
    instance = solved.instance
    figures = runs.instance_figures(engine, ids)
    stored = _stored_costs(engine, ids.instance_id)
    bound = figures["lower_bound"] or None
    cost_after = float(stored["cost_after"] or 0)
    data = report_data_from(
        instance, instance.current_plan, solved.target, provider=provider, period=tables.period,
        legacy_cost=figures["legacy_cost"] or None, lower_bound=bound,
        gap=None if not bound else (cost_after - bound) / bound,
        seconds=_seconds(stored["run_started_at"], stored["run_completed_at"]),
        proven_optimal=bool(stored["proven_optimal"]),
        device_info=tables.devices[["iccid", "msisdn"]].assign(
            projected_usage_mb=tables.devices["usage_mb"]
        ),
    )  # fmt: skip
    status = dict(zip(tables.devices["iccid"], tables.devices["status"], strict=True))
    activated = np.array([status.get(iccid) == "ACTIVATED" for iccid in instance.iccids])
    with engine.connect() as connection:
        facts = sync_facts(
            connection,
            ids.provider_id,
            tables.billing_period_id,
            int((activated & ~instance.locked).sum()),
        )
    data = dataclasses.replace(data, push=latest_push(engine, solved.instance_id), sync=facts)
    oversized = {g.name: len(g.rate_plans) for g in groups if g.skipped_reason}
    return data, oversized, limit


def latest_push(engine: Engine, instance_id: int) -> PushSummary | None:
    """The newest push (or dry run) of an instance, for its report."""
    table = RatePlanPush.__table__
    with engine.connect() as connection:
        row = connection.execute(
            select(table)
            .where(table.c.optimization_instance_id == instance_id)
            .order_by(table.c.id.desc())
        ).first()
    return None if row is None else PushSummary.from_row(dict(row._mapping))


def _stored_costs(engine: Engine, instance_id: int) -> dict:
    """Cost before/after (NUMERIC(18,4)) and run times stored on the instance."""
    table = OptimizationInstance.__table__
    with engine.connect() as connection:
        row = connection.execute(
            select(
                table.c.cost_before, table.c.cost_after, table.c.proven_optimal,
                table.c.run_started_at, table.c.run_completed_at,
            ).where(table.c.id == instance_id)
        ).one()  # fmt: skip
    return dict(row._mapping)


def _seconds(started: datetime | None, completed: datetime | None) -> float | None:
    if started is None or completed is None:
        return None
    return (completed - started).total_seconds()


def _report_name_and_key(delivery: _Delivery) -> tuple[str, str]:
    name = report_file_name(delivery.provider, delivery.period_key, delivery.ids.instance_id)
    key = report_key(delivery.provider, delivery.period_key, delivery.ids.instance_id, name)
    return name, key


def _stored_report_uri(engine: Engine, instance_id: int, file_name: str) -> str:
    """Where ``optimization_report`` stored this instance's workbook."""
    table = OptimizationInstanceResultFile.__table__
    with engine.connect() as connection:
        uri = connection.scalar(
            select(table.c.storage_uri).where(
                table.c.optimization_instance_id == instance_id, table.c.file_name == file_name
            )
        )
    if uri is None:
        raise CarrierOptError(
            f"no stored report {file_name} for instance {instance_id}: materialize "
            "optimization_report first"
        )
    return uri


def _warning_count(warnings: Notification | None) -> int:
    """The warnings listed in the warnings mail (one ``- `` line each)."""
    if warnings is None:
        return 0
    return sum(line.startswith("- ") for line in warnings.body.splitlines())


def _recipients(engine: Engine, provider_id: int) -> Recipients:
    with engine.connect() as connection:
        return notification_recipients(connection, provider_id)


def file_links(store: ResultStore, uri: str) -> dict:
    """How to open a stored file from the UI: ``report`` links it when a browser can open it
    (the reports folder served by ``make ui``, the S3 console), else shows its path;
    ``download`` is a presigned link on S3; ``how_to_open`` says it in one sentence."""
    link = store.link(uri)
    parts = urlsplit(uri)
    shown = dg.MetadataValue.path(unquote(parts.path)) if parts.scheme == "file" else uri
    metadata: dict = {
        "report": dg.MetadataValue.url(link) if link else shown,
        "how_to_open": store.how_to_open(uri),
    }
    if isinstance(store, S3ResultStore):
        metadata["download"] = dg.MetadataValue.url(store.download_link(uri))
    return metadata


def _report_metadata(
    context: dg.AssetExecutionContext, engine: Engine, delivery: _Delivery, stored: StoredFile
) -> dict:
    """Link to the stored file, headline figures, the database's costs beside the workbook's."""
    data = delivery.data
    db = _stored_costs(engine, delivery.ids.instance_id)
    db_after = usd(db["cost_after"])
    db_before = usd(db["cost_before"])
    matches = db_after == data.cost_after and db_before == data.cost_before
    if not matches:
        context.log.warning(
            "report totals %s/%s differ from the database's %s/%s",
            data.cost_before, data.cost_after, db_before, db_after,
        )  # fmt: skip
    return {
        "storage_uri": stored.uri,
        "size_bytes": stored.size,
        "sha256": stored.sha256,
        "devices": data.devices,
        "devices_changing_plan": data.devices_changed,
        "cost_before": data.cost_before,
        "cost_after": data.cost_after,
        "saving": data.saving,
        "totals_match_database": matches,
        "top_savings": dg.MetadataValue.md(_top_savings_table(data.assignments)),
    }


def _top_savings_table(assignments: pd.DataFrame) -> str:
    """The SIMs saving the most, as a markdown table."""
    moved = assignments[assignments["changed"] & (assignments["saving"] > 0)]
    if moved.empty:
        return "No SIM saves by changing plan."
    top = moved.nlargest(TOP_SAVINGS_ROWS, "saving")
    lines = [
        f"| {row.iccid} | {row.current_rate_plan} | {row.recommended_rate_plan} | "
        f"{row.saving:,.2f} |"
        for row in top.itertuples(index=False)
    ]
    return "| ICCID | from | to | saving (USD) |\n|---|---|---|---:|\n" + "\n".join(lines)


def push_run(
    context: dg.AssetExecutionContext,
    engine: Engine,
    jasper: JasperResource,
    provider: str,
    provider_id: int,
    solved: InstanceWinner,
) -> PushOutcome:
    """Push (or dry-run) one solved instance from a run, as the provider's settings say."""
    outcome = push_solved(
        engine, lambda: jasper.client_for(engine, provider), solved, provider_id=provider_id,
        mode=push_mode(engine, provider_id, None), holder=f"run {context.run.run_id}",
        now=lambda: optimization.clock(),  # looked up per call: tests replace the clock
        run_id=context.run.run_id,
    )  # fmt: skip
    for problem in outcome.problems:
        context.log.warning("%s: %s", solved.label, problem)
    context.log.info("%s: %s", solved.label, outcome.summary())
    return outcome


def mail_push(
    engine: Engine,
    notifier: NotifierResource,
    outcome: PushOutcome,
    provider_id: int,
    *,
    provider_label: str,
    period_key: str,
    run_url: str | None,
) -> None:
    """The push mail (Go/No-Go, what was sent, expected and realized saving) of a push that
    had changes to decide on (none otherwise)."""
    if not outcome.changes and outcome.status.value != "no_go":
        return
    message = push_message(
        provider=provider_label, period_key=period_key, outcome=outcome, run_url=run_url
    )
    notifier.send(message, _recipients(engine, provider_id))


def push_metadata(outcome: PushOutcome) -> dict:
    """The push's figures for the asset page (money rounded half up, once, to the cent)."""
    decision = outcome.decision
    return {
        "push_id": outcome.push_id,
        "mode": outcome.mode.value,
        "status": outcome.status.value,
        "decision": outcome.verdict,
        "decision_reason": "n/a" if decision is None else decision.reason,
        "changes": outcome.changes,
        "already_on_target": outcome.already_on_target,
        "moved_since_sync": len(outcome.moved_since_sync),
        "sent": outcome.sent,
        "failed": outcome.failed,
        "not_sent": outcome.not_sent,
        "held_back": outcome.held_back,
        "dry_run": outcome.dry_run,
        "batches": len(outcome.batches),
        "expected_saving": _money(outcome.expected_saving_usd),
        "realized_saving": _money(outcome.realized_saving_usd),
        "stop_reason": outcome.stop_reason or "none",
        "batches_table": dg.MetadataValue.md(_batches_table(outcome)),
    }


def _money(amount: float | None) -> float | str:
    return "n/a" if amount is None else usd(amount)


def _batches_table(outcome: PushOutcome) -> str:
    """Each batch with the bill before, planned after and after it."""
    if not outcome.batches:
        return "No batch was sent."
    lines = [
        f"| {b.batch_number} | {b.devices} | {b.succeeded} | {b.failed} | "
        f"{b.bill_before_usd:,.2f} | {b.planned_bill_after_usd:,.2f} | {b.bill_after_usd:,.2f} |"
        for b in outcome.batches
    ]
    return (
        "| batch | devices | sent | failed | bill before | planned after | after |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(lines)
    )


def _failure_of(context: dg.RunFailureSensorContext) -> tuple[str, str, str | None]:
    """(failed step, its error with the user code's traceback, the error's class name) of a
    failed run."""
    for event in context.get_step_failure_events():
        failure = event.step_failure_data
        if failure.error is not None or failure.user_failure_data is not None:
            message, error_class = step_failure_text(failure)
            return event.step_key or "(unknown step)", message, error_class
    message = context.failure_event.message or "the run failed (see the Dagster logs)"
    return "(run)", message, None
