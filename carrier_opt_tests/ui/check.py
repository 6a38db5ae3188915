"""`make ui-check`: what an operator does in the UI, against a running `make ui`.

After `make demo` and with `make ui` running, this drives the webserver's GraphQL API as the
UI's buttons do: it launches the demo M2M provider's current partition, backfills its two
previous periods (stored by the demo), turns the billing-window sensor on, then waits and
prints every run's outcome. It exits non-zero if any run fails or none arrives in time.

The sensor only requests runs inside a provider's billing window (its last 8 days, from the
start hour); outside it, that part is reported as "no tick runs" and not counted as a failure.
The end-to-end test (`test_ui_after_demo.py`) moves every clock into the window instead.
"""

from __future__ import annotations

import argparse
import sys
import time

from carrier_opt import clock, demo
from carrier_opt.defs.jobs import OPTIMIZE_JOB_NAME
from carrier_opt.defs.sensors import SENSOR_NAME
from carrier_opt_tests.ui.support import (
    GraphQL,
    finished_run,
    finished_runs,
    partition,
    partition_tags,
    wait_for,
)


def previous(period: str, months: int) -> str:
    year, month = (int(part) for part in period.split("-"))
    month -= months
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait in all")
    args = parser.parse_args(argv)
    ui = GraphQL(args.port)
    wait_for("the code location", ui.load_repository, 120, every_s=2)
    operator = demo.DEMO_PROVIDER
    period = clock.now().strftime("%Y-%m")  # the demo providers bill calendar months in UTC
    past = [previous(period, 1), previous(period, 2)]
    started = time.monotonic()
    run_id = ui.launch_partition_run(
        OPTIMIZE_JOB_NAME, partition(period, operator), partition_tags(period, operator)
    )
    print(f"partition run {run_id} launched for {partition(period, operator)}")
    backfill = ui.launch_backfill(
        f"{OPTIMIZE_JOB_NAME}_partition_set", [partition(p, operator) for p in past]
    )
    print(f"backfill {backfill} launched for {', '.join(past)}")
    ui.start_sensor(SENSOR_NAME)
    print(f"sensor {SENSOR_NAME} started")
    runs = [wait_for("the partition run", lambda: finished_run(ui, run_id), args.timeout, 5)]
    left = max(60.0, args.timeout - (time.monotonic() - started))
    runs += wait_for(
        "the backfill's runs", lambda: finished_runs(ui, {"dagster/backfill": backfill}, 2), left, 5
    )
    time.sleep(30)  # the daemon evaluates a newly started sensor within seconds
    if not ui.runs({"dagster/sensor_name": SENSOR_NAME}):
        print("sensor: no tick runs (outside every provider's billing window, or not ticked yet)")
    else:
        sensed = wait_for(
            "the sensor's runs",
            lambda: finished_runs(ui, {"dagster/sensor_name": SENSOR_NAME}, 1),
            left,
            5,
        )
        runs += sensed
    failed = 0
    for run in runs:
        outcome = run["status"]
        if outcome != "SUCCESS":
            failed += 1
            outcome += f": {ui.failure(run['runId'])}"
        print(f"{run['runId']} {run.get('jobName', '')} {outcome}")
    print(
        f"{len(runs) - failed} of {len(runs)} runs succeeded in {time.monotonic() - started:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
