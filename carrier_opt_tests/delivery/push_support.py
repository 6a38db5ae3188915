"""Instances to push against the fake carrier, and checks that the audit matches its PUT log."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.core.instance import Instance, instance_from_frames
from carrier_opt.db.models import (
    RatePlanPush,
    RatePlanPushMode,
    RatePlanUpdate,
    RatePlanUpdateBatch,
)
from carrier_opt.delivery.rate_plan_updates import PushRequest
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.core.strategies import pool_example as core_pool_example

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
"""The fake's pinned clock: well inside the period, whatever today is."""
PERIOD_END = NOW + timedelta(days=8)

POOL, SOLO10, SOLO200 = "Pool 50MB Shared", "M2M Data 10MB", "M2M Data 250MB"
"""The issue's POOL100, SOLO10 and SOLO200, under names the fake carrier publishes."""
SMALL, LARGE = "M2M Data 1MB", "M2M Data 25MB"


@dataclass(frozen=True)
class Case:
    """An instance whose SIMs are the fake's, and the winner to push."""

    instance: Instance
    target: np.ndarray

    def request(
        self,
        seeded,
        *,
        mode: RatePlanPushMode = RatePlanPushMode.AUTOMATIC,
        period_end: datetime = PERIOD_END,
        holder: str = "test",
        synced_at: datetime = NOW - timedelta(hours=2),
        cost_before: float | None = None,
    ) -> PushRequest:
        return PushRequest(
            provider_id=seeded.provider_id,
            instance_id=seeded.instance_id,
            instance=self.instance,
            target=self.target,
            period_end=period_end,
            synced_at=synced_at,
            mode=mode,
            holder=holder,
            cost_before_usd=cost_before,
        )


def pool_example(fake: FakeJasper, a_plan: str = SOLO200) -> Case:
    """The issue's example on the fake's first two SIMs: A uses 150 MB on ``a_plan``, B 5 MB on
    SOLO10; the optimum puts both on the pool ($20)."""
    a, b = fake.fleet[:2]
    a.rate_plan, b.rate_plan = a_plan, SOLO10
    plans = (POOL, SOLO10, SOLO200)
    instance = core_pool_example(plans.index(a_plan), plans, (a.iccid, b.iccid))
    return Case(instance, np.array([0, 0], dtype=np.int64))


def independent_moves(fake: FakeJasper, count: int) -> Case:
    """``count`` SIMs each saving $3 alone by moving from LARGE to SMALL (no pool involved)."""
    sims = fake.fleet[:count]
    for sim in sims:
        sim.rate_plan = LARGE
    plans = pd.DataFrame(
        {
            "rate_plan_code": [SMALL, LARGE],
            "base_rate": [2.0, 5.0],
            "data_allowance_mb": [1, 25],
            "overage_rate": [1.0, 1.0],
            "data_per_overage_charge_mb": [1.0, 1.0],
            "sms_rate": [0.0, 0.0],
            "pooled": [False, False],
        }
    )
    devices = pd.DataFrame(
        {
            "iccid": [sim.iccid for sim in sims],
            "communication_plan": "CP",
            "rate_plan_code": LARGE,
            "usage_mb": 0.5,
            "sms_count": 0,
            "proration": 1.0,
            "locked": False,
        }
    )
    return Case(instance_of(plans, devices), np.zeros(count, dtype=np.int64))


def instance_of(plans: pd.DataFrame, devices: pd.DataFrame) -> Instance:
    pairs = pd.DataFrame(
        {"communication_plan": "CP", "rate_plan_code": plans["rate_plan_code"].tolist()}
    )
    return instance_from_frames(plans, pairs, devices)


def successful_puts(fake: FakeJasper) -> Counter:
    """(ICCID, plan) of every PUT the carrier accepted, counted."""
    return Counter((edit.iccid, edit.fields["ratePlan"]) for edit in fake.edits)


def audit(engine: Engine) -> tuple[list, list, list]:
    """(change rows, batch rows, push rows), oldest first."""
    with engine.connect() as connection:
        return (
            connection.execute(select(RatePlanUpdate.__table__).order_by(RatePlanUpdate.id)).all(),
            connection.execute(
                select(RatePlanUpdateBatch.__table__).order_by(RatePlanUpdateBatch.id)
            ).all(),
            connection.execute(select(RatePlanPush.__table__).order_by(RatePlanPush.id)).all(),
        )


def assert_audit_matches_the_carrier(engine: Engine, fake: FakeJasper) -> None:
    """No change accepted twice; every accepted change is a ``sent`` row and every ``sent`` row
    an accepted change; the batch rows add up to the accepted PUTs; nothing left open."""
    puts = successful_puts(fake)
    assert all(count == 1 for count in puts.values()), [k for k, n in puts.items() if n > 1]
    rows, batches, pushes = audit(engine)
    sent = {(row.iccid, row.to_rate_plan_code) for row in rows if row.status == "sent"}
    assert sent == set(puts)
    assert sum(batch.succeeded for batch in batches) == sum(puts.values())
    failed_rows = sum(1 for row in rows if row.status == "failed")
    assert sum(batch.failed for batch in batches) >= failed_rows
    assert all(batch.finished_at is not None for batch in batches)
    assert not [row for row in rows if row.status == "sending"]
    assert not [push for push in pushes if push.status == "running"]
