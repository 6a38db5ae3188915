"""Optimization sessions as an operator sees them: which are open, and closing one by hand.

A session blocks its provider's next run while it is pending or running. The next run takes it
over on its own when its Dagster run is known to be over, or when it is older than the stated
timeout (:func:`carrier_opt.db.optimization_runs.start_session`). ``carrier-opt session list``
shows them, and ``carrier-opt session fail`` closes one at once: for a session whose run is
gone from a Dagster instance the next run cannot see, or when the operator knows it is dead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from carrier_opt.db.models import (
    ACTIVE_RUN_STATUSES,
    BillingPeriod,
    OptimizationInstance,
    OptimizationSession,
    RunStatus,
    ServiceProvider,
)
from carrier_opt.errors import InputError


@dataclass(frozen=True)
class SessionRow:
    """One optimization session, as ``session list`` prints it."""

    session_guid: str
    provider: str
    period_key: str
    optimization_type: str
    status: str
    progress_percent: int
    dagster_run_id: str | None
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str | None


def list_sessions(
    engine: Engine,
    *,
    provider: str | None = None,
    open_only: bool = True,
    limit: int = 50,
    session_guid: str | None = None,
) -> list[SessionRow]:
    """Sessions, newest first: the open ones (pending or running) by default."""
    session = OptimizationSession
    query = (
        select(
            session.session_guid,
            ServiceProvider.name,
            BillingPeriod.period_key,
            session.optimization_type,
            session.status,
            session.progress_percent,
            session.dagster_run_id,
            session.started_at,
            session.completed_at,
            session.error_message,
        )
        .join(ServiceProvider, ServiceProvider.id == session.service_provider_id)
        .join(BillingPeriod, BillingPeriod.id == session.billing_period_id)
        .order_by(session.id.desc())
        .limit(limit)
    )
    if provider is not None:
        query = query.where(ServiceProvider.name == provider)
    if session_guid is not None:
        query = query.where(session.session_guid == session_guid)
    if open_only:
        query = query.where(session.status.in_([s.value for s in ACTIVE_RUN_STATUSES]))
    with engine.connect() as connection:
        return [SessionRow(*row) for row in connection.execute(query)]


def fail_session(engine: Engine, session_guid: str, *, reason: str, now: datetime) -> SessionRow:
    """Close an open session as failed (and its unfinished instances), recording ``reason``.

    Raises :class:`InputError` when there is no such session or it is already closed, so an
    operator never rewrites a finished session's outcome."""
    if not reason.strip():
        raise InputError("say why the session is closed (--reason)")
    message = f"closed by an operator: {reason.strip()}"
    active = [s.value for s in ACTIVE_RUN_STATUSES]
    with engine.begin() as connection:
        row = connection.execute(
            select(OptimizationSession.id, OptimizationSession.status).where(
                OptimizationSession.session_guid == session_guid
            )
        ).one_or_none()
        if row is None:
            raise InputError(f"no optimization session {session_guid!r}")
        if row.status not in active:
            raise InputError(
                f"optimization session {session_guid} is already {row.status}; nothing to close"
            )
        connection.execute(
            update(OptimizationSession)
            .where(OptimizationSession.id == row.id, OptimizationSession.status.in_(active))
            .values(
                status=RunStatus.FAILED.value,
                completed_at=now,
                modified_at=now,
                error_message=message,
            )
        )
        connection.execute(
            update(OptimizationInstance)
            .where(
                OptimizationInstance.optimization_session_id == row.id,
                OptimizationInstance.status.in_(active),
            )
            .values(status=RunStatus.FAILED.value, error_message=message)
        )
    (closed,) = list_sessions(engine, open_only=False, session_guid=session_guid)
    return closed
