"""The life of a sync in ``JasperSyncRun``: its watermark, one at a time, resumed after a stop.

* :func:`watermark` — where the next search starts: the last *completed* sync's search start
  by the carrier's clock (the ``Date`` of its first page: a modification after it is dated
  after it by the same clock), else by ours less :data:`OVERLAP` for clock skew; a year back
  (what the API allows) before any sync.
* :func:`begin_sync` — opens a run. The database refuses a second ``running`` row for the
  provider (a filtered unique index); a running sync whose process is gone, or that has been
  silent for :data:`STALE_AFTER`, is marked ``abandoned`` first. When the last sync stopped
  before completing, the new one *resumes* it: same window, its staged pages and details kept.
  Otherwise staging is cleared — only ever by the holder of the running row.
  A sync that found the carrier's listing short (``full_sweep_next``) is not resumed: the next
  one sweeps a year back afresh (:mod:`carrier_opt.pipeline.fleet_check`).
* :func:`heartbeat`, :func:`record_progress`, :func:`finish_sync` — as the sync goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from carrier_opt.db.models import JasperSyncRun, ServiceProvider, SyncStatus
from carrier_opt.db.staging import clear_staging
from carrier_opt.db.types import utc_now
from carrier_opt.errors import CarrierOptError
from carrier_opt.processes import process_gone, this_process

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
"""The next search starts this long before the last completed one did (clock skew)."""

FIRST_SYNC_WINDOW = timedelta(days=364)
"""The API refuses ``modifiedSince`` more than a year old (a day of margin)."""

STALE_AFTER = timedelta(minutes=15)
"""A running sync silent this long is presumed dead (it beats every page and 50 details)."""

_RUN = JasperSyncRun.__table__


class SyncBusy(CarrierOptError):
    """Another sync of the provider is running."""


@dataclass(frozen=True)
class SyncRun:
    """The open sync: its row, its window, and where a resumed one picks up."""

    id: int
    provider_id: int
    modified_since: datetime
    search_started_at: datetime
    pages_done: int
    search_done: bool
    resumed_from: int | None
    split_at: datetime | None = None
    recent_pages: int | None = None

    @property
    def resumed(self) -> bool:
        """True when this sync continues a stopped one's staging."""
        return self.resumed_from is not None


def watermark(connection: Connection, provider_id: int, now: datetime) -> datetime:
    """The ``modifiedSince`` of the provider's next sync (see the module docstring)."""
    last = connection.execute(
        select(_RUN.c.search_started_at, _RUN.c.carrier_started_at)
        .where(
            _RUN.c.service_provider_id == provider_id,
            _RUN.c.status == SyncStatus.COMPLETED.value,
        )
        .order_by(_RUN.c.finished_at.desc(), _RUN.c.id.desc())  # syncs run one at a time
        .limit(1)
    ).first()
    oldest = now - FIRST_SYNC_WINDOW
    if last is None:
        return oldest
    start = last.carrier_started_at or last.search_started_at - OVERLAP
    return min(max(oldest, start), now)


def begin_sync(
    engine: Engine,
    provider_id: int,
    *,
    now: datetime,
    holder: str,
    since: datetime | None = None,
    period_start: datetime | None = None,
) -> SyncRun:
    """Open the provider's sync (resuming a stopped one unless ``since`` asks for another
    window); raises :class:`SyncBusy` naming the running one. A window that starts before
    ``period_start`` is listed in two parts, split there (``split_at``)."""
    _abandon_dead_run(engine, provider_id, now)
    with engine.connect() as connection:
        stopped = _stopped_run(connection, provider_id)
        start = since or watermark(connection, provider_id, now)
    if stopped is not None and stopped.full_sweep_next:
        # Its listing was short: resuming would keep the short listing. Sweep afresh.
        log.warning("sync %d found the carrier's listing short: a full sweep", stopped.id)
        start = since or now - FIRST_SYNC_WINDOW
        stopped = None
    resume = stopped is not None and (since is None or since == stopped.modified_since)
    host, pid = this_process()
    values = {
        "service_provider_id": provider_id,
        "status": SyncStatus.RUNNING.value,
        "holder": holder[:255],
        "host": host,
        "pid": pid,
        "started_at": now,
        "heartbeat_at": now,
        "created_at": now,
        "devices_listed": 0,
        "details_fetched": 0,
        "api_calls": 0,
    }
    if resume:
        assert stopped is not None
        values.update(
            modified_since=stopped.modified_since,
            search_started_at=stopped.search_started_at,
            carrier_started_at=stopped.carrier_started_at,
            pages_done=stopped.pages_done,
            search_done=stopped.search_done,
            resumed_from=stopped.id,
            split_at=stopped.split_at,
            recent_pages=stopped.recent_pages,
        )
    else:
        split = period_start if period_start is not None and start < period_start <= now else None
        values.update(
            modified_since=start,
            search_started_at=now,
            pages_done=0,
            search_done=False,
            split_at=split,
            recent_pages=None,
        )
    try:
        with engine.begin() as connection:
            run_id = connection.execute(insert(_RUN).values(**values)).inserted_primary_key[0]
    except IntegrityError:
        raise SyncBusy(_busy_message(engine, provider_id)) from None
    if not resume:
        clear_staging(engine, provider_id)  # we hold the running row: nobody else stages
    elif stopped is not None:
        log.info(
            "sync resumes stopped sync %d from page %d (window since %s)",
            stopped.id,
            stopped.pages_done,
            stopped.modified_since.isoformat(),
        )
    return SyncRun(
        int(run_id),
        provider_id,
        values["modified_since"],
        values["search_started_at"],
        values["pages_done"],
        values["search_done"],
        values.get("resumed_from"),
        values["split_at"],
        values["recent_pages"],
    )


