"""Bulk loading of carrier records into the staging tables.

The staging tables hold what the carrier sent, as it sent it (duplicates included); the merge
(:mod:`carrier_opt.db.merge`) turns them into ``Device`` rows. Loading is the hot path of a
sync, so rows go in as tuples, in batches: PostgreSQL through ``COPY ... FROM STDIN``
(psycopg 3), other databases through one ``executemany`` per batch.

Each batch commits on its own: staging is scratch space, cleared when a fresh sync starts (by
the holder of the provider's running sync only) and kept when a stopped sync is resumed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert

from carrier_opt.db.models import JasperDeviceStaging, JasperUsageStaging
from carrier_opt.db.types import UtcDateTime
from carrier_opt.jasper.payloads import CtdUsage, Device, RatePlanUsage

DEVICE_STAGING: Table = JasperDeviceStaging.__table__  # type: ignore[assignment]
USAGE_STAGING: Table = JasperUsageStaging.__table__  # type: ignore[assignment]

SYNCED_FIELDS = (
    "imsi",
    "msisdn",
    "imei",
    "status",
    "communication_plan",
    "carrier_rate_plan_code",
    "account_id",
    "customer",
    "date_activated",
    "date_added",
    "date_updated",
)
"""Device columns the carrier owns: staged as sent, then copied into ``Device`` by the merge,
which compares them to detect a change."""

SEARCH_FIELDS = ("status", "communication_plan", "carrier_rate_plan_code")
"""The fields Search Devices answers (with the ICCID); the others need Get Device Details."""

DEVICE_COLUMNS = ("service_provider_id", "page_number", "staged_at", "iccid", *SYNCED_FIELDS)
USAGE_COLUMNS = (
    "service_provider_id",
    "iccid",
    "rate_plan_code",
    "cycle_start_date",
    "data_usage_bytes",
    "sms_usage",
    "voice_usage_seconds",
    "source",
    "usage_date",
    "staged_at",
)
BATCH_ROWS = 5_000
"""Rows per staging transaction: large enough for throughput, small enough to stay in memory."""

Row = tuple[Any, ...]


def clear_staging(engine: Engine, provider_id: int) -> None:
    """Delete the provider's rows from both staging tables (the first step of every sync)."""
    with engine.begin() as connection:
        for table in (DEVICE_STAGING, USAGE_STAGING):
            connection.execute(delete(table).where(table.c.service_provider_id == provider_id))


def clear_usage_staging(engine: Engine, provider_id: int) -> None:
    """Delete the provider's usage staging rows (usage is read afresh by every sync)."""
    with engine.begin() as connection:
        connection.execute(
            delete(USAGE_STAGING).where(USAGE_STAGING.c.service_provider_id == provider_id)
        )


def detail_values(device: Device, fetched_at: datetime) -> dict[str, Any]:
    """What Get Device Details adds to a staged SIM (every field the search lacks, and the
    fresher search fields), keyed by staging column, with ``iccid`` and ``details_at``."""
    return {
        "iccid": device.iccid,
        "imsi": _cut(device.imsi, 20),
        "msisdn": _cut(device.msisdn, 20),
        "imei": _cut(device.imei, 20),
        "status": _cut(device.status, 30),
        "communication_plan": _cut(device.communication_plan, 255),
        "carrier_rate_plan_code": _cut(device.rate_plan, 255),
        "account_id": _cut(device.account_id, 50),
        "customer": _cut(device.customer, 255),
        "date_activated": device.date_activated,
        "date_added": device.date_added,
        "date_updated": device.date_updated,
        "details_at": fetched_at,
    }


def device_row(
    provider_id: int, device: Device, page_number: int | None, staged_at: datetime
) -> Row:
    """A ``JasperDeviceStaging`` row (in :data:`DEVICE_COLUMNS` order) from a parsed record."""
    return (
        provider_id,
        page_number,
        staged_at,
        device.iccid,
        _cut(device.imsi, 20),
        _cut(device.msisdn, 20),
        _cut(device.imei, 20),
        _cut(device.status, 30),
        _cut(device.communication_plan, 255),
        _cut(device.rate_plan, 255),
        _cut(device.account_id, 50),
        _cut(device.customer, 255),
        device.date_activated,
        device.date_added,
        device.date_updated,
    )


def bulk_usage_row(
    provider_id: int, usage: RatePlanUsage, usage_date: datetime, staged_at: datetime
) -> Row:
    """A ``JasperUsageStaging`` row from one SIM of a rate plan's bulk usage."""
    return (
        provider_id,
        usage.iccid,
        _cut(usage.rate_plan, 255),
        usage.cycle_start_date,
        usage.data_bytes or 0,
        usage.sms_count or 0,
        usage.voice_seconds or 0,
        "bulk",
        usage_date,
        staged_at,
    )


