"""Helpers of the tests of launches and sensors (issue 28): providers of both fleets, usage
stored for a period, a Dagster instance with the deployment's run coordinator, runs as the
UI, the GraphQL client or an old deployment left them, and sensor ticks applied like the
daemon applies them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from sqlalchemy import Engine, insert

from carrier_opt.core.billing import period_for_key
from carrier_opt.db.models import (
    Device,
    DeviceUsagePeriod,
    OptimizationInstance,
    OptimizationSession,
    RatePlanPush,
)
from carrier_opt.db.providers import add_provider, ensure_billing_period, load_provider
from carrier_opt.defs.partitions import BILLING_PERIOD, SERVICE_PROVIDER, apply_partition_requests
from carrier_opt.delivery import push_checks

M2M_JOB, MOBILITY_JOB = "optimize_billing_period", "optimize_mobility_period"
CUSTOMER_JOB = "optimize_customer_period"
COORDINATOR = {
    "module": "carrier_opt.defs.launch_checks",
    "class": "CheckedRunCoordinator",
    "config": {"max_concurrent_runs": 4},
}
"""The run coordinator of ``dagster.yaml`` (the launch check at submission)."""


def add_providers(engine: Engine) -> None:
    """``acme`` (an M2M fleet) and ``phones`` (a mobility fleet), calendar-month cycles in
    UTC, so a period key is the calendar month it ends in."""
    for name, fleet in (("acme", "m2m"), ("phones", "mobility")):
        add_provider(
            engine,
            name,
            jasper_url="https://jasper.example.com/rws/api/v1/",
            billing_cycle_end_day=31,
            billing_cycle_end_rule="after_end_day",
            time_zone="UTC",
            fleet=fleet,
        )


def store_usage(engine: Engine, provider: str, period_key: str, sims: int = 1) -> None:
    """Usage of ``sims`` SIMs stored for ``provider``'s ``period_key``, as a sync stores it."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        settings = load_provider(connection, provider)
        period_id = ensure_billing_period(
            connection, settings.id, period_for_key(settings.cycle, period_key)
        )
        for n in range(sims):
            device_id = connection.execute(
                insert(Device).values(
                    service_provider_id=settings.id,
                    iccid=f"8901{settings.id:04d}{period_key.replace('-', '')}{n:04d}",
                    created_at=now,
                )
            ).inserted_primary_key[0]
            connection.execute(
                insert(DeviceUsagePeriod).values(
                    device_id=device_id,
                    billing_period_id=period_id,
                    ctd_data_usage_bytes=1_000_000,
                    recorded_at=now,
                )
            )


def completed_instance(engine: Engine, provider: str, period_key: str) -> tuple[int, int]:
    """A completed optimization session with one completed instance for ``provider``'s
    ``period_key``; answers (provider id, instance id)."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        settings = load_provider(connection, provider)
        period_id = ensure_billing_period(
            connection, settings.id, period_for_key(settings.cycle, period_key)
        )
        ids = {"service_provider_id": settings.id, "billing_period_id": period_id}
        session_id = connection.execute(
            insert(OptimizationSession).values(
                session_guid=str(uuid.uuid4()),
                optimization_type="m2m",
                status="completed",
                progress_percent=100,
                created_at=now,
                **ids,
            )
        ).inserted_primary_key[0]
        instance_id = connection.execute(
            insert(OptimizationInstance).values(
                optimization_session_id=session_id, status="completed", created_at=now, **ids
            )
        ).inserted_primary_key[0]
    return settings.id, instance_id


def due_push(engine: Engine, provider_id: int, instance_id: int, now: datetime) -> int:
    """A completed push of the instance whose first re-check is due at ``now``; its id."""
    with engine.begin() as connection:
        return connection.execute(
            insert(RatePlanPush).values(
                service_provider_id=provider_id,
                optimization_instance_id=instance_id,
                mode="automatic",
                status="completed",
                started_at=now - push_checks.CHECK_INTERVAL,
                next_check_at=now,
                created_at=now,
            )
        ).inserted_primary_key[0]


@contextmanager
def coordinated_instance() -> Iterator[dg.DagsterInstance]:
    """A test instance whose run coordinator is the deployment's (``dagster.yaml``)."""
    with dg.instance_for_test(overrides={"run_coordinator": COORDINATOR}) as instance:
        yield instance


def partition_tags(provider: str, period_key: str) -> dict[str, str]:
    """The tags Dagster gives a run of partition ``period_key|provider``."""
    return {
        "dagster/partition": f"{period_key}|{provider}",
        f"dagster/partition/{SERVICE_PROVIDER}": provider,
        f"dagster/partition/{BILLING_PERIOD}": period_key,
    }


def launch(
    instance: dg.DagsterInstance, job: dg.JobDefinition, tags: Mapping[str, str]
) -> dg.DagsterRun:
    """What the launchpad does: the run created (its planned materializations recorded), then
    submitted to the instance's run coordinator; answers the run as it is afterwards. The run
    names the code location it comes from, as a launch from the UI does (the queue needs it)."""
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=InProcessCodeLocationOrigin(
                LoadableTargetOrigin(module_name="carrier_opt.definitions")
            ),
            repository_name="__repository__",
        ),
        job_name=job.name,
    )
    run = instance.create_run_for_job(job, tags=dict(tags), remote_job_origin=origin)
    instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]
    submitted = instance.get_run_by_id(run.run_id)
    assert submitted is not None
    return submitted


def failed_run(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    tags: Mapping[str, str],
    message: str = "the run failed in its first step",
) -> dg.DagsterRun:
    """A run of ``job`` with ``tags`` that failed (as a deployment without the launch check,
    or an older one, left the operator's mistakes)."""
    run = instance.create_run_for_job(job, tags=dict(tags))
    instance.report_run_failed(run, message=message)
    return run


@dataclass
class Ticks:
    """A sensor ticked like the daemon ticks it: each tick starts from the cursor the last one
    left, its dynamic partition requests are applied, and a tick the daemon records as failed
    raises: one Dagster refuses, or one where the sensor raised on a run."""

    sensor: dg.SensorDefinition
    instance: dg.DagsterInstance
    resources: dict
    definitions: dg.Definitions | None = None
    cursor: str | None = None

    def tick(self):
        """One tick, applied; answers what it asked for (``SensorExecutionData``)."""
        with dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=self.cursor,
            resources=self.resources,
            definitions=self.definitions,
            sensor_name=self.sensor.name,
        ) as context:
            result = self.sensor.evaluate_tick(context)
        errors = [r.error for r in result.dagster_run_reactions or [] if r.error is not None]
        assert not errors, f"the {self.sensor.name} tick failed: {errors[0].to_string()}"
        apply_partition_requests(self.instance, result.dynamic_partitions_requests or [])
        if result.cursor is not None:
            self.cursor = result.cursor
        return result

    def until_settled(self, most: int = 10) -> list:
        """Ticks until the cursor stops moving (a run-status sensor takes five runs a tick);
        answers every tick's result."""
        results = []
        for _ in range(most):
            before = self.cursor
            results.append(self.tick())
            if self.cursor == before:
                break
        return results
