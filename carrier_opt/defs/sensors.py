"""Sensors: start the optimization when a provider's billing period is in its run window.

``billing_window_sensor`` ticks every 5 minutes. Each tick makes **one** query (the active
providers' cycle settings) and never calls the carrier API, so it stays far inside Dagster's
60-second sensor timeout. For each provider :func:`carrier_opt.core.run_window.scheduled_runs`
names the runs due now; every one carries a ``run_key`` (``provider|YYYY-MM|YYYY-MM-DD`` and,
on the last day, ``...|HH``), and Dagster starts a run only for a ``run_key`` this sensor has
not used before. Emitting the same key tick after tick is therefore safe and is what makes a
missed tick (daemon restart, slow tick) harmless: the next tick still asks for today's run.

Every active provider also becomes a partition of ``service_provider`` and of its fleet's set
(:mod:`carrier_opt.defs.partitions`) if it is not one yet, so a
provider added straight to the database (not through ``carrier-opt provider add``) appears in
the UI and can be run by hand. A partition whose provider the database does not know at all
(a name typed into "Add partition" in the UI, a provider deleted since) is removed, so a typo
does not stay in every job for good; a provider whose fleet changed (``provider set --fleet``)
leaves the other fleet's set, so each job offers only the providers it can run. A provider
turned inactive keeps its partitions (its history stays reachable), and a database without
any provider removes nothing (a wrong database URL must not empty the partitions).

A provider the tick cannot run (a name that cannot be a partition key, unusable cycle settings,
a period Dagster's partitions do not reach yet) is logged on the tick and passed over: one bad
row never fails the tick, which would stop every other provider's runs.

The sensor is **stopped by default**: a fresh ``dagster dev`` must not start optimizations (and
later carrier rate-plan changes) that nobody asked for. Turn it on in the UI or with
``dagster sensor start billing_window_sensor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
from sqlalchemy import Engine, select

from carrier_opt.core.run_window import DueRun, WindowDecision, scheduled_runs
from carrier_opt.db.models import ServiceProvider
from carrier_opt.db.providers import billing_cycle, checked_provider_name
from carrier_opt.db.types import utc_now
from carrier_opt.defs.jobs import (
    MOBILITY_JOB_NAME,
    OPTIMIZE_JOB_NAME,
    optimize_billing_period,
    optimize_mobility_period,
)
from carrier_opt.defs.partitions import (
    is_period_partition,
    partition_changes,
    partition_key,
    partition_sets_now,
)
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt.defs.tags import (
    DAILY_TRIGGER,
    HOURLY_TRIGGER,
    LOCAL_DATE_TAG,
    LOCAL_HOUR_TAG,
    TRIGGER_TAG,
)
from carrier_opt.errors import InputError

SENSOR_NAME = "billing_window_sensor"
MINIMUM_INTERVAL_SECONDS = 300


Clock = Callable[[], datetime]
"""Answers the current instant as an aware UTC datetime."""


@dataclass(frozen=True)
class ActiveProvider:
    """The settings of one active provider that decide when it runs (nothing secret)."""

    name: str
    time_zone: str
    billing_cycle_end_day: int
    billing_cycle_end_hour: int
    optimization_start_hour_local: int | None
    fleet: str = "m2m"
    billing_cycle_end_rule: str = "at_end_hour"
    """m2m providers get ``optimize_billing_period`` runs, mobility ones
    ``optimize_mobility_period`` (customer optimization is started by hand)."""
    daily_sync_hour: int = 2
    """Local hour of the provider's ``daily_sync`` run."""


@dataclass(frozen=True)
class StoredProviders:
    """What one tick reads of the providers: the active ones' cycle settings, every name."""

    active: list[ActiveProvider]
    fleets: Mapping[str, str]
    """Every provider's fleet by name, active or not (a partition of any other name is a
    typo; a provider is a partition of its own fleet's set only)."""

    @property
    def names(self) -> frozenset[str]:
        """Every provider's name."""
        return frozenset(self.fleets)


def stored_providers(engine: Engine) -> StoredProviders:
    """Every provider, by name, with the active ones' cycle settings: the one query a tick
    makes."""
    query = select(
        ServiceProvider.name,
        ServiceProvider.time_zone,
        ServiceProvider.billing_cycle_end_day,
        ServiceProvider.billing_cycle_end_hour,
        ServiceProvider.optimization_start_hour_local,
        ServiceProvider.fleet,
        ServiceProvider.billing_cycle_end_rule,
        ServiceProvider.daily_sync_hour_local,
        ServiceProvider.is_active,
    ).order_by(ServiceProvider.name)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return StoredProviders(
        active=[ActiveProvider(*row[:-1]) for row in rows if row.is_active],
        fleets={row.name: row.fleet for row in rows},
    )


def active_providers(engine: Engine) -> list[ActiveProvider]:
    """The active providers' cycle settings, by name (one query)."""
    return stored_providers(engine).active