def ctd_usage_row(
    provider_id: int,
    usage: CtdUsage,
    cycle_start_date: date,
    usage_date: datetime,
    staged_at: datetime,
) -> Row:
    """A ``JasperUsageStaging`` row from one SIM's cycle-to-date usage (the fallback)."""
    return (
        provider_id,
        usage.iccid,
        _cut(usage.rate_plan, 255),
        cycle_start_date,
        usage.ctd_data_bytes or 0,
        usage.ctd_sms_count or 0,
        usage.ctd_voice_seconds or 0,
        "ctd",
        usage_date,
        staged_at,
    )


def load_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; answers the row count."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        _copy_rows(connection, table, columns, rows)
    elif dialect == "sqlite":
        _executemany_processed(connection, table, columns, rows)
    else:
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
    return len(rows)


class StagingLoader:
    """Buffers rows for one staging table and loads them a batch at a time."""

    def __init__(
        self, engine: Engine, table: Table, columns: Sequence[str], batch_rows: int = BATCH_ROWS
    ) -> None:
        self.engine = engine
        self.table = table
        self.columns = tuple(columns)
        self.batch_rows = batch_rows
        self.loaded = 0
        self._buffer: list[Row] = []

    def add(self, row: Row) -> None:
        """Queue one row; a full batch is written at once."""
        self._buffer.append(row)
        if len(self._buffer) >= self.batch_rows:
            self.flush()

    def extend(self, rows: Iterable[Row]) -> None:
        """Queue many rows."""
        for row in rows:
            self.add(row)

    def flush(self) -> None:
        """Write what is buffered, in one transaction."""
        if not self._buffer:
            return
        with self.engine.begin() as connection:
            self.loaded += load_rows(connection, self.table, self.columns, self._buffer)
        self._buffer = []


def _copy_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> None:
    """PostgreSQL binary ``COPY FROM STDIN`` on the connection's own transaction.

    Binary, not text: the server then skips parsing timestamps, which roughly triples the
    rows per second on a small machine.
    """
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    column_list = ", ".join(preparer.quote(column) for column in columns)
    statement = f"COPY {preparer.format_table(table)} ({column_list}) FROM STDIN (FORMAT BINARY)"
    types = [_pg_copy_type(table.c[column].type.compile(dialect=dialect)) for column in columns]
    driver_connection: Any = connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _pg_copy_type(compiled: str) -> str:
    """The PostgreSQL type psycopg must dump a column's values as, for binary COPY."""
    name = compiled.lower()
    if name.startswith(("varchar", "character varying", "text")):
        return "text"  # varchar and text share their binary representation
    known = {
        "integer": "int4",
        "bigint": "int8",
        "smallint": "int2",
        "boolean": "bool",
        "date": "date",
        "float": "float8",
        "double precision": "float8",
        "timestamp with time zone": "timestamptz",
    }
    if name not in known:
        raise TypeError(f"no binary COPY type for column type {compiled!r}")
    return known[name]


def _executemany_processed(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> None:
    """One driver-level ``executemany`` with values converted as SQLAlchemy would store them.

    Only columns that need a conversion are touched; aware datetimes become SQLite's UTC text
    through one C call (:func:`_sqlite_utc_text`, the format SQLAlchemy itself writes).
    """
    dialect = connection.dialect
    conversions = []
    for index, column in enumerate(columns):
        column_type = table.c[column].type
        if isinstance(column_type, UtcDateTime):
            conversions.append((index, _sqlite_utc_text))
            continue
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            conversions.append((index, process))
    converted: list[Row] = []
    for row in rows:
        values = list(row)
        for index, process in conversions:
            if values[index] is not None:
                values[index] = process(values[index])
        converted.append(tuple(values))
    preparer = dialect.identifier_preparer
    column_list = ", ".join(preparer.quote(column) for column in columns)
    placeholders = ", ".join("?" for _ in columns)
    target = preparer.format_table(table)
    statement = f"INSERT INTO {target} ({column_list}) VALUES ({placeholders})"
    connection.exec_driver_sql(statement, converted)


def _sqlite_utc_text(moment: datetime) -> str:
    """An aware datetime as SQLAlchemy stores it in SQLite: UTC ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if moment.tzinfo is not UTC:  # the parsed carrier dates already are: the fast path
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment!r}: store aware datetimes (UTC) only")
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _cut(text: str | None, length: int) -> str | None:
    """Carrier text trimmed to the column's width (an over-long value must not fail a sync)."""
    return text if text is None or len(text) <= length else text[:length]
