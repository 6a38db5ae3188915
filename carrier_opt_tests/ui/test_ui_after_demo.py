"""Issue 15's acceptance: after `make demo`, `make ui` runs what an operator launches.

Real processes on loopback, as `make ui` starts them: the demo carriers (`carrier-opt
demo-carriers`), `dagster-daemon` and `dagster-webserver` on a DAGSTER_HOME with the
repository's dagster.yaml, the demo's credentials from the `demo.env` it wrote. Through the
GraphQL API the UI uses: a partition run, a sync run (what `daily_sync` starts; the schedules
are listed, stopped), a backfill of two past periods (stored by the demo)
and a tick of the billing-window sensor all succeed. Before them, a day of mistakes (issue 28):
each mistaken launch is refused before it starts, and the catalog's partition counts end as
they began (the typo's partition removed by the sensor, no partition failed). After them, a
real failure gets its mail, and a winner that fails its check (the database corrupts it) is
never pushed although automatic updates are on: its run fails and says so, in the mail too.

The clock of every process is moved to the 25th of the current month, 12:00 UTC
(``CARRIER_OPT_CLOCK_SHIFT``), inside the demo providers' billing window whatever day the
test runs on; the month stays the real one, so Dagster's own partitions (which read the
machine's clock) still hold it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from carrier_opt import demo
from carrier_opt.db.engine import make_engine
from carrier_opt.db.models import RatePlanPush, ServiceProvider
from carrier_opt.db.providers import add_provider, load_provider
from carrier_opt.db.recipients import set_notification_recipients
from carrier_opt.defs.jobs import MOBILITY_JOB_NAME, OPTIMIZE_JOB_NAME, SYNC_JOB_NAME
from carrier_opt.defs.partitions import M2M_PROVIDERS, SERVICE_PROVIDER
from carrier_opt.defs.schedules import DAILY_SYNC_NAME, FRESHNESS_SCHEDULE_NAME
from carrier_opt.defs.sensors import SENSOR_NAME
from carrier_opt_tests.delivery.conftest import smtp_server  # noqa: F401  (fixture)
from carrier_opt_tests.ui.corruption import corrupt_the_next_winners
from carrier_opt_tests.ui.support import (
    GraphQL,
    day_of_mistakes,
    demo_and_ui,
    finished_run,
    finished_runs,
    partition,
    partition_tags,
    wait_for,
)

DEVICES, MOBILITY_DEVICES = 400, 300
RUN_TIMEOUT_S = 600


def winner_failing_its_check(ui: GraphQL, database_url: str, period: str, provider: str) -> str:
    """The provider's M2M partition launched again from the UI, with automatic updates on (so
    an unguarded winner would be sent to its carrier), a recipient, and the database corrupting
    the winner it stores (one SIM twice). Answers the run."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            update(ServiceProvider)
            .where(ServiceProvider.name == provider)
            .values(allow_automatic_rate_plan_updates=True)
        )
        set_notification_recipients(
            connection, load_provider(connection, provider).id, to=["ops@example.com"]
        )
    corrupt_the_next_winners(engine)
    engine.dispose()
    return ui.launch_partition_run(
        OPTIMIZE_JOB_NAME, partition(period, provider), partition_tags(period, provider)
    )


