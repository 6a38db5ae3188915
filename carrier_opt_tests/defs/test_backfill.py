"""Backfills of past billing periods run on stored usage, on SQLite and PostgreSQL.

The carrier reports cycle-to-date usage only, so a run of a closed period cannot sync: it must
use what the period's syncs stored (``DeviceUsagePeriod``) and fail plainly when there is none.
Two past months are synced with pinned clocks, then their partitions are materialized with the
assets' clock months later — the carrier fakes are gone by then, so any sync attempt would fail.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime

import dagster as dg
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from carrier_opt.cli.main import cli
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import (
    OptimizationSession,
    PeriodSettlement,
    PeriodSettlementPool,
    RunStatus,
)
from carrier_opt.db.providers import load_provider
from carrier_opt.db.trend import savings_trend
from carrier_opt.defs import run_context
from carrier_opt.defs.assets import insights, m2m
from carrier_opt.defs.checks import optimization_checks
from carrier_opt.defs.partitions import partition_key, register_providers
from carrier_opt.delivery.workbook import build_workbook
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.period_sync import sync_period
from carrier_opt.pipeline.push import latest_completed_session
from carrier_opt.pipeline.reports import m2m_report
from carrier_opt.pipeline.settlement import settle_period
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, write_fake_price_files
from carrier_opt_tests.defs.support import materialize_partition
from carrier_opt_tests.delivery.test_notify import report_data
from carrier_opt_tests.jasper.support import client_for

SYNCED_AT = {
    "2025-03": datetime(2025, 3, 18, 9, 30, tzinfo=UTC),
    "2025-04": datetime(2025, 4, 22, 14, 0, tzinfo=UTC),
}
BACKFILL_AT = datetime(2025, 6, 10, 8, 0, tzinfo=UTC)
"""When the backfill runs: March, April and May are all closed periods by then."""
DEVICES = 80


@pytest.fixture
def two_synced_periods(migrated_engine: Engine, monkeypatch, tmp_path) -> Engine:
    """'acme', priced, synced once in March and once in April 2025; the clock in June."""
    for moment in SYNCED_AT.values():
        with FakeJasper(devices=DEVICES, seed=9, now=moment) as fake:
            if moment == SYNCED_AT["2025-03"]:
                add_fake_provider(migrated_engine, fake)
            sync_provider(migrated_engine, "acme", client=client_for(fake), now=moment)
    load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
    monkeypatch.setattr(run_context, "clock", lambda: BACKFILL_AT)
    return migrated_engine


def materialize(instance: dg.DagsterInstance, database_url: str, period_key: str):
    return materialize_partition(
        database_url,
        [*m2m.optimization_assets, *optimization_checks],
        partition_key("acme", period_key),
        instance=instance,
    )


def first_metadata(result, asset: str) -> dict:
    return {
        k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()
    }


def test_a_backfill_of_two_past_periods_runs_on_stored_usage(two_synced_periods, database_url):
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        results = {key: materialize(instance, database_url, key) for key in SYNCED_AT}

        for key, result in results.items():
            assert result.success, key
            staged = first_metadata(result, "staged_devices")
            assert (staged["synced"], staged["stored_sims"]) == (False, DEVICES)
            usage = first_metadata(result, "device_usage")
            assert usage["period_start"].startswith(key)
            assert all(check.passed for check in result.get_asset_check_evaluations())
        march, april = (first_metadata(results[key], "winning_assignments") for key in SYNCED_AT)
        assert march["cost_before_usd"] != april["cost_before_usd"]  # each period's own usage
        assert march["session_guid"] != april["session_guid"]

        materialized = instance.get_materialized_partitions(dg.AssetKey("winning_assignments"))
    assert {partition_key("acme", key) for key in SYNCED_AT} <= set(materialized)
    with two_synced_periods.connect() as connection:
        statuses = connection.scalars(select(OptimizationSession.status)).all()
    assert statuses == [RunStatus.COMPLETED.value] * 2


def test_a_past_period_without_stored_usage_fails_with_its_message(
    two_synced_periods, database_url
):
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        result = materialize(instance, database_url, "2025-05")
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert failure.step_key == "staged_devices"
    assert "acme has no usage stored for billing period 2025-05" in str(
        failure.step_failure_data.error
    )
    with two_synced_periods.connect() as connection:
        session = connection.execute(select(OptimizationSession)).one()
    assert session.status == RunStatus.FAILED.value  # it does not block the next run
    assert "no usage stored" in session.error_message


def test_the_savings_trend_shows_each_backfilled_period(two_synced_periods, database_url):
    """Issue 31, point 3: after two periods are optimized and March is settled, the
    per-provider trend asset, its chart and the report's Trend sheet hold each period's
    figures as its run stored them, and March's settled cost (April's stays empty)."""
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        winners = {
            key: first_metadata(materialize(instance, database_url, key), "winning_assignments")
            for key in SYNCED_AT
        }
        march = first_metadata(
            settle_partition(instance, database_url, "2025-03"), "period_settlement"
        )
        trend = materialize_partition(
            database_url, [insights.savings_trend], "acme", instance=instance
        )
    assert trend.success
    meta = first_metadata(trend, "savings_trend")
    assert (meta["periods"], meta["settled_periods"]) == (2, 1)
    stored = savings_trend(two_synced_periods, "acme")
    assert stored["period_key"].tolist() == list(SYNCED_AT)
    for row in stored.itertuples():
        winner = winners[row.period_key]
        assert row.cost_before == pytest.approx(winner["cost_before_usd"], abs=0.005)
        assert row.optimized_cost == pytest.approx(winner["cost_after_usd"], abs=0.005)
        assert row.lower_bound == pytest.approx(winner["lower_bound_usd"], abs=0.005)
        assert (
            f"| {row.period_key} | {row.cost_before:,.2f} | {row.optimized_cost:,.2f} |"
            in (meta["by_period"])
        )
        assert f"{row.optimized_cost:>12,.2f}" in meta["chart"]
    settled = stored.set_index("period_key")["settled_cost"]
    assert settled["2025-03"] == pytest.approx(march["settled_cost_usd"], abs=0.005)
    assert pd.isna(settled["2025-04"])
    assert f"{settled['2025-03']:,.2f} |" in meta["by_period"].splitlines()[2]
    assert meta["by_period"].splitlines()[3].endswith(" |  |")  # April: not settled
    assert sum(line.split()[:1] == ["settled"] for line in meta["chart"].splitlines()) == 1
    saving = (stored["cost_before"] - stored["optimized_cost"]).sum()
    assert meta["saving_all_periods_usd"] == pytest.approx(saving, abs=0.01)
    data = dataclasses.replace(report_data(), trend=stored)
    sheet = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))["Trend"]
    rows = list(sheet.iter_rows(min_row=2, max_row=3, values_only=True))
    assert [row[0] for row in rows] == list(SYNCED_AT)
    assert rows[0][5] == pytest.approx(settled["2025-03"]) and rows[1][5] is None
    # April's report, made again now that March is settled, shows March's settlement.
    with two_synced_periods.connect() as connection:
        acme = load_provider(connection, "acme").id
    ids, _ = latest_completed_session(two_synced_periods, acme, "acme", "2025-04")
    april = m2m_report(two_synced_periods, ids, "acme", "2025-04", BACKFILL_AT).data
    assert april.settlement is not None and april.settlement.period_key == "2025-03"
    shown = openpyxl.load_workbook(io.BytesIO(build_workbook(april)))["Settlement"]
    assert shown["A1"].value.startswith("Settlement of billing period 2025-03 ")
    assert len(sheet._charts) == 1  # the Excel chart of the same table
    # The command line prints the same chart and table.
    shown = CliRunner().invoke(cli, ["savings-trend", "acme", "--database-url", database_url])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0].startswith("bars start at ")
    assert meta["by_period"] in shown.output
    assert meta["chart"].strip("`\n") in shown.output
    typo = CliRunner().invoke(cli, ["savings-trend", "acmee", "--database-url", database_url])
    assert typo.exit_code != 0 and "no service provider named 'acmee'" in typo.output


def test_a_closed_period_settles_on_its_stored_usage_then_on_its_final_usage(
    two_synced_periods, database_url
):
    """Issue 31, point 1. March was read mid-period: settled on those readings (provisional)
    it reproduces the run's own figures, nothing pushed, the saving left on the table. Then
    the closed cycle is read from the carrier, some SIMs above their projection and some
    below: the settlement is final and prices the difference."""
    engine = two_synced_periods
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        winner = first_metadata(
            materialize(instance, database_url, "2025-03"), "winning_assignments"
        )
    provisional = settle_period(engine, "acme", "2025-03", BACKFILL_AT, time_limit_s=10)
    # Every billed SIM (the inventory SIMs are not in the bill) was read mid-March.
    assert not provisional.final and provisional.readings_before_end == provisional.sims > 0
    assert provisional.cost_before == pytest.approx(winner["cost_before_usd"], abs=0.005)
    assert provisional.cost_optimized == pytest.approx(winner["cost_after_usd"], abs=0.005)
    assert provisional.pushed == 0 and provisional.realized_saving == 0  # a dry run
    assert provisional.left_on_table == pytest.approx(winner["saving_usd"], abs=0.01)
    assert provisional.final_mb == pytest.approx(provisional.projected_mb, rel=1e-9)
    assert provisional.projection_error_cost == pytest.approx(
        0, abs=0.005 + winner["cost_after_usd"] * 2e-5
    )

    # The closed cycle read by cycleStartDate (the sync of a closed period), twice: the first
    # read replaces every mid-March reading with the billed usage, the second changes nothing.
    with FakeJasper(devices=DEVICES, seed=9, now=SYNCED_AT["2025-03"]) as fake:
        fake.move_clock(BACKFILL_AT)
        reads = [
            sync_period(
                engine, "acme", "2025-03", client=client_for(fake), now=BACKFILL_AT, holder="t"
            ).past
            for _ in range(2)
        ]
    first, again = (read.periods[0] for read in reads if read is not None)
    assert (first.replaced, first.stored, first.kept) == (DEVICES, 0, 0)
    assert (again.replaced, again.stored, again.kept) == (0, 0, DEVICES)
    final = settle_period(engine, "acme", "2025-03", BACKFILL_AT, time_limit_s=10)
    assert final.final and final.readings_before_end == 0
    assert final.final_mb != pytest.approx(final.projected_mb)
    assert final.cost_optimum <= final.cost_optimized + 0.005
    assert final.projection_error_cost >= -0.005
    assert final.cost_actual == pytest.approx(final.cost_before)  # still nothing pushed
    shown = CliRunner().invoke(
        cli, ["settle", "acme", "--billing-period", "2025-03", "--database-url", database_url]
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[1].startswith("  settled on final usage (")
    assert shown.output.splitlines()[-1] == (
        "  stored as acme 2025-03's settlement (replacing any earlier one)"
    )
    early = CliRunner().invoke(
        cli, ["settle", "acme", "--billing-period", "2099-01", "--database-url", database_url]
    )
    assert early.exit_code != 0 and "has not closed" in early.output


def settle_partition(instance: dg.DagsterInstance, database_url: str, period_key: str):
    return materialize_partition(
        database_url,
        [insights.period_settlement],
        partition_key("acme", period_key),
        instance=instance,
        run_config={"ops": {"period_settlement": {"config": {"time_limit_s": 10}}}},
    )


def step_failure(result) -> str:
    [failure] = [event for event in result.all_events if event.is_step_failure]
    return str(failure.step_failure_data.error.message)


def stored_settlements(engine: Engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            select(
                PeriodSettlement.is_final,
                PeriodSettlement.readings_before_end,
                PeriodSettlement.cost_actual,
                select(func.count())
                .where(PeriodSettlementPool.settlement_id == PeriodSettlement.id)
                .scalar_subquery(),
            )
        ).all()


def test_the_settlement_asset_stores_a_provisional_then_a_final_settlement(
    two_synced_periods, database_url
):
    """Issue 31, point 1 in the UI: `period_settlement` refuses a period never optimized and
    one not closed; on March, read mid-period, it stores a provisional settlement, and once
    the closed cycle is read from the carrier, settled again, the final one replaces it."""
    engine = two_synced_periods
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        never = settle_partition(instance, database_url, "2025-03")
        assert not never.success
        assert "acme 2025-03: no completed optimization to settle" in step_failure(never)
        open_june = settle_partition(instance, database_url, "2025-06")
        assert "acme 2025-06 has not closed (it ends 2025-07-01" in step_failure(open_june)
        assert stored_settlements(engine) == []

        winner = first_metadata(
            materialize(instance, database_url, "2025-03"), "winning_assignments"
        )
        provisional = first_metadata(
            settle_partition(instance, database_url, "2025-03"), "period_settlement"
        )
        sims = provisional["sims"]
        assert provisional["state"] == f"PROVISIONAL ({sims:,} SIMs read before the period's end)"
        assert provisional["readings_before_end"] == sims > 0
        assert provisional["left_on_table_usd"] == pytest.approx(winner["saving_usd"], abs=0.01)
        assert provisional["realized_saving_usd"] == 0  # a dry run: nothing pushed
        [row] = stored_settlements(engine)
        assert row[:2] == (False, sims)

        with FakeJasper(devices=DEVICES, seed=9, now=SYNCED_AT["2025-03"]) as fake:
            fake.move_clock(BACKFILL_AT)
            sync_period(
                engine, "acme", "2025-03", client=client_for(fake), now=BACKFILL_AT, holder="t"
            )
        final = first_metadata(
            settle_partition(instance, database_url, "2025-03"), "period_settlement"
        )
    assert (final["state"], final["final"], final["readings_before_end"]) == ("FINAL", True, 0)
    assert final["projection_error_mb"] != 0
    assert final["projection_error_cost_usd"] >= -0.01
    assert final["settled_cost_usd"] == pytest.approx(final["cost_before_usd"], abs=0.01)
    pools = final["projection_error_by_pool"].splitlines()
    assert pools[0] == "| pool | projected MB | final MB | error MB |"
    assert pools[-1].startswith("| **all SIMs** |")
    [row] = stored_settlements(engine)  # replaced, not added
    assert row[:2] == (True, 0)
    assert float(row[2]) == pytest.approx(final["settled_cost_usd"], abs=0.005)
    assert row[3] == len(pools) - 3  # the pools of the latest settlement only
