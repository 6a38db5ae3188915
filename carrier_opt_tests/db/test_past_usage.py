"""Past billing periods' usage read by ``cycleStartDate`` and stored, so that they can be
backfilled (issue 18, onboarding; issue 15, the demo's past periods)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from carrier_opt.cli import cli
from carrier_opt.core.billing import period_for_key
from carrier_opt.db.export import instance_tables, require_stored_usage
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.merge import DEVICE, USAGE_PERIOD
from carrier_opt.db.models import BillingPeriod
from carrier_opt.db.past_usage import PastSimUsage, combine_plans, store_past_usage
from carrier_opt.db.providers import load_provider
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.past_usage import fetch_past_usage
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    add_fake_provider,
    write_fake_price_files,
)
from carrier_opt_tests.jasper.support import client_for, lift_the_rate_cap

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
AFTER_JUNE = datetime(2026, 7, 3, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 7, 9, 9, 0, tzinfo=UTC)


def stored_rows(engine: Engine, key: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(USAGE_PERIOD.join(BillingPeriod))
                .where(BillingPeriod.period_key == key)
            )
            or 0
        )


def test_three_past_periods_are_stored_and_can_be_optimized(migrated_engine, tmp_path):
    with FakeJasper(devices=80, seed=4, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        current = stored_rows(migrated_engine, "2026-06")
        report = fetch_past_usage(migrated_engine, "acme", 3, client=client_for(fake), now=NOW)
        # What the carrier answers for May, plan by plan, is exactly what was stored.
        client = client_for(fake)
        may = {}
        for plan in sorted({device.rate_plan for device in fake.fleet}):
            bulk = client.usage_by_rate_plan(plan, NOW.replace(month=5, day=1).date())
            may |= {iccid: (plan, values[0]) for iccid, values in bulk.usage.items()}
    assert [p.period_key for p in report.periods] == ["2026-05", "2026-04", "2026-03"]
    assert report.warnings == []
    assert all(p.stored > 0 and p.kept == 0 and p.unknown == 0 for p in report.periods)
    assert stored_rows(migrated_engine, "2026-06") == current  # the open period is untouched
    with migrated_engine.connect() as connection:
        rows = connection.execute(
            select(USAGE_PERIOD.c.carrier_rate_plan_code, USAGE_PERIOD.c.ctd_data_usage_bytes)
            .select_from(USAGE_PERIOD.join(BillingPeriod))
            .where(BillingPeriod.period_key == "2026-05")
        ).all()
    assert sorted(rows) == sorted(may.values())
    for key in ("2026-05", "2026-04", "2026-03"):
        assert require_stored_usage(migrated_engine, "acme", key) > 0
    plans_csv, pairs_csv = write_fake_price_files(tmp_path)
    load_rate_plans(migrated_engine, "acme", plans_csv, pairs_csv)
    tables = instance_tables(migrated_engine, "acme", "2026-04")
    assert len(tables.devices) > 0
    assert (tables.devices["usage_mb"].astype(float) >= 0).all()


def test_a_second_fetch_keeps_what_is_stored(migrated_engine):
    with FakeJasper(devices=40, seed=5, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        first = fetch_past_usage(migrated_engine, "acme", 1, client=client_for(fake), now=NOW)
        again = fetch_past_usage(migrated_engine, "acme", 1, client=client_for(fake), now=NOW)
    assert first.periods[0].stored > 0
    assert again.periods[0].stored == 0 and again.periods[0].kept == first.periods[0].stored


def period_rows(engine: Engine, key: str) -> dict[str, tuple]:
    """Every stored column of the period's rows, by ICCID."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(DEVICE.c.iccid, *USAGE_PERIOD.c)
            .select_from(
                USAGE_PERIOD.join(BillingPeriod).join(
                    DEVICE, DEVICE.c.id == USAGE_PERIOD.c.device_id
                )
            )
            .where(BillingPeriod.period_key == key)
        ).all()
    return {row.iccid: row for row in rows}


