"""Re-checking pushes: 900 s after a push, and twice more, the carrier is read again and every
change the push sent is compared with what it shows; discrepancies are recorded and mailed.

The sensor only queries the database for pushes whose next check is due and requests one run
of ``check_rate_plan_pushes`` per partition and check (its ``run_key`` names the push and the
check, so a check runs once); the asset does the carrier calls. A check whose run was canceled
(say, by someone whose own run of the provider was waiting behind it) did nothing, so it is
requested again under a new ``run_key`` (``...:attempt-2``); a failed run is not: re-execute
it from its run page once the cause is fixed.

The run holds the provider's one run at a time (``dagster.yaml``: its carrier account takes one
call in flight), so a check reads the carrier in bulk, never SIM by SIM
(:mod:`carrier_opt.delivery.push_checks`).
"""

from collections.abc import Callable
from datetime import datetime

import dagster as dg

from carrier_opt import clock as system_clock
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import notification_recipients
from carrier_opt.defs import catalog, run_context
from carrier_opt.defs.assets.approval import GROUP
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.partitions import (
    SERVICE_PROVIDER,
    partition_key,
    partition_problem,
    provider_and_period,
    provider_period_partitions,
    service_provider_partitions,
)
from carrier_opt.defs.resources import DatabaseResource, JasperResource, NotifierResource
from carrier_opt.delivery.messages import push_check_message
from carrier_opt.delivery.push_checks import check_push, due_pushes

CHECK_JOB_NAME = "check_rate_plan_pushes"
RUN_KEY_TAG = "dagster/run_key"
"""The tag Dagster puts a sensor run's ``run_key`` in."""


@dg.asset(
    group_name=GROUP,
    partitions_def=provider_period_partitions,
    kinds=catalog.asset_kinds(catalog.JASPER, catalog.EMAIL),
    owners=catalog.OWNERS,
    tags=catalog.asset_tags(catalog.READS_CARRIER),
)
@operator_failures
def rate_plan_push_checks(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """Every push of the partition whose re-check is due: the carrier read again, each sent
    change compared with what it shows, discrepancies recorded on `RatePlanUpdate` and
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
            # Dagster refuses a whole tick for one request outside the partitions: such a push
            # is logged and passed over, the others are still checked.
            problem = partition_problem(push.provider, push.period_key)
            if problem is not None:
                context.log.error(f"push {push.push_id} not re-checked: {problem}")
                continue
            key = partition_key(push.provider, push.period_key)
            if key not in requests:
                run_key = check_run_key(context.instance, push.push_id, push.checks_done + 1)
                requests[key] = dg.RunRequest(run_key=run_key, partition_key=key)
        return dg.SensorResult(
            run_requests=list(requests.values()),
            dynamic_partitions_requests=new_provider_partitions(context.instance, requests),
            skip_reason=None if requests else "no due push has a partition to re-check it in",
        )

    return push_checks_due


def new_provider_partitions(
    instance: dg.DagsterInstance, requests: dict[dg.MultiPartitionKey, dg.RunRequest]
) -> list[dg.AddDynamicPartitionsRequest] | None:
    """The providers of ``requests`` that are not partitions yet, added (a provider stored
    straight in the database, or before ``DAGSTER_HOME`` was set)."""
    known = set(instance.get_dynamic_partitions(SERVICE_PROVIDER))
    new = sorted({provider_and_period(key)[0] for key in requests} - known)
    return [service_provider_partitions.build_add_request(new)] if new else None


def check_run_key(instance: dg.DagsterInstance, push_id: int, check: int) -> str:
    """The ``run_key`` of check ``check`` of push ``push_id``: ``push-check:ID:CHECK``, then
    ``...:attempt-N`` after each run of it that was canceled (one lookup per attempt made)."""
    attempt = 1
    while True:
        run_key = f"push-check:{push_id}:{check}" + (f":attempt-{attempt}" if attempt > 1 else "")
        runs = instance.get_runs(dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
        if not runs or runs[0].status != dg.DagsterRunStatus.CANCELED:
            return run_key
        attempt += 1


push_check_sensor = build_push_check_sensor()
push_check_assets = [rate_plan_push_checks]
