"""The error mail of a failed optimization run: which asset failed, the error, a link.

A run-failure sensor (running by default) for every run of a provider × billing period
partition, whichever kind; a run refused because another run of the provider still goes gets
the legacy "already running" warning instead of an error mail (nothing failed).

The sensor never fails on one run: Dagster gives it every failed run of the deployment, also
the operator's mistakes (a launch without a partition, a provider typed into "Add partition"
that does not exist, the key's halves swapped). A run it cannot mail about is logged on the
tick and passed over, so its cursor moves on and the next real failure still gets its mail.
(It used to answer a ``SkipReason`` for such a run; Dagster refuses a tick that answers one
beside another run's reaction, kept the cursor where it was and failed every tick after.)
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import dagster as dg

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import notification_recipients
from carrier_opt.defs.failures import step_failure_text
from carrier_opt.defs.launch_checks import REFUSED
from carrier_opt.defs.partitions import BILLING_PERIOD, SERVICE_PROVIDER, provider_and_period
from carrier_opt.defs.resources import DatabaseResource, NotifierResource
from carrier_opt.delivery.messages import already_running_message, error_message
from carrier_opt.errors import CarrierOptError

MAIL_MAX_AGE = timedelta(days=3)
"""A failure older than this when the sensor sees it is logged, not mailed: a sensor that was
stopped (or stuck) for weeks must not mail every failure since, which the UI shows anyway.
Three days keep the mails of a weekend the daemon was down."""


def clock() -> datetime:
    """The machine's time, which Dagster stamps runs with (not carrier_opt's shifted clock);
    tests replace it."""
    return datetime.now(UTC)


def partition_of_run(tags: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(provider, period) of a run, however it was launched: the per-dimension tags that
    sensors and backfills set, or only ``dagster/partition`` (``YYYY-MM|provider``), which the
    GraphQL client and some UI launches set. ``(None, None)`` when it has neither."""
    provider = tags.get(f"dagster/partition/{SERVICE_PROVIDER}")
    period_key = tags.get(f"dagster/partition/{BILLING_PERIOD}")
    if provider:
        return provider, period_key
    key = tags.get("dagster/partition")
    if not key:
        return None, None
    try:
        return provider_and_period(key)
    except Exception:  # not a key of these partitions (another job's run)
        return None, None


@dg.run_failure_sensor(
    name="optimization_failure_mail",
    description="Mails the diagnostics of a failed run of a provider × billing period partition "
    "(which asset, the error, a link to the run) to the provider's recipients.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def optimization_failure_mail(
    context: dg.RunFailureSensorContext, database: DatabaseResource, notifier: NotifierResource
) -> None:
    """The error mail for a failed partitioned run (optimize_billing_period or an ad-hoc
    materialization of these assets). A run there is nobody to mail about (no provider
    partition, a provider the database does not know, a launch refused before it started, an
    old failure) is logged and passed over; it never fails the tick."""
    run = context.dagster_run
    provider, period_key = partition_of_run(run.tags)
    passed_over = _why_no_mail(context, provider)
    if passed_over is None:
        try:
            _mail_failure(context, database, notifier, provider, period_key)
            return
        except CarrierOptError as exc:  # e.g. no provider of that name: nobody to mail
            passed_over = str(exc)
    context.log.warning(f"no failure mail for run {run.run_id} ({run.job_name}): {passed_over}")


failure_sensors = [optimization_failure_mail]


def _why_no_mail(context: dg.RunFailureSensorContext, provider: str | None) -> str | None:
    """Why the failed run gets no mail, or None when it gets one."""
    if not provider:
        return "it has no service provider partition"
    message = context.failure_event.message or ""
    if message.startswith(REFUSED):
        return "its launch was refused before it started (the run page says why)"
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    ended = record.end_time if record is not None else None
    if ended is not None:
        age = clock() - datetime.fromtimestamp(ended, UTC)
        if age > MAIL_MAX_AGE:
            return f"it failed {age.days} days ago (mails are sent for {MAIL_MAX_AGE.days} days)"
    return None


def _mail_failure(
    context: dg.RunFailureSensorContext,
    database: DatabaseResource,
    notifier: NotifierResource,
    provider: str,
    period_key: str | None,
) -> None:
    """Mail the run's failure (or the "already running" warning) to the provider's recipients."""
    run = context.dagster_run
    step, error, error_class = _failure_of(context)
    if error_class == runs.SessionRefused.__name__:
        # Refused because another run of the provider is still going: the legacy warning,
        # not an error mail (nothing failed).
        message = already_running_message(
            provider=provider,
            period_key=period_key,
            detail=error.splitlines()[0],
            run_url=notifier.run_url(run.run_id),
        )
    else:
        message = error_message(
            asset=step,
            error=error,
            provider=provider,
            period_key=period_key,
            run_url=notifier.run_url(run.run_id),
            run_id=run.run_id,
        )
    with database.engine().connect() as connection:
        to = notification_recipients(connection, load_provider(connection, provider).id)
    notifier.send(message, to)


def _failure_of(context: dg.RunFailureSensorContext) -> tuple[str, str, str | None]:
    """(failed step, its error with the user code's traceback, the error's class name) of a
    failed run."""
    for event in context.get_step_failure_events():
        failure = event.step_failure_data
        if failure.error is not None or failure.user_failure_data is not None:
            message, error_class = step_failure_text(failure)
            return event.step_key or "(unknown step)", message, error_class
    message = context.failure_event.message or "the run failed (see the Dagster logs)"
    return "(run)", message, None
