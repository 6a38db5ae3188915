"""Persistence of one optimization run: session, instance, communication groups, queues,
device results and the winner — the legacy tables, filled the way the legacy system did.

A session is refused while another one for the provider is still running (the view
``vwOptimizationSessionRunning``), except on the last day of the cycle when that session's
instance has completed — the legacy rule that lets hourly last-day runs follow each other.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update

from carrier_opt.core.billing import period_for_key
from carrier_opt.core.comm_groups import CommGroup
from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import device_breakdown
from carrier_opt.core.run_window import last_run_day
from carrier_opt.db.models import (
    JasperCarrierRatePlan,
    JasperCommunicationPlan,
    OptimizationCommGroup,
    OptimizationCommGroupCommPlan,
    OptimizationCommGroupRatePlan,
    OptimizationDeviceResult,
    OptimizationInstance,
    OptimizationQueue,
    OptimizationQueueRatePlan,
    OptimizationSession,
    OptimizationType,
    RunStatus,
)
from carrier_opt.db.models.devices import Device
from carrier_opt.db.providers import ensure_billing_period, load_provider, lock_provider
from carrier_opt.db.types import utc_now
from carrier_opt.db.views import session_running_view_table
from carrier_opt.errors import CarrierOptError

log = logging.getLogger(__name__)

RESULT_BATCH_ROWS = 10_000


class SessionRefused(CarrierOptError):
    """Another optimization of the provider is still running."""


@dataclass(frozen=True)
class RunIds:
    """The rows one optimization run owns."""

    provider_id: int
    billing_period_id: int
    session_id: int
    instance_id: int | None
    session_guid: str


RunEnded = Callable[[str], "str | None"]
"""Asks the orchestrator about a run id: how it ended (``"FAILURE"``...), or None while it is
running or unknown."""

SESSION_STALE_AFTER = timedelta(hours=12)
"""A session open this long after its start is presumed dead (a push of 50,000 changes at the
carrier's 5 calls/s takes under 3 hours)."""


def start_session(
    engine: Engine,
    provider_name: str,
    period_key: str,
    *,
    run_id: str,
    now: datetime,
    optimization_type: OptimizationType | None = None,
    run_ended: RunEnded | None = None,
    stale_after: timedelta = SESSION_STALE_AFTER,
) -> RunIds:
    """Open a session for the provider's period, or refuse (legacy rule).

    An open session does not block when its run is over: ``run_ended`` says its Dagster run
    ended (crashed, cancelled, or a partial materialization that never reached the push), or
    it started more than ``stale_after`` ago. It is then closed as failed, with a log line.

    The type defaults to the provider's fleet (m2m or mobility). An M2M session gets its one
    instance here; mobility and customer sessions add one instance per optimization group or
    customer later (:func:`add_instance`), so their ``instance_id`` is None until then.
    """
    with engine.begin() as connection:
        provider = load_provider(connection, provider_name)
        # The provider's row stays locked until this transaction ends: a second run starting
        # at the same moment waits here, then finds this session and is refused (a guard in
        # the database, not a check then an insert).
        lock_provider(connection, provider.id)
        period = period_for_key(provider.cycle, period_key)
        period_id = ensure_billing_period(connection, provider.id, period)
        view = session_running_view_table()
        session = OptimizationSession.__table__
        running = connection.execute(
            select(
                view.c.session_guid,
                view.c.instance_status,
                session.c.id,
                session.c.dagster_run_id,
                session.c.started_at,
            )
            .join(session, session.c.session_guid == view.c.session_guid)
            .where(view.c.service_provider_id == provider.id)
        ).all()
        last_day = now.astimezone(provider.cycle.zone).date() == last_run_day(
            provider.cycle, period, provider.optimization_start_hour
        )
        blocking = [r for r in running if not (last_day and r.instance_status == "completed")]
        blocking = _without_dead_sessions(connection, blocking, now, run_ended, stale_after)
        if blocking:
            raise SessionRefused(
                f"{provider.name}: optimization session {blocking[0].session_guid} is still "
                f"running (Dagster run {blocking[0].dagster_run_id}); a new one starts when it "
                "ends, or once its run is over or it is older than "
                f"{stale_after.total_seconds() / 3600:g} h"
            )
        guid = str(uuid.uuid4())
        kind = optimization_type or OptimizationType(provider.fleet)
        session_id = connection.execute(
            insert(OptimizationSession).values(
                session_guid=guid,
                service_provider_id=provider.id,
                billing_period_id=period_id,
                optimization_type=kind.value,
                status=RunStatus.RUNNING.value,
                progress_percent=0,
                dagster_run_id=run_id,
                started_at=now,
                created_at=now,
            )
        ).inserted_primary_key[0]
        if kind is not OptimizationType.M2M:
            return RunIds(provider.id, period_id, int(session_id), None, guid)
        instance_id = connection.execute(
            insert(OptimizationInstance).values(
                optimization_session_id=session_id,
                service_provider_id=provider.id,
                billing_period_id=period_id,
                status=RunStatus.RUNNING.value,
                run_started_at=now,
                created_at=now,
            )
        ).inserted_primary_key[0]
    return RunIds(provider.id, period_id, int(session_id), int(instance_id), guid)


def _without_dead_sessions(connection, rows, now: datetime, run_ended, stale_after) -> list:
    """``rows`` minus the sessions whose run is over or that are too old; those are closed as
    failed (the reason is logged and stored on the session)."""
    alive, closed = [], {}
    for row in rows:
        if row.id in closed:
            continue
        ended = run_ended(row.dagster_run_id) if (run_ended and row.dagster_run_id) else None
        age = now - row.started_at if row.started_at is not None else timedelta(0)
        if ended:
            reason = f"its Dagster run {row.dagster_run_id} ended ({ended}) without closing it"
        elif age > stale_after:
            reason = f"open for {age.total_seconds() / 3600:.1f} h (more than {stale_after})"
        else:
            alive.append(row)
            continue
        closed[row.id] = reason
        # A run that succeeded with every instance solved only skipped its push step.
        done = ended == "SUCCESS" and row.instance_status == RunStatus.COMPLETED.value
        log.warning("optimization session %s taken over: %s", row.session_guid, reason)
        connection.execute(
            update(OptimizationSession)
            .where(OptimizationSession.id == row.id)
            .values(
                status=(RunStatus.COMPLETED if done else RunStatus.FAILED).value,
                completed_at=now,
                modified_at=now,
                error_message=None if done else f"taken over: {reason}",
            )
        )
        connection.execute(
            update(OptimizationInstance)
            .where(
                OptimizationInstance.optimization_session_id == row.id,
                OptimizationInstance.status == RunStatus.RUNNING.value,
            )
            .values(status=RunStatus.FAILED.value, error_message=f"taken over: {reason}")
        )
    return [row for row in alive if row.id not in closed]


def finish_session(
    engine: Engine, ids: RunIds, status: RunStatus, *, error: str | None = None
) -> None:
    """Close the session only (its instances were closed when they were solved)."""
    now = utc_now()
    with engine.begin() as connection:
        connection.execute(
            update(OptimizationSession)
            .where(OptimizationSession.id == ids.session_id)
            .values(status=status.value, completed_at=now, error_message=error, modified_at=now)
        )


def run_ids_for(engine: Engine, run_id: str) -> RunIds:
    """The session a Dagster run opened (assets after the first find it this way)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(
                OptimizationSession.service_provider_id,
                OptimizationSession.billing_period_id,
                OptimizationSession.id,
                OptimizationInstance.id.label("instance_id"),
                OptimizationSession.session_guid,
            )
            .outerjoin(
                OptimizationInstance,
                OptimizationInstance.optimization_session_id == OptimizationSession.id,
            )
            .where(OptimizationSession.dagster_run_id == run_id)
            .order_by(OptimizationSession.id.desc(), OptimizationInstance.id)
        ).first()
    if row is None:
        raise CarrierOptError(
            f"run {run_id} has no optimization session: materialize staged_devices first "
            "(the whole optimize_billing_period job does it in order)"
        )
    return RunIds(*row)


def add_instance(
    engine: Engine,
    ids: RunIds,
    *,
    now: datetime,
    optimization_group_id: int | None = None,
    rev_customer_id: int | None = None,
    device_count: int | None = None,
) -> RunIds:
    """Open one more instance in the session (a mobility group's or a customer's)."""
    with engine.begin() as connection:
        instance_id = connection.execute(
            insert(OptimizationInstance).values(
                optimization_session_id=ids.session_id,
                service_provider_id=ids.provider_id,
                billing_period_id=ids.billing_period_id,
                status=RunStatus.RUNNING.value,
                optimization_group_id=optimization_group_id,
                rev_customer_id=rev_customer_id,
                device_count=device_count,
                run_started_at=now,
                created_at=now,
            )
        ).inserted_primary_key[0]
    return dataclasses.replace(ids, instance_id=int(instance_id))


def finish_instance(
    engine: Engine, ids: RunIds, status: RunStatus, *, error: str | None = None, **costs: float
) -> None:
    """Close one instance of a multi-instance session (the session stays open)."""
    money = {key: _money(value) for key, value in costs.items() if value is not None}
    with engine.begin() as connection:
        connection.execute(
            update(OptimizationInstance)
            .where(OptimizationInstance.id == ids.instance_id)
            .values(status=status.value, run_completed_at=utc_now(), error_message=error, **money)
        )


def set_progress(engine: Engine, ids: RunIds, percent: int) -> None:
    """Record a progress milestone (0/20/30/40/50/100 %) on the session."""
    with engine.begin() as connection:
        connection.execute(
            update(OptimizationSession)
            .where(OptimizationSession.id == ids.session_id)
            .values(progress_percent=percent, modified_at=utc_now())
        )


def finish(
    engine: Engine, ids: RunIds, status: RunStatus, *, error: str | None = None, **costs: float
) -> None:
    """Close the session and instance as completed or failed (costs stored as Numeric)."""
    now = utc_now()
    money = {key: Decimal(f"{value:.4f}") for key, value in costs.items() if value is not None}
    with engine.begin() as connection:
        if ids.instance_id is not None:
            connection.execute(
                update(OptimizationInstance)
                .where(OptimizationInstance.id == ids.instance_id)
                .values(status=status.value, run_completed_at=now, error_message=error, **money)
            )
        connection.execute(
            update(OptimizationSession)
            .where(OptimizationSession.id == ids.session_id)
            .values(status=status.value, completed_at=now, error_message=error, modified_at=now)
        )


def update_instance(engine: Engine, ids: RunIds, **values: object) -> None:
    """Store figures on the instance row as they become known (device count, costs)."""
    clean = {
        key: Decimal(f"{value:.4f}") if isinstance(value, float) else value
        for key, value in values.items()
    }
    if ids.instance_id is None:  # mobility and customer sessions: figures per instance
        return
    with engine.begin() as connection:
        connection.execute(
            update(OptimizationInstance)
            .where(OptimizationInstance.id == ids.instance_id)
            .values(modified_at=utc_now(), **clean)
        )


def instance_figures(engine: Engine, ids: RunIds) -> dict[str, float]:
    """Cost before, legacy cost and lower bound stored on the instance (0 when unknown)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(
                OptimizationInstance.cost_before,
                OptimizationInstance.legacy_cost,
                OptimizationInstance.lower_bound,
            ).where(OptimizationInstance.id == ids.instance_id)
        ).one()
    return {name: float(value or 0) for name, value in row._mapping.items()}


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
                    total_cost=_money(cost),
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


