"""Sync benchmark: what a first sync and a re-sync cost in carrier calls, against the fake.

The real API allows 5 calls per second, one in flight: the calls a sync makes *are* its time.
For each fleet size the fake serves the real API's shapes (four fields per search record,
details per SIM, bulk usage per rate plan) and the sync runs at full speed on loopback; the
table counts the calls by kind and converts them to minutes at the real 5 calls/s. Rows:

* ``first sync`` — a new provider: every search page, one details call per SIM, usage;
* ``re-sync, nothing modified`` — the watermark lists nobody: one search page and usage;
* ``re-sync, 4 modified`` — 4 SIMs moved at the carrier since: their details only.

    python -m carrier_opt.bench.sync_calls [--sizes 20000,50000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

from carrier_opt.bench.fake_provider import add_fake_provider

CALLS_PER_SECOND = 5.0
DEFAULT_SIZES = (20_000, 50_000)
NOW = datetime(2026, 6, 18, 9, 0, tzinfo=UTC)
HEADER = (
    f"{'SIMs':>7}  {'sync':<26} {'search':>6} {'details':>7} {'usage':>6} {'ctd':>5} "
    f"{'calls':>7} {'min at 5/s':>10} {'s here':>7}"
)


def kinds(log) -> Counter:
    """Calls by kind: search pages, details, bulk usage pages, per-SIM usage, edits."""
    counted: Counter = Counter()
    for call in log:
        route = call.route
        if route == "devices":
            counted["search"] += 1
        elif route == "usages":
            counted["usage"] += 1
        elif route.endswith("ctdUsages"):
            counted["ctd"] += 1
        elif route.startswith("devices/") and call.method == "GET":
            counted["details"] += 1
    return counted


def run(size: int) -> list[str]:
    """The three rows of one fleet size."""
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import make_engine
    from carrier_opt.jasper.client import JasperClient
    from carrier_opt.jasper.fake import FakeJasper
    from carrier_opt.jasper.fake.fleet import RATE_PLANS
    from carrier_opt.pipeline.sync import sync_provider

    rows = []
    with tempfile.TemporaryDirectory() as folder, FakeJasper(size, seed=size, now=NOW) as fake:
        engine = make_engine(f"sqlite:///{os.path.join(folder, 'bench.db')}")
        migrate.upgrade(engine)
        add_fake_provider(engine, fake)
        client = JasperClient(fake.base_url, *fake.credentials, calls_per_second=1e6)
        for label, prepare in (
            ("first sync", None),
            ("re-sync, nothing modified", None),
            ("re-sync, 4 modified", lambda: _modify(client, fake, RATE_PLANS, 4)),
        ):
            if prepare:
                prepare()
            fake.clear_request_log()
            started = time.perf_counter()
            sync_provider(engine, "bench", client=client, now=fake.now())
            seconds = time.perf_counter() - started
            counted = kinds(fake.request_log)
            calls = sum(counted.values())
            rows.append(
                f"{size:>7,}  {label:<26} {counted['search']:>6,} {counted['details']:>7,} "
                f"{counted['usage']:>6,} {counted['ctd']:>5,} {calls:>7,} "
                f"{calls / CALLS_PER_SECOND / 60:>10.1f} {seconds:>7.1f}"
            )
        client.close()
        engine.dispose()
    return rows


def optimization_ready(size: int) -> str:
    """A first sync within a budget of the search pages, the details of the SIMs modified since
    the period began and the usage pages (issue 27's target): the listing is split at the
    period start, those SIMs' details come first, and the sync completes with the others'
    details still to fetch."""
    import math

    from carrier_opt.core.billing import period_containing
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import make_engine
    from carrier_opt.db.providers import load_provider
    from carrier_opt.jasper.client import JasperClient
    from carrier_opt.jasper.fake import FakeJasper
    from carrier_opt.pipeline.sync import sync_provider

    with tempfile.TemporaryDirectory() as folder, FakeJasper(size, seed=size, now=NOW) as fake:
        engine = make_engine(f"sqlite:///{os.path.join(folder, 'ready.db')}")
        migrate.upgrade(engine)
        add_fake_provider(engine, fake)
        with engine.connect() as connection:
            period = period_containing(load_provider(connection, "bench").cycle, NOW)
        recent = [d for d in fake.fleet if d.date_updated >= period.start]
        per_plan = Counter(d.rate_plan for d in fake.fleet if d.in_bulk_usage)
        usage_pages = sum(math.ceil(count / 50) for count in per_plan.values())
        search_pages = math.ceil(len(recent) / 50) + math.ceil((size - len(recent)) / 50)
        budget = search_pages + len(recent) + usage_pages
        client = JasperClient(fake.base_url, *fake.credentials, calls_per_second=1e6)
        started = time.perf_counter()
        report = sync_provider(engine, "bench", client=client, now=NOW, max_calls=budget)
        seconds = time.perf_counter() - started
        counted = kinds(fake.request_log)
        fetched = {
            call.route.split("/")[1]
            for call in fake.request_log
            if call.route.startswith("devices/") and not call.route.endswith("ctdUsages")
        }
        ready = all(device.iccid in fetched for device in recent)
        client.close()
        engine.dispose()
    calls = sum(counted.values())
    return (
        f"{size:>7,}  {'first sync, budget':<26} {counted['search']:>6,} {counted['details']:>7,} "
        f"{counted['usage']:>6,} {counted['ctd']:>5,} {calls:>7,} "
        f"{calls / CALLS_PER_SECOND / 60:>10.1f} {seconds:>7.1f}   budget {budget:,}: "
        f"{len(recent):,} SIMs modified this period, all with details: {ready}; "
        f"{report.details_pending:,} details left for later syncs"
    )


def _modify(client, fake, plans, count: int) -> None:
    """Move ``count`` SIMs to another plan at the carrier (as a person would)."""
    names = [plan.name for plan in plans]
    for device in fake.fleet[:count]:
        other = next(name for name in names if name != device.rate_plan)
        client.edit_device(device.iccid, rate_plan=other)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    sizes = [int(size) for size in parser.parse_args(argv).sizes.split(",") if size]
    print(HEADER)
    for size in sizes:
        for row in run(size):
            print(row, flush=True)
        print(optimization_ready(size), flush=True)


if __name__ == "__main__":
    main()
