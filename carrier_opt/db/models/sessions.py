"""Optimization sessions and instances: who ran what, when, with which outcome."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import AuditMixin, Base, OptimizationType, RunStatus, one_of
from carrier_opt.db.types import MONEY, UtcDateTime


class OptimizationSession(AuditMixin, Base):
    """One optimization run for a provider and billing period, tracked by a GUID.

    ``dagster_run_id`` ties the row to the Dagster run that owns it.
    """

    __tablename__ = "OptimizationSession"
    __table_args__ = (
        Index("ix_OptimizationSession_service_provider_id_status", "service_provider_id", "status"),
        one_of("status", RunStatus, "status_known"),
        one_of("optimization_type", OptimizationType, "optimization_type_known"),
        CheckConstraint("progress_percent BETWEEN 0 AND 100", name="progress_percent_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_guid: Mapped[str] = mapped_column(String(36), unique=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    billing_period_id: Mapped[int] = mapped_column(ForeignKey("BillingPeriod.id"), index=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    optimization_type: Mapped[str] = mapped_column(String(20), default=OptimizationType.M2M.value)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.PENDING.value)
    progress_percent: Mapped[int] = mapped_column(Integer, default=0)
    dagster_run_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error_message: Mapped[str | None] = mapped_column(Text)


class OptimizationInstance(AuditMixin, Base):
    """One optimization problem solved inside a session (per provider, or per customer)."""

    __tablename__ = "OptimizationInstance"
    __table_args__ = (
        Index(
            "ix_OptimizationInstance_service_provider_id_status", "service_provider_id", "status"
        ),
        one_of("status", RunStatus, "status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_session_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationSession.id", ondelete="CASCADE"), index=True
    )
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    billing_period_id: Mapped[int] = mapped_column(ForeignKey("BillingPeriod.id"), index=True)
    rev_customer_id: Mapped[int | None] = mapped_column(ForeignKey("RevCustomer.id"), index=True)
    # Mobility: one instance per optimization group (its SIMs share one pool).
    optimization_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("OptimizationGroup.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.PENDING.value)
    run_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    run_completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    device_count: Mapped[int | None] = mapped_column(Integer)
    cost_before: Mapped[Decimal | None] = mapped_column(MONEY)
    cost_after: Mapped[Decimal | None] = mapped_column(MONEY)
    legacy_cost: Mapped[Decimal | None] = mapped_column(MONEY)
    lower_bound: Mapped[Decimal | None] = mapped_column(MONEY)
    # The optimizer's exact MILP closed the gap: its answer (and so the winner) is optimal.
    proven_optimal: Mapped[bool | None] = mapped_column(Boolean)
    error_message: Mapped[str | None] = mapped_column(Text)


class OptimizationInstanceResultFile(AuditMixin, Base):
    """A report produced for an instance (Excel workbook, CSV), inline or by storage URI."""

    __tablename__ = "OptimizationInstanceResultFile"
    __table_args__ = (
        UniqueConstraint("optimization_instance_id", "file_name"),
        CheckConstraint(
            "content IS NOT NULL OR storage_uri IS NOT NULL", name="content_or_storage_uri"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE")
    )
    file_name: Mapped[str] = mapped_column(String(255))
    report_kind: Mapped[str] = mapped_column(String(50))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    storage_uri: Mapped[str | None] = mapped_column(String(1000))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))


class OptimizationCustomerProcessing(AuditMixin, Base):
    """Progress of one customer's optimization inside a customer-optimization session."""

    __tablename__ = "OptimizationCustomerProcessing"
    __table_args__ = (
        UniqueConstraint("optimization_session_id", "rev_customer_id"),
        one_of("status", RunStatus, "status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_session_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationSession.id", ondelete="CASCADE")
    )
    rev_customer_id: Mapped[int] = mapped_column(ForeignKey("RevCustomer.id"), index=True)
    optimization_instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("OptimizationInstance.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.PENDING.value)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error_message: Mapped[str | None] = mapped_column(Text)
