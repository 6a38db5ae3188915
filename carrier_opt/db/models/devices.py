"""SIMs (M2M and mobility) and the staging tables a carrier sync loads first.

A sync fills the staging tables, then merges them into ``Device`` in one transaction, so a
crash leaves ``Device`` untouched or fully updated. Staging rows may repeat an ICCID (a SIM
modified while paging shows up twice); the merge keeps the latest. Every change of a SIM's
carrier rate plan seen by a merge is kept in ``DeviceRatePlanHistory``.

``Device`` holds the usage of the last synced billing period only; every merge also records the
period's state of each SIM in ``DeviceUsagePeriod``, so a past period can still be exported and
optimized (a backfill) after the next period's sync has overwritten ``Device``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import AuditMixin, Base
from carrier_opt.db.types import BIG_ID, MONEY, UtcDateTime


class SimIdentity:
    """Identifiers and carrier state common to every SIM table."""

    iccid: Mapped[str] = mapped_column(String(22))
    imsi: Mapped[str | None] = mapped_column(String(20))
    msisdn: Mapped[str | None] = mapped_column(String(20))
    imei: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(30))
    communication_plan: Mapped[str | None] = mapped_column(String(255))
    carrier_rate_plan_code: Mapped[str | None] = mapped_column(String(255))
    account_id: Mapped[str | None] = mapped_column(String(50))
    customer: Mapped[str | None] = mapped_column(String(255))
    date_activated: Mapped[datetime | None] = mapped_column(UtcDateTime())
    date_added: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The carrier's modification time: incremental syncs ask for SIMs modified since then.
    date_updated: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SimUsage:
    """Cycle-to-date usage of a SIM: raw carrier units plus the MB the optimizer prices."""

    ctd_data_usage_bytes: Mapped[int | None] = mapped_column(BigInteger)
    usage_mb: Mapped[float | None] = mapped_column(Float)
    projected_usage_mb: Mapped[float | None] = mapped_column(Float)
    ctd_sms_usage: Mapped[int | None] = mapped_column(Integer)
    ctd_voice_usage_seconds: Mapped[int | None] = mapped_column(Integer)
    sms_charge_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    usage_date: Mapped[datetime | None] = mapped_column(UtcDateTime())


def sim_checks() -> tuple[CheckConstraint, ...]:
    """Usage can never be negative, whatever the carrier sent."""
    return (
        CheckConstraint(
            "(ctd_data_usage_bytes IS NULL OR ctd_data_usage_bytes >= 0) AND "
            "(ctd_sms_usage IS NULL OR ctd_sms_usage >= 0)",
            name="usage_not_negative",
        ),
    )


class Device(SimIdentity, SimUsage, AuditMixin, Base):
    """The master M2M SIM table; an ICCID is unique per service provider."""

    __tablename__ = "Device"
    __table_args__ = (
        UniqueConstraint("service_provider_id", "iccid"),
        Index(
            "ix_Device_service_provider_id_communication_plan",
            "service_provider_id",
            "communication_plan",
        ),
        Index("ix_Device_service_provider_id_status", "service_provider_id", "status"),
        Index("ix_Device_service_provider_id_date_updated", "service_provider_id", "date_updated"),
        *sim_checks(),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    billing_period_id: Mapped[int | None] = mapped_column(
        ForeignKey("BillingPeriod.id"), index=True
    )
    carrier_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCarrierRatePlan.id"), index=True
    )
    customer_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCustomerRatePlan.id"), index=True
    )
    customer_rate_pool_id: Mapped[int | None] = mapped_column(
        ForeignKey("CustomerRatePool.id"), index=True
    )
    rev_customer_id: Mapped[int | None] = mapped_column(ForeignKey("RevCustomer.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("Site.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    details_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When Get Device Details last filled the SIM's fields; NULL: still to fetch (a sync
    within a call budget merges SIMs with the search's four fields first, issue 27)."""


