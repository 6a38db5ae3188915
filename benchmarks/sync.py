"""Sync throughput: staging load and merge of 100 000 SIMs on SQLite and PostgreSQL.

Measures the *database* path of a sync, not HTTP: the records are generated (the fake
carrier's synthetic fleet, as the client's parsed record types), turned into staging rows
before the clock starts, and fed straight into the staging loader, then merged into
``Device`` exactly as ``carrier-opt sync`` does. Over HTTP a
real sync is bound by the carrier's 5 calls/s (250 SIMs/s at 50 per page), far below these
figures.

    .venv/bin/python benchmarks/sync.py [--devices 100000] [--pg-url URL] [--no-postgresql]

Rows in the table:

* staging devices / usage — rows per second into ``JasperDeviceStaging`` / ``JasperUsageStaging``
  (PostgreSQL: ``COPY FROM STDIN``; SQLite: ``executemany``), batches of 5 000;
* merge, first sync — every SIM is new (INSERT ... SELECT), usage applied to all;
* merge, re-sync — the same SIMs again, 10 % on another plan (UPDATE ... FROM, history
  rows) and every SIM with new usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from carrier_opt.core.billing import period_containing
from carrier_opt.db import migrate
from carrier_opt.db.engine import make_engine
from carrier_opt.db.merge import merge_staging
from carrier_opt.db.providers import add_provider, ensure_billing_period, load_provider
from carrier_opt.db.staging import (
    DEVICE_COLUMNS,
    DEVICE_STAGING,
    USAGE_COLUMNS,
    USAGE_STAGING,
    StagingLoader,
    clear_staging,
)
from carrier_opt.jasper.fake.fleet import FakeDevice, build_fleet, cycle_start
from carrier_opt.jasper.payloads import Device, RatePlanUsage
from carrier_opt.pipeline.carrier_rows import bulk_usage_row, device_row

DEFAULT_PG_URL = os.environ.get(
    "CARRIER_OPT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def as_device(fake: FakeDevice) -> Device:
    """The record the client would have parsed from the fake's search answer."""
    return Device(
        iccid=fake.iccid,
        status=fake.status,
        rate_plan=fake.rate_plan,
        communication_plan=fake.communication_plan,
        imsi=fake.imsi,
        msisdn=fake.msisdn,
        imei=fake.imei,
        customer=fake.customer,
        account_id=fake.account_id,
        date_activated=fake.date_activated,
        date_added=fake.date_added,
        date_updated=fake.date_updated,
    )


def as_usage(fake: FakeDevice, now: datetime) -> RatePlanUsage:
    """The record the client would have parsed from the fake's bulk usage answer."""
    return RatePlanUsage(
        iccid=fake.iccid,
        rate_plan=fake.rate_plan,
        cycle_start_date=cycle_start(now),
        data_bytes=fake.ctd_data_bytes,
        sms_count=fake.ctd_sms,
        voice_seconds=fake.ctd_voice_s,
    )


def timed(action: Callable[[], int]) -> float:
    """Rows per second of ``action`` (which answers how many rows it handled)."""
    started = time.perf_counter()
    rows = action()
    return rows / (time.perf_counter() - started)


def run_backend(url: str, fleet: list[FakeDevice], now: datetime) -> dict[str, float]:
    """Stage and merge ``fleet`` twice on the database at ``url``; answers rows/s per step."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    add_provider(
        engine,
        "bench",
        jasper_url="https://jasper.invalid/rws/api/v1/",
        billing_cycle_end_day=31,
        time_zone="UTC",
    )
    with engine.connect() as connection:
        provider = load_provider(connection, "bench")
    period = period_containing(provider.cycle, now)
    figures: dict[str, float] = {}
    for label, devices in (("first sync", fleet), ("re-sync", changed_fleet(fleet, now))):
        clear_staging(engine, provider.id)

        # Records are turned into rows before the clock starts: the figures are the database's.
        device_rows = [
            device_row(provider.id, as_device(device), index // 50 + 1, now)
            for index, device in enumerate(devices)
        ]
        usage_rows = [
            bulk_usage_row(provider.id, as_usage(device, now), now, now) for device in devices
        ]

        def stage_devices(rows: list[tuple] = device_rows) -> int:
            loader = StagingLoader(engine, DEVICE_STAGING, DEVICE_COLUMNS)
            loader.extend(rows)
            loader.flush()
            return loader.loaded

        def stage_usage(rows: list[tuple] = usage_rows) -> int:
            loader = StagingLoader(engine, USAGE_STAGING, USAGE_COLUMNS)
            loader.extend(rows)
            loader.flush()
            return loader.loaded

        def merge(devices: list[FakeDevice] = devices) -> int:
            with engine.begin() as connection:
                period_id = ensure_billing_period(connection, provider.id, period)
                merge_staging(
                    connection,
                    provider.id,
                    merged_at=datetime.now(UTC),
                    billing_period_id=period_id,
                    projection_factor=1.5,
                )
            return len(devices)

        staging_devices = timed(stage_devices)
        staging_usage = timed(stage_usage)
        if label == "first sync":
            figures["staging devices"] = staging_devices
            figures["staging usage"] = staging_usage
        figures[f"merge, {label}"] = timed(merge)
    engine.dispose()
    return figures


def changed_fleet(fleet: list[FakeDevice], now: datetime) -> list[FakeDevice]:
    """The same SIMs, every tenth on another plan, and *every* SIM with more usage.

    The worst case for the merge: every ``Device`` row gets new usage.
    """
    changed = []
    for index, device in enumerate(fleet):
        more_usage = {"ctd_data_bytes": device.ctd_data_bytes + 1}
        if index % 10 == 0:
            device = dataclasses.replace(
                device, rate_plan="Pay As You Go", date_updated=now, **more_usage
            )
        else:
            device = dataclasses.replace(device, **more_usage)
        changed.append(device)
    return changed


@contextmanager
def sqlite_url() -> Iterator[str]:
    """A throw-away SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgresql_url(server_url: str) -> Iterator[str]:
    """A throw-away schema on the PostgreSQL server (dropped afterwards)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    """Print the throughput table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--no-postgresql", action="store_true")
    options = parser.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    fleet = build_fleet(options.devices, seed=1, now=now)
    results: dict[str, dict[str, float]] = {}
    with sqlite_url() as url:
        results["SQLite"] = run_backend(url, fleet, now)
    if not options.no_postgresql:
        try:
            with postgresql_url(options.pg_url) as url:
                results["PostgreSQL"] = run_backend(url, fleet, now)
        except Exception as exc:  # report and go on: SQLite figures are still useful
            print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}", file=sys.stderr)
    backends = list(results)
    print(f"Sync throughput, {options.devices:,} SIMs, rows/s ({os.cpu_count()} CPUs)")
    print()
    print("| step | " + " | ".join(backends) + " |")
    print("|---|" + "---:|" * len(backends))
    for step in next(iter(results.values())):
        cells = " | ".join(f"{results[b][step]:,.0f}" for b in backends)
        print(f"| {step} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
