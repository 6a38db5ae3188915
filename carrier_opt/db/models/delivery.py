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
  Go/No-Go decision, as the legacy system's progress records did.
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
