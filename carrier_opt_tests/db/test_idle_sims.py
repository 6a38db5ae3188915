"""Idle and never-activated SIMs of a stored period (issue 31, point 2), from the fake
carrier's SIMs and the three past cycles it keeps, on both databases: the command, the
asset, the report's sheet and the mail line agree, and every listed SIM is idle in the rows
stored."""

import dataclasses
import io

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from carrier_opt.cli.main import cli
from carrier_opt.db.models import ServiceProvider
from carrier_opt.db.usage_history import usage_history
from carrier_opt.defs.assets.insights import idle_sims as idle_sims_asset
from carrier_opt.defs.partitions import partition_key
from carrier_opt.delivery.workbook import build_workbook
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.insights import idle_sims
from carrier_opt.pipeline.past_usage import fetch_past_usage
from carrier_opt_tests.db.sync_support import synced_priced_provider
from carrier_opt_tests.defs.support import materialize_partition
from carrier_opt_tests.jasper.support import client_for


@pytest.fixture
def stored_history(migrated_engine, monkeypatch, tmp_path):
    """'acme' (400 SIMs): the open period synced and the three past cycles stored."""
    with FakeJasper(devices=400, seed=5) as fake:
        synced_priced_provider(migrated_engine, fake, monkeypatch, tmp_path / "prices")
        fetch_past_usage(migrated_engine, "acme", 3, client=client_for(fake), now=fake.now())
        yield fake.now().strftime("%Y-%m")


def test_every_listed_sim_used_nothing_in_the_periods_stored(migrated_engine, stored_history):
    period = stored_history
    report = idle_sims(migrated_engine, "acme", period)
    assert report.idle_periods == 3 and report.periods_stored == 3
    assert len(report.idle) > 0, "the fake's fleet has SIMs that use nothing"
    keys, history = usage_history(migrated_engine, "acme", period, 3)
    rows = history[history["iccid"].isin(report.idle["iccid"])]
    assert set(rows["period_key"]) == set(keys)
    assert (rows[["data_bytes", "sms_count", "voice_seconds"]].fillna(0) == 0).all().all()
    assert rows.groupby("iccid").size().eq(3).all()  # a row in each period: nothing guessed
    assert (report.idle["cost_usd"] > 0).all()
    # The open period (to date) and three past cycles are stored: five asked, nothing claimed.
    unknown = idle_sims(migrated_engine, "acme", period, idle_periods=5)
    assert unknown.summary() == "idle SIMs: not known yet, 4 of the 5 periods needed are stored"
    assert unknown.idle.empty


def test_the_command_the_asset_and_the_setting_agree(database_url, migrated_engine, stored_history):
    period = stored_history
    expected = idle_sims(migrated_engine, "acme", period)
    shown = CliRunner().invoke(
        cli, ["idle-sims", "acme", "--billing-period", period, "--database-url", database_url]
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[0] == f"acme {period}: {expected.summary()}"
    first = expected.idle.iloc[0]
    assert f"  {first['iccid']}  {first['rate_plan_code']}" in shown.output
    result = materialize_partition(database_url, [idle_sims_asset], partition_key("acme", period))
    assert result.success
    [event] = result.asset_materializations_for_node("idle_sims")
    meta = {key: value.value for key, value in event.metadata.items()}
    assert meta["idle_sims"] == len(expected.idle)
    assert meta["saving_if_deactivated_usd"] == expected.saving_together_usd
    assert meta["idle_cost_usd"] == pytest.approx(expected.idle_cost_usd, abs=0.006)
    assert first["iccid"] in meta["most_expensive"]
    # The provider's setting: two periods make a SIM idle, so at least as many are listed.
    with migrated_engine.begin() as connection:
        connection.execute(
            update(ServiceProvider).where(ServiceProvider.name == "acme").values(idle_periods=2)
        )
    looser = idle_sims(migrated_engine, "acme", period)
    assert looser.idle_periods == 2 and len(looser.idle) >= len(expected.idle)
    bad = CliRunner().invoke(
        cli, ["idle-sims", "acme", "--billing-period", "26-11", "--database-url", database_url]
    )
    assert bad.exit_code != 0 and "must look like YYYY-MM" in bad.output


def test_the_summary_line_reaches_the_mail_and_every_sim_the_workbook(
    migrated_engine, stored_history
):
    from carrier_opt.delivery.messages import success_message
    from carrier_opt_tests.delivery.test_notify import report_data  # a priced report

    idle = idle_sims(migrated_engine, "acme", stored_history)
    data = dataclasses.replace(report_data(), idle=idle)
    mail = success_message(data, workbook=None, file_name="r.xlsx")
    assert idle.summary()[1:] + "." in mail.body
    sheet = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))["Idle SIMs"]
    assert sheet["A1"].value == idle.summary() + "."
    assert [cell.value for cell in sheet[3]][:3] == ["ICCID", "Rate plan", "Periods without usage"]
    listed = [row[0] for row in sheet.iter_rows(min_row=4, values_only=True)][:-1]  # less total
    assert listed == idle.idle["iccid"].tolist()


def test_a_provider_never_optimized_has_no_trend_to_print(database_url, stored_history):
    """Usage is stored but nothing was optimized: the trend command says so, and draws no
    empty chart."""
    shown = CliRunner().invoke(cli, ["savings-trend", "acme", "--database-url", database_url])
    assert shown.exit_code == 0, shown.output
    assert shown.output == "acme: no completed optimization yet, so no trend\n"
