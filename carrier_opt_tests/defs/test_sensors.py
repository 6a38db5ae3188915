"""The billing-window sensor, ticked at chosen instants against SQLite and PostgreSQL.

``evaluate_tick`` returns what the sensor asks for; applying it is the daemon's job. The helper
:func:`apply_like_the_daemon` does the two parts these tests rely on, the way
``dagster._daemon.sensor`` does them: it adds the requested dynamic partitions, and it skips a
run request whose ``run_key`` already has a launched run from this sensor
(``fetch_existing_runs`` matches the ``dagster/run_key`` and ``dagster/sensor_name`` tags) and
records a run for the others. So de-duplication is checked against runs stored on the test
instance, not only by comparing strings. (The runs are recorded, not executed: executing the
dummy job proves nothing about the sensor and costs a second per test.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from sqlalchemy import Engine, event, update

from carrier_opt.db.models import ServiceProvider
from carrier_opt.db.providers import add_provider
from carrier_opt.definitions import defs as production
from carrier_opt.defs.jobs import MOBILITY_JOB_NAME, OPTIMIZE_JOB_NAME
from carrier_opt.defs.partitions import (
    BILLING_PERIOD,
    SERVICE_PROVIDER,
    apply_partition_requests,
    partition_key,
    partition_sets_now,
    provider_and_period,
    provider_period_partitions,
    register_providers,
)
from carrier_opt.defs.partitions import (
    M2M_PROVIDERS as M2M,
)
from carrier_opt.defs.partitions import (
    MOBILITY_PROVIDERS as MOBILITY,
)
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt.defs.sensors import (
    DAILY_TRIGGER,
    HOURLY_TRIGGER,
    LOCAL_DATE_TAG,
    LOCAL_HOUR_TAG,
    SENSOR_NAME,
    TRIGGER_TAG,
    billing_window_sensor,
    build_billing_window_sensor,
)

if TYPE_CHECKING:  # what evaluate_tick answers; not part of dagster's public API
    from dagster._core.definitions.sensor_definition import SensorExecutionData

RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


@dg.asset(partitions_def=provider_period_partitions)
def optimized_billing_period() -> None:
    """Stands in for the real optimization assets (written elsewhere)."""


class FixedClock:
    """A clock the test moves by hand; the sensor reads it instead of the wall clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set_local(self, zone: str, *args: int, fold: int = 0) -> None:
        self.now = datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


class Harness:
    """A test deployment: the sensor, a partitioned job of the right name, a database, a clock."""

    def __init__(self, engine: Engine, database_url: str, instance: dg.DagsterInstance) -> None:
        self.engine = engine
        self.instance = instance
        self.clock = FixedClock()
        jobs = [
            dg.define_asset_job(job_name, selection=[optimized_billing_period])
            for job_name in (OPTIMIZE_JOB_NAME, MOBILITY_JOB_NAME)
        ]
        self.sensor = build_billing_window_sensor(clock=self.clock, jobs=jobs)
        self.resources = {"database": DatabaseResource(database_url=database_url)}
        self.defs = dg.Definitions(
            assets=[optimized_billing_period],
            jobs=jobs,
            sensors=[self.sensor],
            resources=self.resources,
        )

    def add(
        self,
        name: str,
        *,
        end_day: int,
        zone: str = "UTC",
        start_hour: int | None = 8,
        fleet: str = "m2m",
    ):
        add_provider(
            self.engine,
            name,
            jasper_url="http://jasper.invalid",
            billing_cycle_end_day=end_day,
            billing_cycle_end_rule="after_end_day",
            time_zone=zone,
            optimization_start_hour=start_hour,
            fleet=fleet,
        )

    def tick(self) -> SensorExecutionData:
        """Evaluate one tick at the clock's instant (nothing applied yet).

        ``definitions`` lets Dagster resolve the partitioned job; the resources must still be
        passed on their own, ``build_sensor_context`` does not take them from ``definitions``.
        ``instance_ref`` too, as the daemon gives it: without it Dagster cannot load the
        dynamic ``service_provider`` partitions to validate a run request's partition key.
        """
        with dg.build_sensor_context(
            definitions=self.defs,
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            sensor_name=SENSOR_NAME,
            resources=self.resources,
        ) as context:
            return self.sensor.evaluate_tick(context)

    def tick_and_apply(self) -> list[dg.RunRequest]:
        """One tick applied like the daemon; answers the run requests that started runs."""
        return apply_like_the_daemon(self.tick(), self.defs, self.instance)


