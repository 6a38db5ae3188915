"""An optimization instance as it was solved, rebuilt from the database, with its winner.

Reports and pushes never trust a copy kept in memory: they rebuild the instance the optimizer
saw from the period's stored tables (SIMs of skipped groups locked on their plans) and read the
winning plan of every SIM back from the result tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.core.billing import BillingPeriodSpan
from carrier_opt.core.comm_groups import CommGroup, comm_groups
from carrier_opt.core.instance import Instance, instance_from_frames
from carrier_opt.core.mobility import GroupTables
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.export import InstanceTables
from carrier_opt.db.instance_results import SessionInstance, mobility_winners, session_instances
from carrier_opt.db.mobility import MobilityGroups, period_groups
from carrier_opt.db.models import (
    OptimizationInstance,
    OptimizationSession,
    RunStatus,
    ServiceProvider,
)
from carrier_opt.errors import CarrierOptError

M2M_JOB = "optimize_billing_period"


@dataclass(frozen=True)
class InstanceWinner:
    """One instance's winner, ready to report or push."""

    instance_id: int
    instance: Instance
    target: np.ndarray
    """The winner's plan index per SIM (into ``instance.plan_codes``)."""
    period: BillingPeriodSpan
    synced_at: datetime
    """When the instance's run started (its sync read the carrier after that)."""
    cost_before_usd: float | None
    label: str
    """What the instance covers, for messages: the provider, or its optimization group."""


def plan_limit(engine: Engine, provider: str) -> int:
    """The provider's most rate plans per communication group."""
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(ServiceProvider.max_rate_plans_per_group).where(
                    ServiceProvider.name == provider
                )
            )
        )


def m2m_instance(
    engine: Engine, provider: str, tables: InstanceTables
) -> tuple[Instance, list[CommGroup], int]:
    """The instance the optimizer sees, the provider's communication groups and its limit of
    rate plans per group: SIMs of groups skipped for offering more plans stay locked on their
    plans (they still count in their pools). Reports price the winner on this same instance."""
    limit = plan_limit(engine, provider)
    groups = comm_groups(tables.comm_plan_rate_plans, limit)
    skipped = {cp for g in groups if g.skipped_reason for cp in g.communication_plans}
    devices = tables.devices.copy()
    locked = devices["communication_plan"].isin(skipped)
    devices.loc[locked, "locked"] = "true"
    instance = instance_from_frames(tables.rate_plans, tables.comm_plan_rate_plans, devices)
    return instance, groups, limit


def plan_indices(
    iccids: np.ndarray, plan_codes: np.ndarray, winners: pd.DataFrame, job: str = M2M_JOB
) -> np.ndarray:
    """The winner's plan of each SIM, as indices into the instance's plans, in its SIM order
    (``job`` is the one to re-run when the winner lacks a SIM)."""
    index = {code: i for i, code in enumerate(plan_codes.tolist())}
    by_iccid = dict(zip(winners["iccid"].astype(str), winners["rate_plan_code"], strict=True))
    missing = [iccid for iccid in iccids.astype(str).tolist() if iccid not in by_iccid]
    if missing:
        raise CarrierOptError(
            f"the winning assignment has no plan for {len(missing)} SIM(s), e.g. {missing[0]}: "
            f"re-run the whole {job} partition"
        )
    return np.array([index[by_iccid[iccid]] for iccid in iccids.astype(str).tolist()], np.int64)


def m2m_solved(
    engine: Engine, ids: runs.RunIds, provider: str, tables: InstanceTables
) -> tuple[InstanceWinner, list[CommGroup], int]:
    """The M2M instance of ``ids`` with its winner (and its groups and plan limit)."""
    instance, groups, limit = m2m_instance(engine, provider, tables)
    winners = runs.winning_assignment(engine, ids)
    target = plan_indices(instance.iccids, instance.plan_codes, winners)
    assert ids.instance_id is not None
    started, cost_before = instance_start(engine, ids.instance_id)
    solved = InstanceWinner(
        ids.instance_id, instance, target, tables.period, started, cost_before, provider
    )
    return solved, groups, limit


def instance_start(engine: Engine, instance_id: int) -> tuple[datetime, float | None]:
    """When the instance's session started (before its sync) and its stored cost before."""
    with engine.connect() as connection:
        row = connection.execute(
            select(OptimizationSession.started_at, OptimizationInstance.cost_before)
            .join(
                OptimizationSession,
                OptimizationSession.id == OptimizationInstance.optimization_session_id,
            )
            .where(OptimizationInstance.id == instance_id)
        ).one()
    return row.started_at, None if row.cost_before is None else float(row.cost_before)


MOBILITY_JOB = "optimize_mobility_period"


@dataclass(frozen=True)
class SolvedGroup:
    """One optimized mobility group: its tables, its instance row and its winner."""

    group: GroupTables
    row: SessionInstance
    solved: InstanceWinner


def mobility_solved(
    engine: Engine, session_id: int, session_guid: str, provider: str, period_key: str
) -> tuple[MobilityGroups, list[SolvedGroup]]:
    """The period's split into groups, and each optimized group with its winner (groups
    skipped over their plan limit have no instance)."""
    split = period_groups(engine, provider, period_key)
    by_group = {row.optimization_group_id: row for row in session_instances(engine, session_id)}
    solved = []
    for group in split.groups:
        if group.skipped_reason:
            continue
        row = by_group.get(split.group_ids[group.group.name])
        if row is None or row.status != RunStatus.COMPLETED.value:
            raise CarrierOptError(
                f"optimization group {group.group.name!r} has no completed instance in session "
                f"{session_guid}: re-run the whole {MOBILITY_JOB} partition"
            )
        instance = group.instance()
        target = plan_indices(
            instance.iccids, instance.plan_codes, mobility_winners(engine, row.id), MOBILITY_JOB
        )
        started, cost_before = instance_start(engine, row.id)
        assert split.period is not None
        label = f"{provider} (optimization group {group.group.name})"
        solved.append(
            SolvedGroup(
                group,
                row,
                InstanceWinner(row.id, instance, target, split.period, started, cost_before, label),
            )
        )
    return split, solved
