"""What leaves the system after the winner is known: the report, the e-mail, the carrier updates.

Read top to bottom: the winning assignment → the Excel report, stored and recorded
(optimization_report) → the success and warning mails (notifications) → the rate-plan changes
pushed to the carrier under Go/No-Go, or recorded as a dry run (rate_plan_updates). A failed run
of any partition mails its diagnostics (optimization_failure_mail).

Each asset finds its optimization instance by run id, like the optimization chain, and rebuilds
the report's figures from the database (the instance tables and the winner's device results),
so a partial re-execution of these assets works from what is stored.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

import dagster as dg
import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.export import instance_tables
from carrier_opt.db.models import OptimizationInstance, OptimizationInstanceResultFile
from carrier_opt.db.providers import load_provider
from carrier_opt.defs.assets import optimization
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
    ResultStoreResource,
)
from carrier_opt.delivery.notify import (
    Notification,
    Recipients,
    error_message,
    go_no_go_message,
    notification_recipients,
    success_message,
    warning_message,
)
from carrier_opt.delivery.rate_plan_updates import (
    RatePlanChange,
    UpdateOutcome,
    automatic_updates_allowed,
    push_rate_plan_changes,
    saving_changes,
)
from carrier_opt.delivery.report_data import ReportData, report_data_from
from carrier_opt.delivery.storage import (
    OPTIMIZATION_REPORT,
    StoredFile,
    record_result_file,
    report_file_name,
    report_key,
    store_file,
)
from carrier_opt.delivery.workbook import CONTENT_TYPE, build_workbook
from carrier_opt.errors import CarrierOptError

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
    kinds={"excel"},
)
def optimization_report(
    context: dg.AssetExecutionContext, database: DatabaseResource, result_store: ResultStoreResource
) -> dg.MaterializeResult:
    """The Excel report of the winning assignment, stored (local folder or S3) and recorded in
    ``OptimizationInstanceResultFile``; its totals equal the instance's stored costs."""
    engine = database.engine()
    delivery = _delivery(context, engine)
    name, key = _report_name_and_key(delivery)
    stored = store_file(result_store.store(), key, build_workbook(delivery.data), CONTENT_TYPE)
    with engine.begin() as connection:
        record_result_file(
            connection, delivery.ids.instance_id, name, OPTIMIZATION_REPORT, CONTENT_TYPE,
            stored.uri, stored.size, stored.sha256,
        )  # fmt: skip
    context.log.info("optimization report stored at %s", stored.uri)
    return dg.MaterializeResult(metadata=_report_metadata(context, engine, delivery, stored))


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[optimization_report])
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


