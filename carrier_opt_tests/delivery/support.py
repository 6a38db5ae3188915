"""Helpers shared by the delivery tests: a provider with one optimization instance in the
database, and small priced instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine, insert

from carrier_opt.core.billing import BillingCycle, BillingPeriodSpan, period_for_key
from carrier_opt.core.instance import Instance, instance_from_frames
from carrier_opt.db.models import (
    BillingPeriod,
    IntegrationType,
    OptimizationInstance,
    OptimizationSession,
    ServiceProvider,
)

PERIOD = period_for_key(BillingCycle(18, 0, "America/Chicago"), "2026-03")


@dataclass(frozen=True)
class Seeded:
    """Ids of the rows :func:`seed_instance` wrote."""

    provider_id: int
    billing_period_id: int
    instance_id: int


def seed_instance(
    engine: Engine,
    *,
    name: str = "acme",
    period: BillingPeriodSpan = PERIOD,
    cost_before: float | None = None,
    cost_after: float | None = None,
    allow_updates: bool = False,
) -> Seeded:
    """A provider, its billing period, a session and one completed instance."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        integration = connection.execute(
            insert(IntegrationType).values(name=f"Jasper-{name}", created_at=now)
        ).inserted_primary_key[0]
        provider = connection.execute(
            insert(ServiceProvider).values(
                name=name,
                integration_type_id=integration,
                billing_cycle_end_day=18,
                billing_cycle_end_hour=0,
                time_zone=period.time_zone,
                is_active=True,
                allow_automatic_rate_plan_updates=allow_updates,
                max_rate_plans_per_group=15,
                created_at=now,
            )
        ).inserted_primary_key[0]
        billing_period = connection.execute(
            insert(BillingPeriod).values(
                service_provider_id=provider,
                period_key=period.key,
                period_start=period.start,
                period_end=period.end,
                time_zone=period.time_zone,
                created_at=now,
            )
        ).inserted_primary_key[0]
        session = connection.execute(
            insert(OptimizationSession).values(
                session_guid=f"00000000-0000-0000-0000-{provider:012d}",
                service_provider_id=provider,
                billing_period_id=billing_period,
                optimization_type="m2m",
                status="completed",
                progress_percent=100,
                created_at=now,
            )
        ).inserted_primary_key[0]
        instance = connection.execute(
            insert(OptimizationInstance).values(
                optimization_session_id=session,
                service_provider_id=provider,
                billing_period_id=billing_period,
                status="completed",
                cost_before=_money(cost_before),
                cost_after=_money(cost_after),
                created_at=now,
            )
        ).inserted_primary_key[0]
    return Seeded(provider, billing_period, instance)


def _money(amount: float | None) -> Decimal | None:
    """As the pipeline stores costs: NUMERIC(18,4)."""
    return None if amount is None else Decimal(repr(amount)).quantize(Decimal("0.0001"))


def small_instance(*, locked: bool = True) -> Instance:
    """Five SIMs, a pooled and an individual plan, SMS, proration and (optionally) a
    shared-pool SIM — every kind of charge the report must show."""
    plans = pd.DataFrame(
        {
            "rate_plan_code": ["POOL_10MB", "POOL_100MB", "IND_20MB"],
            "base_rate": [3.33, 9.99, 5.0],
            "data_allowance_mb": [10, 100, 20],
            "overage_rate": [0.7, 0.5, 0.1],
            "data_per_overage_charge_mb": [1.0, 1.0, 0.001],
            "sms_rate": [0.01, 0.0, 0.03],
            "pooled": [True, True, False],
        }
    )
    pairs = pd.DataFrame(
        {
            "communication_plan": ["CP_A", "CP_A", "CP_A", "CP_B", "CP_B"],
            "rate_plan_code": ["POOL_10MB", "POOL_100MB", "IND_20MB", "POOL_10MB", "POOL_100MB"],
        }
    )
    devices = pd.DataFrame(
        {
            "iccid": [f"890100000000000000{i}" for i in range(5)],
            "communication_plan": ["CP_A", "CP_A", "CP_B", "CP_B", "CP_A"],
            "rate_plan_code": ["POOL_10MB", "POOL_10MB", "POOL_10MB", "POOL_100MB", "IND_20MB"],
            "usage_mb": [0.5, 95.123, 47.3, 12.0, 21.2345],
            "sms_count": [0, 3, 7, 1, 11],
            "proration": [1.0, 1.0, 0.3333, 1.0, 1.0],
            "locked": [False, False, False, locked, False],
        }
    )
    return instance_from_frames(plans, pairs, devices)
