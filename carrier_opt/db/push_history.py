"""Which push of an instance (or a provider) is "the latest": the newest one that ran.

A push refused the provider's lock (another push was running) is still recorded — a
``RatePlanPush`` row with status ``failed`` — but it read and sent nothing. Its id is higher
than the id of the push still sending, so "the newest row" would let the refusal hide what the
running push sent. Reports and ``provider show`` therefore show the newest push that ran (sent
or tried to send, a dry run, a No-Go, a failure after it took the lock) and mention a refusal
that came after it; only when no push ever ran is a refusal itself the latest push.

Also what the carrier accepted (:func:`sent_changes`): the demo's fake carriers, restarted,
replay it so that they show what was pushed to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from carrier_opt.db.models import (
    RatePlanPush,
    RatePlanPushStatus,
    RatePlanUpdate,
    RatePlanUpdateStatus,
    ServiceProvider,
)

PUSH_REFUSED = "refused"
"""``RatePlanPush.decision`` of a push refused the provider's lock (status ``failed``)."""

REFUSAL_PREFIX = "another rate-plan push of this provider is running"
"""How a refusal's ``stop_reason`` begins (:class:`~carrier_opt.delivery.push_lock.PushLocked`):
refusals recorded before ``decision`` said ``refused`` are known by it."""

_PUSH = RatePlanPush.__table__


@dataclass(frozen=True)
class LatestPush:
    """The push to report, and a refusal that came after it."""

    row: dict
    """The newest push that ran; the newest refused one when none ran."""
    ran: bool
    """False when ``row`` itself is a refusal (no push ever ran)."""
    refused_later: dict | None
    """The newest push refused after ``row`` (``None`` when none was)."""


def refused() -> ColumnElement[bool]:
    """SQL: the push was refused the lock. Never NULL, so ``~refused()`` is safe to filter on."""
    return and_(
        _PUSH.c.status == RatePlanPushStatus.FAILED.value,
        or_(
            func.coalesce(_PUSH.c.decision, "") == PUSH_REFUSED,
            func.coalesce(_PUSH.c.stop_reason, "").like(f"{REFUSAL_PREFIX}%"),
        ),
    )


def instance_latest_push(connection: Connection, instance_id: int) -> LatestPush | None:
    """The latest push of an instance (``None`` before any push or dry run)."""
    return _latest(connection, _PUSH.c.optimization_instance_id == instance_id)


def provider_latest_push(connection: Connection, provider_id: int) -> LatestPush | None:
    """The latest push of any instance of a provider (``None`` before any)."""
    return _latest(connection, _PUSH.c.service_provider_id == provider_id)


def _latest(connection: Connection, scope: ColumnElement[bool]) -> LatestPush | None:
    ran = _newest(connection, and_(scope, ~refused()))
    later = and_(scope, refused())
    if ran is not None:
        later = and_(later, _PUSH.c.id > ran["id"])
    refusal = _newest(connection, later)
    if ran is None:
        return None if refusal is None else LatestPush(refusal, ran=False, refused_later=None)
    return LatestPush(ran, ran=True, refused_later=refusal)


def _newest(connection: Connection, where: ColumnElement[bool]) -> dict | None:
    row = connection.execute(select(_PUSH).where(where).order_by(_PUSH.c.id.desc()).limit(1))
    first = row.first()
    return None if first is None else dict(first._mapping)


@dataclass(frozen=True)
class SentChange:
    """A rate-plan change the carrier accepted: the SIM, its new plan and when."""

    iccid: str
    rate_plan: str
    at: datetime


def sent_changes(connection: Connection, provider: str) -> list[SentChange]:
    """Every rate-plan change the carrier accepted for ``provider`` (``RatePlanUpdate`` rows
    ``sent``), oldest first: what the carrier shows since, unless the SIM was moved again. A
    provider that does not exist has none."""
    update = RatePlanUpdate.__table__
    at = func.coalesce(update.c.completed_at, update.c.requested_at, update.c.created_at)
    rows = connection.execute(
        select(update.c.iccid, update.c.to_rate_plan_code, at.label("at"))
        .join(ServiceProvider, ServiceProvider.id == update.c.service_provider_id)
        .where(
            ServiceProvider.name == provider,
            update.c.status == RatePlanUpdateStatus.SENT.value,
        )
        .order_by(at, update.c.id)
    ).all()
    return [SentChange(row.iccid, row.to_rate_plan_code, row.at) for row in rows]