def changes(result: SensorExecutionData) -> dict[tuple[str, str], list[str]]:
    """A tick's partition requests: (``add`` or ``delete``, set name) → the keys."""
    return {
        (
            "delete" if isinstance(request, dg.DeleteDynamicPartitionsRequest) else "add",
            request.partitions_def_name,
        ): list(request.partition_keys)
        for request in result.dynamic_partitions_requests or []
    }


def apply_like_the_daemon(
    result: SensorExecutionData, defs: dg.Definitions, instance: dg.DagsterInstance
) -> list[dg.RunRequest]:
    """Add (or delete) requested partitions, skip run keys already used by this sensor, start
    the rest."""
    apply_partition_requests(instance, result.dynamic_partitions_requests or [])
    started = []
    for request in result.run_requests:
        job = defs.resolve_job_def(request.job_name or OPTIMIZE_JOB_NAME)
        existing = instance.get_runs(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: SENSOR_NAME})
        )
        if any(run.status != dg.DagsterRunStatus.NOT_STARTED for run in existing):
            continue
        instance.create_run_for_job(
            job,
            status=dg.DagsterRunStatus.STARTED,  # launched: the daemon will not start it again
            tags={**request.tags, RUN_KEY_TAG: request.run_key},
        )
        started.append(request)
    return started


@pytest.fixture
def harness(migrated_engine: Engine, database_url: str) -> Iterator[Harness]:
    """A fresh Dagster instance and database per test."""
    with dg.instance_for_test() as instance:
        yield Harness(migrated_engine, database_url, instance)


def run_keys(result: SensorExecutionData) -> list[str]:
    return [request.run_key for request in result.run_requests]


def sensor_log(capsys: pytest.CaptureFixture[str], level: str, text: str) -> bool:
    """True when the sensor logged ``text`` at ``level`` since the last read.

    ``context.log`` of a test sensor context writes to its own console logger (stderr), which
    does not propagate to the root logger that ``caplog`` watches.
    """
    return any(
        f" - {level} - " in line and text in line for line in capsys.readouterr().err.splitlines()
    )


# --- the acceptance instants -------------------------------------------------------------------


def test_nine_days_before_no_run_seven_days_one_run_deduplicated_on_the_next_tick(harness):
    harness.add("acme", end_day=18)  # period 2026-02 ends Feb 19 00:00 UTC
    harness.clock.now = datetime(2026, 2, 10, 0, 0, tzinfo=UTC)  # 9 days before the end
    nine_days = harness.tick()
    assert nine_days.run_requests == []
    assert "none of the 1 active service providers" in nine_days.skip_message
    # a partition even outside the window: of every provider's jobs and of the M2M job
    assert changes(nine_days) == {("add", SERVICE_PROVIDER): ["acme"], ("add", M2M): ["acme"]}

    harness.clock.now = datetime(2026, 2, 12, 8, 2, tzinfo=UTC)  # under 7 days, start hour 8
    first = harness.tick()
    [request] = first.run_requests
    assert request.run_key == "acme|2026-02|2026-02-12"
    assert request.job_name in (None, OPTIMIZE_JOB_NAME)
    assert provider_and_period(request.partition_key) == ("acme", "2026-02")
    assert request.tags[TRIGGER_TAG] == DAILY_TRIGGER
    assert request.tags[LOCAL_DATE_TAG] == "2026-02-12"
    assert request.tags[f"dagster/partition/{BILLING_PERIOD}"] == "2026-02"
    assert request.tags[SENSOR_NAME_TAG] == SENSOR_NAME
    assert len(apply_like_the_daemon(first, harness.defs, harness.instance)) == 1
    assert harness.instance.get_dynamic_partitions(SERVICE_PROVIDER) == ["acme"]

    harness.clock.now += timedelta(minutes=5)
    second = harness.tick()
    assert run_keys(second) == ["acme|2026-02|2026-02-12"]  # asked again, on purpose...
    assert second.dynamic_partitions_requests == []  # ...but the partition exists now
    assert apply_like_the_daemon(second, harness.defs, harness.instance) == []  # no new run
    assert len(harness.instance.get_runs()) == 1

    harness.clock.now = datetime(2026, 2, 13, 0, 2, tzinfo=UTC)  # next day, before 08:00
    assert harness.tick_and_apply() == []  # no run before the start hour (legacy)
    harness.clock.now = datetime(2026, 2, 13, 8, 2, tzinfo=UTC)  # from 08:00: a new run
    assert [r.run_key for r in harness.tick_and_apply()] == ["acme|2026-02|2026-02-13"]