def write_queue_result(
    engine: Engine, ids: RunIds, queue_id: int, instance: Instance, assignment: np.ndarray
) -> float:
    """Price ``assignment`` per SIM and store it as the queue's device results; answers the
    queue's total cost (USD). Replaces earlier results of the queue (re-materialization)."""
    with engine.connect() as connection:
        device_ids = device_ids_of(connection, ids.provider_id)
        plan_ids = carrier_plan_ids(connection, ids.provider_id)
    rows, total = result_rows(instance, assignment, device_ids, plan_ids)
    return store_queue_rows(engine, queue_id, OptimizationDeviceResult, rows, total)


def result_rows(
    instance: Instance,
    assignment: np.ndarray,
    device_ids: dict[str, int],
    plan_ids: dict[str, int],
    *,
    sim_column: str = "device_id",
    plan_columns: tuple[str, str] = (
        "current_carrier_rate_plan_id",
        "assigned_carrier_rate_plan_id",
    ),
) -> tuple[list[dict], float]:
    """Per-SIM result rows of ``assignment`` (charges as the legacy reports split them) and
    its total cost (exact, not the sum of the rounded rows).

    ``sim_column`` and ``plan_columns`` name where the SIM and its current/assigned plan go:
    ``Device`` and carrier plans for M2M, ``MobilityDevice`` for mobility, customer plans for
    customer optimization.
    """
    breakdown = device_breakdown(instance, assignment)
    rows = _result_rows(instance, breakdown, device_ids, plan_ids, sim_column, plan_columns)
    return rows, float(breakdown["cost_usd"].sum())


