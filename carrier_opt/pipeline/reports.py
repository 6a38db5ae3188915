"""The optimization reports of every kind, built the same way: one workbook per instance.

An M2M run has one instance, a mobility run one per optimization group, a customer run one per
customer. For each, the report is priced on the instance exactly as the optimizer saw it
(rebuilt from the period's stored tables by :mod:`carrier_opt.pipeline.solved`), with the
winning plans read back from the database and the figures stored on the instance; it is then
stored (a local folder or S3) and recorded in ``OptimizationInstanceResultFile``. Nothing here
sends mail: the caller has the reports, and their totals checked against the database.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from carrier_opt.core.billing import BillingPeriodSpan, period_for_key
from carrier_opt.core.instance import Instance, instance_from_frames
from carrier_opt.core.money import shown_as_stored
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.customer_optimization import CustomerInput, period_customers
from carrier_opt.db.device_details import details_not_read
from carrier_opt.db.export import instance_tables
from carrier_opt.db.instance_results import (
    SessionInstance,
    customer_winners,
    session_instances,
    stored_report_uri,
)
from carrier_opt.db.mobility import MobilityGroups
from carrier_opt.db.models import RunStatus
from carrier_opt.db.providers import load_provider
from carrier_opt.db.push_history import instance_latest_push
from carrier_opt.db.settlements import latest_settlement
from carrier_opt.db.sync_facts import sync_facts
from carrier_opt.db.trend import savings_trend
from carrier_opt.db.types import utc_now
from carrier_opt.delivery.report_data import (
    PushSummary,
    ReportData,
    report_data_from,
    with_unassigned_sims,
    without_other_customers_identities,
)
from carrier_opt.delivery.storage import (
    OPTIMIZATION_REPORT,
    ResultStore,
    StoredFile,
    record_result_file,
    report_file_name,
    report_key,
    store_file,
)
from carrier_opt.delivery.workbook import CONTENT_TYPE, build_workbook
from carrier_opt.errors import CarrierOptError
from carrier_opt.pipeline.insights import idle_sims_of
from carrier_opt.pipeline.solved import m2m_solved, mobility_solved, plan_indices
from carrier_opt.pipeline.sync import activated_staleness

CUSTOMER_JOB = "optimize_customer_period"


def _same(shown: float | None, stored: Decimal | None) -> bool:
    """A workbook total and its stored figure agree (both missing, or to the cent)."""
    if shown is None or stored is None:
        return shown is None and stored is None
    return shown_as_stored(shown, stored)


@dataclass(frozen=True)
class InstanceReport:
    """One instance's report, as stored."""

    name: str
    """What the report covers: the provider (M2M), the optimization group or the customer."""
    row: SessionInstance
    data: ReportData
    workbook: bytes
    file_name: str
    stored: StoredFile

    @property
    def matches_database(self) -> bool:
        """The workbook's totals equal the instance's stored costs to the cent."""
        return _same(self.data.cost_after, self.row.cost_after) and _same(
            self.data.cost_before, self.row.cost_before
        )


@dataclass(frozen=True)
class M2MReport:
    """The M2M report of a session, with what its warnings mail needs."""

    row: SessionInstance
    """The session's instance with its stored figures."""
    data: ReportData
    oversized_groups: dict[str, int]
    """Communication groups skipped over the plan limit, with their number of plans."""
    plan_limit: int


def report_data_for(
    row: SessionInstance,
    instance: Instance,
    recommended: np.ndarray,
    devices: pd.DataFrame,
    *,
    provider: str,
    period: BillingPeriodSpan,
    scope: str | None = None,
    details_pending: frozenset[str] = frozenset(),
) -> ReportData:
    """An instance's report figures: both assignments priced by the cost model, beside the
    legacy cost, the bound and the run time stored on the instance; ``details_pending``: the
    SIMs whose carrier details are still to come (their MSISDN is shown as not read yet)."""
    bound = _float(row.lower_bound) or None
    cost_after = _float(row.cost_after) or 0.0
    return report_data_from(
        instance,
        instance.current_plan,
        recommended,
        provider=provider,
        period=period,
        legacy_cost=_float(row.legacy_cost),
        lower_bound=bound,
        gap=None if not bound else (cost_after - bound) / bound,
        seconds=row.seconds,
        proven_optimal=bool(row.proven_optimal),
        device_info=_device_info(devices),
        scope=scope,
        details_pending=details_pending,
    )


