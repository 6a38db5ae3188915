"""Issue 17: retention deletes old periods' device-level results (archived first when asked)
and keeps every total, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import gzip

import dagster as dg
from click.testing import CliRunner
from sqlalchemy import func, select

from carrier_opt.cli import cli
from carrier_opt.db.models import (
    BillingPeriod,
    OptimizationDeviceResult,
    OptimizationInstance,
    OptimizationQueue,
)
from carrier_opt.db.retention import apply_retention
from carrier_opt.defs.partitions import SERVICE_PROVIDER
from carrier_opt_tests.defs.test_backfill import (  # noqa: F401  (fixture)
    BACKFILL_AT,
    SYNCED_AT,
    materialize,
    two_synced_periods,
)


def device_rows(engine, period_key: str) -> int:
    query = (
        select(func.count())
        .select_from(OptimizationDeviceResult)
        .join(OptimizationQueue)
        .join(OptimizationInstance)
        .join(BillingPeriod, OptimizationInstance.billing_period_id == BillingPeriod.id)
        .where(BillingPeriod.period_key == period_key)
    )
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def totals(engine) -> list[tuple]:
    with engine.connect() as connection:
        instances = connection.execute(
            select(
                OptimizationInstance.id,
                OptimizationInstance.cost_before,
                OptimizationInstance.cost_after,
            ).order_by(OptimizationInstance.id)
        ).all()
        queues = connection.execute(
            select(OptimizationQueue.id, OptimizationQueue.total_cost).order_by(
                OptimizationQueue.id
            )
        ).all()
    return [tuple(row) for row in instances + queues]


def test_old_periods_lose_their_device_rows_and_keep_their_totals(
    two_synced_periods,  # noqa: F811
    database_url,
    tmp_path,
):
    engine = two_synced_periods
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SERVICE_PROVIDER, ["acme"])
        assert all(materialize(instance, database_url, key).success for key in SYNCED_AT)
    march, april = device_rows(engine, "2025-03"), device_rows(engine, "2025-04")
    assert march > 0 and april > 0
    before = totals(engine)

    dry = apply_retention(engine, 1, now=BACKFILL_AT, dry_run=True)
    assert [(p.period_key, p.total) for p in dry.periods] == [("2025-03", march)]
    assert device_rows(engine, "2025-03") == march  # a dry run deletes nothing

    done = apply_retention(engine, 1, now=BACKFILL_AT, archive_dir=tmp_path / "archive")
    assert [(p.period_key, p.total) for p in done.periods] == [("2025-03", march)]
    assert device_rows(engine, "2025-03") == 0
    assert device_rows(engine, "2025-04") == april  # the newest period is kept whole
    assert totals(engine) == before  # every instance's and queue's totals kept
    [archive] = done.periods[0].archived_to
    with gzip.open(archive, "rt", encoding="utf-8", newline="") as rows:
        archived = list(csv.DictReader(rows))
    assert len(archived) == march and "optimization_queue_id" in archived[0]

    again = apply_retention(engine, 1, now=BACKFILL_AT)
    assert sum(p.total for p in again.periods) == 0  # idempotent


def test_the_command_refuses_to_keep_nothing_and_names_what_it_would_delete(
    two_synced_periods,  # noqa: F811
    database_url,
):
    runner = CliRunner()
    refused = runner.invoke(
        cli, ["retention", "--keep-periods", "0", "--database-url", database_url]
    )
    assert refused.exit_code != 0 and "keep at least 1 period" in refused.output
    dry = runner.invoke(
        cli, ["retention", "--keep-periods", "1", "--dry-run", "--database-url", database_url]
    )
    assert dry.exit_code == 0, dry.output
    assert "would delete 0 rows in 1 period(s)" in dry.output  # nothing optimized yet
