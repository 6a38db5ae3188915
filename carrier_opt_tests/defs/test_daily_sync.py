"""Issue 18: the daily sync schedule, onboarding with past periods, and sync freshness.

Every clock is pinned: the schedule's tick, the assets' clocks and the fake carrier's.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from carrier_opt.cli import cli
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.merge import USAGE_PERIOD
from carrier_opt.db.models import BillingPeriod
from carrier_opt.db.providers import add_provider, set_jasper_url
from carrier_opt.defs import run_context
from carrier_opt.defs.assets import m2m
from carrier_opt.defs.assets import sync as sync_assets
from carrier_opt.defs.checks import optimization_checks
from carrier_opt.defs.jobs import SYNC_JOB_NAME
from carrier_opt.defs.partitions import SERVICE_PROVIDER, partition_key, provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt.defs.schedules import (
    DAILY_SYNC_NAME,
    build_daily_sync_schedule,
    daily_sync_schedule,
    sync_freshness_schedule,
)
from carrier_opt.defs.tags import DAILY_SYNC_TRIGGER, HOURLY_TRIGGER, PROVIDER_TAG, TRIGGER_TAG
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.period_sync import reusable_sync
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    add_fake_provider,
    write_fake_price_files,
)
from carrier_opt_tests.defs.support import materialize_partition
from carrier_opt_tests.jasper.support import client_for, lift_the_rate_cap

DEVICES = 120


# --- the schedule ---------------------------------------------------------------------------


@dg.asset(partitions_def=provider_period_partitions)
def stand_in() -> None:
    """Stands in for carrier_data: the schedule only needs a job of the right partitions."""


class Ticks:
    """The schedule evaluated at pinned instants, as the daemon would at each hourly tick."""

    def __init__(self, database_url: str, instance: dg.DagsterInstance) -> None:
        self.now = datetime(2027, 1, 1, tzinfo=UTC)
        self.instance = instance
        job = dg.define_asset_job(SYNC_JOB_NAME, selection=[stand_in])
        self.schedule = build_daily_sync_schedule(clock=lambda: self.now, job=job)
        self.resources = {"database": DatabaseResource(database_url=database_url)}
        self.defs = dg.Definitions(
            assets=[stand_in], jobs=[job], schedules=[self.schedule], resources=self.resources
        )

    def at(self, now: datetime) -> list[dg.RunRequest]:
        self.now = now
        with dg.build_schedule_context(
            instance=self.instance,
            scheduled_execution_time=now,
            resources=self.resources,
            repository_def=self.defs.get_repository_def(),
        ) as context:
            data = self.schedule.evaluate_tick(context)
        return list(data.run_requests or [])


@pytest.fixture
def ticks(migrated_engine, database_url):
    with dg.instance_for_test() as instance:
        yield Ticks(database_url, instance)


def add(engine: Engine, name: str, zone: str, hour: int | None = None, end_day: int = 18):
    extra = {} if hour is None else {"daily_sync_hour": hour}
    add_provider(
        engine,
        name,
        jasper_url="http://jasper.invalid",
        billing_cycle_end_day=end_day,
        time_zone=zone,
        **extra,
    )


def test_each_provider_is_synced_once_a_day_at_its_local_hour(migrated_engine, ticks):
    add(migrated_engine, "chicago", "America/Chicago")  # default 02:00 = 08:00 UTC in winter
    add(migrated_engine, "auckland", "Pacific/Auckland", hour=5)  # 05:00 NZDT = 16:00 UTC
    start = datetime(2027, 1, 10, 0, tzinfo=UTC)
    requested = {}
    for hour in range(48):
        tick = start + timedelta(hours=hour)
        for request in ticks.at(tick):
            requested[request.run_key] = (tick, request)
    assert sorted(requested) == [
        "daily_sync|auckland|2027-01-11",
        "daily_sync|auckland|2027-01-12",
        "daily_sync|chicago|2027-01-10",
        "daily_sync|chicago|2027-01-11",
    ]
    tick, request = requested["daily_sync|chicago|2027-01-10"]
    assert tick == datetime(2027, 1, 10, 8, tzinfo=UTC)
    assert request.partition_key == partition_key("chicago", "2027-01")
    assert request.tags[TRIGGER_TAG] == DAILY_SYNC_TRIGGER
    # Dagster tags the run with its partition's halves: the run queue's one-per-provider tag.
    run_tags = ticks.defs.resolve_job_def(SYNC_JOB_NAME).partitions_def.get_tags_for_partition_key(
        request.partition_key
    )
    assert run_tags[PROVIDER_TAG] == "chicago"
    tick, request = requested["daily_sync|auckland|2027-01-11"]
    assert tick == datetime(2027, 1, 10, 16, tzinfo=UTC)  # 05:00 on the 11th in Auckland
    # Each requested provider is a partition, so the run can start.
    assert set(ticks.instance.get_dynamic_partitions(SERVICE_PROVIDER)) == {"chicago", "auckland"}


def test_the_local_hour_follows_daylight_saving_and_the_period_follows_the_cycle(
    migrated_engine, ticks
):
    add(migrated_engine, "chicago", "America/Chicago", hour=2, end_day=18)
    summer = [r for h in range(24) for r in ticks.at(datetime(2027, 7, 19, h, tzinfo=UTC))]
    assert [r.run_key for r in summer] == ["daily_sync|chicago|2027-07-19"]
    assert ticks.now.hour == 23  # evaluated over the whole day; CDT 02:00 is 07:00 UTC
    assert ticks.at(datetime(2027, 7, 19, 7, tzinfo=UTC))[0].run_key.endswith("2027-07-19")
    # The 19th is after the cycle's end (the 18th): the August period is open.
    assert summer[0].partition_key == partition_key("chicago", "2027-08")


def test_inactive_and_unusable_providers_are_skipped_and_the_others_still_run(
    migrated_engine, ticks
):
    add(migrated_engine, "good", "UTC")
    add(migrated_engine, "off", "UTC")
    CliRunner().invoke(
        cli, ["provider", "set", "off", "--inactive", "--database-url", str(migrated_engine.url)]
    )
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE \"ServiceProvider\" SET time_zone = 'Mars/Olympus' WHERE name = 'good'"
        )
    add(migrated_engine, "other", "UTC")
    requests = ticks.at(datetime(2027, 3, 3, 2, tzinfo=UTC))
    assert [r.partition_key.keys_by_dimension[SERVICE_PROVIDER] for r in requests] == ["other"]


def test_the_schedules_are_stopped_by_default_and_tick_hourly():
    assert daily_sync_schedule.name == DAILY_SYNC_NAME
    for schedule in (daily_sync_schedule, sync_freshness_schedule):
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert daily_sync_schedule.cron_schedule == "0 * * * *"


# --- three days of daily syncs, then a backfill of the closed period -------------------------

DAYS = [datetime(2026, 9, day, 2, 5, tzinfo=UTC) for day in (27, 28, 29)]
AFTER = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
"""When September is backfilled: closed, and no fake carrier is running any more."""


def period_usage(engine: Engine, key: str) -> tuple[int, int, datetime]:
    """(SIMs, total data bytes, newest record time) stored for period ``key``."""
    with engine.connect() as connection:
        sims, data, newest = connection.execute(
            select(
                func.count(),
                func.sum(USAGE_PERIOD.c.ctd_data_usage_bytes),
                func.max(USAGE_PERIOD.c.recorded_at),
            )
            .select_from(USAGE_PERIOD.join(BillingPeriod))
            .where(BillingPeriod.period_key == key)
        ).one()
    return int(sims), int(data or 0), newest


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    events = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in events[0].metadata.items()}


def test_three_daily_syncs_store_each_day_and_the_closed_period_backfills(
    migrated_engine, database_url, monkeypatch, tmp_path
):
    seen = []
    with dg.instance_for_test() as instance:
        for day, now in enumerate(DAYS):
            with FakeJasper(devices=DEVICES, seed=11, now=now) as fake:
                monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
                monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
                if day == 0:
                    add_fake_provider(migrated_engine, fake)
                else:
                    set_jasper_url(migrated_engine, "acme", fake.base_url)
                monkeypatch.setattr(sync_assets, "clock", lambda now=now: now)
                result = materialize_partition(
                    database_url,
                    [sync_assets.carrier_data, sync_assets.sync_freshness],
                    partition_key("acme", "2026-09"),
                    instance=instance,
                )
            assert result.success
            assert metadata(result, "carrier_data")["kind"] == "open period: incremental sync"
            [check] = result.get_asset_check_evaluations()
            assert check.passed  # just synced
            seen.append(period_usage(migrated_engine, "2026-09"))
        load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
        monkeypatch.setattr(run_context, "clock", lambda: AFTER)
        backfill = materialize_partition(
            database_url,
            [*m2m.optimization_assets, *optimization_checks],
            partition_key("acme", "2026-09"),
            instance=instance,
        )
    sims = [s for s, _, _ in seen]
    assert sims == [sims[0]] * 3 and sims[0] > 0
    data = [d for _, d, _ in seen]
    assert data[0] < data[1] < data[2]  # each day's cycle-to-date usage stored
    assert [newest.date() for _, _, newest in seen] == [d.date() for d in DAYS]
    assert backfill.success
    staged = metadata(backfill, "staged_devices")
    assert (staged["synced"], staged["stored_sims"]) == (False, sims[0])
    assert metadata(backfill, "winning_assignments")["cost_before_usd"] > 0


def test_a_period_that_has_not_started_is_refused(migrated_engine, database_url, monkeypatch):
    with FakeJasper(devices=10, seed=1, now=DAYS[0]) as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_fake_provider(migrated_engine, fake)
        monkeypatch.setattr(sync_assets, "clock", lambda: DAYS[0])
        result = materialize_partition(
            database_url, [sync_assets.carrier_data], partition_key("acme", "2026-11")
        )
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "billing period 2026-11 of acme has not started" in str(
        failure.step_failure_data.user_failure_data.description
    )


# --- onboarding ------------------------------------------------------------------------------

ONBOARDED_AT = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)


def test_provider_add_fetches_two_past_cycles_which_then_backfill(
    migrated_engine, database_url, monkeypatch, tmp_path
):
    from carrier_opt import clock

    monkeypatch.setattr(clock, "now", lambda: ONBOARDED_AT)
    lift_the_rate_cap(monkeypatch)  # 165 calls: 33 s at Cisco's 5 calls/s
    with FakeJasper(devices=DEVICES, seed=8, now=ONBOARDED_AT) as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        result = CliRunner().invoke(
            cli,
            [
                "provider",
                "add",
                "acme",
                "--jasper-url",
                fake.base_url,
                "--billing-cycle-end-day",
                "31",
                "--billing-cycle-end-rule",
                "after_end_day",
                "--timezone",
                "UTC",
                "--username-env",
                USERNAME_ENV,
                "--api-key-env",
                API_KEY_ENV,
                "--database-url",
                database_url,
            ],
        )
        asked = {r.query["cycleStartDate"] for r in fake.request_log if "cycleStartDate" in r.query}
    assert result.exit_code == 0, result.output
    assert "acme 2026-05: usage of" in result.output
    assert "acme 2026-04: usage of" in result.output
    assert {"2026-05-01", "2026-04-01"} <= asked  # the past cycles, by their start
    load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
    monkeypatch.setattr(run_context, "clock", lambda: ONBOARDED_AT)
    with dg.instance_for_test() as instance:
        for key in ("2026-05", "2026-04"):
            backfill = materialize_partition(
                database_url,
                [*m2m.optimization_assets, *optimization_checks],
                partition_key("acme", key),
                instance=instance,
            )
            assert backfill.success, key
            assert metadata(backfill, "staged_devices")["stored_sims"] > 0


def test_provider_add_keeps_the_provider_when_the_carrier_cannot_be_reached(
    migrated_engine, database_url, monkeypatch
):
    monkeypatch.delenv("NOBODY_SET_THIS_USER", raising=False)
    result = CliRunner().invoke(
        cli,
        [
            "provider",
            "add",
            "acme",
            "--jasper-url",
            "http://127.0.0.1:9/rws/api/v1/",
            "--billing-cycle-end-day",
            "18",
            "--timezone",
            "UTC",
            "--username-env",
            "NOBODY_SET_THIS_USER",
            "--database-url",
            database_url,
        ],
    )
    assert result.exit_code == 0
    assert "added m2m service provider acme" in result.stdout
    assert "could not be stored" in result.stderr
    assert "carrier-opt sync acme --past-periods 2" in result.stderr


# --- reuse of a fresh sync, freshness --------------------------------------------------------


def test_a_window_run_reuses_a_fresh_daily_sync_but_the_last_day_hourly_run_syncs(
    migrated_engine, database_url, monkeypatch, tmp_path
):
    synced_at = datetime(2026, 9, 24, 2, 5, tzinfo=UTC)
    run_at = synced_at + timedelta(hours=5)
    with FakeJasper(devices=DEVICES, seed=3, now=synced_at) as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=synced_at)
    load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
    monkeypatch.setattr(run_context, "clock", lambda: run_at)
    reused = materialize_partition(
        database_url, [m2m.staged_devices], partition_key("acme", "2026-09")
    )
    assert reused.success  # no carrier is running: it did not sync
    staged = metadata(reused, "staged_devices")
    assert staged["reason"] == "recent sync reused"
    assert staged["last_sync_age_hours"] == 5.0
    assert staged["stored_sims"] == DEVICES

    # the last day's hourly runs always read the freshest usage
    assert run_context.always_syncs({TRIGGER_TAG: HOURLY_TRIGGER})
    assert not run_context.always_syncs({})
    period = _period(migrated_engine, "2026-09")
    assert reusable_sync(migrated_engine, "acme", period, run_at) is not None
    monkeypatch.setenv("CARRIER_OPT_SYNC_REUSE_HOURS", "4")
    assert reusable_sync(migrated_engine, "acme", period, run_at) is None


def _period(engine: Engine, key: str):
    from carrier_opt.core.billing import period_for_key
    from carrier_opt.db.providers import load_provider

    with engine.connect() as connection:
        return period_for_key(load_provider(connection, "acme").cycle, key)


def test_the_freshness_check_fails_when_the_last_sync_is_two_days_old(
    migrated_engine, database_url, monkeypatch
):
    synced_at = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)
    with FakeJasper(devices=10, seed=2, now=synced_at) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=synced_at)
    add(migrated_engine, "newcomer", "UTC")
    resource = DatabaseResource(database_url=database_url)

    monkeypatch.setattr(sync_assets, "clock", lambda: synced_at + timedelta(hours=20))
    fresh = sync_assets.sync_freshness(database=resource)
    assert not fresh.passed  # the newcomer has never synced
    assert "newcomer (never synced)" in fresh.description
    assert "acme" not in fresh.description

    monkeypatch.setattr(sync_assets, "clock", lambda: synced_at + timedelta(days=2))
    stale = sync_assets.sync_freshness(database=resource)
    assert not stale.passed
    assert stale.severity == dg.AssetCheckSeverity.WARN
    assert "acme (last completed sync 48 h ago)" in stale.description
    assert stale.metadata["stale_providers"].value == 2


def test_provider_list_shows_the_last_sync_and_its_outcome(migrated_engine, database_url):
    synced_at = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)
    with FakeJasper(devices=10, seed=2, now=synced_at) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=synced_at)
    add(migrated_engine, "newcomer", "UTC")
    result = CliRunner().invoke(cli, ["provider", "list", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    acme = next(line for line in result.output.splitlines() if line.startswith("acme"))
    assert "completed 2026-09-20 02:0" in acme
    newcomer = next(line for line in result.output.splitlines() if line.startswith("newcomer"))
    assert " - " in newcomer