def store_report(
    engine: Engine,
    store: ResultStore,
    row: SessionInstance,
    data: ReportData,
    *,
    name: str,
    provider: str,
    period_key: str,
    scope: str | None = None,
) -> InstanceReport:
    """Build the workbook, store it (replacing an earlier version) and record the file."""
    workbook = build_workbook(data)
    file_name = report_file_name(provider, period_key, row.id, scope)
    key = report_key(provider, period_key, row.id, file_name)
    stored = store_file(store, key, workbook, CONTENT_TYPE)
    with engine.begin() as connection:
        record_result_file(
            connection,
            row.id,
            file_name,
            stored,
            kind=OPTIMIZATION_REPORT,
            content_type=CONTENT_TYPE,
        )
    return InstanceReport(name, row, data, workbook, file_name, stored)


def latest_push(engine: Engine, instance_id: int) -> PushSummary | None:
    """The newest push (or dry run) of an instance that ran, for its report: a push refused
    the lock meanwhile is mentioned, never shown in its place."""
    with engine.connect() as connection:
        latest = instance_latest_push(connection, instance_id)
    return None if latest is None else PushSummary.from_latest(latest)


# --------------------------------------------------------------------------- M2M


def m2m_report(
    engine: Engine,
    ids: runs.RunIds,
    provider: str,
    period_key: str,
    now: datetime | None = None,
) -> M2MReport:
    """The M2M session's report figures (not stored yet): the winner priced on the instance
    the optimizer saw (SIMs of skipped groups locked on their plans), with its push and the
    facts of the syncs behind it."""
    tables = instance_tables(engine, provider, period_key)
    solved, groups, limit = m2m_solved(engine, ids, provider, tables)
    row = _instance_row(engine, ids)
    instance = solved.instance
    data = report_data_for(
        row,
        instance,
        solved.target,
        tables.devices,
        provider=provider,
        period=tables.period,
        details_pending=_details_pending(engine, ids.provider_id),
    )
    status = dict(zip(tables.devices["iccid"], tables.devices["status"], strict=True))
    activated = np.array([status.get(iccid) == "ACTIVATED" for iccid in instance.iccids])
    with engine.connect() as connection:
        facts = sync_facts(
            connection,
            ids.provider_id,
            tables.billing_period_id,
            int((activated & ~instance.locked).sum()),
        )
    now = now or utc_now()
    if now < tables.period.end:  # a closed period is settled on its final usage, not aged
        figures = activated_staleness(engine, ids.provider_id, tables.period, now)
        facts = dataclasses.replace(facts, usage_age=figures.line())
    data = dataclasses.replace(
        data,
        push=latest_push(engine, solved.instance_id),
        sync=facts,
        idle=idle_sims_of(engine, provider, tables, instance),
        trend=savings_trend(engine, provider),
        settlement=latest_settlement(engine, ids.provider_id),
    )
    oversized = {g.name: len(g.rate_plans) for g in groups if g.skipped_reason}
    return M2MReport(row, data, oversized, limit)


def store_m2m_report(
    engine: Engine,
    store: ResultStore,
    ids: runs.RunIds,
    provider: str,
    period_key: str,
    now: datetime | None = None,
) -> InstanceReport:
    """The M2M report, stored and recorded (``now``: the run's clock, for the usage age)."""
    report = m2m_report(engine, ids, provider, period_key, now)
    return store_report(
        engine,
        store,
        report.row,
        report.data,
        name=provider,
        provider=provider,
        period_key=period_key,
    )


def m2m_report_uri(engine: Engine, ids: runs.RunIds, provider: str, period_key: str) -> str:
    """Where the M2M report of ``ids`` was stored (it must have been)."""
    name = m2m_report_file_name(ids, provider, period_key)
    uri = stored_report_uri(engine, ids.instance_id, name)
    if uri is None:
        raise CarrierOptError(
            f"no stored report {name} for instance {ids.instance_id}: materialize "
            "optimization_report first"
        )
    return uri


