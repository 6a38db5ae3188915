"""Per-SIM results of optimization queues (M2M, mobility) and of shared customer pools."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import Base
from carrier_opt.db.types import BIG_ID, MONEY


class ChargeBreakdown:
    """What one SIM costs on its assigned plan, split as the legacy reports show it.

    ``base_rate_amount`` is the plan's monthly rate; ``rate_charge_amount`` the prorated part
    billed; ``charge_amount`` = rate charge + overage + SMS.
    """

    usage_mb: Mapped[float] = mapped_column(Float)
    sms_usage: Mapped[int] = mapped_column(Integer, default=0)
    proration: Mapped[float] = mapped_column(Float, default=1.0)
    charge_amount: Mapped[Decimal] = mapped_column(MONEY)
    base_rate_amount: Mapped[Decimal] = mapped_column(MONEY)
    rate_charge_amount: Mapped[Decimal] = mapped_column(MONEY)
    overage_charge_amount: Mapped[Decimal] = mapped_column(MONEY)
    sms_charge_amount: Mapped[Decimal] = mapped_column(MONEY)


class PlanAssignment:
    """The SIM's current and assigned carrier plan, and for customer optimization its current
    and assigned customer plan.

    Customer optimization re-prices SIMs on the agent's customer plans and never changes their
    carrier plan, so its rows keep the carrier plan as both current and assigned.
    """

    current_carrier_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCarrierRatePlan.id")
    )
    assigned_carrier_rate_plan_id: Mapped[int] = mapped_column(
        ForeignKey("JasperCarrierRatePlan.id"), index=True
    )
    current_customer_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCustomerRatePlan.id")
    )
    assigned_customer_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCustomerRatePlan.id"), index=True
    )


class OptimizationDeviceResult(PlanAssignment, ChargeBreakdown, Base):
    """An M2M SIM's assignment in one queue (only the winners' rows are kept)."""

    __tablename__ = "OptimizationDeviceResult"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    optimization_queue_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationQueue.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("Device.id"), index=True)


class OptimizationMobilityDeviceResult(PlanAssignment, ChargeBreakdown, Base):
    """A mobility SIM's assignment in one queue."""

    __tablename__ = "OptimizationMobilityDeviceResult"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    optimization_queue_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationQueue.id", ondelete="CASCADE"), index=True
    )
    mobility_device_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("MobilityDevice.id"), index=True
    )
    optimization_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("OptimizationGroup.id"), index=True
    )


class SharedPoolShare:
    """The part of a customer rate pool's overage attributed to one SIM (spread evenly)."""

    pool_overage_share_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))


class OptimizationSharedPoolResult(SharedPoolShare, ChargeBreakdown, Base):
    """An M2M SIM that shares a customer rate pool but was not itself optimized."""

    __tablename__ = "OptimizationSharedPoolResult"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE"), index=True
    )
    optimization_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("OptimizationQueue.id"), index=True
    )
    device_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("Device.id"), index=True)
    customer_rate_pool_id: Mapped[int] = mapped_column(
        ForeignKey("CustomerRatePool.id"), index=True
    )
    customer_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCustomerRatePlan.id")
    )


class OptimizationMobilitySharedPoolResult(SharedPoolShare, ChargeBreakdown, Base):
    """A mobility SIM that shares a customer rate pool but was not itself optimized."""

    __tablename__ = "OptimizationMobilitySharedPoolResult"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE"), index=True
    )
    optimization_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("OptimizationQueue.id"), index=True
    )
    mobility_device_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("MobilityDevice.id"), index=True
    )
    customer_rate_pool_id: Mapped[int] = mapped_column(
        ForeignKey("CustomerRatePool.id"), index=True
    )
    customer_rate_plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("JasperCustomerRatePlan.id")
    )