def test_last_day_before_and_after_the_start_hour(harness):
    harness.add("acme", end_day=18, start_hour=8)
    harness.clock.now = datetime(2026, 2, 18, 7, 55, tzinfo=UTC)
    assert run_keys(harness.tick()) == []  # the legacy rule: nothing before the start hour
    assert harness.tick_and_apply() == []

    harness.clock.now = datetime(2026, 2, 18, 8, 0, tzinfo=UTC)
    result = harness.tick()
    # One run per partition per tick (issue 15): the hour's run, not the day's as well.
    assert run_keys(result) == ["acme|2026-02|2026-02-18|08"]
    [hourly] = result.run_requests
    assert hourly.tags[TRIGGER_TAG] == HOURLY_TRIGGER
    assert hourly.tags[LOCAL_HOUR_TAG] == "08"
    assert [r.run_key for r in harness.tick_and_apply()] == ["acme|2026-02|2026-02-18|08"]

    harness.clock.now = datetime(2026, 2, 18, 8, 55, tzinfo=UTC)  # same hour: nothing new
    assert harness.tick_and_apply() == []
    harness.clock.now = datetime(2026, 2, 18, 9, 0, tzinfo=UTC)  # next hour: one more run
    assert [r.run_key for r in harness.tick_and_apply()] == ["acme|2026-02|2026-02-18|09"]

    harness.clock.now = datetime(2026, 2, 19, 0, 0, tzinfo=UTC)  # next period, far from its end
    assert harness.tick().run_requests == []
    assert len(harness.instance.get_runs()) == 2


def test_chicago_provider_across_the_march_dst_change(harness):
    # Period 2026-03 ends Mar 15 00:00 CDT; clocks spring forward on Mar 8 at 02:00.
    zone = "America/Chicago"
    harness.add("prairie", end_day=14, zone=zone, start_hour=0)
    harness.clock.set_local(zone, 2026, 3, 6, 23, 30)  # 8 days + 30 min on the wall clock
    assert harness.tick().run_requests == []
    harness.clock.set_local(zone, 2026, 3, 7, 0, 5)
    assert [r.run_key for r in harness.tick_and_apply()] == ["prairie|2026-03|2026-03-07"]

    harness.clock.set_local(zone, 2026, 3, 8, 1, 55)  # CST
    assert [r.run_key for r in harness.tick_and_apply()] == ["prairie|2026-03|2026-03-08"]
    harness.clock.now += timedelta(minutes=10)  # 03:05 CDT, same local date
    assert harness.clock.now.astimezone(ZoneInfo(zone)).hour == 3
    assert run_keys(harness.tick()) == ["prairie|2026-03|2026-03-08"]
    assert harness.tick_and_apply() == []

    harness.clock.set_local(zone, 2026, 3, 14, 6, 0)  # last day, 06:00
    assert run_keys(harness.tick()) == ["prairie|2026-03|2026-03-14|06"]
    harness.clock.set_local(zone, 2026, 3, 15, 0, 0)  # 05:00 UTC: the period has ended
    assert harness.tick().run_requests == []


