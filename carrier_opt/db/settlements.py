"""Stored settlements of closed periods (``PeriodSettlement``, migration 0015; issue 31).

A period has at most one: settling it again replaces the row and its pools in one
transaction, so the stored figures are always the latest (a final settlement supersedes a
provisional one). The savings trend reads each period's settled cost from here, the M2M
workbook the latest settlement's figures.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, Row, delete, insert, select

from carrier_opt.core.settlement import Settlement, StoredSettlement
from carrier_opt.db.models import BillingPeriod, PeriodSettlement, PeriodSettlementPool
from carrier_opt.db.types import money_value

POOL_COLUMNS = ("pool", "projected_mb", "final_mb", "error_mb")


def store_settlement(
    engine: Engine,
    provider_id: int,
    billing_period_id: int,
    session_id: int,
    settlement: Settlement,
    settled_at: datetime,
) -> None:
    """Store ``settlement`` as the period's, replacing the one stored before (one transaction)."""
    table = PeriodSettlement.__table__
    with engine.begin() as connection:
        connection.execute(
            delete(table).where(
                table.c.service_provider_id == provider_id,
                table.c.billing_period_id == billing_period_id,
            )
        )
        settlement_id = connection.execute(
            insert(table).values(
                service_provider_id=provider_id,
                billing_period_id=billing_period_id,
                optimization_session_id=session_id,
                settled_at=settled_at,
                **_figures(settlement),
            )
        ).inserted_primary_key[0]
        pools = [
            {
                "settlement_id": settlement_id,
                "pool": str(row.pool),
                "projected_mb": float(row.projected_mb),
                "final_mb": float(row.final_mb),
            }
            for row in settlement.pools.itertuples()
        ]
        if pools:
            connection.execute(insert(PeriodSettlementPool.__table__), pools)


def _figures(settlement: Settlement) -> dict:
    """The row's columns from ``settlement`` (money as the database keeps it)."""
    return {
        "is_final": settlement.final,
        "readings_before_end": settlement.readings_before_end,
        "sims": settlement.sims,
        "pushed_sims": settlement.pushed,
        "cost_before": money_value(settlement.cost_before),
        "cost_actual": money_value(settlement.cost_actual),
        "cost_optimized": money_value(settlement.cost_optimized),
        "cost_optimum": money_value(settlement.cost_optimum),
        "optimum_stop_reason": settlement.optimum_stop_reason[:100],
        "projected_mb": settlement.projected_mb,
        "final_mb": settlement.final_mb,
    }


def settled_costs(engine: Engine, provider_id: int) -> dict[str, float]:
    """Each settled period's settled cost (the plans at the close, USD) by period key."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(BillingPeriod.period_key, PeriodSettlement.cost_actual)
            .join(BillingPeriod, BillingPeriod.id == PeriodSettlement.billing_period_id)
            .where(PeriodSettlement.service_provider_id == provider_id)
        ).all()
    return {key: float(cost) for key, cost in rows}


def latest_settlement(engine: Engine, provider_id: int) -> StoredSettlement | None:
    """The provider's settlement of its latest settled period (None: none settled)."""
    with engine.connect() as connection:
        stored = connection.execute(
            select(PeriodSettlement.__table__, BillingPeriod.period_key)
            .join(BillingPeriod, BillingPeriod.id == PeriodSettlement.billing_period_id)
            .where(PeriodSettlement.service_provider_id == provider_id)
            .order_by(BillingPeriod.period_start.desc())
            .limit(1)
        ).first()
        if stored is None:
            return None
        pools = connection.execute(
            select(
                PeriodSettlementPool.pool,
                PeriodSettlementPool.projected_mb,
                PeriodSettlementPool.final_mb,
            )
            .where(PeriodSettlementPool.settlement_id == stored.id)
            .order_by(PeriodSettlementPool.pool)
        ).all()
    frame = pd.DataFrame([tuple(pool) for pool in pools], columns=list(POOL_COLUMNS[:3]))
    frame["error_mb"] = frame["final_mb"] - frame["projected_mb"]
    return StoredSettlement(stored.period_key, stored.settled_at, _settlement(stored, frame))


def _settlement(stored: Row, pools: pd.DataFrame) -> Settlement:
    """The stored row as the :class:`Settlement` it was made from (money to the 1/100 cent)."""
    return Settlement(
        final=stored.is_final,
        readings_before_end=stored.readings_before_end,
        sims=stored.sims,
        cost_before=float(stored.cost_before),
        cost_actual=float(stored.cost_actual),
        cost_optimized=float(stored.cost_optimized),
        cost_optimum=float(stored.cost_optimum),
        optimum_stop_reason=stored.optimum_stop_reason,
        pushed=stored.pushed_sims,
        pools=pools,
        projected_mb=stored.projected_mb,
        final_mb=stored.final_mb,
    )
