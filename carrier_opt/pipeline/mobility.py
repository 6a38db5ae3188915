"""Mobility optimization, below Dagster: a mobility provider's period, per optimization group.

The chain shares the carrier sync with M2M, then :func:`split_into_groups` splits the period's
SIMs into the provider's optimization groups (and refreshes ``MobilityDevice``), and
:func:`solve_groups` solves each group as its own instance (its SIMs share the group's pools;
only plans of the group's types are offered). Reports: :mod:`carrier_opt.pipeline.reports`.
"""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from carrier_opt.core.mobility import GroupTables
from carrier_opt.core.optimizer import DEFAULT_GAP_TARGET_PCT
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.mobility import (
    MobilityGroups,
    mobility_device_ids,
    period_groups,
    refresh_mobility_devices,
)
from carrier_opt.db.models import OptimizationMobilityDeviceResult
from carrier_opt.pipeline.session import PeriodRun
from carrier_opt.pipeline.solve import SolvedInstance, solve_instance

Clock = Callable[[], datetime]


def solve_group(
    engine: Engine,
    ids: runs.RunIds,
    group: GroupTables,
    group_id: int,
    id_maps: tuple[dict[str, int], dict[str, int]],
    *,
    time_limit_s: float,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
    now: Clock,
) -> SolvedInstance:
    """One optimization group solved as its own instance (its SIMs share the group's pools;
    only plans of the group's types are offered); ``id_maps``: ICCID → ``MobilityDevice.id``,
    plan code → id."""
    device_ids, plan_ids = id_maps
    instance = group.instance()
    group_ids = runs.add_instance(
        engine, ids, now=now(), optimization_group_id=group_id, device_count=instance.n_devices
    )

    def write(queue_id: int, assignment) -> float:
        rows, total = runs.result_rows(
            instance, assignment, device_ids, plan_ids, sim_column="mobility_device_id"
        )
        rows = [{**row, "optimization_group_id": group_id} for row in rows]
        return runs.store_queue_rows(
            engine, queue_id, OptimizationMobilityDeviceResult, rows, total
        )

    return solve_instance(
        engine,
        group_ids,
        instance,
        time_limit_s=time_limit_s,
        gap_target_pct=gap_target_pct,
        write_queue=write,
        result_model=OptimizationMobilityDeviceResult,
    )


def split_into_groups(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str, *, now: Clock
) -> MobilityGroups:
    """The period's SIMs split into the provider's optimization groups, stored in
    ``MobilityDevice``; groups over their rate-plan limit are marked skipped."""
    split = period_groups(engine, provider, period_key)
    refresh_mobility_devices(engine, ids.provider_id, ids.billing_period_id, split, now())
    return split


def solve_groups(
    run: PeriodRun, *, time_limit_s: float, gap_target_pct: float = DEFAULT_GAP_TARGET_PCT
) -> dict[str, SolvedInstance]:
    """Every optimization group that is not skipped, solved as its own instance (current,
    legacy and optimizer queues; the cheapest wins); by group name. Each group's search stops
    at ``gap_target_pct`` percent above its proven bound, or at ``time_limit_s``."""
    engine, ids, progress = run.engine, run.ids, run.progress
    split = period_groups(engine, run.provider, run.period_key)
    with engine.connect() as connection:  # split_into_groups stored them for this period
        device_ids = mobility_device_ids(connection, ids.provider_id)
        plan_ids = runs.carrier_plan_ids(connection, ids.provider_id)
    progress.milestone(40, "queues created")
    solved: dict[str, SolvedInstance] = {}
    for group in split.groups:
        if group.skipped_reason:
            continue
        if group.pool_note:
            run.log.warning(group.pool_note)
        solved[group.group.name] = solve_group(
            engine,
            ids,
            group,
            split.group_ids[group.group.name],
            (device_ids, plan_ids),
            time_limit_s=time_limit_s,
            gap_target_pct=gap_target_pct,
            now=run.now,
        )
    progress.milestone(50, "optimization calculated")
    return solved