def test_auckland_provider_across_the_year_end(harness):
    # End day 1: period 2026-01 is Dec 2 2025 .. Jan 1 2026 (NZDT, UTC+13); its last 8 local
    # days are Dec 25 .. Jan 1, while UTC is still in 2025 for the first 13 hours of Jan 1.
    zone = "Pacific/Auckland"
    harness.add("kiwi", end_day=1, zone=zone, start_hour=0)
    harness.clock.set_local(zone, 2025, 12, 24, 23, 55)
    assert harness.tick().run_requests == []
    harness.clock.set_local(zone, 2025, 12, 25, 0, 5)
    [request] = harness.tick().run_requests
    assert request.run_key == "kiwi|2026-01|2025-12-25"
    assert request.partition_key == partition_key("kiwi", "2026-01")

    harness.clock.set_local(zone, 2025, 12, 31, 23, 55)
    assert run_keys(harness.tick()) == ["kiwi|2026-01|2025-12-31"]
    harness.clock.set_local(zone, 2026, 1, 1, 0, 5)
    assert harness.clock.now == datetime(2025, 12, 31, 11, 5, tzinfo=UTC)
    assert run_keys(harness.tick()) == ["kiwi|2026-01|2026-01-01|00"]
    started = harness.tick_and_apply()
    assert [r.run_key for r in started] == ["kiwi|2026-01|2026-01-01|00"]
    harness.clock.set_local(zone, 2026, 1, 2, 0, 5)
    assert harness.tick().run_requests == []


# --- configuration corner cases ----------------------------------------------------------------


def test_a_provider_without_start_hour_gets_its_daily_run_and_a_warning_on_the_last_day(
    harness, capsys
):
    harness.add("nohour", end_day=18, start_hour=None)
    harness.clock.now = datetime(2026, 2, 17, 15, 0, tzinfo=UTC)
    assert run_keys(harness.tick()) == ["nohour|2026-02|2026-02-17"]
    assert "WARNING" not in capsys.readouterr().err
    harness.clock.now = datetime(2026, 2, 18, 15, 0, tzinfo=UTC)
    assert run_keys(harness.tick()) == ["nohour|2026-02|2026-02-18"]
    assert sensor_log(capsys, "WARNING", "'nohour' has no optimization start hour")


def test_each_active_provider_is_evaluated_on_its_own_and_inactive_ones_are_ignored(
    harness, capsys
):
    harness.add("acme", end_day=18)  # in its window on Feb 12
    harness.add("broken", end_day=18)  # a bad zone must not stop the others
    harness.add("later", end_day=28)  # not in its window yet
    harness.add("retired", end_day=18)
    with harness.engine.begin() as connection:
        for name, values in (
            ("broken", {"time_zone": "Mars/Olympus_Mons"}),
            ("retired", {"is_active": False}),
        ):
            connection.execute(
                update(ServiceProvider).where(ServiceProvider.name == name).values(**values)
            )
    register_providers(harness.instance, {"acme": "m2m"})  # added by the CLI
    harness.clock.now = datetime(2026, 2, 12, 12, 0, tzinfo=UTC)
    result = harness.tick()
    assert run_keys(result) == ["acme|2026-02|2026-02-12"]
    assert changes(result) == {
        ("add", SERVICE_PROVIDER): ["broken", "later"],
        ("add", M2M): ["broken", "later"],
    }
    assert sensor_log(capsys, "ERROR", "'broken' skipped: unknown time zone 'Mars/Olympus_Mons'")


def test_a_tick_makes_exactly_one_database_query(harness):
    harness.add("acme", end_day=18)
    harness.add("beta", end_day=20, zone="Europe/Berlin")
    harness.clock.now = datetime(2026, 2, 12, 12, 0, tzinfo=UTC)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        harness.tick()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    project_queries = [s for s in statements if "ServiceProvider" in s]
    assert len(project_queries) == 1, statements


def test_the_registered_sensor_is_stopped_by_default_and_ticks_every_five_minutes():
    assert billing_window_sensor.name == SENSOR_NAME
    assert {target.job_name for target in billing_window_sensor.targets} == {
        OPTIMIZE_JOB_NAME,
        MOBILITY_JOB_NAME,
    }
    assert billing_window_sensor.minimum_interval_seconds == 300
    assert billing_window_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert billing_window_sensor.required_resource_keys == {"database"}


def test_a_mobility_provider_gets_the_mobility_job(harness):
    harness.add("phones", end_day=31, fleet="mobility")
    harness.add("meters", end_day=31)
    harness.clock.set_local("UTC", 2026, 1, 27, 9)
    requests = harness.tick_and_apply()
    jobs = {
        provider: request.job_name
        for request in requests
        for provider in ("phones", "meters")
        if provider in str(request.partition_key)
    }
    assert jobs == {"phones": MOBILITY_JOB_NAME, "meters": OPTIMIZE_JOB_NAME}


