"""Re-checking pushes: 900 s after a push, and twice more, the carrier is read again and every
change the push sent is compared with what it shows; discrepancies are recorded and mailed.

The sensor only queries the database for pushes whose next check is due and requests one run
of ``check_rate_plan_pushes`` per partition and check (its ``run_key`` names the push and the
check, so a check runs once); the asset does the carrier calls.
"""

from collections.abc import Callable
from datetime import datetime

import dagster as dg

from carrier_opt import clock as system_clock
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import notification_recipients
from carrier_opt.defs import run_context
from carrier_opt.defs.assets.approval import GROUP
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.partitions import (
    partition_key,
    provider_and_period,
    provider_period_partitions,
)
from carrier_opt.defs.resources import DatabaseResource, JasperResource, NotifierResource
from carrier_opt.delivery.messages import push_check_message
from carrier_opt.delivery.push_checks import check_push, due_pushes

CHECK_JOB_NAME = "check_rate_plan_pushes"


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, kinds={"jasper"})
@operator_failures
def rate_plan_push_checks(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """Every push of the partition whose re-check is due: the carrier read again, each sent
    change compared with what it shows, discrepancies recorded on ``RatePlanUpdate`` and
    mailed; the next check scheduled (three in all, 900 s apart)."""
    provider, period_key = provider_and_period(context.partition_key)
    engine = database.engine()
    now = run_context.clock()
    due = due_pushes(engine, now, provider, period_key)
    lines, discrepancies = [], 0
    if due:
        with jasper.client_for(engine, provider) as client:
            for push in due:
                check = check_push(engine, client, push.push_id, now=run_context.clock)
                discrepancies += len(check.discrepancies)
                lines.append(
                    f"| {push.push_id} | {check.check_number} | {check.checked} | "
                    f"{len(check.discrepancies)} |"
                )
                if not check.clean:
                    context.log.warning(
                        "push %d: %d sent change(s) not shown by the carrier",
                        push.push_id,
                        len(check.discrepancies),
                    )
                    _mail(engine, notifier, provider, period_key, check, context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "pushes_checked": len(due),
            "discrepancies": discrepancies,
            "checks": dg.MetadataValue.md(
                "| push | check | sent changes | not in place |\n|---:|---:|---:|---:|\n"
                + "\n".join(lines)
                if lines
                else "No push of this partition was due for a check."
            ),
        }
    )


def _mail(engine, notifier: NotifierResource, provider, period_key, check, run_id) -> None:
    with engine.connect() as connection:
        recipients = notification_recipients(connection, load_provider(connection, provider).id)
    message = push_check_message(
        provider=provider, period_key=period_key, check=check, run_url=notifier.run_url(run_id)
    )
    notifier.send(message, recipients)


def build_push_check_sensor(
    clock: Callable[[], datetime] = system_clock.now, name: str = "rate_plan_push_checks_due"
) -> dg.SensorDefinition:
    """The sensor requesting the due re-checks (tests pass a fixed ``clock``)."""

    @dg.sensor(
        name=name,
        job_name=CHECK_JOB_NAME,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Requests a check_rate_plan_pushes run for each partition with a push whose "
            "re-check is due (900 s after the push, three times); one database query per tick."
        ),
    )
    def push_checks_due(
        context: dg.SensorEvaluationContext, database: DatabaseResource
    ) -> dg.SensorResult | dg.SkipReason:
        due = due_pushes(database.engine(), clock())
        if not due:
            return dg.SkipReason("no push is due for a re-check")
        requests = {}
        for push in due:
            key = partition_key(push.provider, push.period_key)
            run_key = f"push-check:{push.push_id}:{push.checks_done + 1}"
            requests.setdefault(key, dg.RunRequest(run_key=run_key, partition_key=key))
        return dg.SensorResult(run_requests=list(requests.values()))

    return push_checks_due


push_check_sensor = build_push_check_sensor()
push_check_assets = [rate_plan_push_checks]
