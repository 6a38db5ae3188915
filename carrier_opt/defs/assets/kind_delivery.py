"""Reports and mail of the mobility and customer runs: one workbook per instance.

A mobility run has one instance per optimization group, a customer run one per customer. For
each instance these assets rebuild the instance exactly as it was solved (from the period's
stored tables), read the winning plans back from the database, build the report (its scope
names the group or customer), store it and record it in ``OptimizationInstanceResultFile`` —
as ``optimization_report`` does for M2M.

* mobility_rate_plan_updates: each group's winner pushed (or dry-run) under the M2M push rules;
  the session ends here.
* mobility_report: one mail to the provider's recipients with every group's workbook (each
  with its push: expected and realized saving), plus the warnings mail of the M2M alert path
  for groups skipped over their rate-plan limit and SIMs left out for their plan type.
* customer_reports: one mail per customer, with that customer's workbook only, to the
  provider's recipients and the addresses of the customer's sites. Nothing goes to the carrier.
"""

import dataclasses
from dataclasses import dataclass

import dagster as dg
import pandas as pd
from sqlalchemy import Engine

from carrier_opt.core.billing import BillingPeriodSpan, period_for_key
from carrier_opt.core.instance import Instance, instance_from_frames
from carrier_opt.core.mobility import GroupTables
from carrier_opt.core.money import usd, usd_text
from carrier_opt.db.customer_optimization import period_customers
from carrier_opt.db.instance_results import (
    SessionInstance,
    customer_winners,
    session_instances,
)
from carrier_opt.db.mobility import MobilityGroups
from carrier_opt.db.models import RunStatus
from carrier_opt.db.providers import load_provider
from carrier_opt.defs.assets import customer, mobility
from carrier_opt.defs.assets.delivery import (
    _recipients,
    _warning_count,
    latest_push,
    mail_push,
    push_run,
)
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.jobs import CUSTOMER_JOB_NAME
from carrier_opt.defs.partitions import provider_and_period, provider_period_partitions
from carrier_opt.defs.resources import (
    DatabaseResource,
    JasperResource,
    NotifierResource,
    PlatformProgress,
    ResultStoreResource,
)
from carrier_opt.defs.run_context import run_ids, run_progress
from carrier_opt.delivery.notify import (
    NotificationError,
    ReportFile,
    customer_recipients,
    reports_message,
    success_message,
    warning_message,
)
from carrier_opt.delivery.report_data import (
    ReportData,
    report_data_from,
    with_unassigned_sims,
    without_other_customers_identities,
)
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
from carrier_opt.pipeline.session import session_ends_here
from carrier_opt.pipeline.solved import mobility_solved, plan_indices

EXCLUDED_PLANS_SHOWN = 5
CUSTOMER_REMARK = (
    "Customer optimization only reports: nothing was changed at the carrier. Apply the "
    "recommended customer rate plans in the billing system."
)


@dataclass(frozen=True)
class _InstanceReport:
    """One instance's stored report."""

    name: str
    """The optimization group's or customer's name."""
    row: SessionInstance
    data: ReportData
    workbook: bytes
    file_name: str
    stored: StoredFile

    @property
    def matches_database(self) -> bool:
        """The workbook's totals equal the instance's stored costs to the cent."""
        return self.data.cost_after == usd(self.row.cost_after) and (
            self.data.cost_before == usd(self.row.cost_before)
        )


# --------------------------------------------------------------------------- assets


@dg.asset(
    group_name=mobility.GROUP,
    partitions_def=provider_period_partitions,
    deps=[mobility.mobility_winning_assignments],
    kinds={"jasper"},
)
@operator_failures
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
    provider, period_key = provider_and_period(context.partition_key)
    engine = database.engine()
    ids = run_ids(context, engine)
    outcomes = {}
    with session_ends_here(run_progress(engine, ids, progress)):
        _, solved = mobility_solved(engine, ids.session_id, ids.session_guid, provider, period_key)
        for group in solved:
            outcome = push_run(context, engine, jasper, provider, ids.provider_id, group.solved)
            outcomes[group.group.group.name] = outcome
            mail_push(engine, notifier, outcome, ids.provider_id,
                      provider_label=group.solved.label, period_key=period_key,
                      run_url=notifier.run_url(context.run.run_id))  # fmt: skip
    lines = [
        f"| {name} | {o.mode.value} | {o.verdict} | {o.changes} | {o.sent} | {o.dry_run} | "
        f"{o.failed} | {o.already_on_target} |"
        for name, o in outcomes.items()
    ]
    return dg.MaterializeResult(
        metadata={
            "modes": ", ".join(sorted({o.mode.value for o in outcomes.values()})) or "none",
            "changes": sum(o.changes for o in outcomes.values()),
            "sent": sum(o.sent for o in outcomes.values()),
            "dry_run": sum(o.dry_run for o in outcomes.values()),
            "failed": sum(o.failed for o in outcomes.values()),
            "already_on_target": sum(o.already_on_target for o in outcomes.values()),
            "groups_table": dg.MetadataValue.md(
                "| group | mode | decision | changes | sent | dry run | failed | already on "
                "target |\n|---|---|---|---:|---:|---:|---:|---:|\n" + "\n".join(lines)
            ),
        }
    )


