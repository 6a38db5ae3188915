"""Staging → ``Device``: the legacy ``usp_Update_Jasper_Device``, as set-based SQL.

:func:`merge_staging` runs on one connection inside the caller's transaction, so a crash at any
point leaves ``Device`` as it was (rolled back) or fully updated (committed). Every statement is
built with SQLAlchemy Core and works on SQLite, PostgreSQL and SQL Server alike: window functions
to keep the latest staged copy of each SIM, ``INSERT ... SELECT`` for new SIMs and history,
``UPDATE ... FROM`` for changed ones, ``IS DISTINCT FROM`` (rendered per dialect) to find
changes. Steps, in order:

1. keep one staged device per ICCID (latest ``date_updated``, then the later page) and one
   usage row per ICCID (bulk before cycle-to-date, then the later row);
2. record rate-plan changes of known SIMs in ``DeviceRatePlanHistory``;
3. update known SIMs whose carrier fields changed; 4. insert new SIMs;
5. write usage (bytes, MB, SMS, voice, projected MB, billing period) onto ``Device``;
6. add communication plans not seen before; 7. link SIMs to priced rate plans;
8. record the period's state of every SIM with usage in it in ``DeviceUsagePeriod`` (update
   the rows a previous sync of the period wrote, insert the others), because the next
   period's sync overwrites ``Device`` and a closed period can never be synced again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Float,
    Integer,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from carrier_opt.core.usage import BYTES_PER_MB, UNPROJECTED_STATUSES
from carrier_opt.db.models import (
    Device,
    DeviceRatePlanHistory,
    DeviceUsagePeriod,
    JasperCarrierRatePlan,
    JasperCommunicationPlan,
)
from carrier_opt.db.staging import DEVICE_STAGING, SEARCH_FIELDS, SYNCED_FIELDS, USAGE_STAGING
from carrier_opt.db.types import UtcDateTime

DEVICE: Table = Device.__table__  # type: ignore[assignment]
HISTORY: Table = DeviceRatePlanHistory.__table__  # type: ignore[assignment]
COMM_PLAN: Table = JasperCommunicationPlan.__table__  # type: ignore[assignment]
RATE_PLAN: Table = JasperCarrierRatePlan.__table__  # type: ignore[assignment]
USAGE_PERIOD: Table = DeviceUsagePeriod.__table__  # type: ignore[assignment]


PERIOD_FIELDS = (
    "status",
    "communication_plan",
    "carrier_rate_plan_code",
    "msisdn",
    "date_activated",
    "ctd_data_usage_bytes",
    "usage_mb",
    "projected_usage_mb",
    "ctd_sms_usage",
    "ctd_voice_usage_seconds",
    "usage_date",
)
"""``Device`` columns kept per billing period in ``DeviceUsagePeriod`` (what the export reads)."""


@dataclass(frozen=True)
class MergeCounts:
    """What one merge did to ``Device`` (and around it)."""

    staged: int = 0
    duplicates_dropped: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rate_plan_changes: int = 0
    usage_rows: int = 0
    communication_plans_added: int = 0
    period_usage_inserted: int = 0
    period_usage_updated: int = 0


def merge_staging(
    connection: Connection,
    provider_id: int,
    *,
    merged_at: datetime,
    billing_period_id: int | None,
    projection_factor: float,
) -> MergeCounts:
    """Merge the provider's staging rows into ``Device`` on ``connection`` (no commit here).

    ``projection_factor`` is the usage projection of this sync's usage date (see
    :func:`carrier_opt.core.usage.projection_factor`), applied to ACTIVATED SIMs.
    """
    duplicates = keep_latest_staged_devices(connection, provider_id)
    duplicates += keep_one_usage_row_per_sim(connection, provider_id)
    staged = connection.scalar(
        select(func.count()).where(DEVICE_STAGING.c.service_provider_id == provider_id)
    )
    changes = record_rate_plan_changes(connection, provider_id, merged_at)
    updated = update_changed_devices(connection, provider_id, merged_at)
    record_details_times(connection, provider_id)
    inserted = insert_new_devices(
        connection, provider_id, merged_at, billing_period_id, projection_factor
    )
    usage_rows = apply_usage(
        connection, provider_id, merged_at, billing_period_id, projection_factor
    )
    comm_plans = add_communication_plans(connection, provider_id, merged_at)
    link_rate_plans(connection, provider_id)
    period_updated, period_inserted = record_period_usage(
        connection, provider_id, merged_at, billing_period_id
    )
    return MergeCounts(
        staged=int(staged or 0),
        duplicates_dropped=duplicates,
        inserted=inserted,
        updated=updated,
        unchanged=int(staged or 0) - inserted - updated,
        rate_plan_changes=changes,
        usage_rows=usage_rows,
        communication_plans_added=comm_plans,
        period_usage_inserted=period_inserted,
        period_usage_updated=period_updated,
    )


def keep_latest_staged_devices(connection: Connection, provider_id: int) -> int:
    """Delete all but the latest staged copy of each SIM; answers how many were dropped."""
    staging = DEVICE_STAGING
    return _keep_first_per_sim(
        connection,
        staging,
        provider_id,
        (
            case((staging.c.date_updated.is_(None), 0), else_=1).desc(),
            staging.c.date_updated.desc(),
            staging.c.id.desc(),
        ),
    )


def keep_one_usage_row_per_sim(connection: Connection, provider_id: int) -> int:
    """Keep one usage row per SIM: bulk before cycle-to-date, then the last staged."""
    staging = USAGE_STAGING
    return _keep_first_per_sim(
        connection,
        staging,
        provider_id,
        (case((staging.c.source == "bulk", 0), else_=1), staging.c.id.desc()),
    )


def _keep_first_per_sim(
    connection: Connection, staging: Table, provider_id: int, order_by: tuple
) -> int:
    """Delete every staged row of the provider but the first of each ICCID in ``order_by``
    (a window function, so it runs set-based on every dialect); answers how many went."""
    ranked = (
        select(
            staging.c.id,
            func.row_number().over(partition_by=staging.c.iccid, order_by=order_by).label("rank"),
        )
        .where(staging.c.service_provider_id == provider_id)
        .subquery()
    )
    older = select(ranked.c.id).where(ranked.c.rank > 1)
    return _run(connection, delete(staging).where(staging.c.id.in_(older)))


def record_rate_plan_changes(connection: Connection, provider_id: int, merged_at: datetime) -> int:
    """One ``DeviceRatePlanHistory`` row per known SIM whose carrier rate plan changed."""
    staging = DEVICE_STAGING
    changed = (
        select(
            DEVICE.c.id,
            DEVICE.c.service_provider_id,
            DEVICE.c.iccid,
            DEVICE.c.carrier_rate_plan_code,
            staging.c.carrier_rate_plan_code,
            staging.c.date_updated,
            literal(merged_at, UtcDateTime()),
        )
        .select_from(DEVICE.join(staging, _same_sim(staging)))
        .where(
            staging.c.service_provider_id == provider_id,
            DEVICE.c.carrier_rate_plan_code.is_distinct_from(staging.c.carrier_rate_plan_code),
        )
    )
    columns = [
        "device_id",
        "service_provider_id",
        "iccid",
        "previous_rate_plan_code",
        "new_rate_plan_code",
        "date_updated",
        "changed_at",
    ]
    return _run(connection, insert(HISTORY).from_select(columns, changed))


def update_changed_devices(connection: Connection, provider_id: int, merged_at: datetime) -> int:
    """Copy the carrier fields of known SIMs that changed; answers how many changed.

    A SIM whose details could not be fetched (``details_at`` NULL) brings only the search's
    fields: the detail-only ones keep what ``Device`` has, never a NULL."""
    staging = DEVICE_STAGING
    incoming = {name: _incoming(staging, name) for name in SYNCED_FIELDS}
    any_change = or_(*(DEVICE.c[name].is_distinct_from(value) for name, value in incoming.items()))
    statement = (
        update(DEVICE)
        .where(_same_sim(staging), staging.c.service_provider_id == provider_id, any_change)
        .values(
            incoming | {"modified_at": merged_at, "last_synced_at": merged_at, "is_active": True}
        )
    )
    return _run(connection, statement)


def record_details_times(connection: Connection, provider_id: int) -> int:
    """Each known staged SIM's ``details_at``: when its details were fetched by this sync, or
    NULL when they were not (a call budget left them for later; the SIM was listed, so what
    ``Device`` holds may be out of date): the next syncs fetch those, stalest first."""
    staging = DEVICE_STAGING
    statement = (
        update(DEVICE)
        .where(
            _same_sim(staging),
            staging.c.service_provider_id == provider_id,
            DEVICE.c.details_at.is_distinct_from(staging.c.details_at),
        )
        .values(details_at=staging.c.details_at)
    )
    return _run(connection, statement)


def _incoming(staging: Table, name: str) -> ColumnElement[Any]:
    """The value a merge writes for ``name``: staged, or ``Device``'s own for a detail-only
    field of a SIM staged without its details."""
    if name in SEARCH_FIELDS:
        return staging.c[name]
    return case((staging.c.details_at.is_(None), DEVICE.c[name]), else_=staging.c[name])


def insert_new_devices(
    connection: Connection,
    provider_id: int,
    merged_at: datetime,
    billing_period_id: int | None,
    projection_factor: float,
) -> int:
    """Insert the staged SIMs ``Device`` does not know yet, with their usage; answers how many."""
    staging, usage = DEVICE_STAGING, USAGE_STAGING
    stamp = literal(merged_at, UtcDateTime())
    values = _usage_values(usage, staging.c.status, billing_period_id, projection_factor)
    has_usage = usage.c.id.is_not(None)
    new_sims = (
        select(
            staging.c.service_provider_id,
            staging.c.iccid,
            *(staging.c[name] for name in SYNCED_FIELDS if name != "iccid"),
            *(case((has_usage, value), else_=None) for value in values.values()),
            true(),
            stamp,
            stamp,
            staging.c.details_at,
        )
        .select_from(
            staging.outerjoin(
                usage,
                and_(
                    usage.c.service_provider_id == staging.c.service_provider_id,
                    usage.c.iccid == staging.c.iccid,
                ),
            )
        )
        .where(
            staging.c.service_provider_id == provider_id,
            ~exists().where(_same_sim(staging)),
        )
    )
    columns = [
        "service_provider_id",
        "iccid",
        *(name for name in SYNCED_FIELDS if name != "iccid"),
        *values,
        "is_active",
        "created_at",
        "last_synced_at",
        "details_at",
    ]
    return _run(connection, insert(DEVICE).from_select(columns, new_sims))


def apply_usage(
    connection: Connection,
    provider_id: int,
    merged_at: datetime,
    billing_period_id: int | None,
    projection_factor: float,
) -> int:
    """Write staged usage onto known SIMs where it changed; answers how many SIMs have usage.

    Rows whose usage, projection, period and reading time are already what staging says (new
    SIMs inserted with their usage) are left alone. The reading time counts: an idle SIM read
    again is a fresh reading, and a call budget and the staleness figures go by its age.
    """
    usage = USAGE_STAGING
    values = _usage_values(usage, DEVICE.c.status, billing_period_id, projection_factor)
    compared = ("ctd_data_usage_bytes", "projected_usage_mb", "ctd_sms_usage")
    compared += ("ctd_voice_usage_seconds", "billing_period_id", "usage_date")
    any_change = or_(*(DEVICE.c[name].is_distinct_from(values[name]) for name in compared))
    connection.execute(
        update(DEVICE)
        .where(_same_sim(usage), usage.c.service_provider_id == provider_id, any_change)
        .values({**values, "last_synced_at": merged_at})
    )
    with_usage = select(func.count()).where(
        usage.c.service_provider_id == provider_id, exists().where(_same_sim(usage))
    )
    return int(connection.scalar(with_usage) or 0)


def _usage_values(
    usage: Table,
    status: ColumnElement[str],
    billing_period_id: int | None,
    projection_factor: float,
) -> dict[str, ColumnElement[Any]]:
    """``Device`` usage columns computed from a usage staging row (MB = bytes / 2**20)."""
    usage_mb = cast(usage.c.data_usage_bytes, Float) / float(BYTES_PER_MB)
    projected = case(
        (
            or_(status.is_(None), status.not_in(sorted(UNPROJECTED_STATUSES))),
            usage_mb * projection_factor,
        ),
        else_=usage_mb,
    )
    return {
        "ctd_data_usage_bytes": usage.c.data_usage_bytes,
        "usage_mb": usage_mb,
        "projected_usage_mb": projected,
        "ctd_sms_usage": usage.c.sms_usage,
        "ctd_voice_usage_seconds": usage.c.voice_usage_seconds,
        "usage_date": usage.c.usage_date,
        "billing_period_id": literal(billing_period_id, Integer()),
    }


def add_communication_plans(connection: Connection, provider_id: int, merged_at: datetime) -> int:
    """Insert communication plans seen on staged SIMs that the provider does not have yet."""
    staging = DEVICE_STAGING
    seen = (
        select(staging.c.communication_plan)
        .where(
            staging.c.service_provider_id == provider_id,
            staging.c.communication_plan.is_not(None),
            ~exists().where(
                COMM_PLAN.c.service_provider_id == provider_id,
                COMM_PLAN.c.name == staging.c.communication_plan,
            ),
        )
        .distinct()
        .subquery()
    )
    new_plans = select(
        literal(provider_id), seen.c.communication_plan, true(), literal(merged_at, UtcDateTime())
    )
    statement = insert(COMM_PLAN).from_select(
        ["service_provider_id", "name", "is_active", "created_at"], new_plans
    )
    return _run(connection, statement)


def link_rate_plans(connection: Connection, provider_id: int) -> None:
    """Point each SIM's ``carrier_rate_plan_id`` at the priced plan of its code (or NULL)."""
    plan = RATE_PLAN
    connection.execute(
        update(DEVICE)
        .where(
            DEVICE.c.service_provider_id == provider_id,
            plan.c.service_provider_id == provider_id,
            plan.c.rate_plan_code == DEVICE.c.carrier_rate_plan_code,
            DEVICE.c.carrier_rate_plan_id.is_distinct_from(plan.c.id),
        )
        .values(carrier_rate_plan_id=plan.c.id)
    )
    priced = exists().where(
        plan.c.service_provider_id == provider_id,
        plan.c.rate_plan_code == DEVICE.c.carrier_rate_plan_code,
    )
    connection.execute(
        update(DEVICE)
        .where(
            DEVICE.c.service_provider_id == provider_id,
            DEVICE.c.carrier_rate_plan_id.is_not(None),
            ~priced,
        )
        .values(carrier_rate_plan_id=None)
    )


