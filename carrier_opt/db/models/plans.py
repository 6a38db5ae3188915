"""Communication plans and the rate plans (carrier and customer) with their prices.

``JasperCommunicationPlan_RatePlan`` holds, per provider, which carrier rate plans a SIM on a
communication plan may use (loaded with ``carrier-opt rate-plans load``). The per-instance
``OptimizationCommGroup*`` tables are built from it at run time.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import AuditMixin, Base, ChargeType, one_of
from carrier_opt.db.types import DATA_MB, MONEY


class JasperCommunicationPlan(AuditMixin, Base):
    """A communication plan seen on the provider's devices (the API cannot list them)."""

    __tablename__ = "JasperCommunicationPlan"
    __table_args__ = (UniqueConstraint("service_provider_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    name: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class RatePlanPricing:
    """Prices and allowances of a rate plan, in the units of the optimizer contract.

    The API does not expose prices, so they are loaded from configuration (CSV). Invalid
    values (non-positive overage unit, negative prices) are kept out by CHECK constraints.
    """

    base_rate: Mapped[Decimal] = mapped_column(MONEY)
    data_allowance_mb: Mapped[Decimal] = mapped_column(DATA_MB)
    overage_rate: Mapped[Decimal] = mapped_column(MONEY)
    data_per_overage_charge_mb: Mapped[Decimal] = mapped_column(DATA_MB)
    sms_rate: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    is_pooled: Mapped[bool] = mapped_column(Boolean, default=False)
    charge_type: Mapped[str] = mapped_column(String(20), default=ChargeType.RATE_AND_OVERAGE.value)
    rate_plan_type: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


def pricing_checks() -> tuple[CheckConstraint, ...]:
    """CHECK constraints every priced rate-plan table carries."""
    return (
        CheckConstraint(
            "base_rate >= 0 AND overage_rate >= 0 AND sms_rate >= 0", name="prices_not_negative"
        ),
        CheckConstraint("data_allowance_mb >= 0", name="allowance_not_negative"),
        CheckConstraint("data_per_overage_charge_mb > 0", name="overage_unit_positive"),
        one_of("charge_type", ChargeType, "charge_type_known"),
    )


class JasperCarrierRatePlan(RatePlanPricing, AuditMixin, Base):
    """A carrier rate plan of one provider with its prices."""

    __tablename__ = "JasperCarrierRatePlan"
    __table_args__ = (UniqueConstraint("service_provider_id", "rate_plan_code"), *pricing_checks())

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    rate_plan_code: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))


class JasperCustomerRatePlan(RatePlanPricing, AuditMixin, Base):
    """A plan the agent sells to its own customers, optionally sharing a customer rate pool."""

    __tablename__ = "JasperCustomerRatePlan"
    __table_args__ = (UniqueConstraint("service_provider_id", "rate_plan_code"), *pricing_checks())

    id: Mapped[int] = mapped_column(primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    rate_plan_code: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    customer_rate_pool_id: Mapped[int | None] = mapped_column(
        ForeignKey("CustomerRatePool.id"), index=True
    )
    auto_change_rate_plan: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true()
    )
    """The legacy ``AutoChangeRatePlan``: off, SIMs on this plan are priced (and count in its
    pool) but never moved by the customer optimization."""
    plan_family: Mapped[str | None] = mapped_column(String(255))
    """The legacy ``RatePlanCode`` that several customer plans share: the customer optimization
    moves a SIM only among plans of its plan's family with the same pooling flag. Plans without
    a family form one family of their own."""


class JasperCommunicationPlanRatePlan(AuditMixin, Base):
    """A carrier rate plan that SIMs on a communication plan may use (provider level)."""

    __tablename__ = "JasperCommunicationPlan_RatePlan"
    __table_args__ = (
        UniqueConstraint("communication_plan_id", "carrier_rate_plan_id"),
        Index("ix_JasperCommunicationPlan_RatePlan_carrier_rate_plan_id", "carrier_rate_plan_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    communication_plan_id: Mapped[int] = mapped_column(
        ForeignKey("JasperCommunicationPlan.id", ondelete="CASCADE")
    )
    carrier_rate_plan_id: Mapped[int] = mapped_column(
        ForeignKey("JasperCarrierRatePlan.id", ondelete="CASCADE")
    )
