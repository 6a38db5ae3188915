"""The database at 100 providers × 24 periods: the hot queries' plans and times (PostgreSQL).

Fills a fresh schema with what 100 providers leave after 24 billing periods (SIMs, their
usage per period, syncs, sessions, instances, queues and the winners' per-SIM rows; sizes
below), runs ``ANALYZE``, then ``EXPLAIN (ANALYZE)`` on the queries that run most often —
each as the code issues it, for the *first* provider (its rows are the oldest: an index that
only helps the newest would show) — and prints, for each: the plan's scan nodes with the index
they use, the rows it returned and its time. A hot query that reads a big table without an index
shows as ``Seq Scan`` on it.

    carrier-opt bench database [--providers 100] [--periods 24] [--sims 200] [--runs 3]
        [--queues 20] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

from sqlalchemy import Connection, text

from carrier_opt.bench.faults import fresh_database
from carrier_opt.db.engine import make_engine
from carrier_opt.db.providers import add_provider

DEFAULT_PG_URL = os.environ.get(
    "CARRIER_OPT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Shape:
    """How much data: providers, periods each, SIMs each, runs per period, queues per run."""

    providers: int = 100
    periods: int = 24
    sims: int = 200
    runs: int = 3
    queues: int = 20


# Each statement fills one table from generate_series; :p providers, :n periods, :s SIMs,
# :r runs per period, :q queues per run. Ids are dense, so later statements compute them.
POPULATE = [
    """INSERT INTO "ServiceProvider" (name, integration_type_id, is_active, time_zone,
         billing_cycle_end_day, billing_cycle_end_hour, allow_automatic_rate_plan_updates,
         max_rate_plans_per_group, created_at)
       SELECT 'provider-' || lpad(p::text, 4, '0'), (SELECT min(id) FROM "IntegrationType"),
              true, 'UTC', 1 + p % 28, 0, false, 15, now()
       FROM generate_series(2, :p) p""",
    """INSERT INTO "JasperCarrierRatePlan" (service_provider_id, rate_plan_code, base_rate,
         data_allowance_mb, overage_rate, data_per_overage_charge_mb, sms_rate, is_pooled,
         charge_type, is_active, created_at)
       SELECT sp.id, 'PLAN-' || k, 5 * k, 100 * k, 0.01, 1, 0.01, k % 2 = 0,
              'rate_and_overage', true, now()
       FROM "ServiceProvider" sp CROSS JOIN generate_series(1, 5) k""",
    """INSERT INTO "BillingPeriod" (service_provider_id, period_key, period_start, period_end,
         time_zone, created_at)
       SELECT sp.id, to_char(m, 'YYYY-MM'), m - interval '1 month', m, 'UTC', now()
       FROM "ServiceProvider" sp
       CROSS JOIN generate_series(timestamptz '2025-01-01', timestamptz '2025-01-01'
                                  + (:n - 1) * interval '1 month', interval '1 month') m""",
    """INSERT INTO "Device" (service_provider_id, is_active, iccid, status, created_at)
       SELECT sp.id, true, lpad(sp.id::text, 6, '0') || lpad(s::text, 13, '0'), 'ACTIVATED',
              now()
       FROM "ServiceProvider" sp CROSS JOIN generate_series(1, :s) s""",
    """INSERT INTO "DeviceUsagePeriod" (device_id, billing_period_id, status,
         carrier_rate_plan_code, ctd_data_usage_bytes, usage_mb, recorded_at)
       SELECT d.id, bp.id, 'ACTIVATED', 'PLAN-1', (d.id * 7919) % 500000000,
              ((d.id * 7919) % 500000000) / 1048576.0, bp.period_end
       FROM "Device" d JOIN "BillingPeriod" bp ON bp.service_provider_id = d.service_provider_id""",
    """INSERT INTO "JasperSyncRun" (service_provider_id, status, modified_since,
         search_started_at, holder, host, pid, started_at, heartbeat_at, finished_at,
         pages_done, search_done, devices_listed, details_fetched, api_calls, created_at)
       SELECT bp.service_provider_id, 'completed', bp.period_start + (k - 1) * interval '1 day',
              bp.period_start + k * interval '1 day', 'daily_sync', 'host', 1,
              bp.period_start + k * interval '1 day', bp.period_start + k * interval '1 day',
              bp.period_start + k * interval '1 day' + interval '5 minutes', 1, true, 0, 0, 3,
              now()
       FROM "BillingPeriod" bp CROSS JOIN generate_series(1, 28) k""",
    """INSERT INTO "OptimizationSession" (session_guid, service_provider_id, billing_period_id,
         optimization_type, status, progress_percent, created_at)
       SELECT md5(bp.id::text || '-' || r), bp.service_provider_id, bp.id, 'm2m', 'completed',
              100, now()
       FROM "BillingPeriod" bp CROSS JOIN generate_series(1, :r) r""",
    """INSERT INTO "OptimizationInstance" (optimization_session_id, service_provider_id,
         billing_period_id, status, cost_before, cost_after, created_at)
       SELECT id, service_provider_id, billing_period_id, 'completed', 1000, 900, now()
       FROM "OptimizationSession" """,
    """INSERT INTO "OptimizationQueue" (optimization_instance_id, strategy, status, total_cost,
         is_winner, created_at)
       SELECT i.id, 'queue-' || q, 'completed', 900 + q, q = 1, now()
       FROM "OptimizationInstance" i CROSS JOIN generate_series(1, :q) q""",
    """INSERT INTO "OptimizationDeviceResult" (optimization_queue_id, device_id,
         assigned_carrier_rate_plan_id, usage_mb, sms_usage, proration, charge_amount,
         base_rate_amount, rate_charge_amount, overage_charge_amount, sms_charge_amount)
       SELECT oq.id, d.id, rp.id, 10, 0, 1, 5, 5, 0, 0, 0
       FROM "OptimizationQueue" oq
       JOIN "OptimizationInstance" i ON i.id = oq.optimization_instance_id
       JOIN "Device" d ON d.service_provider_id = i.service_provider_id
       JOIN "JasperCarrierRatePlan" rp
         ON rp.service_provider_id = i.service_provider_id AND rp.rate_plan_code = 'PLAN-1'
       WHERE oq.is_winner""",
]

# (name, the function that runs it, the statement); :sp a provider, :bp one of its periods,
# :i an instance, :q a queue. Each one as the code issues it (simplified select lists).
HOT_QUERIES = [
    (
        "sensor tick",
        "sensors.active_providers",
        """SELECT name, time_zone, billing_cycle_end_day, daily_sync_hour_local
        FROM "ServiceProvider" WHERE is_active ORDER BY name""",
    ),
    (
        "period lookup",
        "providers.ensure_billing_period",
        """SELECT id FROM "BillingPeriod" WHERE service_provider_id = :sp AND period_key = :key""",
    ),
    (
        "period's usage (export)",
        "export.instance_tables",
        """SELECT d.iccid, u.carrier_rate_plan_code, u.usage_mb FROM "DeviceUsagePeriod" u
        JOIN "Device" d ON d.id = u.device_id WHERE u.billing_period_id = :bp""",
    ),
    (
        "last completed sync",
        "sync_runs.last_completed_sync",
        """SELECT search_started_at, finished_at FROM "JasperSyncRun"
        WHERE service_provider_id = :sp AND status = 'completed' AND finished_at IS NOT NULL
        ORDER BY finished_at DESC, id DESC LIMIT 1""",
    ),
    (
        "latest sync (resume)",
        "sync_runs._stopped_run",
        """SELECT id, status FROM "JasperSyncRun" WHERE service_provider_id = :sp
        ORDER BY id DESC LIMIT 1""",
    ),
    (
        "freshness check",
        "sync_runs.last_completed_syncs",
        """SELECT sp.name, (SELECT max(r.finished_at) FROM "JasperSyncRun" r
                         WHERE r.service_provider_id = sp.id AND r.status = 'completed')
        FROM "ServiceProvider" sp WHERE sp.is_active ORDER BY sp.name""",
    ),
    (
        "open sessions",
        "optimization_runs.start_session",
        """SELECT id FROM "OptimizationSession"
        WHERE service_provider_id = :sp AND status IN ('pending', 'running')""",
    ),
    (
        "an instance's queues",
        "optimization_runs.choose_winner",
        """SELECT id, total_cost FROM "OptimizationQueue" WHERE optimization_instance_id = :i""",
    ),
    (
        "the winner's SIMs (report)",
        "instance_results",
        """SELECT device_id, assigned_carrier_rate_plan_id, charge_amount
        FROM "OptimizationDeviceResult" WHERE optimization_queue_id = :q""",
    ),
    (
        "a period's result rows (retention)",
        "retention._retain",
        """SELECT count(*) FROM "OptimizationDeviceResult" WHERE optimization_queue_id IN (
          SELECT id FROM "OptimizationQueue" WHERE optimization_instance_id IN (
            SELECT id FROM "OptimizationInstance" WHERE billing_period_id = :bp))""",
    ),
]

HEADER = f"{'query':<36} {'rows':>7} {'ms':>8}  plan (scans and the index each uses)"


def populate(connection: Connection, shape: Shape) -> dict[str, int]:
    """Fill the tables; answers each table's row count."""
    params = {
        "p": shape.providers,
        "n": shape.periods,
        "s": shape.sims,
        "r": shape.runs,
        "q": shape.queues,
    }
    for statement in POPULATE:
        connection.execute(text(statement), params)
    connection.execute(text("ANALYZE"))
    tables = (
        "Device",
        "DeviceUsagePeriod",
        "JasperSyncRun",
        "OptimizationSession",
        "OptimizationQueue",
        "OptimizationDeviceResult",
    )
    return {t: int(connection.scalar(text(f'SELECT count(*) FROM "{t}"')) or 0) for t in tables}