def build_billing_window_sensor(
    clock: Clock = utc_now, name: str = SENSOR_NAME, jobs: Sequence | None = None
) -> dg.SensorDefinition:
    """The billing-window sensor reading the time from ``clock``, targeting ``jobs`` (default:
    the M2M and the mobility optimization jobs; tests pass stand-ins of the same names).

    Production reads the one clock (``carrier_opt.clock``, through ``utc_now``); tests pass a
    fixed instant, because
    ``build_sensor_context`` has no notion of "now" and patching a module global would couple
    tests to this module's internals.
    """

    @dg.sensor(
        name=name,
        jobs=list(jobs or [optimize_billing_period, optimize_mobility_period]),
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Requests one optimization run per day in each active provider's last 8 billing "
            "days, from its start hour (local time), and on the last day one per hour instead: "
            "never two runs of one partition in a tick. Stopped by default so a fresh "
            "deployment starts nothing unasked."
        ),
    )
    def billing_window(
        context: dg.SensorEvaluationContext, database: DatabaseResource
    ) -> dg.SensorResult:
        stored = stored_providers(database.engine())
        return evaluate_billing_window(context, stored.active, clock(), known_fleets=stored.fleets)

    return billing_window


def evaluate_billing_window(
    context: dg.SensorEvaluationContext,
    providers: Sequence[ActiveProvider],
    now: datetime,
    *,
    known_fleets: Mapping[str, str] | None = None,
) -> dg.SensorResult:
    """The tick's result for these providers at ``now``: due runs, each provider made a
    partition of its fleet's sets and, given every provider the database knows (``known_fleets``:
    name → fleet), the removal of partitions of names it does not know and of providers from
    another fleet's set.

    A provider stored under a name that cannot be a partition key (added before names were
    checked) is skipped with an error naming it; the others still run."""
    run_requests: list[dg.RunRequest] = []
    providers = [provider for provider in providers if _usable_name(context, provider.name)]
    for provider in providers:
        decision = _decide(context, provider, now)
        if decision is not None and decision.due and _period_reachable(context, decision):
            job = MOBILITY_JOB_NAME if provider.fleet == "mobility" else OPTIMIZE_JOB_NAME
            run_requests.extend(run_request(decision, due, job) for due in decision.due)
    requests = _partition_requests(context, providers, known_fleets)
    skip_reason = None
    if not run_requests:
        skip_reason = (
            f"none of the {len(providers)} active service providers is in its run window "
            f"at {now.isoformat()}"
        )
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=requests or None,
        skip_reason=skip_reason,
    )


def _partition_requests(
    context: dg.SensorEvaluationContext,
    providers: Sequence[ActiveProvider],
    known_fleets: Mapping[str, str] | None,
) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
    """The partition changes of a tick: the active providers added to their fleet's sets and,
    when the database knows some provider (``known_fleets``), every stored one moved to its
    fleet's set and names no provider has removed (logged). A database without any provider
    removes nothing: a wrong database URL must not empty the partitions."""
    fleets = {provider.name: provider.fleet for provider in providers}
    now = partition_sets_now(context.instance)
    requests = partition_changes(now, fleets, known=known_fleets or None)
    unknown: list[str] = []
    if known_fleets:  # else nothing is removed (partition_changes without known)
        unknown = sorted({name for keys in now.values() for name in keys} - known_fleets.keys())
    if unknown:
        context.log.warning(
            f"removing the service_provider partitions {', '.join(map(ascii, unknown))}: no "
            'provider of that name is stored (a typo in "Add partition", or a provider '
            "deleted since); runs already made for them stay in the run history"
        )
    return requests


def _period_reachable(context: dg.SensorEvaluationContext, decision: WindowDecision) -> bool:
    """Whether Dagster's billing_period partitions reach the decided period (logged when not:
    Dagster would refuse the whole tick for one run request outside them)."""
    if is_period_partition(decision.period_key):
        return True
    context.log.error(
        f"service provider {decision.provider!r}: billing period {decision.period_key} is not "
        "a billing_period partition yet; its run is not requested"
    )
    return False


def run_request(
    decision: WindowDecision, due: DueRun, job_name: str = OPTIMIZE_JOB_NAME
) -> dg.RunRequest:
    """The Dagster run request of one due run, keyed so Dagster starts it at most once."""
    tags = {
        TRIGGER_TAG: HOURLY_TRIGGER if due.is_hourly else DAILY_TRIGGER,
        LOCAL_DATE_TAG: due.local_date.isoformat(),
    }
    if due.local_hour is not None:
        tags[LOCAL_HOUR_TAG] = f"{due.local_hour:02d}"
    return dg.RunRequest(
        job_name=job_name,
        run_key=due.run_key,
        partition_key=partition_key(decision.provider, decision.period_key),
        tags=tags,
    )


def _usable_name(context: dg.SensorEvaluationContext, name: str) -> bool:
    """Whether ``name`` can be a partition key; logged with what to do when not."""
    try:
        checked_provider_name(name)
    except InputError as error:
        context.log.error(
            f"service provider {name!a} skipped: {error}; add it again under a valid "
            "name and turn this one off with carrier-opt provider set NAME --inactive"
        )
        return False
    return True


def _decide(
    context: dg.SensorEvaluationContext, provider: ActiveProvider, now: datetime
) -> WindowDecision | None:
    """The provider's window decision, or None (logged) when its settings are unusable.

    One provider with a bad time zone must not stop every other provider's runs, so the error
    is logged with what to fix instead of failing the tick.
    """
    try:
        cycle = billing_cycle(provider)
        decision = scheduled_runs(provider.name, cycle, provider.optimization_start_hour_local, now)
    except InputError as error:
        context.log.error(f"service provider {provider.name!r} skipped: {error}")
        return None
    if decision.warning:
        context.log.warning(decision.warning)
    return decision


billing_window_sensor = build_billing_window_sensor()
"""The sensor ``definitions.py`` registers (stopped until someone turns it on)."""
