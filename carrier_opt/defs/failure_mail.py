"""The error mail of a failed optimization run: which asset failed, the error, a link.

A run-failure sensor (running by default) for every run of a provider × billing period
partition, whichever kind; a run refused because another run of the provider still goes gets
the legacy "already running" warning instead of an error mail (nothing failed).
"""

from collections.abc import Mapping

import dagster as dg

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import notification_recipients
from carrier_opt.defs.failures import step_failure_text
from carrier_opt.defs.partitions import BILLING_PERIOD, SERVICE_PROVIDER, provider_and_period
from carrier_opt.defs.resources import DatabaseResource, NotifierResource
from carrier_opt.delivery.messages import already_running_message, error_message


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
) -> dg.SkipReason | None:
    """The error mail for a failed partitioned run (optimize_billing_period or an ad-hoc
    materialization of these assets); runs without a provider partition are skipped."""
    run = context.dagster_run
    provider, period_key = partition_of_run(run.tags)
    if not provider:
        return dg.SkipReason(f"run {run.run_id} has no service provider partition")
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
    return None


failure_sensors = [optimization_failure_mail]


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
