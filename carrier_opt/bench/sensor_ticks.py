"""The billing-window sensor and the daily_sync schedule at 1,000 providers.

One tick of each is evaluated as the daemon does (the real sensor and schedule, a Dagster
instance, the database resource), over providers spread over zones and cycle end days so
that some are in their window at the tick. Prints, per database: the first tick (which
registers every provider as a partition), the mean and worst of the following ticks, the
database queries a tick makes (counted by SQLAlchemy), the runs it requests and whether
every request has a run key and a partition (the provider tag Dagster derives from it).
The target (issue 17): under 5 s per tick, one cheap query, no carrier call.

    carrier-opt bench sensor [--providers 1000] [--ticks 5] [--pg-url URL] [--no-postgresql]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.engine import make_url

from carrier_opt.bench.faults import fresh_database
from carrier_opt.db.engine import make_engine
from carrier_opt.db.models import IntegrationType, ServiceProvider
from carrier_opt.db.providers import add_provider
from carrier_opt.definitions import defs as production
from carrier_opt.defs.jobs import (
    optimize_billing_period,
    optimize_mobility_period,
    sync_carrier_data,
)
from carrier_opt.defs.partitions import apply_partition_requests, register_providers
from carrier_opt.defs.resources import DatabaseResource, resources_for
from carrier_opt.defs.schedules import build_daily_sync_schedule
from carrier_opt.defs.sensors import SENSOR_NAME, build_billing_window_sensor

DEFAULT_PG_URL = os.environ.get(
    "CARRIER_OPT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ZONES = ("UTC", "America/Chicago", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland")
TICK_AT = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
"""A tick inside many providers' windows (cycle days 14..21), on a DST day in Chicago, and
in the range of Dagster's monthly partitions whatever day the benchmark runs."""
HEADER = (
    f"{'database':<11} {'providers':>9} {'what':<10} {'first s':>8} {'mean s':>7} "
    f"{'worst s':>8} {'queries':>7} {'runs':>5} {'keyed':>5}"
)


def add_providers(engine, count: int) -> None:
    """``count`` active providers: the first by ``provider add``'s function (which registers
    the Jasper integration), the rest in one insert of the same columns."""
    add_provider(
        engine,
        "provider-0000",
        jasper_url="http://jasper.invalid",
        billing_cycle_end_day=14,
        time_zone=ZONES[0],
        optimization_start_hour=8,
        fleet="mobility",
        daily_sync_hour=0,
    )
    now = datetime.now(UTC)
    with engine.begin() as connection:
        integration = connection.scalar(select(IntegrationType.id))
        connection.execute(
            insert(ServiceProvider),
            [
                {
                    "name": f"provider-{n:04d}",
                    "integration_type_id": integration,
                    "is_active": True,
                    "time_zone": ZONES[n % len(ZONES)],
                    "billing_cycle_end_day": 14 + n % 8,
                    "billing_cycle_end_hour": 0,
                    "optimization_start_hour_local": 8,
                    "fleet": "mobility" if n % 10 == 0 else "m2m",
                    "daily_sync_hour_local": n % 24,
                    "created_at": now,
                }
                for n in range(1, count)
            ],
        )


def count_queries(url: str) -> Callable[[], int]:
    """A counter of the statements any engine on ``url`` runs from now on (Dagster builds its
    own copy of the database resource, and engine, for each tick)."""
    target = make_url(url)
    seen = [0]

    def counted(connection, *_args) -> None:
        if connection.engine.url == target:
            seen[0] += 1

    event.listen(Engine, "before_cursor_execute", counted)

    def read_and_reset() -> int:
        value, seen[0] = seen[0], 0
        return value

    return read_and_reset


def measure(url: str, providers: int, ticks: int) -> list[str]:
    """The table's rows for one database."""
    engine = make_engine(url)
    add_providers(engine, providers)
    resource = DatabaseResource(database_url=url)
    resource_queries = count_queries(url)
    rows = []
    name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    with dg.instance_for_test() as instance:
        # As `provider add` leaves them: every provider is a partition already.
        names = [f"provider-{n:04d}" for n in range(providers)]
        register_providers(
            instance, {name: "mobility" if n % 10 == 0 else "m2m" for n, name in enumerate(names)}
        )
        sensor = build_billing_window_sensor(clock=lambda: TICK_AT)
        schedule = build_daily_sync_schedule(clock=lambda: TICK_AT)
        defs = dg.Definitions(
            assets=production.assets,
            asset_checks=production.asset_checks,
            jobs=[optimize_billing_period, optimize_mobility_period, sync_carrier_data],
            sensors=[sensor],
            schedules=[schedule],
            resources={**resources_for(), "database": resource},
        )

        def sensor_tick():
            with dg.build_sensor_context(
                definitions=defs,
                instance=instance,
                instance_ref=instance.get_ref(),
                sensor_name=SENSOR_NAME,
                resources={"database": resource},
            ) as context:
                result = sensor.evaluate_tick(context)
            apply_partition_requests(instance, result.dynamic_partitions_requests or [])
            return result.run_requests

        def schedule_tick():
            with dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=TICK_AT,
                resources={"database": resource},
                repository_def=defs.get_repository_def(),
            ) as context:
                return schedule.evaluate_tick(context).run_requests or []

        for what, tick in (("sensor", sensor_tick), ("daily_sync", schedule_tick)):
            times, counts, requests = [], [], []
            for _ in range(ticks + 1):
                resource_queries()
                started = time.perf_counter()
                requests = tick()
                times.append(time.perf_counter() - started)
                counts.append(resource_queries())
            keyed = all(r.run_key and r.partition_key for r in requests)
            steady = times[1:] or times
            rows.append(
                f"{name:<11} {providers:>9,} {what:<10} {times[0]:>8.2f} "
                f"{statistics.mean(steady):>7.2f} {max(steady):>8.2f} "
                f"{max(counts[1:] or counts):>7} {len(requests):>5} {'yes' if keyed else 'no':>5}"
            )
    engine.dispose()
    return rows


def run(providers: int, ticks: int, postgres_url: str | None) -> list[str]:
    """The rows for SQLite and, given its server, PostgreSQL."""
    rows = []
    for url in (None, postgres_url) if postgres_url else (None,):
        with fresh_database(url) as database:
            rows += measure(database, providers, ticks)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--no-postgresql", action="store_true")
    options = parser.parse_args(argv)
    print(f"tick at {TICK_AT.isoformat()}, {options.ticks} ticks after the first")
    print(HEADER)
    for row in run(
        options.providers, options.ticks, None if options.no_postgresql else options.pg_url
    ):
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
