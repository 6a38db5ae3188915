"""A provider's optimized periods, one row each (savings over time, issue 31).

Per billing period the latest completed M2M instance of the whole fleet (not a customer's
or an optimization group's): its cost before, the optimizer's cost, the legacy strategies'
cost and the lower bound, as the run stored them on ``OptimizationInstance``; and, for a period
that has been settled, its settled cost (the plans at the close priced on the stored usage,
``PeriodSettlement``, :mod:`carrier_opt.db.settlements`)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.core.trend import TREND_COLUMNS
from carrier_opt.db.models import (
    BillingPeriod,
    OptimizationInstance,
    OptimizationSession,
    OptimizationType,
    RunStatus,
)
from carrier_opt.db.providers import load_provider
from carrier_opt.db.settlements import settled_costs


def savings_trend(engine: Engine, provider_name: str) -> pd.DataFrame:
    """The provider's optimized periods (:data:`TREND_COLUMNS`), oldest first."""
    instance, session = OptimizationInstance, OptimizationSession
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
        rows = connection.execute(
            select(
                BillingPeriod.period_key,
                instance.cost_before,
                instance.cost_after,
                instance.legacy_cost,
                instance.lower_bound,
                instance.run_completed_at,
                instance.id,
            )
            .join(session, session.id == instance.optimization_session_id)
            .join(BillingPeriod, BillingPeriod.id == instance.billing_period_id)
            .where(
                instance.service_provider_id == provider.id,
                instance.status == RunStatus.COMPLETED.value,
                instance.rev_customer_id.is_(None),
                instance.optimization_group_id.is_(None),
                session.optimization_type == OptimizationType.M2M.value,
                instance.cost_before.is_not(None),
                instance.cost_after.is_not(None),
            )
        ).all()
    frame = pd.DataFrame(
        [tuple(row) for row in rows],
        columns=[
            "period_key",
            "cost_before",
            "optimized_cost",
            "legacy_cost",
            "lower_bound",
            "completed_at",
            "id",
        ],
    )
    if frame.empty:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    latest = frame.sort_values(["period_key", "completed_at", "id"]).groupby("period_key").tail(1)
    settled = settled_costs(engine, provider.id)
    latest = latest.assign(settled_cost=latest["period_key"].map(settled).astype(float))
    money = ["cost_before", "optimized_cost", "legacy_cost", "lower_bound"]
    latest[money] = latest[money].astype(float)
    return latest[list(TREND_COLUMNS)].reset_index(drop=True)