def test_a_partition_no_provider_has_is_removed_and_an_inactive_providers_stays(harness, capsys):
    """Issue 28: a name typed into "Add partition" in the UI stayed in every job for good. The
    sensor removes it; a provider turned inactive keeps its partition (and its history)."""
    harness.add("acme", end_day=18)
    harness.add("retired", end_day=18)
    with harness.engine.begin() as connection:
        connection.execute(
            update(ServiceProvider).where(ServiceProvider.name == "retired").values(is_active=False)
        )
    for partitions in (SERVICE_PROVIDER, M2M):
        harness.instance.add_dynamic_partitions(partitions, ["acme", "retired", "acme-typo"])
    harness.clock.now = datetime(2026, 2, 10, 0, 0, tzinfo=UTC)
    result = harness.tick()
    assert changes(result) == {
        ("delete", M2M): ["acme-typo"],
        ("delete", SERVICE_PROVIDER): ["acme-typo"],
    }
    assert sensor_log(capsys, "WARNING", "removing the service_provider partitions 'acme-typo'")
    apply_like_the_daemon(result, harness.defs, harness.instance)
    assert harness.instance.get_dynamic_partitions(SERVICE_PROVIDER) == ["acme", "retired"]
    assert harness.instance.get_dynamic_partitions(M2M) == ["acme", "retired"]
    assert not harness.tick().dynamic_partitions_requests


def test_a_database_without_any_provider_removes_no_partition(harness):
    """A sensor pointed at the wrong (empty) database must not empty the partitions."""
    register_providers(harness.instance, {"acme": "m2m"})
    assert not harness.tick().dynamic_partitions_requests


def test_a_stored_name_that_cannot_be_a_partition_key_skips_that_provider_only(harness, capsys):
    """A provider stored as 'a|b' (before names were checked) must not stop the sensor: the
    tick logs it and still runs and registers the others (issue 14)."""
    harness.add("acme", end_day=18)
    harness.add("bad", end_day=18)
    with harness.engine.begin() as connection:
        connection.execute(
            update(ServiceProvider).where(ServiceProvider.name == "bad").values(name="a|b")
        )
    harness.clock.now = datetime(2026, 2, 12, 12, 0, tzinfo=UTC)
    result = harness.tick()
    assert run_keys(result) == ["acme|2026-02|2026-02-12"]
    assert changes(result) == {("add", SERVICE_PROVIDER): ["acme"], ("add", M2M): ["acme"]}
    assert sensor_log(capsys, "ERROR", "'a|b' skipped: the service provider name 'a|b' may not")
    assert [r.run_key for r in apply_like_the_daemon(result, harness.defs, harness.instance)] == [
        "acme|2026-02|2026-02-12"
    ]


def test_each_job_offers_only_its_fleets_providers_and_a_changed_fleet_moves(harness):
    """Issue 28, point 4: the mobility provider was a partition of the M2M job and the M2M
    provider one of the mobility job, "missing" for ever. Each fleet's job has its own set;
    every provider is in the set of the jobs that serve every fleet (sync, customer)."""
    harness.add("meters", end_day=18)
    harness.add("phones", end_day=18, fleet="mobility")
    harness.clock.now = datetime(2026, 2, 10, 0, 0, tzinfo=UTC)
    apply_like_the_daemon(harness.tick(), harness.defs, harness.instance)
    assert partition_sets_now(harness.instance) == {
        SERVICE_PROVIDER: ["meters", "phones"],
        M2M: ["meters"],
        MOBILITY: ["phones"],
    }
    optimize = production.resolve_job_def(OPTIMIZE_JOB_NAME)
    mobility = production.resolve_job_def(MOBILITY_JOB_NAME)
    for job, provider in ((optimize, "meters"), (mobility, "phones")):
        keys = job.partitions_def.get_partition_keys(dynamic_partitions_store=harness.instance)
        assert {provider_and_period(key)[0] for key in keys} == {provider}, job.name

    with harness.engine.begin() as connection:  # provider set phones --fleet m2m
        connection.execute(
            update(ServiceProvider).where(ServiceProvider.name == "phones").values(fleet="m2m")
        )
    moved = harness.tick()
    assert changes(moved) == {("add", M2M): ["phones"], ("delete", MOBILITY): ["phones"]}
