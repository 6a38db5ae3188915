"""`make ui-screenshots`: the Dagster UI after `make demo`, in headless Chromium.

Starts the same deployment as the UI test (the demo carriers, the demo, the daemon and the
webserver, every clock moved into the billing window), launches a partition run through the
GraphQL API after a day of mistaken launches, waits for it, then has Debian's ``chromium`` take
screenshots of the asset graph, a partition page, the run, the winner's money metadata and
the failure-mail sensor's ticks into ``docs/screenshots/`` (the README shows them).

Chromium is not a Python dependency: ``apt-get install chromium`` (about a minute here).
Playwright (the ``screenshots`` extra) drives it by its executable path — it cannot download
its own browsers here — to dismiss Dagster's first-visit dialog and wait for each page to
settle before the shot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import dagster as dg
from playwright.sync_api import sync_playwright

from carrier_opt import demo
from carrier_opt.defs.jobs import OPTIMIZE_JOB_NAME
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt_tests.ui.support import (
    REPO,
    day_of_mistakes,
    demo_and_ui,
    finished_run,
    finished_runs,
    partition,
    partition_tags,
    wait_for,
)

PAGES = {
    "asset-graph.png": "/locations/{location}/asset-groups/m2m",
    "partitions.png": "/assets/winning_assignments?view=partitions",
    "run.png": "/runs/{run_id}",
    "asset-money.png": "/assets/winning_assignments",
    "failure-mail-ticks.png": "/locations/{location}/sensors/optimization_failure_mail",
    "savings-trend.png": "/assets/savings_trend",
}
"""The pages shot; the last two after a day of mistakes (issue 28): the winner's money
metadata (floats to the cent, named in USD) and the failure-mail sensor's ticks, which go on
after every refused launch; then the demo provider's savings over time (issue 31) once its
past periods are backfilled."""


OPENED = {"savings-trend.png": "[Show Markdown]"}
"""Pages shot with a link clicked first: the trend's chart, which the UI folds away."""


def screenshot(page, url: str, out: Path, wait_ms: int) -> None:
    """One page, once the UI has loaded its data (and any first-visit dialog is dismissed)."""
    page.goto(url, wait_until="networkidle", timeout=120_000)
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()
    page.wait_for_timeout(wait_ms)
    if out.name in OPENED:
        page.get_by_text(OPENED[out.name]).first.click()
        page.wait_for_timeout(wait_ms)
    page.screenshot(path=str(out))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--wait-ms", type=int, default=3_000)
    args = parser.parse_args(argv)
    if not shutil.which(args.browser):
        sys.exit(f"{args.browser} not found: apt-get install chromium")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    operator = demo.DEMO_PROVIDER
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'carrier_opt.db'}"
        with demo_and_ui(Path(folder), database, 2_000, 500, os.environ.__setitem__) as up:
            day_of_mistakes(up.ui, up.period)
            run_id = up.ui.launch_partition_run(
                OPTIMIZE_JOB_NAME,
                partition(up.period, operator),
                partition_tags(up.period, operator),
            )
            run = wait_for("the partition run", lambda: finished_run(up.ui, run_id), 900, 3)
            print(f"run {run_id}: {run['status']}")
            backfill = up.ui.launch_backfill(
                f"{OPTIMIZE_JOB_NAME}_partition_set", [partition(p, operator) for p in up.past]
            )
            tags = {"dagster/backfill": backfill}
            done = lambda: finished_runs(up.ui, tags, len(up.past))  # noqa: E731
            wait_for("the backfill of the past periods", done, 1800, 5)
            engine = DatabaseResource(database_url=database)
            for line in demo.materialize_insights(
                engine, dg.DagsterInstance.get(), operator, up.period
            ):
                print(line)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which(args.browser), args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                for name, path in PAGES.items():
                    url = up.url + path.format(location=up.ui.location, run_id=run_id)
                    screenshot(page, url, out / name, args.wait_ms)
                    print(f"{out / name}  <- {url}")
                browser.close()


if __name__ == "__main__":
    main()
