"""Issue 15's acceptance: after `make demo`, `make ui` runs what an operator launches.

Real processes on loopback, as `make ui` starts them: the demo carriers (`carrier-opt
demo-carriers`), `dagster-daemon` and `dagster-webserver` on a DAGSTER_HOME with the
repository's dagster.yaml, the demo's credentials from the `demo.env` it wrote. Through the
GraphQL API the UI uses: a partition run, a sync run (what `daily_sync` starts; the schedules
are listed, stopped), a backfill of two past periods (stored by the demo)
and a tick of the billing-window sensor all succeed. Before them, a day of mistakes (issue 28):
each mistaken launch is refused before it starts, and the catalog's partition counts end as
they began (the typo's partition removed by the sensor, no partition failed).

The clock of every process is moved to the 25th of the current month, 12:00 UTC
(``CARRIER_OPT_CLOCK_SHIFT``), inside the demo providers' billing window whatever day the
test runs on; the month stays the real one, so Dagster's own partitions (which read the
machine's clock) still hold it.
"""

from __future__ import annotations

import pytest

from carrier_opt import demo
from carrier_opt.defs.jobs import MOBILITY_JOB_NAME, OPTIMIZE_JOB_NAME, SYNC_JOB_NAME
from carrier_opt.defs.schedules import DAILY_SYNC_NAME, FRESHNESS_SCHEDULE_NAME
from carrier_opt.defs.sensors import SENSOR_NAME
from carrier_opt_tests.ui.support import (
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


@pytest.mark.ui
def test_after_make_demo_the_ui_runs_a_partition_a_backfill_and_the_sensor(
    database_url, tmp_path, monkeypatch
):
    operator = demo.DEMO_PROVIDER
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
    assert sorted(run["tags"]["dagster/partition"] for run in backfilled) == sorted(
        partition(p, operator) for p in past[:2]
    )
    sensor_runs = {run["tags"]["dagster/partition"]: run["jobName"] for run in sensed}
    assert sensor_runs == {
        partition(period, operator): OPTIMIZE_JOB_NAME,
        partition(period, demo.MOBILITY_PROVIDER): MOBILITY_JOB_NAME,
    }
