"""An instance's communication groups and queues (one per strategy tried, with its
rate-plan sequence), their costs, and the choice of the winner."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, update

from carrier_opt.core.comm_groups import CommGroup
from carrier_opt.db.models import (
    JasperCommunicationPlan,
    OptimizationCommGroup,
    OptimizationCommGroupCommPlan,
    OptimizationCommGroupRatePlan,
    OptimizationDeviceResult,
    OptimizationQueue,
    OptimizationQueueRatePlan,
    RunStatus,
)
from carrier_opt.db.optimization_runs.results import carrier_plan_ids, ids_by_name
from carrier_opt.db.optimization_runs.sessions import RunIds
from carrier_opt.db.types import money_value, utc_now
from carrier_opt.errors import CarrierOptError


def write_comm_groups(engine: Engine, ids: RunIds, groups: list[CommGroup]) -> None:
    """Record the groups of this instance with their communication and rate plans."""
    now = utc_now()
    with engine.begin() as connection:
        comm_ids = ids_by_name(
            connection, JasperCommunicationPlan, JasperCommunicationPlan.name, ids.provider_id
        )
        plan_ids = carrier_plan_ids(connection, ids.provider_id)
        for group in groups:
            group_id = connection.execute(
                insert(OptimizationCommGroup).values(
                    optimization_instance_id=ids.instance_id,
                    name=group.name,
                    skipped_reason=group.skipped_reason,
                    created_at=now,
                )
            ).inserted_primary_key[0]
            members = [
                {"optimization_comm_group_id": group_id, "communication_plan_id": comm_ids[name]}
                for name in group.communication_plans
                if name in comm_ids
            ]
            if members:
                connection.execute(insert(OptimizationCommGroupCommPlan), members)
            offered = [
                {"optimization_comm_group_id": group_id, "carrier_rate_plan_id": plan_ids[code]}
                for code in group.rate_plans
            ]
            if offered:
                connection.execute(insert(OptimizationCommGroupRatePlan), offered)


def create_queues(engine: Engine, ids: RunIds, queues: list[tuple[str, list[str]]]) -> None:
    """Queues (strategy name, rate-plan sequence) of the instance, pending until priced."""
    now = utc_now()
    with engine.begin() as connection:
        plan_ids = carrier_plan_ids(connection, ids.provider_id)
        connection.execute(
            insert(OptimizationQueue),
            [
                {
                    "optimization_instance_id": ids.instance_id,
                    "strategy": strategy,
                    "status": RunStatus.PENDING.value,
                    "created_at": now,
                }
                for strategy, _ in queues
            ],
        )
        queue_ids = _queue_ids(connection, ids)
        sequences = [
            {
                "optimization_queue_id": queue_ids[strategy],
                "carrier_rate_plan_id": plan_ids[code],
                "sequence_order": order,
            }
            for strategy, codes in queues
            for order, code in enumerate(codes)
        ]
        if sequences:  # customer queues run over customer plans: no carrier-plan sequence
            connection.execute(insert(OptimizationQueueRatePlan), sequences)


def record_queue_costs(engine: Engine, ids: RunIds, costs: dict[str, float]) -> None:
    """Store the total cost of queues priced without per-SIM rows (the legacy queues that did
    not win: the legacy system deleted their device results anyway)."""
    now = utc_now()
    with engine.begin() as connection:
        queue_ids = _queue_ids(connection, ids)
        for strategy, cost in costs.items():
            connection.execute(
                update(OptimizationQueue)
                .where(OptimizationQueue.id == queue_ids[strategy])
                .values(
                    status=RunStatus.COMPLETED.value,
                    total_cost=money_value(cost),
                    run_completed_at=now,
                    modified_at=now,
                )
            )


def _queue_ids(connection, ids: RunIds) -> dict[str, int]:
    rows = connection.execute(
        select(OptimizationQueue.strategy, OptimizationQueue.id).where(
            OptimizationQueue.optimization_instance_id == ids.instance_id
        )
    ).all()
    return {strategy: int(queue_id) for strategy, queue_id in rows}


def queues_of(engine: Engine, ids: RunIds) -> dict[str, int]:
    """The instance's queues by strategy."""
    with engine.connect() as connection:
        return _queue_ids(connection, ids)


def choose_winner(engine: Engine, ids: RunIds, model=OptimizationDeviceResult) -> tuple[str, float]:
    """Mark the cheapest finished queue the winner and delete the losers' per-SIM rows in
    ``model`` (as the legacy cleanup did); answers (strategy, total cost)."""
    with engine.begin() as connection:
        with_results = (
            select(model.id).where(model.optimization_queue_id == OptimizationQueue.id).exists()
        )
        # Only priced queues with per-SIM rows can win: a legacy queue tied with the legacy
        # winner (which has rows) must not win on its id.
        queues = connection.execute(
            select(OptimizationQueue.id, OptimizationQueue.strategy, OptimizationQueue.total_cost)
            .where(
                OptimizationQueue.optimization_instance_id == ids.instance_id,
                OptimizationQueue.status == RunStatus.COMPLETED.value,
                with_results,
            )
            .order_by(OptimizationQueue.total_cost, OptimizationQueue.id)
        ).all()
        if not queues:
            raise CarrierOptError(
                f"instance {ids.instance_id} has no finished queue to choose from"
            )
        winner = queues[0]
        connection.execute(
            update(OptimizationQueue)
            .where(OptimizationQueue.optimization_instance_id == ids.instance_id)
            .values(is_winner=OptimizationQueue.id == winner.id)
        )
        losers = [queue.id for queue in queues[1:]]
        if losers:
            connection.execute(delete(model).where(model.optimization_queue_id.in_(losers)))
    return winner.strategy, float(winner.total_cost)