def scans(plan: dict) -> list[str]:
    """Each scan node of a JSON plan: its kind, table and index."""
    found = []
    if "Scan" in plan["Node Type"]:
        where = plan.get("Relation Name", "")
        index = plan.get("Index Name")
        found.append(f"{plan['Node Type']} {where}" + (f" using {index}" if index else ""))
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


def explain(connection: Connection, statement: str, params: dict) -> tuple[int, float, list[str]]:
    """(rows returned, milliseconds, scans) of one statement, run by EXPLAIN ANALYZE."""
    raw = connection.scalar(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}"), params)
    document = raw if isinstance(raw, list) else json.loads(raw)
    plan = document[0]
    return int(plan["Plan"]["Actual Rows"]), float(plan["Execution Time"]), scans(plan["Plan"])


def run(shape: Shape, postgres_url: str) -> tuple[dict[str, int], list[str]]:
    """(row counts, one table row per hot query) on a fresh schema of ``postgres_url``."""
    with fresh_database(postgres_url) as url:
        engine = make_engine(url)
        add_provider(
            engine,
            "provider-0001",
            jasper_url="http://jasper.invalid",
            billing_cycle_end_day=1,
            time_zone="UTC",
        )
        with engine.begin() as connection:
            counts = populate(connection, shape)
        with engine.connect() as connection:
            sample = connection.execute(
                text("""SELECT sp.id AS sp, bp.id AS bp, bp.period_key AS key, i.id AS i,
                               q.id AS q
                        FROM "ServiceProvider" sp
                        JOIN "BillingPeriod" bp ON bp.service_provider_id = sp.id
                        JOIN "OptimizationInstance" i ON i.billing_period_id = bp.id
                        JOIN "OptimizationQueue" q
                          ON q.optimization_instance_id = i.id AND q.is_winner
                        ORDER BY sp.id, bp.period_end DESC LIMIT 1""")
            ).one()
            params = dict(sample._mapping)
            rows = []
            for name, _function, statement in HOT_QUERIES:
                returned, ms, plan = explain(connection, statement, params)
                rows.append(f"{name:<36} {returned:>7,} {ms:>8.2f}  {'; '.join(plan)}")
        engine.dispose()
    return counts, rows


def main(argv: list[str] | None = None) -> int:
    """Print the row counts and the plans."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Shape()).items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    options = parser.parse_args(argv)
    shape = Shape(**{name: getattr(options, name) for name in vars(Shape())})
    started = time.perf_counter()
    counts, rows = run(shape, options.pg_url)
    print(f"{shape}; filled in {time.perf_counter() - started:.0f} s")
    print(", ".join(f"{table} {count:,}" for table, count in counts.items()))
    print(HEADER)
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