def pushes(database_url: str) -> int:
    """How many rate-plan pushes are stored (dry runs included)."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(RatePlanPush)).scalar_one()
    engine.dispose()
    return count


def real_failure(ui: GraphQL, database_url: str, period: str) -> tuple[str, str]:
    """A provider added as `provider add` does, but whose credentials' variables were never
    set, with a recipient; its M2M partition launched from the UI. Answers (its name, the
    run)."""
    name = "no-credentials"
    engine = make_engine(database_url)
    add_provider(
        engine,
        name,
        jasper_url="http://127.0.0.1:9/jasper",
        billing_cycle_end_day=31,  # the demo providers' calendar months
        time_zone="UTC",
        billing_cycle_end_rule="after_end_day",
        username_env="NO_CREDENTIALS_USERNAME",
        api_key_env="NO_CREDENTIALS_API_KEY",
    )
    with engine.begin() as connection:
        provider = load_provider(connection, name)
        set_notification_recipients(connection, provider.id, to=["ops@example.com"])
    engine.dispose()
    for partitions in (SERVICE_PROVIDER, M2M_PROVIDERS):  # what provider add registers
        ui.add_partition(partitions, name)
    key, tags = partition(period, name), partition_tags(period, name)
    return name, ui.launch_partition_run(OPTIMIZE_JOB_NAME, key, tags)


@pytest.mark.ui
def test_after_make_demo_the_ui_runs_a_partition_a_backfill_and_the_sensor(
    database_url,
    tmp_path,
    monkeypatch,
    smtp_server,  # noqa: F811
):
    operator = demo.DEMO_PROVIDER
    for key, value in {
        "CARRIER_OPT_NOTIFIER": "smtp",  # the runs and the failure-mail sensor mail here
        "CARRIER_OPT_SMTP_HOST": smtp_server.host,
        "CARRIER_OPT_SMTP_PORT": str(smtp_server.port),
    }.items():
        monkeypatch.setenv(key, value)
    with demo_and_ui(tmp_path, database_url, DEVICES, MOBILITY_DEVICES, monkeypatch.setenv) as up:
        assert sum("SIMs stored" in line for line in up.demo_lines) == 6
        ui, period, past = up.ui, up.period, up.past
        jobs = (OPTIMIZE_JOB_NAME, MOBILITY_JOB_NAME, SYNC_JOB_NAME)
        catalog = {job: ui.partition_stats(job) for job in jobs}
        refused = day_of_mistakes(ui, period)
        run_id = ui.launch_partition_run(
            OPTIMIZE_JOB_NAME, partition(period, operator), partition_tags(period, operator)
        )
        backfill = ui.launch_backfill(
            f"{OPTIMIZE_JOB_NAME}_partition_set", [partition(p, operator) for p in past[:2]]
        )
        ui.start_sensor(SENSOR_NAME)
        # What the daily_sync schedule starts, launched by hand (the schedule is stopped).
        assert ui.schedules() == {DAILY_SYNC_NAME: "STOPPED", FRESHNESS_SCHEDULE_NAME: "STOPPED"}
        synced_id = ui.launch_partition_run(
            SYNC_JOB_NAME, partition(period, operator), partition_tags(period, operator)
        )
        for reason, run in refused.items():
            status, events, message = ui.refusal(run)
            assert status == "CANCELED", reason  # not FAILURE: no partition turns red
            # Never queued, never started: no run process, no step.
            assert not events & {"RunEnqueuedEvent", "RunStartingEvent", "RunStartEvent"}
            assert not any(kind.startswith("ExecutionStep") for kind in events)
            assert message.startswith("Launch refused: ") and reason in message, message
        launched = wait_for("the partition run", lambda: finished_run(ui, run_id), RUN_TIMEOUT_S, 3)
        synced = wait_for("the sync run", lambda: finished_run(ui, synced_id), RUN_TIMEOUT_S, 3)
        backfilled = wait_for(
            "the backfill's two runs",
            lambda: finished_runs(ui, {"dagster/backfill": backfill}, 2),
            RUN_TIMEOUT_S,
            3,
        )
        sensed = wait_for(
            "the sensor's runs",
            lambda: finished_runs(ui, {"dagster/sensor_name": SENSOR_NAME}, 2),
            RUN_TIMEOUT_S,
            3,
        )
        failed = {
            run["runId"]: ui.failure(run["runId"])
            for run in [launched, synced, *backfilled, *sensed]
            if run["status"] != "SUCCESS"
        }
        assert failed == {}
        # The catalog counts the partitions it did before the mistakes: the typo's partition
        # is gone (the sensor's tick), and nothing refused turned a partition red.
        after = {job: ui.partition_stats(job) for job in jobs}
        assert after == catalog
        # Then a real failure: a provider whose credentials were never set. Its run starts,
        # fails in its first step, and the failure-mail sensor mails its recipients. Beside it,
        # the operator's winner fails its check (corrupted by the database) and is not pushed.
        pushed_before = pushes(database_url)
        failing, failing_run = real_failure(ui, database_url, period)
        guarded_run = winner_failing_its_check(ui, database_url, period, operator)
        mails = {
            name: wait_for(
                f"the failure mail of {name}",
                lambda name=name: next(
                    (
                        m
                        for m in smtp_server.inbox.messages
                        if f"FAILED {name} " in m.message["Subject"]
                    ),
                    None,
                ),
                RUN_TIMEOUT_S,
                3,
            )
            for name in (failing, operator)
        }
        assert ui.run(failing_run)["status"] == "FAILURE"
        assert ui.run(guarded_run)["status"] == "FAILURE"
        assert "the winner is not pushed, nothing was sent to the carrier" in ui.failure(
            guarded_run
        )
        assert pushes(database_url) == pushed_before
    mail = mails[failing]
    guarded = mails[operator].message
    assert guarded["Subject"].startswith(
        f"[carrier_opt] FAILED {operator} {period}: winning_assignments_every_sim_assigned_once: "
        "the winner is not pushed, nothing was sent to the carrier"
    ), guarded["Subject"]
    assert f"FAILED {failing} {period}: staged_devices" in mail.message["Subject"]
    assert "NO_CREDENTIALS_USERNAME" in mail.message.get_content()
    assert sorted(run["tags"]["dagster/partition"] for run in backfilled) == sorted(
        partition(p, operator) for p in past[:2]
    )
    sensor_runs = {run["tags"]["dagster/partition"]: run["jobName"] for run in sensed}
    assert sensor_runs == {
        partition(period, operator): OPTIMIZE_JOB_NAME,
        partition(period, demo.MOBILITY_PROVIDER): MOBILITY_JOB_NAME,
    }