def test_a_period_synced_while_open_takes_its_final_usage_once_closed(migrated_engine):
    """Issue 31: June was synced on the 20th (readings projected to the end); read again after
    the close, every SIM the carrier answers for takes the billed figures and plan, dated at
    the period's end, and keeps what the June sync saw of its status and communication plan."""
    with FakeJasper(devices=40, seed=8, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        open_rows = period_rows(migrated_engine, "2026-06")
        fake.move_clock(AFTER_JUNE)
        client = client_for(fake)
        report = fetch_past_usage(migrated_engine, "acme", 1, client=client, now=AFTER_JUNE)
        june = {}
        for plan in sorted({device.rate_plan for device in fake.fleet}):
            bulk = client.usage_by_rate_plan(plan, date(2026, 6, 1))
            june |= {iccid: (plan, *values) for iccid, values in bulk.usage.items()}
    [stored] = report.periods
    assert (stored.period_key, stored.stored, stored.kept) == ("2026-06", 0, 0)
    assert stored.replaced == len(open_rows) == len(june)
    end = datetime(2026, 7, 1, tzinfo=UTC)
    final_rows = period_rows(migrated_engine, "2026-06")
    assert final_rows.keys() == open_rows.keys()
    moved = 0
    for iccid, row in final_rows.items():
        before = open_rows[iccid]
        assert before.usage_date < end and row.usage_date == end and row.recorded_at == AFTER_JUNE
        plan, data, sms, voice = june[iccid]
        assert (row.carrier_rate_plan_code, row.ctd_data_usage_bytes) == (plan, data or 0)
        assert (row.ctd_sms_usage, row.ctd_voice_usage_seconds) == (sms or 0, voice or 0)
        assert row.usage_mb == row.projected_usage_mb == pytest.approx((data or 0) / 2**20)
        assert (row.id, row.status, row.communication_plan) == (
            before.id,
            before.status,
            before.communication_plan,
        )
        moved += row.ctd_data_usage_bytes != before.ctd_data_usage_bytes
    assert moved > len(final_rows) / 2  # the final usage is not what was read on the 20th


def test_a_closed_period_read_again_keeps_its_final_rows(migrated_engine):
    """A second read of a closed period changes no final row, even when the carrier answers
    other figures; a SIM the carrier does not answer for keeps its early reading."""
    with FakeJasper(devices=30, seed=11, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
    with migrated_engine.connect() as connection:
        provider = load_provider(connection, "acme")
    june = period_for_key(provider.cycle, "2026-06")
    open_rows = period_rows(migrated_engine, "2026-06")
    silent, *answered = sorted(open_rows)
    usage = {iccid: PastSimUsage(iccid, "BIG", 3 * 2**20, 2, 60) for iccid in answered}
    first = store_past_usage(migrated_engine, provider.id, june, usage, AFTER_JUNE)
    final_rows = period_rows(migrated_engine, "2026-06")
    other = {iccid: PastSimUsage(iccid, "SMALL", 2**20, 0, 0) for iccid in open_rows}
    again = store_past_usage(migrated_engine, provider.id, june, other, LATER)
    assert (first.replaced, first.kept, first.stored) == (len(answered), 0, 0)
    assert (again.replaced, again.kept, again.stored) == (1, len(answered), 0)
    after = period_rows(migrated_engine, "2026-06")
    assert all(after[iccid] == final_rows[iccid] for iccid in answered)
    assert final_rows[silent] == open_rows[silent]  # not answered: the early reading stays
    assert after[silent].ctd_data_usage_bytes == 2**20 and after[silent].usage_date == june.end


def test_past_usage_needs_synced_sims_and_a_sane_count(migrated_engine):
    with FakeJasper(devices=10, seed=6, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        with pytest.raises(InputError, match="run carrier-opt sync acme first"):
            fetch_past_usage(migrated_engine, "acme", 2, client=client_for(fake), now=NOW)
        with pytest.raises(InputError, match=r"past periods must be 0\.\.24"):
            fetch_past_usage(migrated_engine, "acme", 25, client=client_for(fake), now=NOW)


def test_a_sim_reported_under_two_plans_keeps_both_usages_and_its_main_plan():
    combined = combine_plans(
        [
            PastSimUsage("8901", "SMALL", 100, 1, 0),
            PastSimUsage("8901", "BIG", 900, 2, 5),
            PastSimUsage("8902", "SMALL", 50, 0, 0),
        ]
    )
    assert combined["8901"] == PastSimUsage("8901", "BIG", 1000, 3, 5)
    assert combined["8902"].rate_plan == "SMALL"


@pytest.mark.slow  # a real process killed, or thousands of SIMs
def test_sync_with_past_periods_from_the_command_line(migrated_engine, monkeypatch):
    lift_the_rate_cap(monkeypatch)  # its calls took 12 s at Cisco's 5 calls/s
    with FakeJasper(devices=30, seed=7) as fake:
        add_fake_provider(migrated_engine, fake)
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        result = CliRunner().invoke(
            cli,
            [
                "sync",
                "acme",
                "--past-periods",
                "2",
                "--database-url",
                migrated_engine.url.render_as_string(hide_password=False),
            ],
        )
    assert result.exit_code == 0, result.output
    assert result.output.count("SIMs stored") == 2