def record_period_usage(
    connection: Connection, provider_id: int, merged_at: datetime, billing_period_id: int | None
) -> tuple[int, int]:
    """Upsert the period's row of every SIM whose ``Device`` usage belongs to the period.

    Answers (updated, inserted). Two set-based statements instead of a dialect's upsert
    (``ON CONFLICT``, ``MERGE``): update the rows an earlier sync of the period wrote where
    something changed, then insert the missing ones. Both read ``Device`` after steps 3–7, so
    the rows hold exactly what ``Device`` says for the period at the end of this merge. No
    period (a merge outside a sync) records nothing.
    """
    if billing_period_id is None:
        return 0, 0
    history = USAGE_PERIOD
    in_period = and_(
        DEVICE.c.service_provider_id == provider_id,
        DEVICE.c.billing_period_id == billing_period_id,
    )
    any_change = or_(*(history.c[name].is_distinct_from(DEVICE.c[name]) for name in PERIOD_FIELDS))
    updated = _run(
        connection,
        update(history)
        .where(
            history.c.device_id == DEVICE.c.id,
            history.c.billing_period_id == billing_period_id,
            in_period,
            any_change,
        )
        .values({name: DEVICE.c[name] for name in PERIOD_FIELDS} | {"recorded_at": merged_at}),
    )
    recorded = exists().where(
        history.c.device_id == DEVICE.c.id, history.c.billing_period_id == billing_period_id
    )
    missing = select(
        DEVICE.c.id,
        literal(billing_period_id, Integer()),
        *(DEVICE.c[name] for name in PERIOD_FIELDS),
        literal(merged_at, UtcDateTime()),
    ).where(in_period, ~recorded)
    columns = ["device_id", "billing_period_id", *PERIOD_FIELDS, "recorded_at"]
    inserted = _run(connection, insert(history).from_select(columns, missing))
    return updated, inserted


def _same_sim(staging: Table) -> ColumnElement[bool]:
    """``Device`` row and staging row describe the same SIM of the same provider."""
    return and_(
        DEVICE.c.service_provider_id == staging.c.service_provider_id,
        DEVICE.c.iccid == staging.c.iccid,
    )


def _run(connection: Connection, statement: Executable) -> int:
    """Execute a set-based statement; answers how many rows it affected.

    ``preserve_rowcount``: SQLAlchemy 2 only guarantees ``rowcount`` for UPDATE and DELETE.
    """
    result = connection.execute(statement.execution_options(preserve_rowcount=True))
    return max(int(result.rowcount or 0), 0)
