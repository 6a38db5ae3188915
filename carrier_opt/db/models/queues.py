"""Communication groups and the optimization queues (rate-plan sequences) tried for them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import AuditMixin, Base, RunStatus, one_of
from carrier_opt.db.types import MONEY, UtcDateTime


class OptimizationCommGroup(AuditMixin, Base):
    """Communication plans with the identical set of allowed rate plans, optimized together."""

    __tablename__ = "OptimizationCommGroup"
    __table_args__ = (UniqueConstraint("optimization_instance_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(255))
    device_count: Mapped[int | None] = mapped_column(Integer)
    # Why a group was not optimized (no plan, more plans than the limit), shown in reports.
    skipped_reason: Mapped[str | None] = mapped_column(Text)


class OptimizationCommGroupCommPlan(Base):
    """Membership of a communication plan in a communication group."""

    __tablename__ = "OptimizationCommGroup_CommPlan"
    __table_args__ = (UniqueConstraint("optimization_comm_group_id", "communication_plan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_comm_group_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationCommGroup.id", ondelete="CASCADE")
    )
    communication_plan_id: Mapped[int] = mapped_column(
        ForeignKey("JasperCommunicationPlan.id"), index=True
    )


class OptimizationCommGroupRatePlan(Base):
    """A rate plan offered to a communication group."""

    __tablename__ = "OptimizationCommGroup_RatePlan"
    __table_args__ = (UniqueConstraint("optimization_comm_group_id", "carrier_rate_plan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_comm_group_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationCommGroup.id", ondelete="CASCADE")
    )
    carrier_rate_plan_id: Mapped[int] = mapped_column(
        ForeignKey("JasperCarrierRatePlan.id"), index=True
    )


class OptimizationQueue(AuditMixin, Base):
    """One attempt at a group's assignment: a legacy rate-plan sequence or the optimizer.

    The cheapest finished queue per group wins; losers' device results are deleted.
    """

    __tablename__ = "OptimizationQueue"
    __table_args__ = (
        Index(
            "ix_OptimizationQueue_instance_group_status",
            "optimization_instance_id",
            "optimization_comm_group_id",
            "status",
        ),
        one_of("status", RunStatus, "status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_instance_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationInstance.id", ondelete="CASCADE")
    )
    optimization_comm_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("OptimizationCommGroup.id"), index=True
    )
    strategy: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.PENDING.value)
    total_cost: Mapped[Decimal | None] = mapped_column(MONEY)
    is_winner: Mapped[bool] = mapped_column(Boolean, default=False)
    run_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    run_completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error_message: Mapped[str | None] = mapped_column(Text)


class OptimizationQueueRatePlan(Base):
    """Position of a rate plan in a queue's sequence."""

    __tablename__ = "OptimizationQueue_RatePlan"
    __table_args__ = (
        UniqueConstraint("optimization_queue_id", "sequence_order"),
        CheckConstraint("sequence_order >= 0", name="sequence_order_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    optimization_queue_id: Mapped[int] = mapped_column(
        ForeignKey("OptimizationQueue.id", ondelete="CASCADE")
    )
    carrier_rate_plan_id: Mapped[int] = mapped_column(
        ForeignKey("JasperCarrierRatePlan.id"), index=True
    )
    sequence_order: Mapped[int] = mapped_column(Integer)