def store_queue_rows(engine: Engine, queue_id: int, model, rows: list[dict], total: float) -> float:
    """Replace the queue's per-SIM rows in ``model`` and mark it completed with ``total``
    (a re-materialization rewrites them). Answers the total cost (USD)."""
    started = utc_now()
    with engine.begin() as connection:
        connection.execute(delete(model).where(model.optimization_queue_id == queue_id))
        rows = [{"optimization_queue_id": queue_id, **row} for row in rows]
        for start in range(0, len(rows), RESULT_BATCH_ROWS):
            connection.execute(insert(model), rows[start : start + RESULT_BATCH_ROWS])
        connection.execute(
            update(OptimizationQueue)
            .where(OptimizationQueue.id == queue_id)
            .values(
                status=RunStatus.COMPLETED.value,
                total_cost=Decimal(f"{total:.4f}"),
                run_started_at=started,
                run_completed_at=utc_now(),
                modified_at=utc_now(),
            )
        )
    return total


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


def winning_assignment(engine: Engine, ids: RunIds) -> pd.DataFrame:
    """The winner's rows: iccid, current and assigned plan codes, charges."""
    current = JasperCarrierRatePlan.__table__.alias("current_plan")
    assigned = JasperCarrierRatePlan.__table__.alias("assigned_plan")
    result = OptimizationDeviceResult.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Device.iccid,
                current.c.rate_plan_code.label("current_rate_plan_code"),
                assigned.c.rate_plan_code.label("rate_plan_code"),
                result.c.charge_amount,
            )
            .select_from(result)
            .join(OptimizationQueue, OptimizationQueue.id == result.c.optimization_queue_id)
            .join(Device, Device.id == result.c.device_id)
            .join(assigned, assigned.c.id == result.c.assigned_carrier_rate_plan_id)
            .outerjoin(current, current.c.id == result.c.current_carrier_rate_plan_id)
            .where(
                OptimizationQueue.optimization_instance_id == ids.instance_id,
                OptimizationQueue.is_winner.is_(True),
            )
            .order_by(Device.iccid)
        ).all()
    return pd.DataFrame(
        [tuple(row) for row in rows],
        columns=["iccid", "current_rate_plan_code", "rate_plan_code", "charge_amount"],
    )


