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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    union,
    update,
)

from carrier_opt.db.models import Device, JasperDeviceStaging, JasperUsageStaging
from carrier_opt.db.types import UtcDateTime

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


def store_details(engine: Engine, provider_id: int, values: list[dict[str, Any]]) -> None:
    """Write Get Device Details answers onto the provider's staged SIMs (rows keyed by
    ``iccid``, one transaction)."""
    if not values:
        return
    staging = DEVICE_STAGING
    statement = (
        update(staging)
        .where(
            staging.c.service_provider_id == provider_id,
            staging.c.iccid == bindparam("b_iccid"),
        )
        .values({name: bindparam(f"b_{name}") for name in values[0] if name != "iccid"})
    )
    with engine.begin() as connection:
        connection.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in values])


def sims_without_details(engine: Engine, provider_id: int) -> list[str]:
    """Staged ICCIDs that have no details yet (sorted): what a resumed sync still fetches."""
    staging = DEVICE_STAGING
    with engine.connect() as connection:
        return sorted(
            connection.scalars(
                select(staging.c.iccid)
                .where(staging.c.service_provider_id == provider_id)
                .group_by(staging.c.iccid)
                .having(func.count(staging.c.details_at) == 0)
            )
        )


def staged_sim_count(engine: Engine, provider_id: int) -> int:
    """How many distinct SIMs the provider's search has staged."""
    staging = DEVICE_STAGING
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count(func.distinct(staging.c.iccid))).where(
                    staging.c.service_provider_id == provider_id
                )
            )
            or 0
        )


def sims_on_plan(engine: Engine, provider_id: int, plan: str) -> bool:
    """Whether any staged or known SIM of the provider is on rate plan ``plan``."""
    device = _device_table()
    staged = select(DEVICE_STAGING.c.iccid).where(
        DEVICE_STAGING.c.service_provider_id == provider_id,
        DEVICE_STAGING.c.carrier_rate_plan_code == plan,
    )
    known = select(device.c.iccid).where(
        device.c.service_provider_id == provider_id, device.c.carrier_rate_plan_code == plan
    )
    with engine.connect() as connection:
        return connection.execute(union(staged, known).limit(1)).first() is not None


def rate_plans_in_use(engine: Engine, provider_id: int) -> list[str]:
    """Rate plans of the staged SIMs and of the SIMs already known (sorted, no NULLs)."""
    device = _device_table()
    staged = select(DEVICE_STAGING.c.carrier_rate_plan_code.label("code")).where(
        DEVICE_STAGING.c.service_provider_id == provider_id
    )
    known = select(device.c.carrier_rate_plan_code.label("code")).where(
        device.c.service_provider_id == provider_id
    )
    return sorted(_non_null(engine, union(staged, known)))


def known_iccids(engine: Engine, provider_id: int) -> set[str]:
    """ICCIDs of the staged SIMs and of the SIMs already known."""
    device = _device_table()
    staged = select(DEVICE_STAGING.c.iccid.label("code")).where(
        DEVICE_STAGING.c.service_provider_id == provider_id
    )
    known = select(device.c.iccid.label("code")).where(device.c.service_provider_id == provider_id)
    return set(_non_null(engine, union(staged, known)))


def _device_table() -> Table:
    return Device.__table__  # type: ignore[return-value]


def _non_null(engine: Engine, query: CompoundSelect) -> list[str]:
    with engine.connect() as connection:
        return [value for (value,) in connection.execute(query) if value]


def staged_iccids(engine: Engine, provider_id: int) -> set[str]:
    """The ICCIDs the provider's search has staged (what the listing held)."""
    staging = DEVICE_STAGING
    with engine.connect() as connection:
        return set(
            connection.scalars(
                select(staging.c.iccid).where(staging.c.service_provider_id == provider_id)
            )
        )


def known_modified_since(engine: Engine, provider_id: int, since: datetime) -> set[str]:
    """Known SIMs whose carrier modification time is at or after ``since``: a search from
    ``since`` must list every one of them (a modification time only moves forward)."""
    device = _device_table()
    with engine.connect() as connection:
        return set(
            connection.scalars(
                select(device.c.iccid).where(
                    device.c.service_provider_id == provider_id,
                    device.c.date_updated >= since,
                )
            )
        )


def known_device_iccids(engine: Engine, provider_id: int) -> set[str]:
    """ICCIDs ``Device`` already holds for the provider (not what is only staged)."""
    device = _device_table()
    with engine.connect() as connection:
        return set(
            connection.scalars(
                select(device.c.iccid).where(device.c.service_provider_id == provider_id)
            )
        )


def activated_iccids(engine: Engine, provider_id: int) -> list[str]:
    """The provider's ACTIVATED SIMs (those a run prices on their usage)."""
    device = _device_table()
    with engine.connect() as connection:
        return list(
            connection.scalars(
                select(device.c.iccid).where(
                    device.c.service_provider_id == provider_id,
                    device.c.status == "ACTIVATED",
                )
            )
        )


def pending_details(engine: Engine, provider_id: int, *, exclude: set[str]) -> list[str]:
    """Known SIMs whose details an earlier sync's budget left for later (``details_at``
    NULL), longest waiting first, leaving out ``exclude`` (already staged)."""
    device = _device_table()
    with engine.connect() as connection:
        rows = connection.scalars(
            select(device.c.iccid)
            .where(device.c.service_provider_id == provider_id, device.c.details_at.is_(None))
            .order_by(device.c.last_synced_at, device.c.iccid)
        )
        return [iccid for iccid in rows if iccid not in exclude]


def stage_known_sims(
    engine: Engine, provider_id: int, iccids: Sequence[str], staged_at: datetime
) -> int:
    """Stage known SIMs as ``Device`` holds them (no details yet), so that Get Device Details
    can fill them and the merge write them back; answers how many."""
    if not iccids:
        return 0
    device = _device_table()
    names = [name for name in DEVICE_COLUMNS if name not in ("page_number", "staged_at")]
    staged = 0
    with engine.begin() as connection:
        for start in range(0, len(iccids), 500):
            chunk = list(iccids[start : start + 500])
            rows = connection.execute(
                select(*(device.c[name] for name in names)).where(
                    device.c.service_provider_id == provider_id, device.c.iccid.in_(chunk)
                )
            ).all()
            values = [
                {**dict(zip(names, row, strict=True)), "page_number": None, "staged_at": staged_at}
                for row in rows
            ]
            if values:
                connection.execute(insert(DEVICE_STAGING), values)
            staged += len(values)
    return staged


def staged_on_pages(engine: Engine, provider_id: int, last_page: int) -> list[str]:
    """ICCIDs staged from search pages 1 to ``last_page`` (a split listing's recent part)."""
    staging = DEVICE_STAGING
    with engine.connect() as connection:
        return list(
            connection.scalars(
                select(staging.c.iccid).where(
                    staging.c.service_provider_id == provider_id,
                    staging.c.page_number <= last_page,
                )
            )
        )
