"""Fault benchmark: sync a fleet from a faulty fake carrier, crash it at bad moments, and count.

Each scenario syncs a fresh provider against the fake carrier on loopback, injects one kind of
fault, re-runs the sync when the fault stopped it, and compares what the database holds with
the carrier's truth (every SIM's ICCID, status and rate plan). The table is what
``docs/reliability.md`` quotes:

* ``5xx, throttling, duplicates`` — 10 % of calls answer HTTP 500, 5 % "too fast" (half 400 /
  40000029, half 429), 25 SIMs modified while paging so they come on two pages;
* ``kill -9 while paging`` / ``kill -9 during details`` — ``carrier-opt sync`` in a process of
  its own, killed with SIGKILL part-way; the next sync resumes;
* ``backend killed mid-merge`` (PostgreSQL only) — ``pg_terminate_backend`` on the sync's
  connection after the merge inserted and updated SIMs; the next sync converges;
* ``bulk usage missing for 5 %`` — those SIMs' usage is read per SIM instead.

    python -m carrier_opt.bench.faults [--sims 20000] [--postgres-url URL]

Without ``--postgres-url`` every scenario uses a SQLite file; with it, a fresh schema of that
database (dropped afterwards).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from carrier_opt.bench.fake_provider import add_fake_provider
from carrier_opt.bench.sync_calls import kinds

NOW = datetime(2026, 6, 18, 9, 0, tzinfo=UTC)
PROVIDER = "bench"
HEADER = (
    f"{'scenario':<30} {'SIMs':>7} {'stored':>7} {'lost':>5} {'extra':>5} {'wrong':>5} "
    f"{'dup. dropped':>12} {'calls':>7} {'retries':>7} {'faults':>6} {'runs':>4}  outcome"
)


@dataclass
class Row:
    """One scenario's figures."""

    scenario: str
    sims: int
    stored: int = 0
    lost: int = 0
    extra: int = 0
    wrong: int = 0
    duplicates_dropped: int = 0
    calls: int = 0
    retries: int = 0
    faults: int = 0
    runs: int = 0
    outcome: str = ""

    def line(self) -> str:
        return (
            f"{self.scenario:<30} {self.sims:>7,} {self.stored:>7,} {self.lost:>5,} "
            f"{self.extra:>5,} {self.wrong:>5,} {self.duplicates_dropped:>12,} "
            f"{self.calls:>7,} {self.retries:>7,} {self.faults:>6,} {self.runs:>4}  {self.outcome}"
        )


@contextmanager
def fresh_database(postgres_url: str | None) -> Iterator[str]:
    """A migrated empty database: a SQLite file, or a new schema of ``postgres_url``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from carrier_opt.db import migrate
    from carrier_opt.db.engine import make_engine

    if postgres_url is None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{os.path.join(folder, 'faults.db')}"
            migrate.upgrade(make_engine(url))
            yield url
        return
    schema = f"faults_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        migrate.upgrade(make_engine(rendered))
        yield rendered
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def compare(engine, fleet) -> tuple[int, int, int, int]:
    """(stored, lost, extra, wrong) of ``Device`` against the carrier's fleet."""
    from sqlalchemy import select

    from carrier_opt.db.models import Device

    with engine.connect() as connection:
        stored = {
            iccid: (status, plan)
            for iccid, status, plan in connection.execute(
                select(Device.iccid, Device.status, Device.carrier_rate_plan_code)
            )
        }
    truth = {device.iccid: (device.status, device.rate_plan) for device in fleet}
    lost = len(truth.keys() - stored.keys())
    extra = len(stored.keys() - truth.keys())
    wrong = sum(1 for iccid in truth.keys() & stored.keys() if truth[iccid] != stored[iccid])
    return len(stored), lost, extra, wrong


def _faults_in(log) -> int:
    return sum(1 for call in log if call.status in (400, 429, 500))


