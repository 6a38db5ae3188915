"""``JasperSyncRun``: one sync of a provider from the carrier — the watermark, the resume point
and the guard against two syncs at once.

* **Watermark.** A sync asks the carrier for SIMs modified since the last *completed* sync's
  search began — by the carrier's own clock (its first page's ``Date``), else by ours less a
  margin for clock skew: the window moves only when a sync completes, so a failed sync never
  skips a modification.
* **Resume.** Search pages and device details are staged as they arrive (each page in its own
  commit, ``pages_done`` on this row); a sync that stopped is resumed by the next one from the
  next page and the SIMs whose details are still missing, instead of starting over.
* **One at a time.** A unique index on the provider over the rows still ``running`` (a
  filtered index on every dialect): a second sync cannot start while one runs — it is the
  database that refuses, not a check followed by an insert. A sync whose process is gone (same
  host) or silent for too long is marked ``abandoned`` and its staging resumed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import AuditMixin, Base, one_of
from carrier_opt.db.types import BIG_ID, UtcDateTime


class SyncStatus(StrEnum):
    """Where a sync is or how it ended."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    """Ended by an error it raised; its staging is resumed by the next sync."""
    ABANDONED = "abandoned"
    """Its process died; the next sync took over and resumed its staging."""


_RUNNING_ONLY = text("status = 'running'")


class JasperSyncRun(AuditMixin, Base):
    """One sync of a provider's SIMs and usage from the carrier."""

    __tablename__ = "JasperSyncRun"
    __table_args__ = (
        one_of("status", SyncStatus, "status_known"),
        Index(
            "ix_JasperSyncRun_one_running",
            "service_provider_id",
            unique=True,
            sqlite_where=_RUNNING_ONLY,
            postgresql_where=_RUNNING_ONLY,
            mssql_where=_RUNNING_ONLY,
        ),
        # The last completed sync (watermark, reuse) and the freshness check's max(finished_at).
        Index(
            "ix_JasperSyncRun_provider_status_finished",
            "service_provider_id",
            "status",
            "finished_at",
        ),
        # The latest sync of a provider, whatever its status (resume after a stop).
        Index("ix_JasperSyncRun_provider_id", "service_provider_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(
        ForeignKey("ServiceProvider.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20))
    modified_since: Mapped[datetime] = mapped_column(UtcDateTime())
    """The search window's start (the watermark it ran from)."""
    search_started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When its search began, by our clock."""
    carrier_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When its search began by the carrier's clock (the first page's ``Date``): the next
    sync's watermark, exactly, once this one completes (no skew to allow for)."""
    resumed_from: Mapped[int | None] = mapped_column(ForeignKey("JasperSyncRun.id"))
    holder: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    search_done: Mapped[bool] = mapped_column(default=False)
    devices_listed: Mapped[int] = mapped_column(Integer, default=0)
    details_fetched: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    split_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """Where the listing is split (the period start): SIMs modified since then are listed
    first — they are the ones whose details matter to this period's bill — then the older
    window up to it (``modifiedTill``). None: one listing."""
    recent_pages: Mapped[int | None] = mapped_column(Integer)
    """Pages of the first (recent) listing, once it ended; the older listing's pages follow."""
    full_sweep_next: Mapped[bool] = mapped_column(default=False, server_default=false())
    """This sync found the carrier's listing incomplete (its fleet cross-check): the next sync
    does not resume it but sweeps the whole window afresh (a year back, as a first sync)."""


class SkippedCarrierRecord(Base):
    """A carrier record a sync could not use, kept with what identifies it and why.

    The sync goes on without such a record (one garbage date must not stop 50,000 SIMs), so
    the record must not vanish either: the workbook's warnings and the run's metadata list
    these rows, and an ACTIVATED SIM sent without an ICCID is found here by its other fields.
    """

    __tablename__ = "SkippedCarrierRecord"
    __table_args__ = (
        Index("ix_SkippedCarrierRecord_provider_sync", "service_provider_id", "sync_run_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(
        ForeignKey("ServiceProvider.id", ondelete="CASCADE")
    )
    sync_run_id: Mapped[int] = mapped_column(ForeignKey("JasperSyncRun.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(255))
    page: Mapped[int | None] = mapped_column(Integer)
    record_index: Mapped[int | None] = mapped_column(Integer)
    iccid: Mapped[str | None] = mapped_column(String(22))
    identity: Mapped[str | None] = mapped_column(String(500))
    """The record's other identifying fields (status, plans, IMSI, MSISDN, IMEI, device ID)."""
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
