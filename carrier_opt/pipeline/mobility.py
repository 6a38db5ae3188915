"""Mobility optimization, below Dagster: one optimization group solved as its own instance."""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from carrier_opt.core.mobility import GroupTables
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import OptimizationMobilityDeviceResult
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
        engine, group_ids, instance, time_limit_s=time_limit_s, write_queue=write,
        result_model=OptimizationMobilityDeviceResult,
    )  # fmt: skip
