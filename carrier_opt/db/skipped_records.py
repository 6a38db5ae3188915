"""``SkippedCarrierRecord``: the carrier records a sync went on without, kept for the operator.

A sync skips a record it cannot use (a garbage date, no ICCID, a per-SIM call the carrier
refused) instead of dying on it, so the record is stored here with where it came from and why:
the workbook's warnings and the run's metadata list them, and they outlive the run's log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select

from carrier_opt.db.models import JasperSyncRun, SkippedCarrierRecord, SyncStatus

SKIPPED: Table = SkippedCarrierRecord.__table__  # type: ignore[assignment]
_RUN = JasperSyncRun.__table__

SHOWN = 20
"""Skipped records listed in a run's metadata and mail; the rest are counted."""


@dataclass(frozen=True)
class SkippedRecord:
    """One stored skipped record, as the workbook and the run's metadata show it."""

    endpoint: str
    page: int | None
    record_index: int | None
    iccid: str | None
    identity: str | None
    field: str
    value: str
    reason: str

    def line(self) -> str:
        """``GET /devices page 3 record 7 (iccid ...): field 'dateAdded' = 'x': reason``."""
        where = self.endpoint
        if self.page is not None:
            where += f" page {self.page}"
        if self.record_index is not None:
            where += f" record {self.record_index}"
        if self.iccid:
            where += f" (iccid {self.iccid})"
        elif self.identity:
            where += f" ({self.identity})"
        return f"{where}: field {self.field!r} = {self.value}: {self.reason}"


@dataclass(frozen=True)
class SkippedRecords:
    """The first :data:`SHOWN` skipped records of some syncs, and how many there are in all."""

    shown: tuple[SkippedRecord, ...]
    total: int


def store_skipped(
    connection: Connection,
    *,
    provider_id: int,
    sync_run_id: int,
    rows: Sequence[dict[str, Any]],
    recorded_at: datetime,
) -> int:
    """Insert skipped records (dicts with the :class:`SkippedRecord` fields); answers the count."""
    if not rows:
        return 0
    values = [
        {
            **row,
            "endpoint": str(row["endpoint"])[:255],
            "field": str(row["field"])[:100],
            "value": str(row["value"])[:500],
            "identity": None if row.get("identity") is None else str(row["identity"])[:500],
            "service_provider_id": provider_id,
            "sync_run_id": sync_run_id,
            "recorded_at": recorded_at,
        }
        for row in rows
    ]
    connection.execute(insert(SKIPPED), values)
    return len(values)


def skipped_by_last_sync(
    connection: Connection, provider_id: int, *, limit: int = SHOWN
) -> SkippedRecords:
    """What the provider's last completed sync skipped, with the stopped syncs it resumed:
    every run after the previous completed sync, up to and including the last one."""
    completed = (
        select(_RUN.c.id)
        .where(
            _RUN.c.service_provider_id == provider_id,
            _RUN.c.status == SyncStatus.COMPLETED.value,
        )
        .order_by(_RUN.c.id.desc())
        .limit(2)
    )
    ids = list(connection.scalars(completed))
    if not ids:
        return SkippedRecords((), 0)
    last, previous = ids[0], (ids[1] if len(ids) > 1 else 0)
    where = (
        SKIPPED.c.service_provider_id == provider_id,
        SKIPPED.c.sync_run_id > previous,
        SKIPPED.c.sync_run_id <= last,
    )
    return _skipped(connection, where, limit)


def skipped_by_sync(engine: Engine, provider_id: int, sync_run_id: int) -> SkippedRecords:
    """What one sync run skipped (not the runs it resumed)."""
    where = (SKIPPED.c.service_provider_id == provider_id, SKIPPED.c.sync_run_id == sync_run_id)
    with engine.connect() as connection:
        return _skipped(connection, where)


def _skipped(connection: Connection, where: tuple, limit: int = SHOWN) -> SkippedRecords:
    total = int(connection.scalar(select(func.count()).select_from(SKIPPED).where(*where)) or 0)
    rows = connection.execute(
        select(
            SKIPPED.c.endpoint,
            SKIPPED.c.page,
            SKIPPED.c.record_index,
            SKIPPED.c.iccid,
            SKIPPED.c.identity,
            SKIPPED.c.field,
            SKIPPED.c.value,
            SKIPPED.c.reason,
        )
        .where(*where)
        .order_by(SKIPPED.c.id)
        .limit(limit)
    ).all()
    return SkippedRecords(tuple(SkippedRecord(*row) for row in rows), total)
