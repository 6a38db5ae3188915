"""Settle a closed M2M period (issue 31): its latest completed optimization priced again on
the usage stored for the period once it closed (:mod:`carrier_opt.core.settlement`)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from carrier_opt.core.billing import period_for_key
from carrier_opt.core.optimizer import DEFAULT_GAP_TARGET_PCT
from carrier_opt.core.settlement import Settlement, settle
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.export import instance_tables
from carrier_opt.db.models import OptimizationType
from carrier_opt.db.providers import load_provider
from carrier_opt.db.settlements import store_settlement
from carrier_opt.errors import InputError
from carrier_opt.pipeline.push import latest_completed_session
from carrier_opt.pipeline.settleable import settlement_problem
from carrier_opt.pipeline.solved import m2m_instance


def settle_period(
    engine: Engine,
    provider: str,
    period_key: str,
    now: datetime,
    *,
    time_limit_s: float = 60.0,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
) -> Settlement:
    """The provider's closed ``period_key`` settled on its stored final usage: the plans before
    its latest completed optimization, the plans at the close (pushes included, as the last
    stored reading shows them) and the optimizer's assignment."""
    _, settled = _settle(engine, provider, period_key, now, time_limit_s, gap_target_pct)
    return settled


def settle_and_store(
    engine: Engine,
    provider: str,
    period_key: str,
    now: datetime,
    *,
    time_limit_s: float = 60.0,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
) -> Settlement:
    """:func:`settle_period`, stored as the period's settlement (replacing an earlier one):
    what the savings trend's settled column and the workbook's Settlement sheet read."""
    ids, settled = _settle(engine, provider, period_key, now, time_limit_s, gap_target_pct)
    store_settlement(engine, ids.provider_id, ids.billing_period_id, ids.session_id, settled, now)
    return settled


def _settle(
    engine: Engine,
    provider: str,
    period_key: str,
    now: datetime,
    time_limit_s: float,
    gap_target_pct: float,
) -> tuple[runs.RunIds, Settlement]:
    """The settlement and the optimization run it settles."""
    with engine.connect() as connection:
        settings = load_provider(connection, provider)
    period = period_for_key(settings.cycle, period_key)
    problem = settlement_problem(engine, settings, period, now)
    if problem is not None:
        raise InputError(problem)
    ids, kind = latest_completed_session(engine, settings.id, provider, period_key)
    if kind is not OptimizationType.M2M:
        raise InputError(f"{provider} is a mobility fleet: settlement covers M2M fleets")
    tables = instance_tables(engine, provider, period_key)
    final, _, _ = m2m_instance(engine, provider, tables)
    winners = runs.winning_assignment(engine, ids).set_index("iccid").reindex(final.iccids)
    actual = final.current_plan.copy()
    if (actual < 0).any():
        raise InputError(
            f"{provider} {period_key}: {int((actual < 0).sum())} SIMs are on plans whose prices "
            "are invalid (not offered), so the bill cannot be priced; fix rate_plans.csv"
        )
    index = {code: i for i, code in enumerate(final.plan_codes.tolist())}

    def plans(column: str) -> np.ndarray:
        """Plan indices of ``column``; a SIM the optimization did not see (or whose plan is no
        longer offered) keeps its plan at the close, so it adds the same to every figure."""
        found = winners[column].map(index)
        return np.where(found.notna(), found.fillna(-1), actual).astype(np.int64)

    projected = winners["usage_mb"].astype(float).fillna(pd.Series(final.usage_mb, final.iccids))
    read_at = pd.to_datetime(tables.devices["usage_date"].replace("", None), utc=True)
    early = int((read_at.isna() | (read_at < pd.Timestamp(period.end))).sum())
    settled = settle(
        final,
        plans("current_rate_plan_code"),
        actual,
        plans("rate_plan_code"),
        projected.to_numpy(dtype=float),
        early,
        time_limit_s=time_limit_s,
        gap_target_pct=gap_target_pct,
    )
    return ids, settled