def _setup(url: str, fake):
    from carrier_opt.db.engine import make_engine

    engine = make_engine(url)
    add_fake_provider(engine, fake, PROVIDER)
    return engine


def _client(fake):
    """A client without the real rate cap, retrying at once: the faults are counted, the real
    backoff would only add sleeping."""
    from carrier_opt.jasper.client import JasperClient
    from carrier_opt.jasper.transport import RetryPolicy

    fast = RetryPolicy(
        max_attempts=6, max_total_s=10.0, initial_backoff_s=0.001, max_backoff_s=0.01
    )
    return JasperClient(fake.base_url, *fake.credentials, calls_per_second=1e6, retry_policy=fast)


def _finish(row: Row, engine, fake, reports) -> Row:
    row.stored, row.lost, row.extra, row.wrong = compare(engine, fake.fleet)
    row.calls = len(fake.request_log)
    row.faults = _faults_in(fake.request_log)
    row.retries = sum(report.api.retries for report in reports)
    row.duplicates_dropped = sum(report.merge.duplicates_dropped for report in reports)
    converged = row.lost == row.extra == row.wrong == 0
    row.outcome = (row.outcome + "; " if row.outcome else "") + (
        "converged" if converged else "DIFFERS FROM THE CARRIER"
    )
    engine.dispose()
    return row


def faulty_sync(sims: int, postgres_url: str | None) -> Row:
    from carrier_opt.jasper.fake import FakeFaults, FakeJasper
    from carrier_opt.pipeline.sync import sync_provider

    faults = FakeFaults(error_rate=0.10, throttle_rate=0.05, duplicates_per_search=25)
    row = Row("5xx, throttling, duplicates", sims)
    with (
        fresh_database(postgres_url) as url,
        FakeJasper(sims, seed=3, now=NOW, faults=faults) as fake,
    ):
        engine = _setup(url, fake)
        report = sync_provider(engine, PROVIDER, client=_client(fake), now=NOW)
        row.runs = 1
        return _finish(row, engine, fake, [report])


