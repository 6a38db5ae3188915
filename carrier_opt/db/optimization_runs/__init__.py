"""Persistence of one optimization run: session, instance, communication groups, queues,
device results and the winner — the legacy tables, filled the way the legacy system did.

Callers use it as one API (``from carrier_opt.db import optimization_runs as runs``); it is
kept in three modules by table family: ``sessions`` (the session and its instances, progress,
closing), ``queues`` (communication groups, queues, the winner) and ``results`` (per-SIM rows).
"""

from carrier_opt.db.optimization_runs.queues import (
    choose_winner,
    create_queues,
    queues_of,
    record_queue_costs,
    write_comm_groups,
)
from carrier_opt.db.optimization_runs.results import (
    RESULT_BATCH_ROWS,
    carrier_plan_ids,
    device_ids_of,
    ids_by_name,
    result_rows,
    store_queue_rows,
    winning_assignment,
    write_queue_result,
)
from carrier_opt.db.optimization_runs.sessions import (
    SESSION_STALE_AFTER,
    RunEnded,
    RunIds,
    SessionRefused,
    add_instance,
    finish,
    finish_instance,
    finish_session,
    instance_figures,
    run_ids_for,
    set_progress,
    start_session,
    update_instance,
)

__all__ = [
    "RESULT_BATCH_ROWS",
    "SESSION_STALE_AFTER",
    "RunEnded",
    "RunIds",
    "SessionRefused",
    "add_instance",
    "carrier_plan_ids",
    "choose_winner",
    "create_queues",
    "device_ids_of",
    "finish",
    "finish_instance",
    "finish_session",
    "ids_by_name",
    "instance_figures",
    "queues_of",
    "record_queue_costs",
    "result_rows",
    "run_ids_for",
    "set_progress",
    "start_session",
    "store_queue_rows",
    "update_instance",
    "winning_assignment",
    "write_comm_groups",
    "write_queue_result",
]
