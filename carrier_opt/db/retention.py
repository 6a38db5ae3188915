"""Retention: old periods' device-level results archived or deleted, their totals kept.

Each optimization run stores one row per SIM *per queue* it priced (``OptimizationDeviceResult``
and, for mobility, ``OptimizationMobilityDeviceResult``; locked shared-pool SIMs in the two
``*SharedPoolResult`` tables). With dozens of queues, hourly runs on the last day and hundreds
of providers, these rows are nearly all of the database's growth (docs/database.md, Growth).
Once a period is well closed nobody reads them: its report is stored (the workbook), its
changes are in the push audit (``RatePlanUpdate``), and what an operator compares across
periods is the totals.

:func:`apply_retention` therefore deletes, for every closed period older than a provider's
newest ``keep_periods`` periods, the device-level rows of its runs, and keeps everything else:
sessions, instances (cost before/after, legacy cost, bound), queues with their total cost,
the push audit, report files and the usage history (``DeviceUsagePeriod``, which a backfill
needs). With an archive folder the rows are first written there, one gzipped CSV per table
and period, and deleted only after the file is complete and on disk. Each provider × period is
one transaction: an interrupted run leaves every period either whole or done.

Archives are immutable. A period can be archived more than once — a backfill re-runs it after
its first retention and writes new per-SIM rows — and the first archive then holds rows that
are in the database no more, so each run writes a file of its own,
``<table>.<UTC stamp>.csv.gz`` (``-2``, ``-3``, … when that name is taken), and never replaces
one. A crash between the archive and the commit leaves the rows in both; the next run archives
them again under a new name: a duplicate, never a loss.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, delete, func, select

from carrier_opt.db.models import (
    BillingPeriod,
    OptimizationDeviceResult,
    OptimizationInstance,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationQueue,
    OptimizationSharedPoolResult,
    ServiceProvider,
)
from carrier_opt.errors import InputError

MIN_KEEP_PERIODS = 1
"""The newest period always keeps its rows (an open period's runs read them)."""

_BY_QUEUE: tuple[Table, ...] = (
    OptimizationDeviceResult.__table__,  # type: ignore[assignment]
    OptimizationMobilityDeviceResult.__table__,  # type: ignore[assignment]
)
_BY_INSTANCE: tuple[Table, ...] = (
    OptimizationSharedPoolResult.__table__,  # type: ignore[assignment]
    OptimizationMobilitySharedPoolResult.__table__,  # type: ignore[assignment]
)


@dataclass(frozen=True)
class PeriodRetention:
    """What retention did (or, in a dry run, would do) to one provider's period."""

    provider: str
    period_key: str
    rows: dict[str, int]
    archived_to: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass
class RetentionReport:
    """Every period retention touched, and the periods it kept whole."""

    dry_run: bool
    periods: list[PeriodRetention] = field(default_factory=list)
    kept_periods: int = 0

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        lines = [
            f"{p.provider} {p.period_key}: {verb} {p.total:,} device-level result rows "
            f"({', '.join(f'{table} {n:,}' for table, n in p.rows.items() if n) or 'none'})"
            + (
                f"; archived to {', '.join(str(path) for path in p.archived_to)}"
                if p.archived_to
                else ""
            )
            for p in self.periods
        ]
        total = sum(p.total for p in self.periods)
        lines.append(
            f"{verb} {total:,} rows in {len(self.periods)} period(s); kept {self.kept_periods} "
            "newer period(s) whole; totals (sessions, instances, queues), the push audit, "
            "reports and usage history kept"
        )
        return lines


def apply_retention(
    engine: Engine,
    keep_periods: int,
    *,
    now: datetime,
    provider: str | None = None,
    archive_dir: Path | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Delete (after archiving, when ``archive_dir`` is given) the device-level results of
    every closed period older than each provider's newest ``keep_periods`` periods."""
    if keep_periods < MIN_KEEP_PERIODS:
        raise InputError(f"keep at least {MIN_KEEP_PERIODS} period, got {keep_periods}")
    report = RetentionReport(dry_run=dry_run)
    with engine.connect() as connection:
        providers = _providers(connection, provider)
        plans = [
            (name, *split)
            for name, pid in providers
            for split in [_old_periods(connection, pid, keep_periods, now)]
        ]
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name, old, kept in plans:
        report.kept_periods += kept
        for period_id, period_key in old:
            report.periods.append(
                _retain(engine, name, period_id, period_key, archive_dir, stamp, dry_run)
            )
    return report


def _providers(connection: Connection, name: str | None) -> list[tuple[str, int]]:
    query = select(ServiceProvider.name, ServiceProvider.id).order_by(ServiceProvider.name)
    if name is not None:
        query = query.where(ServiceProvider.name == name)
    found = [(row.name, row.id) for row in connection.execute(query)]
    if name is not None and not found:
        raise InputError(f"no service provider named {name!r}")
    return found


def _old_periods(
    connection: Connection, provider_id: int, keep: int, now: datetime
) -> tuple[list[tuple[int, str]], int]:
    """(the closed periods beyond the newest ``keep``, oldest first; how many were kept)."""
    rows = connection.execute(
        select(BillingPeriod.id, BillingPeriod.period_key, BillingPeriod.period_end)
        .where(BillingPeriod.service_provider_id == provider_id)
        .order_by(BillingPeriod.period_end.desc())
    ).all()
    old = [(row.id, row.period_key) for row in rows[keep:] if row.period_end <= now]
    return list(reversed(old)), len(rows) - len(old)


def _retain(
    engine: Engine,
    provider: str,
    period_id: int,
    period_key: str,
    archive_dir: Path | None,
    stamp: str,
    dry_run: bool,
) -> PeriodRetention:
    """One period in one transaction: count, archive, delete."""
    instances = select(OptimizationInstance.id).where(
        OptimizationInstance.billing_period_id == period_id
    )
    queues = select(OptimizationQueue.id).where(
        OptimizationQueue.optimization_instance_id.in_(instances)
    )
    targets = [(table, table.c.optimization_queue_id.in_(queues)) for table in _BY_QUEUE] + [
        (table, table.c.optimization_instance_id.in_(instances)) for table in _BY_INSTANCE
    ]
    rows: dict[str, int] = {}
    archived: list[Path] = []
    with engine.begin() as connection:
        for table, where in targets:
            count = int(
                connection.scalar(select(func.count()).select_from(table).where(where)) or 0
            )
            rows[table.name] = count
            if dry_run or count == 0:
                continue
            if archive_dir is not None:
                folder = archive_dir / provider / period_key
                archived.append(_archive(connection, table, where, folder, stamp))
            connection.execute(delete(table).where(where))
    return PeriodRetention(provider, period_key, rows, archived)


def _archive(connection: Connection, table: Table, where, folder: Path, stamp: str) -> Path:
    """The rows as ``<folder>/<table>.<stamp>.csv.gz``, durable before the caller deletes them.

    Written under a temporary name, fsynced, then given its name by a hard link, which (unlike
    a rename) refuses to replace an existing file; the folder is fsynced so the name survives a
    power cut too. A half-written archive never carries an archive's name."""
    _make_durable_folder(folder)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{table.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as raw:
            _write_csv_gz(connection, table, where, raw)
            raw.flush()
            os.fsync(raw.fileno())
        target = _link_unused_name(Path(temporary), folder, f"{table.name}.{stamp}")
    finally:
        Path(temporary).unlink(missing_ok=True)
    _fsync_folder(folder)
    return target


def _write_csv_gz(connection: Connection, table: Table, where, raw: io.BufferedWriter) -> None:
    result = connection.execute(select(table).where(where).order_by(table.c.id))
    with (
        gzip.GzipFile(fileobj=raw, mode="wb") as zipped,
        io.TextIOWrapper(zipped, encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(result.keys())
        for batch in result.partitions(10_000):
            writer.writerows(batch)


def _link_unused_name(source: Path, folder: Path, stem: str) -> Path:
    """``source`` linked as ``<stem>.csv.gz``, or ``<stem>-2.csv.gz``, … — the first name no
    file has (two runs in one second, or a clock set back, must not meet an older archive)."""
    attempt = 1
    while True:
        target = folder / (f"{stem}.csv.gz" if attempt == 1 else f"{stem}-{attempt}.csv.gz")
        try:
            os.link(source, target)
        except FileExistsError:
            attempt += 1
            continue
        return target


def _make_durable_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents, fsyncing each new entry's parent."""
    missing = [folder, *folder.parents]
    missing = [path for path in missing if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for path in reversed(missing):
        _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the folder's entries (a new file name, a new subfolder) survive a power cut."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
