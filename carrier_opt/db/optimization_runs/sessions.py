"""An optimization run's session and instances: opening a session (refused while another
run of the provider is still going, as the legacy view ``vwOptimizationSessionRunning`` says,
except on the last day of the cycle once that session's instance has completed), the instances
it solves, its progress, and closing it."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert, select, update

from carrier_opt.core.billing import period_for_key
from carrier_opt.core.run_window import last_run_day
from carrier_opt.db.models import (
    OptimizationInstance,
    OptimizationSession,
    OptimizationType,
    RunStatus,
)
from carrier_opt.db.providers import ensure_billing_period, load_provider, lock_provider
from carrier_opt.db.types import money_value, utc_now
from carrier_opt.db.views import session_running_view_table
from carrier_opt.errors import CarrierOptError

log = logging.getLogger(__name__)


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
    money = {key: money_value(value) for key, value in costs.items() if value is not None}
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