def killed_sync(sims: int, postgres_url: str | None, moment: str) -> Row:
    from carrier_opt.jasper.fake import FakeFaults, FakeJasper
    from carrier_opt.pipeline.sync import sync_provider

    row = Row(f"kill -9 {moment}", sims)  # the fake and both syncs on today's clock
    pages = -(-sims // 50)
    condition: Callable = (
        (lambda log: kinds(log)["search"] >= pages // 2)
        if moment == "while paging"
        else (lambda log: kinds(log)["details"] >= sims // 3)
    )
    slow = FakeFaults(latency_s=0.002)
    with fresh_database(postgres_url) as url, FakeJasper(sims, seed=4, faults=slow) as fake:
        engine = _setup(url, fake)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "carrier_opt",
                "sync",
                PROVIDER,
                "--database-url",
                url,
                "--calls-per-second",
                "100000",
            ],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while not condition(fake.request_log) and time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(worker.stderr.read().decode()[-2000:])
            time.sleep(0.005)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        stored_after_kill = compare(engine, fake.fleet)[0]
        fake.faults = FakeFaults()
        report = sync_provider(engine, PROVIDER, client=_client(fake))
        row.runs = 2
        row.outcome = f"Device rows after the kill: {stored_after_kill}; resumed {report.resumed}"
        return _finish(row, engine, fake, [report])


def backend_killed_mid_merge(sims: int, postgres_url: str) -> Row:
    from sqlalchemy import text

    from carrier_opt.db import merge as merge_module
    from carrier_opt.jasper.fake import FakeJasper
    from carrier_opt.pipeline.sync import sync_provider

    row = Row("backend killed mid-merge", sims)
    real = merge_module.apply_usage
    with fresh_database(postgres_url) as url, FakeJasper(sims, seed=5, now=NOW) as fake:
        engine = _setup(url, fake)

        def terminate_then_apply(connection, *args, **kwargs):
            pid = connection.execute(text("select pg_backend_pid()")).scalar_one()
            with engine.connect() as other:
                other.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
            return real(connection, *args, **kwargs)

        merge_module.apply_usage = terminate_then_apply
        try:
            sync_provider(engine, PROVIDER, client=_client(fake), now=NOW)
            failed = "not stopped"
        except Exception as exc:  # the lost connection, as it surfaces
            failed = type(exc).__name__
        finally:
            merge_module.apply_usage = real
        after = compare(engine, fake.fleet)[0]
        report = sync_provider(engine, PROVIDER, client=_client(fake), now=NOW)
        row.runs = 2
        row.outcome = f"first sync: {failed}, Device rows after it: {after}"
        return _finish(row, engine, fake, [report])


def missing_bulk_usage(sims: int, postgres_url: str | None) -> Row:
    from sqlalchemy import func, select

    from carrier_opt.db.models import DeviceUsagePeriod
    from carrier_opt.jasper.fake import FakeFaults, FakeJasper
    from carrier_opt.pipeline.sync import sync_provider

    row = Row("bulk usage missing for 5 %", sims)
    faults = FakeFaults(missing_usage_fraction=0.05)
    with (
        fresh_database(postgres_url) as url,
        FakeJasper(sims, seed=6, now=NOW, faults=faults) as fake,
    ):
        engine = _setup(url, fake)
        report = sync_provider(engine, PROVIDER, client=_client(fake), now=NOW)
        with engine.connect() as connection:
            with_usage = connection.scalar(select(func.count(DeviceUsagePeriod.id)))
        row.runs = 1
        row.outcome = (
            f"usage stored for {with_usage:,} SIMs, {report.ctd_usage_calls:,} read per SIM"
        )
        return _finish(row, engine, fake, [report])


def empty_page_mid_listing(sims: int, postgres_url: str | None) -> Row:
    """Issue 26's probe: search page 5 answered ``{"lastPage": false, "devices": []}``, every
    time it is asked, then the glitch passes and the next sync runs."""
    from carrier_opt.errors import CarrierApiError
    from carrier_opt.jasper.fake import FakeFaults, FakeJasper
    from carrier_opt.pipeline.sync import sync_provider

    row = Row("empty page 5 mid-listing", sims)
    with (
        fresh_database(postgres_url) as url,
        FakeJasper(sims, seed=3, now=NOW, faults=FakeFaults(empty_search_page=5)) as fake,
    ):
        engine = _setup(url, fake)
        try:
            sync_provider(engine, PROVIDER, client=_client(fake), now=NOW)
            first = "the first sync COMPLETED on a short listing"
        except CarrierApiError as exc:
            stored, *_ = compare(engine, fake.fleet)
            first = f"first sync failed ({str(exc)[:58]}...), {stored} SIMs merged"
        fake.faults = FakeFaults()
        report = sync_provider(engine, PROVIDER, client=_client(fake), now=NOW)
        row.runs, row.outcome = 2, f"{first}; the next resumed"
        return _finish(row, engine, fake, [report])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=20_000)
    parser.add_argument("--postgres-url", default=None)
    options = parser.parse_args(argv)
    logging.getLogger("carrier_opt").setLevel(logging.ERROR)  # retries are counted, not shown
    sims, url = options.sims, options.postgres_url
    print(f"database: {'PostgreSQL' if url else 'SQLite'}; {datetime.now(UTC):%Y-%m-%d}")
    print(HEADER)
    scenarios: list[Callable[[], Row]] = [
        lambda: faulty_sync(sims, url),
        lambda: killed_sync(sims, url, "while paging"),
        lambda: killed_sync(sims, url, "during details"),
        lambda: missing_bulk_usage(sims, url),
        lambda: empty_page_mid_listing(sims, url),
    ]
    if url:
        scenarios.append(lambda: backend_killed_mid_merge(sims, url))
    for scenario in scenarios:
        print(scenario().line(), flush=True)


if __name__ == "__main__":
    main()
