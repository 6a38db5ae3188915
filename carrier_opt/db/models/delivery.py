"""What leaves the system: who is told about a run, and every rate-plan change sent to the carrier.

* ``ProviderNotificationRecipient`` — the e-mail addresses a provider's reports and alerts go
  to, one row per address and kind (``to``, ``cc``, ``bcc``). A table rather than columns on
  ``ServiceProvider`` so that a provider can have any number of addresses and a DBA can change
  them with a plain ``INSERT``/``DELETE``.
* ``RatePlanUpdate`` — the audit trail of ``PUT /devices/{iccid}``: one row per recommended
  change of one instance, whatever happened to it (dry run, sent, failed, held back by the
  Go/No-Go rule). Its unique key (instance, ICCID, target plan) is what makes a re-run unable to
  send the same change twice.
* ``RatePlanUpdateBatch`` — one row per batch actually sent, with its throughput
  (devices per minute) and success rate; the best throughput seen for a provider feeds the next
  Go/No-Go decision, as the legacy system's progress records did. Each batch also records the
  bill (priced with the cost model) before it, planned after it and actually after it: the
  proof that no prefix of a push raised the bill.
* ``RatePlanPush`` — one row per push of an instance's winning assignment (automatic, approved
  or dry run): what the carrier showed when it started, the Go/No-Go, the counts, the bills
  before, expected and read back afterwards, and the later re-checks.
* ``RatePlanPushLock`` — at most one row per provider: the push that may write to the carrier
  now. Its primary key is the guard (an insert, not a check then an insert).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import AuditMixin, Base, one_of
from carrier_opt.db.types import BIG_ID, MONEY, UtcDateTime


class RecipientKind(StrEnum):
    """Which header of the e-mail an address goes in (``bcc`` never appears in headers)."""

    TO = "to"
    CC = "cc"
    BCC = "bcc"


class RatePlanUpdateStatus(StrEnum):
    """What became of one recommended rate-plan change.

    ``sending`` is written (and committed) just before the PUT: a row left in it means the
    outcome is unknown (crash, lost answer), and a re-run asks the carrier before sending again.
    """

    DRY_RUN = "dry_run"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED_NO_GO = "skipped_no_go"
    """Not sent: a No-Go before the first batch, a stop at a batch boundary (deadline, carrier
    errors) or held back because no safe batch could carry it; ``note`` says which."""


class RatePlanPushMode(StrEnum):
    """Why a push runs: the provider allows automatic updates, a person approved a dry run,
    or nothing is sent (a dry run records what would be)."""

    AUTOMATIC = "automatic"
    APPROVED = "approved"
    DRY_RUN = "dry_run"


class RatePlanPushStatus(StrEnum):
    """Where a push is or how it ended."""

    RUNNING = "running"
    COMPLETED = "completed"
    """Every change of the set was sent (some may have failed: see ``failed``)."""
    STOPPED = "stopped"
    """Ended at a batch boundary: the deadline, carrier errors, the lock lost, or held back."""
    NO_GO = "no_go"
    """Nothing sent: Go/No-Go said no, or the winner no longer beats the carrier's state."""
    DRY_RUN = "dry_run"
    ABANDONED = "abandoned"
    """Its process died; a later push resolved what it left by reading the carrier."""
    FAILED = "failed"


