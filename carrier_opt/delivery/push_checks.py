"""Checking afterwards that the carrier still shows what a push sent.

A carrier can accept a PUT and still not end up on the plan (a scheduled change dropped, a rule
on the account, someone reverting it). The legacy system re-checked three times, 900 s apart,
and mailed the discrepancies; so does :func:`check_push`. Each check reads the carrier once
(Search Devices since the push started; Get Device Details only for the first
:data:`SINGLE_READS` sent SIMs the search does not list), records the plan it saw on every sent
change, and schedules the next check until three are done.

A sent SIM the search does not list has not changed at the carrier since the push started
(what :mod:`~carrier_opt.delivery.carrier_plans` relies on), so it is not on its new plan: a
discrepancy whatever its details say. Reading a few of them names the plan they are on; reading
every one of them would take one call each — 13,204 SIMs at 5 calls/s is 45 minutes, during
which the provider's other runs wait for the check (one run per provider at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from carrier_opt.db.models import (
    BillingPeriod,
    OptimizationInstance,
    RatePlanPush,
    RatePlanUpdate,
    RatePlanUpdateStatus,
    ServiceProvider,
)
from carrier_opt.db.types import utc_now
from carrier_opt.delivery.carrier_plans import CarrierReader, plan_of, plans_changed_since
from carrier_opt.errors import CarrierApiError, InputError

CHECKS = 3
"""How many times a push is re-checked (the legacy number)."""
CHECK_INTERVAL = timedelta(seconds=900)
"""How long after the push, and between checks (the legacy number)."""
SINGLE_READS = 25
"""At most this many sent SIMs not listed by the search are read one by one (5 s at 5 calls/s);
the others are recorded as :data:`NOT_CHANGED`."""
NOT_CHANGED = "(not changed since the push)"
"""What a check records as shown for a sent SIM the search does not list and that it did not
read one by one: the carrier has not changed it since the push started."""

_PUSH = RatePlanPush.__table__
_UPDATE = RatePlanUpdate.__table__


@dataclass(frozen=True)
class Discrepancy:
    """A sent change the carrier does not show."""

    iccid: str
    expected_rate_plan: str
    shown_rate_plan: str | None


@dataclass
class PushCheck:
    """One re-check of one push."""

    push_id: int
    check_number: int
    checked: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    next_check_at: datetime | None = None

    @property
    def clean(self) -> bool:
        """True when the carrier shows every sent change."""
        return not self.discrepancies


@dataclass(frozen=True)
class DuePush:
    """A push whose next re-check is due, with its partition."""

    push_id: int
    provider: str
    period_key: str
    checks_done: int


def due_pushes(
    engine: Engine, now: datetime, provider: str | None = None, period_key: str | None = None
) -> list[DuePush]:
    """Pushes whose next re-check is due (oldest first), of one partition when given."""
    query = (
        select(_PUSH.c.id, ServiceProvider.name, BillingPeriod.period_key, _PUSH.c.checks_done)
        .join(ServiceProvider, ServiceProvider.id == _PUSH.c.service_provider_id)
        .join(OptimizationInstance, OptimizationInstance.id == _PUSH.c.optimization_instance_id)
        .join(BillingPeriod, BillingPeriod.id == OptimizationInstance.billing_period_id)
        .where(_PUSH.c.next_check_at.is_not(None), _PUSH.c.next_check_at <= now)
        .order_by(_PUSH.c.next_check_at, _PUSH.c.id)
    )
    if provider is not None:
        query = query.where(ServiceProvider.name == provider)
    if period_key is not None:
        query = query.where(BillingPeriod.period_key == period_key)
    with engine.connect() as connection:
        return [DuePush(*row) for row in connection.execute(query)]


def check_push(
    engine: Engine,
    client: CarrierReader,
    push_id: int,
    *,
    now: Callable[[], datetime],
    interval: timedelta = CHECK_INTERVAL,
    checks: int = CHECKS,
) -> PushCheck:
    """Compare what the carrier shows with every change the push sent; record and schedule."""
    with engine.connect() as connection:
        push = connection.execute(select(_PUSH).where(_PUSH.c.id == push_id)).first()
        if push is None:
            raise InputError(f"no rate-plan push with id {push_id}")
        sent = connection.execute(
            select(_UPDATE.c.id, _UPDATE.c.iccid, _UPDATE.c.to_rate_plan_code).where(
                _UPDATE.c.push_id == push_id, _UPDATE.c.status == RatePlanUpdateStatus.SENT.value
            )
        ).all()
    moment = now()
    read = plans_changed_since(client, push.started_at, moment)
    result = PushCheck(push_id, push.checks_done + 1, checked=len(sent))
    shown_by_row = {}
    single_reads = 0
    for row in sent:
        if row.iccid in read.plans:
            shown = read.plans[row.iccid]
        elif single_reads < SINGLE_READS:  # not changed since the push: which plan is it on?
            single_reads += 1
            shown = _details_plan(client, row.iccid)
        else:
            shown = NOT_CHANGED
        shown_by_row[row.id] = shown
        if shown != row.to_rate_plan_code:
            result.discrepancies.append(Discrepancy(row.iccid, row.to_rate_plan_code, shown))
    if result.check_number < checks:
        result.next_check_at = moment + interval
    _record(engine, push_id, result, shown_by_row, moment)
    return result


def _details_plan(client: CarrierReader, iccid: str) -> str | None:
    """The plan Get Device Details shows, or why it could not be read."""
    try:
        return plan_of(client, iccid)
    except CarrierApiError as error:
        return f"(unreadable: {error.status or 'no answer'})"


def _record(engine: Engine, push_id: int, result: PushCheck, shown_by_row: dict, moment) -> None:
    with engine.begin() as connection:
        for row_id, shown in shown_by_row.items():
            connection.execute(
                update(_UPDATE)
                .where(_UPDATE.c.id == row_id)
                .values(
                    verified_rate_plan_code=(shown or "")[:255] or None,
                    verified_at=moment,
                    modified_at=utc_now(),
                )
            )
        connection.execute(
            update(_PUSH)
            .where(_PUSH.c.id == push_id)
            .values(
                checks_done=result.check_number,
                next_check_at=result.next_check_at,
                discrepancies=len(result.discrepancies),
                modified_at=utc_now(),
            )
        )