def record_progress(engine: Engine, run: SyncRun, now: datetime, **values: object) -> None:
    """Write progress (pages done, details fetched...) and beat the heart in one update."""
    with engine.begin() as connection:
        connection.execute(
            update(_RUN)
            .where(_RUN.c.id == run.id)
            .values(heartbeat_at=now, modified_at=now, **values)
        )


def finish_sync(
    engine: Engine,
    run: SyncRun,
    status: SyncStatus,
    now: datetime,
    error: str | None = None,
    *,
    full_sweep_next: bool = False,
) -> None:
    """Close the run: ``completed`` moves the watermark; ``failed`` keeps staging to resume,
    unless ``full_sweep_next`` (its listing was found short): then the next sync starts over
    from a year back."""
    record_progress(
        engine,
        run,
        now,
        status=status.value,
        finished_at=now,
        error=None if error is None else error[:4000],
        full_sweep_next=full_sweep_next,
    )


def search_began(engine: Engine, run: SyncRun) -> datetime:
    """When the run's search began by the carrier's clock (its first page's ``Date``), else by
    ours less :data:`OVERLAP`."""
    with engine.connect() as connection:
        carrier = connection.scalar(select(_RUN.c.carrier_started_at).where(_RUN.c.id == run.id))
    return carrier or run.search_started_at - OVERLAP


def _stopped_run(connection: Connection, provider_id: int):
    """The provider's latest run when it did not complete (it is resumed), else ``None``."""
    latest = connection.execute(
        select(_RUN)
        .where(_RUN.c.service_provider_id == provider_id)
        .order_by(_RUN.c.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.status not in (SyncStatus.FAILED, SyncStatus.ABANDONED):
        return None
    return latest


def _abandon_dead_run(engine: Engine, provider_id: int, now: datetime) -> None:
    """Mark the provider's running sync abandoned when its holder is gone or silent."""
    with engine.connect() as connection:
        running = connection.execute(
            select(_RUN).where(
                _RUN.c.service_provider_id == provider_id,
                _RUN.c.status == SyncStatus.RUNNING.value,
            )
        ).first()
    if running is None:
        return
    silent = now - running.heartbeat_at > STALE_AFTER
    if not (silent or process_gone(running.host, running.pid)):
        return
    with engine.begin() as connection:
        connection.execute(
            update(_RUN)
            .where(_RUN.c.id == running.id, _RUN.c.status == SyncStatus.RUNNING.value)
            .values(
                status=SyncStatus.ABANDONED.value,
                finished_at=now,
                modified_at=utc_now(),
                error="its process stopped (silent or gone); resumed by the next sync",
            )
        )
    log.warning(
        "sync %d of provider %s abandoned: %s",
        running.id,
        provider_id,
        "silent too long" if silent else "its process is gone",
    )


def _busy_message(engine: Engine, provider_id: int) -> str:
    with engine.connect() as connection:
        running = connection.execute(
            select(_RUN.c.id, _RUN.c.holder, _RUN.c.started_at, _RUN.c.heartbeat_at).where(
                _RUN.c.service_provider_id == provider_id,
                _RUN.c.status == SyncStatus.RUNNING.value,
            )
        ).first()
    if running is None:
        return "another sync of this provider started at the same moment; try again"
    return (
        f"another sync of this provider is running (sync {running.id} by {running.holder}, "
        f"started {running.started_at:%Y-%m-%d %H:%M:%S} UTC, last heard of "
        f"{running.heartbeat_at:%H:%M:%S} UTC); this one does nothing — staging is left to it"
    )


@dataclass(frozen=True)
class CompletedSync:
    """When the provider's last completed sync searched and finished (our clock)."""

    search_started_at: datetime
    finished_at: datetime


def last_completed_sync(connection: Connection, provider_id: int) -> CompletedSync | None:
    """The provider's newest completed sync, or None."""
    row = connection.execute(
        select(_RUN.c.search_started_at, _RUN.c.finished_at)
        .where(
            _RUN.c.service_provider_id == provider_id,
            _RUN.c.status == SyncStatus.COMPLETED.value,
            _RUN.c.finished_at.is_not(None),
        )
        .order_by(_RUN.c.finished_at.desc(), _RUN.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else CompletedSync(row.search_started_at, row.finished_at)


def last_completed_syncs(engine: Engine) -> dict[str, datetime | None]:
    """Every active provider's last completed sync's end (None: never), by name: one query."""
    provider = ServiceProvider.__table__
    last = (
        select(func.max(_RUN.c.finished_at))
        .where(
            _RUN.c.service_provider_id == provider.c.id,
            _RUN.c.status == SyncStatus.COMPLETED.value,
        )
        .scalar_subquery()  # per provider: the end of its (provider, status, finished_at) index
    )
    query = (
        select(provider.c.name, last)
        .where(provider.c.is_active.is_(True))
        .order_by(provider.c.name)
    )
    with engine.connect() as connection:
        return {name: last for name, last in connection.execute(query)}  # max() keeps the type