class ProviderNotificationRecipient(AuditMixin, Base):
    """One e-mail address that receives a provider's reports and alerts."""

    __tablename__ = "ProviderNotificationRecipient"
    __table_args__ = (
        UniqueConstraint("service_provider_id", "kind", "address"),
        one_of("kind", RecipientKind, "kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(
        ForeignKey("ServiceProvider.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(3))
    address: Mapped[str] = mapped_column(String(320))  # RFC 5321's longest address


class RatePlanUpdate(AuditMixin, Base):
    """One recommended change of a SIM's rate plan and what happened when it was (not) sent."""

    __tablename__ = "RatePlanUpdate"
    __table_args__ = (
        UniqueConstraint("optimization_instance_id", "iccid", "to_rate_plan_code"),
        Index("ix_RatePlanUpdate_service_provider_id_status", "service_provider_id", "status"),
        one_of("status", RatePlanUpdateStatus, "status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE")
    )
    iccid: Mapped[str] = mapped_column(String(22))
    from_rate_plan_code: Mapped[str | None] = mapped_column(String(255))
    to_rate_plan_code: Mapped[str] = mapped_column(String(255))
    saving_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    status: Mapped[str] = mapped_column(String(20))
    batch_number: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    carrier_error_code: Mapped[str | None] = mapped_column(String(20))
    carrier_error_message: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    push_id: Mapped[int | None] = mapped_column(ForeignKey("RatePlanPush.id"), index=True)
    """The push that last acted on this change."""
    note: Mapped[str | None] = mapped_column(Text)
    """Why a change was not sent, or how an unknown outcome was resolved."""
    verified_rate_plan_code: Mapped[str | None] = mapped_column(String(255))
    """The plan the carrier showed at the latest re-check after the push."""
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RatePlanUpdateBatch(AuditMixin, Base):
    """One batch of rate-plan changes sent to the carrier, with how fast and how well it went."""

    __tablename__ = "RatePlanUpdateBatch"
    __table_args__ = (
        UniqueConstraint("optimization_instance_id", "batch_number"),
        CheckConstraint("devices >= 0 AND succeeded >= 0 AND failed >= 0", name="counts_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"), index=True)
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE")
    )
    batch_number: Mapped[int] = mapped_column(Integer)
    devices: Mapped[int] = mapped_column(Integer)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    devices_per_minute: Mapped[float | None] = mapped_column(Float)
    success_rate: Mapped[float | None] = mapped_column(Float)
    push_id: Mapped[int | None] = mapped_column(ForeignKey("RatePlanPush.id"), index=True)
    bill_before_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    """The bill of the carrier's state before the batch (cost model)."""
    planned_bill_after_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    """The bill after the batch if every change is accepted: never above the push's start."""
    bill_after_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    """The bill after the batch with what the carrier actually accepted."""


class RatePlanPush(AuditMixin, Base):
    """One push of an instance's winning assignment to the carrier (or its dry run)."""

    __tablename__ = "RatePlanPush"
    __table_args__ = (
        Index("ix_RatePlanPush_service_provider_id_status", "service_provider_id", "status"),
        one_of("mode", RatePlanPushMode, "mode_known"),
        one_of("status", RatePlanPushStatus, "status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE"), index=True
    )
    dagster_run_id: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(20))
    approved_by: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    changes: Mapped[int] = mapped_column(Integer, default=0)
    """SIMs whose recommended plan differs from the plan the carrier showed at the start."""
    already_on_target: Mapped[int] = mapped_column(Integer, default=0)
    """SIMs changing plan in the winner that the carrier already showed on their target."""
    moved_since_sync: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    not_sent: Mapped[int] = mapped_column(Integer, default=0)
    held_back: Mapped[int] = mapped_column(Integer, default=0)
    decision: Mapped[str | None] = mapped_column(String(10))
    """``go`` / ``no_go``, or ``refused``: another push held the lock, nothing was done."""
    decision_reason: Mapped[str | None] = mapped_column(Text)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    cost_before_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    """The instance's cost before optimization (the state its run synced)."""
    bill_before_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    """The bill of what the carrier showed when the push started."""
    expected_bill_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    """The bill once every change is made."""
    realized_bill_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    """The bill of what the carrier showed when read back after the push."""
    read_back_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    checks_done: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    discrepancies: Mapped[int | None] = mapped_column(Integer)
    """SIMs not on their target at the latest re-check."""


class RatePlanPushLock(Base):
    """The one push per provider allowed to write to the carrier now (row present = held)."""

    __tablename__ = "RatePlanPushLock"

    service_provider_id: Mapped[int] = mapped_column(
        ForeignKey("ServiceProvider.id", ondelete="CASCADE"), primary_key=True
    )
    push_id: Mapped[int] = mapped_column(ForeignKey("RatePlanPush.id", ondelete="CASCADE"))
    holder: Mapped[str] = mapped_column(String(255))
    """Who holds it: ``run <Dagster run id>`` or ``command line``."""
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    """The holder's process: on the same host, a vanished pid frees the lock at once."""
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime())