@dg.asset(
    group_name=GROUP,
    partitions_def=provider_period_partitions,
    deps=[optimization_report],
    kinds={"jasper"},
)
def rate_plan_updates(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """The saving rate-plan changes sent to the carrier in batches of 250 under the Go/No-Go
    rule — only when the provider allows automatic updates; otherwise recorded as a dry run.
    Never the same change twice, across re-runs; every attempt audited in ``RatePlanUpdate``."""
    engine = database.engine()
    delivery = _delivery(context, engine)
    with engine.connect() as connection:
        enabled = automatic_updates_allowed(connection, delivery.ids.provider_id)
    outcome = push_changes(
        engine, jasper, delivery.provider, delivery.ids.provider_id, delivery.ids.instance_id,
        saving_changes(delivery.data.assignments), delivery.data.period_end, enabled,
    )  # fmt: skip
    mail_go_no_go(
        context, engine, notifier, outcome, delivery.ids.provider_id,
        provider_label=delivery.provider, period_key=delivery.period_key,
    )  # fmt: skip
    return dg.MaterializeResult(metadata=_updates_metadata(outcome))


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
    provider = run.tags.get(f"dagster/partition/{SERVICE_PROVIDER}")
    if not provider:
        return dg.SkipReason(f"run {run.run_id} has no service provider partition")
    step, error = _failure_of(context)
    message = error_message(
        asset=step, error=error, provider=provider,
        period_key=run.tags.get(f"dagster/partition/{BILLING_PERIOD}"),
        run_url=notifier.run_url(run.run_id), run_id=run.run_id,
    )  # fmt: skip
    with database.engine().connect() as connection:
        recipients = notification_recipients(connection, load_provider(connection, provider).id)
    notifier.send(message, recipients)
    return None


delivery_assets = [optimization_report, notifications, rate_plan_updates]
delivery_sensors = [optimization_failure_mail]


# --------------------------------------------------------------------------- helpers


def _run_ids(context: dg.AssetExecutionContext, engine: Engine) -> runs.RunIds:
    """The run's session, or — in a re-execution of failed steps — the original run's."""
    try:
        return runs.run_ids_for(engine, context.run.run_id)
    except CarrierOptError:
        root = context.run.root_run_id
        if not root or root == context.run.run_id:
            raise
        return runs.run_ids_for(engine, root)


def _delivery(context: dg.AssetExecutionContext, engine: Engine) -> _Delivery:
    """The run's rows and the report's figures, rebuilt from the database."""
    provider, period_key = provider_and_period(context.partition_key)
    ids = _run_ids(context, engine)
    data, oversized, limit = _report_data(engine, ids, provider, period_key)
    return _Delivery(provider, period_key, ids, data, oversized, limit)


def _report_data(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str
) -> tuple[ReportData, dict[str, int], int]:
    """The report of the winner, priced on the instance the optimizer saw (SIMs of skipped
    groups locked on their plans); also the skipped groups and the plan limit."""
    tables = instance_tables(engine, provider, period_key)
    instance, groups, limit = optimization.optimization_instance(engine, provider, tables)
    recommended = _plan_indices(
        instance.iccids, instance.plan_codes, runs.winning_assignment(engine, ids)
    )
    figures = runs.instance_figures(engine, ids)
    stored = _stored_costs(engine, ids.instance_id)
    bound = figures["lower_bound"] or None
    cost_after = float(stored["cost_after"] or 0)
    data = report_data_from(
        instance, instance.current_plan, recommended, provider=provider, period=tables.period,
        legacy_cost=figures["legacy_cost"] or None, lower_bound=bound,
        gap=None if not bound else (cost_after - bound) / bound,
        seconds=_seconds(stored["run_started_at"], stored["run_completed_at"]),
        proven_optimal=bool(stored["proven_optimal"]),
        device_info=tables.devices[["iccid", "msisdn"]].assign(
            projected_usage_mb=tables.devices["usage_mb"]
        ),
    )  # fmt: skip
    oversized = {g.name: len(g.rate_plans) for g in groups if g.skipped_reason}
    return data, oversized, limit


def _plan_indices(
    iccids: np.ndarray,
    plan_codes: np.ndarray,
    winners: pd.DataFrame,
    job: str = "optimize_billing_period",
) -> np.ndarray:
    """The winner's plan of each SIM, as indices into the instance's plans, in its SIM order
    (``job`` is the one to re-run when the winner lacks a SIM)."""
    index = {code: i for i, code in enumerate(plan_codes.tolist())}
    by_iccid = dict(zip(winners["iccid"].astype(str), winners["rate_plan_code"], strict=True))
    missing = [iccid for iccid in iccids.astype(str).tolist() if iccid not in by_iccid]
    if missing:
        raise CarrierOptError(
            f"the winning assignment has no plan for {len(missing)} SIM(s), e.g. {missing[0]}: "
            f"re-run the whole {job} partition"
        )
    return np.array([index[by_iccid[iccid]] for iccid in iccids.astype(str).tolist()], np.int64)


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


def _report_metadata(
    context: dg.AssetExecutionContext, engine: Engine, delivery: _Delivery, stored: StoredFile
) -> dict:
    """Link to the stored file, headline figures, the database's costs beside the workbook's."""
    data = delivery.data
    db = _stored_costs(engine, delivery.ids.instance_id)
    db_after = _cents(db["cost_after"])
    db_before = _cents(db["cost_before"])
    matches = db_after == data.cost_after and db_before == data.cost_before
    if not matches:
        context.log.warning(
            "report totals %s/%s differ from the database's %s/%s",
            data.cost_before, data.cost_after, db_before, db_after,
        )  # fmt: skip
    parts = urlsplit(stored.uri)
    link = (
        dg.MetadataValue.path(unquote(parts.path))
        if parts.scheme == "file"
        else dg.MetadataValue.url(stored.uri)
    )
    return {
        "report": link,
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


def _cents(value) -> float | None:
    return None if value is None else round(float(value), 2)


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


def push_changes(
    engine: Engine,
    jasper: JasperResource,
    provider: str,
    provider_id: int,
    instance_id: int,
    changes: list[RatePlanChange],
    period_end: datetime,
    enabled: bool,
) -> UpdateOutcome:
    """Push (or dry-run) an instance's saving changes; the carrier client is opened only when
    enabled."""
    arguments = dict(
        provider_id=provider_id,
        optimization_instance_id=instance_id,
        changes=changes,
        period_end=period_end,
        enabled=enabled,
        now=lambda: optimization.clock(),  # looked up per call: tests replace the clock
    )
    if not enabled:
        return push_rate_plan_changes(engine, None, **arguments)
    with jasper.client_for(engine, provider) as client:
        return push_rate_plan_changes(engine, client, **arguments)


def mail_go_no_go(
    context: dg.AssetExecutionContext,
    engine: Engine,
    notifier: NotifierResource,
    outcome: UpdateOutcome,
    provider_id: int,
    *,
    provider_label: str,
    period_key: str,
) -> None:
    """The Go/No-Go mail of a push that had changes to decide on (none otherwise)."""
    if outcome.decision is None or not outcome.decision.devices:
        return
    message = go_no_go_message(
        provider=provider_label, period_key=period_key, decision=outcome.decision,
        enabled=outcome.enabled, run_url=notifier.run_url(context.run.run_id),
    )  # fmt: skip
    notifier.send(message, _recipients(engine, provider_id))


def verdict(outcome: UpdateOutcome) -> str:
    """``Go``, ``No Go``, or ``n/a`` when nothing was decided."""
    decision = outcome.decision
    return "n/a" if decision is None else ("Go" if decision.go else "No Go")


def _updates_metadata(outcome: UpdateOutcome) -> dict:
    decision = outcome.decision
    return {
        "enabled": outcome.enabled,
        "decision": verdict(outcome),
        "decision_reason": "n/a" if decision is None else decision.reason,
        "sent": outcome.sent,
        "dry_run": outcome.dry_run,
        "failed": outcome.failed,
        "skipped_no_go": outcome.skipped_no_go,
        "already_sent": outcome.already_sent,
        "batches": len(outcome.batches),
    }


def _failure_of(context: dg.RunFailureSensorContext) -> tuple[str, str]:
    """(failed step, its error with the user code's traceback) of a failed run."""
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None:
            cause = error.cause or error
            return event.step_key or "(unknown step)", cause.to_string()
    return "(run)", context.failure_event.message or "the run failed (see the Dagster logs)"