def _result_rows(
    instance: Instance,
    breakdown: pd.DataFrame,
    device_ids: dict[str, int],
    plan_ids: dict[str, int],
    sim_column: str,
    plan_columns: tuple[str, str],
) -> list[dict]:
    current_codes = [
        instance.plan_codes[p] if p >= 0 else None for p in instance.current_plan.tolist()
    ]
    base_rates = dict(zip(instance.plan_codes.tolist(), instance.base_rate.tolist(), strict=True))
    rows = []
    for i, row in enumerate(breakdown.itertuples(index=False)):
        rows.append(
            {
                sim_column: device_ids[row.iccid],
                plan_columns[0]: plan_ids.get(current_codes[i]),
                plan_columns[1]: plan_ids[row.rate_plan_code],
                "usage_mb": float(row.usage_mb),
                "sms_usage": int(instance.sms_count[i]),
                "proration": float(instance.proration[i]),
                "charge_amount": _money(row.cost_usd),
                "base_rate_amount": _money(base_rates[row.rate_plan_code]),
                "rate_charge_amount": _money(row.base_usd),
                "overage_charge_amount": _money(row.overage_usd),
                "sms_charge_amount": _money(row.sms_usd),
            }
        )
    return rows


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.4f}")


def carrier_plan_ids(connection, provider_id: int) -> dict[str, int]:
    """Carrier-plan code → id, for the provider."""
    return ids_by_name(
        connection, JasperCarrierRatePlan, JasperCarrierRatePlan.rate_plan_code, provider_id
    )


def device_ids_of(connection, provider_id: int) -> dict[str, int]:
    """ICCID → ``Device.id``, for the provider."""
    return ids_by_name(connection, Device, Device.iccid, provider_id)


def ids_by_name(connection, model, column, provider_id: int) -> dict[str, int]:
    """``column`` value → ``model.id`` for the provider's rows (codes, ICCIDs, names)."""
    rows = connection.execute(
        select(column, model.id).where(model.service_provider_id == provider_id)
    ).all()
    return {name: int(row_id) for name, row_id in rows}
