"""The re-check of a push from Dagster: the sensor asks for one run per due check (never the
same check twice), and the run compares the carrier with what the push sent."""

from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy import insert, select, update

from carrier_opt.db.models import RatePlanPush, ServiceProvider
from carrier_opt.definitions import defs
from carrier_opt.defs import run_context
from carrier_opt.defs.assets import m2m, push_checks
from carrier_opt.defs.partitions import partition_key
from carrier_opt.defs.resources import DatabaseResource, NotifierResource, ResultStoreResource
from carrier_opt.delivery import push_checks as push_check_runs
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.defs import support
from carrier_opt_tests.defs.test_delivery_assets import start_fake
from carrier_opt_tests.delivery.support import PERIOD, seed_instance

NOW = datetime(2026, 9, 14, 10, 0, tzinfo=UTC)


def test_a_due_check_is_requested_once_and_run_against_the_carrier(
    migrated_engine, monkeypatch, tmp_path, database_url
):
    with FakeJasper(devices=300, seed=8, now=NOW) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        with migrated_engine.begin() as connection:
            connection.execute(
                update(ServiceProvider).values(allow_automatic_rate_plan_updates=True)
            )
        key = partition_key("acme", "2026-09")
        pushed = support.materialize_partition(
            database_url,
            m2m.m2m_assets,
            key,
            run_config={"ops": {"queue_results": {"config": {"time_limit_s": 5.0}}}},
            result_store=ResultStoreResource(folder=str(tmp_path / "r")),
            notifier=NotifierResource(),
        )
        assert pushed.success and fake.edits

        resources = {"database": DatabaseResource(database_url=database_url)}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("service_provider", ["acme"])

            def tick(at: datetime):
                sensor = push_checks.build_push_check_sensor(clock=lambda: at)
                with dg.build_sensor_context(
                    definitions=defs,
                    instance=instance,
                    instance_ref=instance.get_ref(),
                    resources=resources,
                ) as context:
                    return sensor.evaluate_tick(context)

            assert tick(NOW + timedelta(minutes=5)).run_requests == []  # not due yet
            (request,) = tick(NOW + timedelta(minutes=16)).run_requests
            assert request.partition_key == key
            assert request.run_key.startswith("push-check:") and request.run_key.endswith(":1")

        monkeypatch.setattr(run_context, "clock", lambda: fake.now() + timedelta(minutes=16))
        checked = support.materialize_partition(
            database_url, [push_checks.rate_plan_push_checks], key, notifier=NotifierResource()
        )
        assert checked.success
        meta = checked.asset_materializations_for_node("rate_plan_push_checks")[0].metadata
        assert meta["pushes_checked"].value == 1 and meta["discrepancies"].value == 0
    with migrated_engine.connect() as connection:
        push = connection.execute(select(RatePlanPush.__table__)).one()
    assert push.checks_done == 1 and push.discrepancies == 0 and push.next_check_at is not None


def test_a_canceled_check_is_requested_again_under_a_new_run_key(migrated_engine, database_url):
    """Issue 28, point 2: a check whose run was canceled never ran again — its run key was
    spent, so Dagster skipped every later request of it."""
    seeded = seed_instance(migrated_engine)
    with migrated_engine.begin() as connection:
        push_id = connection.execute(
            insert(RatePlanPush).values(
                service_provider_id=seeded.provider_id,
                optimization_instance_id=seeded.instance_id,
                mode="automatic",
                status="completed",
                started_at=NOW,
                next_check_at=NOW + push_check_runs.CHECK_INTERVAL,
                created_at=NOW,
            )
        ).inserted_primary_key[0]
    sensor = push_checks.build_push_check_sensor(clock=lambda: NOW + timedelta(minutes=16))
    resources = {"database": DatabaseResource(database_url=database_url)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("service_provider", ["acme"])

        def requested() -> str:
            with dg.build_sensor_context(
                definitions=defs,
                instance=instance,
                instance_ref=instance.get_ref(),
                resources=resources,
            ) as context:
                (request,) = sensor.evaluate_tick(context).run_requests
            assert request.partition_key == partition_key("acme", PERIOD.key)
            return request.run_key

        def run_of(run_key: str, status: dg.DagsterRunStatus) -> None:
            tags = {push_checks.RUN_KEY_TAG: run_key}
            instance.add_run(dg.DagsterRun(push_checks.CHECK_JOB_NAME, tags=tags, status=status))

        first = requested()
        assert first == f"push-check:{push_id}:1"  # as before: runs already keyed so match
        run_of(first, dg.DagsterRunStatus.STARTED)
        assert requested() == first  # running (or queued): the same key, Dagster skips it
        instance.report_run_canceled(instance.get_runs(limit=1)[0])
        second = requested()
        assert second == f"push-check:{push_id}:1:attempt-2"
        run_of(second, dg.DagsterRunStatus.FAILURE)
        assert requested() == second  # a failed run is re-executed by hand, not in a loop
