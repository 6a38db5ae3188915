"""Customers of the agent (for customer optimization) and mobility optimization groups."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import AuditMixin, Base


class RevCustomer(AuditMixin, Base):
    """A customer as known to the revenue (billing) system."""

    __tablename__ = "RevCustomer"
    __table_args__ = (UniqueConstraint("tenant_id", "rev_customer_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    rev_customer_number: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Site(AuditMixin, Base):
    """A customer site in the AMOP platform; SIMs and notifications hang off it."""

    __tablename__ = "Site"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    rev_customer_id: Mapped[int | None] = mapped_column(ForeignKey("RevCustomer.id"), index=True)
    notification_emails: Mapped[str | None] = mapped_column(String(1000))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class CustomerRatePool(AuditMixin, Base):
    """A pool shared by a customer's SIMs on customer rate plans.

    SIMs of the pool that are not being optimized still add usage and allowance to it.
    """

    __tablename__ = "CustomerRatePool"
    __table_args__ = (UniqueConstraint("service_provider_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    rev_customer_id: Mapped[int | None] = mapped_column(ForeignKey("RevCustomer.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class OptimizationGroup(AuditMixin, Base):
    """A mobility optimization group: its SIMs share one pool and a set of plan types."""

    __tablename__ = "OptimizationGroup"
    __table_args__ = (
        UniqueConstraint("service_provider_id", "name"),
        CheckConstraint("max_rate_plans > 0", name="max_rate_plans_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    name: Mapped[str] = mapped_column(String(255))
    # ;-separated rate-plan types the group may use (mobility plans are typed).
    rate_plan_types: Mapped[str | None] = mapped_column(String(1000))
    # ;-separated communication plans whose SIMs belong to the group.
    communication_plans: Mapped[str | None] = mapped_column(String(2000))
    max_rate_plans: Mapped[int] = mapped_column(Integer, default=15)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
