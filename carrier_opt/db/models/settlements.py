"""``PeriodSettlement``: a closed M2M period settled on its stored usage (issue 31).

One row per provider × period, the latest settlement: settling a period again replaces its
row (and its pools), because only the newest figures answer "what did the bill say" — a
provisional settlement is superseded by the final one once the closed cycle is stored. The
savings trend reads ``cost_actual`` as the period's *settled* cost, the workbook its figures.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carrier_opt.db.models.base import Base
from carrier_opt.db.types import BIG_ID, MONEY, UtcDateTime


class PeriodSettlement(Base):
    """The figures of :class:`carrier_opt.core.settlement.Settlement` for one period (USD, MB)."""

    __tablename__ = "PeriodSettlement"
    __table_args__ = (UniqueConstraint("service_provider_id", "billing_period_id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    service_provider_id: Mapped[int] = mapped_column(ForeignKey("ServiceProvider.id"))
    billing_period_id: Mapped[int] = mapped_column(ForeignKey("BillingPeriod.id"))
    optimization_session_id: Mapped[int] = mapped_column(ForeignKey("OptimizationSession.id"))
    """The optimization settled: the period's latest completed one when it was settled."""
    is_final: Mapped[bool] = mapped_column(Boolean)
    readings_before_end: Mapped[int] = mapped_column(Integer)
    sims: Mapped[int] = mapped_column(Integer)
    pushed_sims: Mapped[int] = mapped_column(Integer)
    cost_before: Mapped[Decimal] = mapped_column(MONEY)
    cost_actual: Mapped[Decimal] = mapped_column(MONEY)
    """The plans at the close priced on the stored usage: the period's settled cost."""
    cost_optimized: Mapped[Decimal] = mapped_column(MONEY)
    cost_optimum: Mapped[Decimal] = mapped_column(MONEY)
    optimum_stop_reason: Mapped[str] = mapped_column(String(100))
    projected_mb: Mapped[float] = mapped_column(Float)
    final_mb: Mapped[float] = mapped_column(Float)
    settled_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PeriodSettlementPool(Base):
    """One rate pool's usage in a settlement: as the optimizer projected it, and as stored."""

    __tablename__ = "PeriodSettlementPool"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("PeriodSettlement.id", ondelete="CASCADE"), index=True
    )
    pool: Mapped[str] = mapped_column(String(255))
    projected_mb: Mapped[float] = mapped_column(Float)
    final_mb: Mapped[float] = mapped_column(Float)