class MobilityDevice(SimIdentity, SimUsage, AuditMixin, Base):
    """A mobility SIM (phone, tablet): pooled by optimization group, plans typed."""

    __tablename__ = "MobilityDevice"
    __table_args__ = (
        UniqueConstraint("service_provider_id", "iccid"),
        Index("ix_MobilityDevice_service_provider_id_status", "service_provider_id", "status"),
        *sim_checks(),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    billing_period_id: Mapped[int | None] = mapped_column(
        ForeignKey("BillingPeriod.id"), index=True
    )
    optimization_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("OptimizationGroup.id"), index=True
    )
    carrier_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCarrierRatePlan.id"), index=True
    )
    rate_plan_type: Mapped[str | None] = mapped_column(String(100))
    rev_customer_id: Mapped[int | None] = mapped_column(ForeignKey("RevCustomer.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("Site.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class JasperDeviceStaging(SimIdentity, Base):
    """Device pages as the carrier sent them, before the merge into ``Device``."""

    __tablename__ = "JasperDeviceStaging"
    __table_args__ = (
        Index("ix_JasperDeviceStaging_service_provider_id_iccid", "service_provider_id", "iccid"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    page_number: Mapped[int | None] = mapped_column(Integer)
    staged_at: Mapped[datetime] = mapped_column(UtcDateTime())
    details_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    """When Get Device Details filled the fields the search does not return (NULL: only the
    search's four fields are known; the merge then keeps what ``Device`` has for the rest)."""


class JasperUsageStaging(Base):
    """Usage records as the carrier sent them (bulk per rate plan, or per-device ctd)."""

    __tablename__ = "JasperUsageStaging"
    __table_args__ = (
        Index("ix_JasperUsageStaging_service_provider_id_iccid", "service_provider_id", "iccid"),
        CheckConstraint("source IN ('bulk', 'ctd')", name="source_known"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    iccid: Mapped[str] = mapped_column(String(22))
    rate_plan_code: Mapped[str | None] = mapped_column(String(255))
    cycle_start_date: Mapped[date | None] = mapped_column(Date)
    data_usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sms_usage: Mapped[int] = mapped_column(Integer, default=0)
    voice_usage_seconds: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(10))
    usage_date: Mapped[datetime | None] = mapped_column(UtcDateTime())
    staged_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeviceRatePlanHistory(Base):
    """A change of a SIM's carrier rate plan, as a sync found it (the legacy merge's history)."""

    __tablename__ = "DeviceRatePlanHistory"
    __table_args__ = (
        Index("ix_DeviceRatePlanHistory_service_provider_id_iccid", "service_provider_id", "iccid"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    device_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("Device.id", ondelete="CASCADE"), index=True
    )
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    iccid: Mapped[str] = mapped_column(String(22))
    previous_rate_plan_code: Mapped[str | None] = mapped_column(String(255))
    new_rate_plan_code: Mapped[str | None] = mapped_column(String(255))
    # The carrier's modification time of the SIM record that carried the new plan.
    date_updated: Mapped[datetime | None] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeviceUsagePeriod(Base):
    """A SIM's state and usage in one billing period, as the last sync in that period saw it.

    ``Device`` is overwritten by every sync, so once the next period is synced the previous
    period's usage would be gone, and the carrier reports cycle-to-date usage only: a closed
    period can never be synced again. The merge upserts one row per (SIM, period) with what the
    optimizer needs (plans, status, usage), and the export reads a period from here, so any
    period ever synced can be optimized again.
    """

    __tablename__ = "DeviceUsagePeriod"
    __table_args__ = (UniqueConstraint("device_id", "billing_period_id"), *sim_checks())

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    device_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("Device.id", ondelete="CASCADE"))
    # Not cascading: billing periods are never deleted, and SQL Server refuses a second
    # cascade path into this table.
    billing_period_id: Mapped[int] = mapped_column(ForeignKey("BillingPeriod.id"), index=True)
    status: Mapped[str | None] = mapped_column(String(30))
    communication_plan: Mapped[str | None] = mapped_column(String(255))
    carrier_rate_plan_code: Mapped[str | None] = mapped_column(String(255))
    msisdn: Mapped[str | None] = mapped_column(String(20))
    date_activated: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ctd_data_usage_bytes: Mapped[int | None] = mapped_column(BigInteger)
    usage_mb: Mapped[float | None] = mapped_column(Float)
    projected_usage_mb: Mapped[float | None] = mapped_column(Float)
    ctd_sms_usage: Mapped[int | None] = mapped_column(Integer)
    ctd_voice_usage_seconds: Mapped[int | None] = mapped_column(Integer)
    usage_date: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When a merge last wrote the row (the sync that saw this state).
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
