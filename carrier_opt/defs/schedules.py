"""Schedules: the daily sync of every active provider, and the hourly freshness check.

``daily_sync`` ticks every hour on the hour (UTC) and asks for one ``sync_carrier_data`` run
per provider whose local sync hour (``provider set --daily-sync-hour``, default 02:00 in the
provider's zone) fell in the hour just ended (:mod:`carrier_opt.core.daily_sync`), for the
period open at that moment. A tick makes one query and never calls the carrier. Each run
carries its partition's ``dagster/partition/service_provider`` tag, which the run queue
limits to one run per provider (``dagster.yaml``): a daily sync and the billing-window
sensor's optimization of one provider never run at once, and the database's one-sync-at-a-
time guard backs that up. Run keys (``daily_sync|provider|local date``) keep a retried tick
from asking twice.

Both schedules are **stopped by default**, as the sensor is: a fresh deployment calls no
carrier unasked. Turn them on in the UI (Automation) or with ``dagster schedule start``.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from carrier_opt import clock as system_clock
from carrier_opt.core.daily_sync import daily_sync_due
from carrier_opt.db.providers import billing_cycle, checked_provider_name
from carrier_opt.defs.jobs import check_sync_freshness, sync_carrier_data
from carrier_opt.defs.partitions import partition_key, register_providers
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt.defs.sensors import ActiveProvider, active_providers
from carrier_opt.defs.tags import DAILY_SYNC_TRIGGER, LOCAL_DATE_TAG, TRIGGER_TAG
from carrier_opt.errors import InputError

DAILY_SYNC_NAME = "daily_sync"
FRESHNESS_SCHEDULE_NAME = "sync_freshness_hourly"

Clock = Callable[[], datetime]


def tick_time(context: dg.ScheduleEvaluationContext, clock: Clock | None = None) -> datetime:
    """The tick's instant: ``clock()`` when a test gives one, else the tick's scheduled time
    (not the moment it is evaluated: a late tick still decides for its own hour), moved like
    every carrier_opt clock by ``CARRIER_OPT_CLOCK_SHIFT``."""
    if clock is not None:
        return clock()
    scheduled = context.scheduled_execution_time
    if scheduled is None:
        return system_clock.now()
    if scheduled.tzinfo is None:
        scheduled = scheduled.replace(tzinfo=UTC)
    return scheduled.astimezone(UTC) + system_clock.shift()


def build_daily_sync_schedule(clock: Clock | None = None, job: Any = None) -> dg.ScheduleDefinition:
    """The ``daily_sync`` schedule (``clock`` and ``job`` for tests)."""

    @dg.schedule(
        name=DAILY_SYNC_NAME,
        cron_schedule="0 * * * *",
        execution_timezone="UTC",
        job=job or sync_carrier_data,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Once a day per active provider, at its local sync hour (default 02:00 in its "
            "zone): an incremental sync of its SIMs and the open period's usage, so every "
            "period has usage stored. Stopped by default."
        ),
    )
    def daily_sync(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
        providers = active_providers(database.engine())
        return evaluate_daily_sync(context, providers, tick_time(context, clock))

    return daily_sync


def evaluate_daily_sync(
    context: dg.ScheduleEvaluationContext, providers: Sequence[ActiveProvider], tick: datetime
) -> list[dg.RunRequest] | dg.SkipReason:
    """The tick's run requests: one per provider due at ``tick``. A provider that is not a
    partition yet becomes one; one whose settings are unusable is skipped with an error."""
    requests: list[dg.RunRequest] = []
    fleets: dict[str, str] = {}
    for provider in providers:
        try:
            checked_provider_name(provider.name)
            cycle = billing_cycle(provider)
            due = daily_sync_due(provider.name, cycle, provider.daily_sync_hour, tick)
        except (InputError, ValueError) as error:
            context.log.error(f"service provider {provider.name!a} skipped: {error}")
            continue
        if due is None:
            continue
        fleets[provider.name] = provider.fleet
        requests.append(
            dg.RunRequest(
                run_key=due.run_key,
                partition_key=partition_key(provider.name, due.period_key),
                tags={TRIGGER_TAG: DAILY_SYNC_TRIGGER, LOCAL_DATE_TAG: due.local_date.isoformat()},
            )
        )
    if not requests:
        return dg.SkipReason(
            f"no active provider's daily sync hour fell in the hour before {tick.isoformat()}"
        )
    register_providers(context.instance, fleets)
    return requests


daily_sync_schedule = build_daily_sync_schedule()

sync_freshness_schedule = dg.ScheduleDefinition(
    name=FRESHNESS_SCHEDULE_NAME,
    cron_schedule="30 * * * *",
    execution_timezone="UTC",
    job=check_sync_freshness,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour: warn about providers whose last completed sync is over 36 h old.",
)