@dg.asset(
    group_name=mobility.GROUP,
    partitions_def=provider_period_partitions,
    deps=[mobility_rate_plan_updates],
    kinds={"excel"},
)
@operator_failures
def mobility_report(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    result_store: ResultStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """A workbook per optimized group, stored and recorded; one mail with all of them to the
    provider's recipients, and a warnings mail for skipped groups and SIMs left out."""
    provider, period_key = provider_and_period(context.partition_key)
    engine = database.engine()
    ids = run_ids(context, engine)
    split, reports = store_mobility_reports(engine, result_store, ids, provider, period_key)
    run_url = notifier.run_url(context.run.run_id)
    warnings = _mobility_warnings(provider, period_key, split.groups, reports, run_url)
    message = reports_message(
        [ReportFile(r.data, r.workbook, r.file_name, r.stored.uri) for r in reports],
        provider=provider, period_key=period_key, what="mobility optimization",
        not_optimized={
            f"Optimization group {g.group.name}": g.skipped_reason
            for g in split.groups if g.skipped_reason
        },
        remarks=_attention(warnings), run_url=run_url,
    )  # fmt: skip
    recipients = _recipients(engine, ids.provider_id)
    sent = [
        mail.kind
        for mail in (message, warnings)
        if mail is not None and notifier.send(mail, recipients) is not None
    ]
    return dg.MaterializeResult(
        metadata={
            "files": dg.MetadataValue.json(_file_links(result_store, reports)),
            "recipients": len(recipients.everyone),
            "sent": ", ".join(sent) or "none",
            "warnings": _warning_count(warnings),
            "totals_match_database": all(r.matches_database for r in reports),
            "groups_table": dg.MetadataValue.md(_groups_table(split.groups, reports)),
        }
    )


@dg.asset(
    group_name=customer.GROUP,
    partitions_def=provider_period_partitions,
    deps=[customer.customer_winning_assignments],
    kinds={"excel"},
)
@operator_failures
def customer_reports(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    result_store: ResultStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """A workbook per customer, stored and recorded; one mail per customer with its workbook
    only, to the provider's recipients and the addresses of the customer's sites.

    A mail that cannot be sent does not stop the other customers'; the asset fails at the end
    naming them."""
    provider, period_key = provider_and_period(context.partition_key)
    engine = database.engine()
    ids = run_ids(context, engine)
    found = period_customers(engine, provider, period_key)
    period = _period(engine, provider, period_key)
    by_customer = {
        row.customer: row
        for row in session_instances(engine, ids.session_id)
        if row.rev_customer_id is not None
    }
    reports = []
    for tables in found.customers:
        row = by_customer.get(tables.customer)
        if row is None or row.status != RunStatus.COMPLETED.value:
            raise CarrierOptError(
                f"customer {tables.customer!r} has no completed instance in session "
                f"{ids.session_guid}: re-run the whole {CUSTOMER_JOB_NAME} partition"
            )
        instance = instance_from_frames(
            tables.rate_plans, tables.comm_plan_rate_plans, tables.devices
        )
        winners = plan_indices(
            instance.iccids, instance.plan_codes, customer_winners(engine, row.id),
            CUSTOMER_JOB_NAME,
        )  # fmt: skip
        reports.append(
            _store_report(
                engine, result_store, tables.customer, row, instance, winners, tables.devices,
                provider=provider, period=period, scope=f"Customer {tables.customer}",
                anonymous_shared_pool=True, unassigned=found.unassigned_of(tables.customer),
            )
        )  # fmt: skip
    reported = {tables.customer for tables in found.customers}
    unreported = sorted(set(found.unassigned["customer"]) - reported)
    if unreported:
        context.log.warning(
            "customers with SIMs on no customer plan at all get no report: %s",
            ", ".join(map(str, unreported)),
        )
    mails = _mail_customers(context, engine, notifier, ids.provider_id, reports)
    failed = {name: mail["error"] for name, mail in mails.items() if mail["error"]}
    if failed:
        raise CarrierOptError(
            f"the report mail of {len(failed)} of {len(reports)} customers was not sent: "
            + "; ".join(f"{name}: {error}" for name, error in failed.items())
        )
    return dg.MaterializeResult(
        metadata={
            "files": dg.MetadataValue.json(_file_links(result_store, reports)),
            "mails_sent": sum(1 for mail in mails.values() if mail["sent"]),
            "recipients": len({a for mail in mails.values() for a in mail["recipients"]}),
            "totals_match_database": all(r.matches_database for r in reports),
            "carrier_changes_pushed": 0,
            "customers_table": dg.MetadataValue.md(_customers_table(reports, mails)),
        }
    )


mobility_delivery_assets = [mobility_rate_plan_updates, mobility_report]
customer_delivery_assets = [customer_reports]


# --------------------------------------------------------------------------- helpers


def store_mobility_reports(
    engine: Engine, result_store: ResultStoreResource, ids, provider: str, period_key: str
) -> tuple[MobilityGroups, list[_InstanceReport]]:
    """Each optimized group's workbook (with its push), stored and recorded."""
    split, solved = mobility_solved(engine, ids.session_id, ids.session_guid, provider, period_key)
    reports = [
        _store_report(
            engine, result_store, g.group.group.name, g.row, g.solved.instance, g.solved.target,
            g.group.devices, provider=provider, period=g.solved.period,
            scope=f"Optimization group {g.group.group.name}",
        )
        for g in solved
    ]  # fmt: skip
    return split, reports


def _store_report(
    engine: Engine,
    result_store: ResultStoreResource,
    name: str,
    row: SessionInstance,
    instance: Instance,
    recommended,
    devices: pd.DataFrame,
    *,
    provider: str,
    period: BillingPeriodSpan,
    scope: str,
    anonymous_shared_pool: bool = False,
    unassigned: pd.DataFrame | None = None,
) -> _InstanceReport:
    """Build the instance's report from its stored figures, store it and record the file.

    ``anonymous_shared_pool``: hide which SIMs the shared-pool rows are (a customer's report
    must not show other customers' SIMs); ``unassigned``: the customer's SIMs on no customer
    plan, listed at $0."""
    bound = _float(row.lower_bound) or None
    cost_after = _float(row.cost_after) or 0.0
    data = report_data_from(
        instance, instance.current_plan, recommended, provider=provider, period=period,
        legacy_cost=_float(row.legacy_cost), lower_bound=bound,
        gap=None if not bound else (cost_after - bound) / bound, seconds=row.seconds,
        proven_optimal=bool(row.proven_optimal),
        device_info=_device_info(devices), scope=scope,
    )  # fmt: skip
    if unassigned is not None:
        data = with_unassigned_sims(data, unassigned)
    if anonymous_shared_pool:
        data = without_other_customers_identities(data)
    else:
        data = dataclasses.replace(data, push=latest_push(engine, row.id))
    workbook = build_workbook(data)
    file_name = report_file_name(provider, period.key, row.id, scope)
    key = report_key(provider, period.key, row.id, file_name)
    stored = store_file(result_store.store(), key, workbook, CONTENT_TYPE)
    with engine.begin() as connection:
        record_result_file(
            connection, row.id, file_name, OPTIMIZATION_REPORT, CONTENT_TYPE, stored.uri,
            stored.size, stored.sha256,
        )  # fmt: skip
    return _InstanceReport(name, row, data, workbook, file_name, stored)


def _device_info(devices: pd.DataFrame) -> pd.DataFrame:
    """MSISDN and the projected usage the optimizer priced, per ICCID."""
    columns = [c for c in ("iccid", "msisdn") if c in devices.columns]
    return devices[columns].assign(projected_usage_mb=devices["usage_mb"])


def _period(engine: Engine, provider: str, period_key: str) -> BillingPeriodSpan:
    with engine.connect() as connection:
        return period_for_key(load_provider(connection, provider).cycle, period_key)


def _mobility_warnings(
    provider: str,
    period_key: str,
    groups: list[GroupTables],
    reports: list[_InstanceReport],
    run_url: str | None,
):
    """The warnings mail (M2M alert path): groups over their plan limit, groups skipped for
    another reason, SIMs left out for their plan type, plans dropped as invalid."""
    over = [g for g in groups if g.skipped_reason and len(g.rate_plans) > g.group.max_rate_plans]
    other = [
        f"Optimization group {g.group.name!r} was not optimized: {g.skipped_reason}."
        for g in groups
        if g.skipped_reason and g not in over
    ]
    for g in groups:
        if len(g.excluded):
            plans = sorted(set(g.excluded["rate_plan_code"].astype(str)))
            shown = ", ".join(plans[:EXCLUDED_PLANS_SHOWN]) + (
                ", ..." if len(plans) > EXCLUDED_PLANS_SHOWN else ""
            )
            other.append(
                f"Optimization group {g.group.name!r}: {len(g.excluded)} SIM(s) are on rate "
                f"plans of types the group does not allow ({shown}); they keep their plans "
                "and were not optimized."
            )
    dropped = dict.fromkeys(plan for r in reports for plan in r.data.dropped_plans)
    return warning_message(
        provider=provider, period_key=period_key,
        oversized_groups={g.group.name: len(g.rate_plans) for g in over},
        max_plans_per_group={g.group.name: g.group.max_rate_plans for g in over},
        dropped_plans=list(dropped), other=other, run_url=run_url,
        group_label="Optimization group",
    )  # fmt: skip


def _attention(warnings) -> list[str]:
    """The warnings, repeated in the report mail (they also go out as the warnings mail)."""
    if warnings is None:
        return []
    lines = [line for line in warnings.body.splitlines() if line.startswith("- ")]
    return ["Needs attention (also sent as a warnings mail):\n" + "\n".join(lines)]


def _mail_customers(
    context: dg.AssetExecutionContext,
    engine: Engine,
    notifier: NotifierResource,
    provider_id: int,
    reports: list[_InstanceReport],
) -> dict[str, dict]:
    """One mail per customer; answers per customer its recipients, whether it was sent and
    the error when it could not be."""
    run_url = notifier.run_url(context.run.run_id)
    outcome: dict[str, dict] = {}
    for report in reports:
        with engine.connect() as connection:
            recipients, invalid = customer_recipients(
                connection, provider_id, report.row.rev_customer_id
            )
        if invalid:
            context.log.warning(
                "customer %s: site notification entries that are not e-mail addresses are "
                "left out: %s", report.name, ", ".join(invalid),
            )  # fmt: skip
        message = success_message(
            report.data, workbook=report.workbook, file_name=report.file_name,
            report_uri=report.stored.uri, run_url=run_url, remarks=[CUSTOMER_REMARK],
        )  # fmt: skip
        sent, error = False, None
        try:
            sent = notifier.send(message, recipients) is not None
        except NotificationError as exc:  # the other customers still get theirs
            error = str(exc)
            context.log.error("customer %s: %s", report.name, error)
        outcome[report.name] = {"recipients": recipients.everyone, "sent": sent, "error": error}
    return outcome


def _groups_table(groups: list[GroupTables], reports: list[_InstanceReport]) -> str:
    by_name = {r.name: r for r in reports}
    lines = []
    for g in groups:
        report = by_name.get(g.group.name)
        if report is None:
            lines.append(
                f"| {g.group.name} | {len(g.devices)} | {len(g.excluded)} | - | - | - | - | "
                f"skipped: {g.skipped_reason} |"
            )
            continue
        lines.append(
            f"| {g.group.name} | {len(g.devices)} | {len(g.excluded)} | "
            f"{_money(report.data.cost_before)} | {_money(report.data.cost_after)} | "
            f"{_money(report.data.saving)} | {'yes' if report.matches_database else 'NO'} | "
            f"{report.file_name} |"
        )
    return (
        "| group | SIMs | excluded SIMs | before | after | saving | matches DB | report |\n"
        "|---|---:|---:|---:|---:|---:|---|---|\n" + "\n".join(lines)
    )


def _customers_table(reports: list[_InstanceReport], mails: dict[str, dict]) -> str:
    lines = []
    for r in reports:
        mail = mails[r.name]
        status = "sent" if mail["sent"] else ("FAILED" if mail["error"] else "not sent")
        locked = int(r.data.assignments["shared_pool"].sum())
        lines.append(
            f"| {r.name} | {r.data.devices - locked} | {locked} | {_money(r.data.cost_before)} | "
            f"{_money(r.data.cost_after)} | {_money(r.data.saving)} | "
            f"{'yes' if r.matches_database else 'NO'} | {len(mail['recipients'])} | {status} | "
            f"{r.file_name} |"
        )
    return (
        "| customer | SIMs | locked shared-pool SIMs | before | after | saving | matches DB | "
        "recipients | mail | report |\n"
        "|---|---:|---:|---:|---:|---:|---|---:|---|---|\n" + "\n".join(lines)
    )


def _float(value) -> float | None:
    return None if value is None else float(value)


def _money(amount: float | None) -> str:
    return usd_text(amount)


def _file_links(result_store: ResultStoreResource, reports) -> dict[str, str]:
    """Each workbook's browser link (the served reports folder, the S3 console), else its
    storage URI, by file name."""
    store = result_store.store()
    return {r.file_name: store.link(r.stored.uri) or r.stored.uri for r in reports}
