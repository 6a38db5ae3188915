"""No sensor dies on one bad run or row (issue 28, point 1).

Every sensor of the deployment (``definitions.defs.sensors``, so a sensor added later is ticked
too) is ticked like the daemon ticks it over an instance holding each kind of mistaken run and
a database holding bad rows; then a real failure must still get its mail. Before, the failure
mail answered a ``SkipReason`` for a run without a partition beside another run's reaction,
which Dagster refuses ("Expected a single SkipReason or one or more DagsterRunReaction:
received both"), and ``load_provider`` raised for a provider typed into "Add partition": every
tick failed, the cursor stayed where it was, and no failure was mailed again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from carrier_opt.core.billing import BillingCycle, period_containing
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import set_notification_recipients
from carrier_opt.definitions import defs
from carrier_opt.defs import failure_mail
from carrier_opt.defs.assets import m2m
from carrier_opt.defs.partitions import (
    M2M_PROVIDERS,
    MOBILITY_PROVIDERS,
    SERVICE_PROVIDER,
    partition_key,
    partition_sets_now,
    register_providers,
)
from carrier_opt.defs.resources import DatabaseResource, NotifierResource, ResultStoreResource
from carrier_opt_tests.defs import support
from carrier_opt_tests.defs.launch_support import (
    M2M_JOB,
    Ticks,
    add_providers,
    completed_instance,
    due_push,
    failed_run,
    partition_tags,
)
from carrier_opt_tests.delivery.conftest import smtp_server  # noqa: F401  (fixture)
from carrier_opt_tests.delivery.support import seed_instance

TO = ("ops@example.com",)
NEVER_SYNCED = "2025-02"
"""A closed period of acme with no usage stored: a real run of it fails in its first step."""


def current_key(now: datetime) -> str:
    """The open period of the test providers (calendar months in UTC) at ``now``."""
    return period_containing(BillingCycle(31, 0, "UTC"), now).key


@pytest.fixture
def deployment(migrated_engine):
    """acme (M2M, with recipients) and phones (mobility); a provider stored straight in the
    database under a name that cannot be a partition key, with a push due for its re-check;
    a due push of acme in a period before the partitions begin, and one in a period they
    reach."""
    add_providers(migrated_engine)
    now = datetime.now(UTC)
    with migrated_engine.begin() as connection:
        acme = load_provider(connection, "acme")
        set_notification_recipients(connection, acme.id, to=TO)
    bad = seed_instance(migrated_engine, name="bad|name")
    due_push(migrated_engine, bad.provider_id, bad.instance_id, now)
    for period_key in ("2024-06", NEVER_SYNCED):
        due_push(migrated_engine, *completed_instance(migrated_engine, "acme", period_key), now)
    return migrated_engine


def mistaken_runs(instance: dg.DagsterInstance, now: datetime) -> None:
    """Every kind of mistaken run, failed as a deployment without the launch check (or an
    older one) left them."""
    job = defs.resolve_job_def(M2M_JOB)
    current = current_key(now)
    future = period_containing(BillingCycle(31, 0, "UTC"), now + timedelta(days=70)).key
    # In this order, one tick saw the typo's run raise and the next run answer a SkipReason.
    failed_run(instance, job, partition_tags("ghost", current))  # typed into "Add partition"
    failed_run(instance, job, {})  # no partition: the whole job launched
    failed_run(instance, job, {"dagster/partition": f"acme|{current}"})  # halves swapped
    swapped = {
        "dagster/partition": f"acme|{current}",
        "dagster/partition/service_provider": current,
        "dagster/partition/billing_period": "acme",
    }
    failed_run(instance, job, swapped)
    failed_run(instance, job, partition_tags("phones", current))  # the wrong kind's job
    failed_run(
        instance,
        job,
        partition_tags("phones", current),
        f"Launch refused: phones is a mobility fleet: launch optimize_mobility_period for it, "
        f"not {M2M_JOB}",
    )
    failed_run(instance, job, partition_tags("acme", future))  # a period not started
    failed_run(instance, job, partition_tags("bad|name", current))  # a bad stored name


def test_every_sensor_survives_mistaken_runs_and_bad_rows_and_a_real_failure_is_mailed(
    deployment,
    database_url,
    tmp_path,
    capsys,
    smtp_server,  # noqa: F811
):
    now = datetime.now(UTC)
    notifier = NotifierResource(
        kind="smtp",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        sender="carrier-opt@example.com",
        dagster_ui_url="http://dagster.example.com",
    )
    resources = {"database": DatabaseResource(database_url=database_url), "notifier": notifier}
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m", "phones": "mobility"})
        instance.add_dynamic_partitions(M2M_PROVIDERS, ["ghost"])  # "Add partition" typo
        ticks = {
            # A run-status sensor matches runs of its own code location; the runs made here
            # have none, like a sensor context built without definitions.
            sensor.name: Ticks(
                sensor,
                instance,
                resources,
                definitions=None if isinstance(sensor, dg.RunStatusSensorDefinition) else defs,
            )
            for sensor in defs.sensors
        }
        assert set(ticks) == {
            "billing_window_sensor",
            "optimization_failure_mail",
            "rate_plan_push_checks_due",
        }
        for sensor in ticks.values():
            sensor.tick()  # the failure mail starts its cursor here (no failure yet: -1)

        mistaken_runs(instance, now)
        for sensor in ticks.values():
            sensor.until_settled()  # before: raised "...received both DagsterRunReaction..."

        real = support.materialize_partition(
            database_url,
            m2m.m2m_assets,
            partition_key("acme", NEVER_SYNCED),
            instance=instance,
            result_store=ResultStoreResource(folder=str(tmp_path / "reports")),
            notifier=notifier,
        )
        assert not real.success
        results = {name: sensor.until_settled() for name, sensor in ticks.items()}
        partitions = partition_sets_now(instance)

    subjects = [m.message["Subject"] for m in smtp_server.inbox.messages]
    assert any(f"FAILED acme {NEVER_SYNCED}: staged_devices" in s for s in subjects), subjects
    assert not any("ghost" in s or "bad|name" in s or "phones" in s for s in subjects)
    logged = capsys.readouterr().err  # the sensors' log (Dagster prints it, see test_sensors)
    assert "no failure mail for run" in logged and "no service provider named 'ghost'" in logged
    assert "its launch was refused before it started" in logged
    # The push-check sensor still asks for the check of the push it can partition...
    [checks] = [r for r in results["rate_plan_push_checks_due"] if r.run_requests]
    assert [r.partition_key for r in checks.run_requests] == [partition_key("acme", NEVER_SYNCED)]
    assert "not re-checked: the service provider name 'bad|name' may not contain |" in logged
    assert "billing period 2024-06 is not a billing_period partition" in logged
    # ...the billing window passes over the bad name, and removes the typo's partition.
    assert "service provider 'bad|name' skipped" in logged
    assert partitions == {
        SERVICE_PROVIDER: ["acme", "phones"],
        M2M_PROVIDERS: ["acme"],
        MOBILITY_PROVIDERS: ["phones"],
    }


def test_an_old_failure_is_logged_not_mailed(
    deployment,
    database_url,
    monkeypatch,
    capsys,
    smtp_server,  # noqa: F811
):
    """A sensor that was stopped (or stuck) for weeks must not mail every failure since."""
    notifier = NotifierResource(
        kind="smtp", smtp_host=smtp_server.host, smtp_port=smtp_server.port, sender="c@example.com"
    )
    resources = {"database": DatabaseResource(database_url=database_url), "notifier": notifier}
    sensor = defs.resolve_sensor_def("optimization_failure_mail")
    current = current_key(datetime.now(UTC))
    with dg.instance_for_test() as instance:
        mail = Ticks(sensor, instance, resources)
        mail.tick()
        failed_run(instance, defs.resolve_job_def(M2M_JOB), partition_tags("acme", current))
        later = datetime.now(UTC) + failure_mail.MAIL_MAX_AGE + timedelta(hours=1)
        monkeypatch.setattr(failure_mail, "clock", lambda: later)
        mail.until_settled()
        assert smtp_server.inbox.messages == []
        assert "it failed 3 days ago (mails are sent for 3 days)" in capsys.readouterr().err

        failed_run(instance, defs.resolve_job_def(M2M_JOB), partition_tags("acme", current))
        monkeypatch.undo()
        mail.until_settled()
    [sent] = smtp_server.inbox.messages
    assert f"FAILED acme {current}" in sent.message["Subject"]
