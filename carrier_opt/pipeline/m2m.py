"""M2M optimization, below Dagster: one provider's period as one instance, step by step.

The Dagster chain keeps one asset per step for its metadata and its place in the UI; each
asset calls one of these functions, in this order:

1. :func:`record_devices` — the period's billable SIMs, usage projected to the period end;
2. :func:`record_comm_groups` — communication plans grouped by their allowed rate plans;
3. :func:`create_queues` — the current assignment, every legacy strategy and the optimizer;
4. :func:`price_queues_and_bound` — the optimizer run, each queue priced, the bound stored;
5. :func:`choose_winner` — the cheapest queue wins, the instance completes.

The session was opened by the sync step (:func:`carrier_opt.pipeline.period_sync.usage_for_run`)
and stays open for the push (:mod:`carrier_opt.pipeline.push`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from carrier_opt.core.comm_groups import CommGroup, comm_groups
from carrier_opt.core.legacy import legacy_queues
from carrier_opt.core.optimizer import DEFAULT_GAP_TARGET_PCT, OptimizationResult
from carrier_opt.core.run import default_legacy_sequences, legacy_and_optimized
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.export import InstanceTables, instance_tables
from carrier_opt.db.models import RunStatus
from carrier_opt.db.providers import load_provider
from carrier_opt.errors import InputError
from carrier_opt.pipeline.solve import CURRENT, price_queues, queue_sequences
from carrier_opt.pipeline.solved import InstanceWinner, m2m_instance, m2m_solved, plan_limit


@dataclass(frozen=True)
class QueuesCreated:
    """The queues recorded for the instance."""

    queues: int
    legacy_queues: int
    plans: int


@dataclass(frozen=True)
class PricedQueues:
    """The optimizer's result and the cost of each queue holding per-SIM rows."""

    result: OptimizationResult
    costs: dict[str, float]


@dataclass(frozen=True)
class Winner:
    """The winning queue and what it changes."""

    queue: str
    cost: float
    winners: pd.DataFrame
    """iccid, current_rate_plan_code, rate_plan_code of every SIM."""
    figures: dict[str, float]
    """cost_before, legacy_cost, lower_bound as stored on the instance."""

    @property
    def changed(self) -> pd.DataFrame:
        """The SIMs whose recommended plan differs from their current one."""
        winners = self.winners
        return winners[winners["rate_plan_code"] != winners["current_rate_plan_code"]]


def record_devices(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str
) -> InstanceTables:
    """The period's tables (usage projected, proration); the instance's SIM count recorded."""
    tables = instance_tables(engine, provider, period_key)
    runs.update_instance(engine, ids, device_count=len(tables.devices))
    return tables


def record_comm_groups(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str
) -> list[CommGroup]:
    """Communication plans grouped by identical allowed rate plans, recorded; a group over the
    provider's plan limit is skipped (its SIMs keep their plans but still count in pools).
    Refused for a mobility fleet, which is optimized per optimization group."""
    with engine.connect() as connection:
        fleet = load_provider(connection, provider).fleet
    if fleet != "m2m":
        raise InputError(
            f"{provider} is a {fleet} fleet: it is optimized per optimization group by "
            "optimize_mobility_period, not per communication group"
        )
    tables = instance_tables(engine, provider, period_key)
    groups = comm_groups(tables.comm_plan_rate_plans, plan_limit(engine, provider))
    runs.write_comm_groups(engine, ids, groups)
    return groups


def create_queues(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str
) -> QueuesCreated:
    """Record the queues tried, each with its rate-plan sequence: the current assignment,
    every legacy strategy (base assignment, then rate-plan sequences × {no grouping, by
    communication plan} × {largest, smallest first}) and the optimizer."""
    instance, _, _ = m2m_instance(engine, provider, instance_tables(engine, provider, period_key))
    legacy = legacy_queues(instance, default_legacy_sequences(instance.n_devices))
    queues = queue_sequences(instance, legacy)
    runs.create_queues(engine, ids, queues)
    return QueuesCreated(len(queues), len(legacy), instance.n_plans)


def price_queues_and_bound(
    engine: Engine,
    ids: runs.RunIds,
    provider: str,
    period_key: str,
    *,
    time_limit_s: float,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
) -> PricedQueues:
    """Run the legacy baseline and the optimizer (until its answer is proven within
    ``gap_target_pct`` percent, at most ``time_limit_s``), price each queue SIM by SIM and
    store the lower bound, the legacy cost and the cost before on the instance."""
    tables = instance_tables(engine, provider, period_key)
    instance, _, _ = m2m_instance(engine, provider, tables)
    legacy, result = legacy_and_optimized(
        instance, time_limit_s=time_limit_s, gap_target_pct=gap_target_pct
    )

    def write(queue_id: int, assignment) -> float:
        return runs.write_queue_result(engine, ids, queue_id, instance, assignment)

    costs, _ = price_queues(engine, ids, instance, legacy, result, write)
    runs.update_instance(
        engine,
        ids,
        lower_bound=result.bound.value,
        legacy_cost=legacy.cost,
        cost_before=costs[CURRENT],
        proven_optimal=result.proven_optimal,
    )
    return PricedQueues(result, costs)


def choose_winner(engine: Engine, ids: runs.RunIds) -> Winner:
    """The cheapest queue wins; the losers' device results are deleted; the instance
    completes (the session stays open for the push)."""
    queue, cost = runs.choose_winner(engine, ids)
    winners = runs.winning_assignment(engine, ids)
    figures = runs.instance_figures(engine, ids)
    runs.finish_instance(engine, ids, RunStatus.COMPLETED, cost_after=cost)
    return Winner(queue, cost, winners, figures)


def solved_instance(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str
) -> InstanceWinner:
    """The session's instance as it was solved, with its winner (what the push sends)."""
    solved, _, _ = m2m_solved(engine, ids, provider, instance_tables(engine, provider, period_key))
    return solved