def m2m_report_file_name(ids: runs.RunIds, provider: str, period_key: str) -> str:
    """The M2M report's file name (the name ``optimization_report`` stored it under)."""
    assert ids.instance_id is not None
    return report_file_name(provider, period_key, ids.instance_id)


def _instance_row(engine: Engine, ids: runs.RunIds) -> SessionInstance:
    for row in session_instances(engine, ids.session_id):
        if row.id == ids.instance_id:
            return row
    raise CarrierOptError(f"instance {ids.instance_id} is not in session {ids.session_guid}")


# --------------------------------------------------------------------------- mobility


def store_mobility_reports(
    engine: Engine, store: ResultStore, ids: runs.RunIds, provider: str, period_key: str
) -> tuple[MobilityGroups, list[InstanceReport]]:
    """Each optimized group's workbook (with its push), stored and recorded."""
    split, solved = mobility_solved(engine, ids.session_id, ids.session_guid, provider, period_key)
    pending = _details_pending(engine, ids.provider_id)
    reports = []
    for group in solved:
        name = group.group.group.name
        scope = f"Optimization group {name}"
        data = report_data_for(
            group.row,
            group.solved.instance,
            group.solved.target,
            group.group.devices,
            provider=provider,
            period=group.solved.period,
            scope=scope,
            details_pending=pending,
        )
        data = dataclasses.replace(data, push=latest_push(engine, group.row.id))
        reports.append(
            store_report(
                engine,
                store,
                group.row,
                data,
                name=name,
                provider=provider,
                period_key=period_key,
                scope=scope,
            )
        )
    return split, reports


# --------------------------------------------------------------------------- customer


def store_customer_reports(
    engine: Engine, store: ResultStore, ids: runs.RunIds, provider: str, period_key: str
) -> tuple[CustomerInput, list[InstanceReport]]:
    """Each customer's workbook, stored and recorded: the customer's SIMs on no customer plan
    listed at $0, and the SIMs of other customers in its shared pools without their
    identities (a customer's report must not show other customers' SIMs). Each says how many
    of the provider's SIMs are in no customer's report because their customer is not read
    yet (a count only: they may be other customers' SIMs)."""
    found = period_customers(engine, provider, period_key)
    pending = _details_pending(engine, ids.provider_id)
    with engine.connect() as connection:
        period = period_for_key(load_provider(connection, provider).cycle, period_key)
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
                f"{ids.session_guid}: re-run the whole {CUSTOMER_JOB} partition"
            )
        instance = instance_from_frames(
            tables.rate_plans, tables.comm_plan_rate_plans, tables.devices
        )
        winners = plan_indices(
            instance.iccids, instance.plan_codes, customer_winners(engine, row.id), CUSTOMER_JOB
        )
        scope = f"Customer {tables.customer}"
        data = report_data_for(
            row,
            instance,
            winners,
            tables.devices,
            provider=provider,
            period=period,
            scope=scope,
            details_pending=pending,
        )
        data = with_unassigned_sims(data, found.unassigned_of(tables.customer))
        data = dataclasses.replace(data, customer_not_read=len(found.customer_not_read))
        data = without_other_customers_identities(data)
        reports.append(
            store_report(
                engine,
                store,
                row,
                data,
                name=tables.customer,
                provider=provider,
                period_key=period_key,
                scope=scope,
            )
        )
    return found, reports


def _details_pending(engine: Engine, provider_id: int) -> frozenset[str]:
    """The provider's SIMs whose carrier details are still to come."""
    with engine.connect() as connection:
        return details_not_read(connection, provider_id)


def _device_info(devices: pd.DataFrame) -> pd.DataFrame:
    """Per ICCID: the MSISDN, and the cycle-to-date usage with the moment it was read (the
    instance itself carries the projected usage the optimizer priced)."""
    columns = ("iccid", "msisdn", "ctd_usage_mb", "usage_date")
    return devices[[c for c in columns if c in devices.columns]]


def _float(value) -> float | None:
    return None if value is None else float(value)
