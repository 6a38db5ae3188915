"""provider add → sync → rate-plans load → instance export, from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from carrier_opt.cli import FriendlyGroup
from carrier_opt.cli.carrier import instance, provider, rate_plans, sync
from carrier_opt.core.instance import load_instance
from carrier_opt.db import migrate
from carrier_opt.db.models import (
    JasperAuthentication,
    JasperCarrierRatePlan,
    JasperCommunicationPlanRatePlan,
)
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    assert_device_matches_fleet,
    write_fake_price_files,
)


@pytest.fixture
def carrier_opt() -> FriendlyGroup:
    """The commands on a group like the main CLI's (errors become one line)."""
    group = FriendlyGroup(name="carrier-opt")
    for command in (provider, sync, rate_plans, instance):
        group.add_command(command)
    return group


def run(group: FriendlyGroup, *args: str, database_url: str, env: dict | None = None):
    result = CliRunner().invoke(group, [*args, "--database-url", database_url], env=env)
    return result


def add_provider_for(group, fake: FakeJasper, database_url: str):
    return run(
        group,
        *("provider", "add", "acme", "--jasper-url", fake.base_url),
        *("--billing-cycle-end-day", "31", "--timezone", "UTC"),
        *("--billing-cycle-end-rule", "after_end_day"),
        *("--username-env", USERNAME_ENV, "--api-key-env", API_KEY_ENV),
        database_url=database_url,
    )


def test_sync_then_export_end_to_end(carrier_opt, migrated_engine, database_url, tmp_path):
    with FakeJasper(devices=300, seed=21) as fake:
        env = {USERNAME_ENV: fake.credentials[0], API_KEY_ENV: fake.credentials[1]}
        added = add_provider_for(carrier_opt, fake, database_url)
        assert added.exit_code == 0, added.output
        synced = run(
            carrier_opt,
            *("sync", "acme", "--calls-per-second", "1000"),
            database_url=database_url,
            env=env,
        )
        assert synced.exit_code == 0, synced.output
        assert "300 inserted" in synced.output and "calls" in synced.output
        assert_device_matches_fleet(migrated_engine, fake)
        period = fake.cycle_start_date.strftime("%Y-%m")
    plans_csv, pairs_csv = write_fake_price_files(tmp_path / "prices")
    loaded = run(
        carrier_opt,
        *("rate-plans", "load", "acme", "--rate-plans", str(plans_csv)),
        *("--comm-plans", str(pairs_csv)),
        database_url=database_url,
    )
    assert loaded.exit_code == 0, loaded.output
    out = tmp_path / "exports" / "instance"
    for _attempt in range(2):  # a second export replaces the folder whole
        exported = run(
            carrier_opt,
            *("instance", "export", "acme", "--billing-period", period, "--out", str(out)),
            database_url=database_url,
        )
        assert exported.exit_code == 0, exported.output
    assert [path.name for path in out.parent.iterdir()] == ["instance"]  # no temporaries left
    devices = pd.read_csv(out / "devices.csv", dtype={"iccid": str})
    assert {"ctd_usage_mb", "status", "msisdn", "date_activated", "proration"} <= set(devices)
    assert (devices["usage_mb"] >= devices["ctd_usage_mb"]).all()
    assert ((devices["proration"] > 0) & (devices["proration"] <= 1)).all()
    loaded_instance = load_instance(out)
    assert len(loaded_instance.iccids) == len(devices)


def test_provider_add_stores_variable_names_only(carrier_opt, migrated_engine, database_url):
    with FakeJasper(devices=1) as fake:
        result = add_provider_for(carrier_opt, fake, database_url)
        again = add_provider_for(carrier_opt, fake, database_url)
    assert result.exit_code == 0, result.output
    with migrated_engine.connect() as connection:
        auth = connection.execute(select(JasperAuthentication)).one()
    assert (auth.secret_source, auth.secret_ref, auth.username_ref, auth.username) == (
        "env",
        API_KEY_ENV,
        USERNAME_ENV,
        "",
    )
    assert again.exit_code == 1 and "already exists" in again.output


def test_sync_without_credentials_in_the_environment_is_one_clear_line(
    carrier_opt, migrated_engine, database_url
):
    with FakeJasper(devices=1) as fake:
        add_provider_for(carrier_opt, fake, database_url)
        result = run(carrier_opt, "sync", "acme", database_url=database_url, env={})
    assert result.exit_code == 1
    assert f"environment variable {USERNAME_ENV} is not set" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unknown_provider_and_unmigrated_database_are_one_line(carrier_opt, engine, database_url):
    result = run(carrier_opt, "sync", "nobody", database_url=database_url)
    assert result.exit_code == 1 and "carrier-opt db upgrade" in result.output
    migrate.upgrade(engine)
    result = run(carrier_opt, "sync", "nobody", database_url=database_url)
    assert result.exit_code == 1 and "no service provider named 'nobody'" in result.output


def test_bad_price_files_name_file_row_and_column_and_write_nothing(
    carrier_opt, migrated_engine, database_url, tmp_path
):
    with FakeJasper(devices=1) as fake:
        add_provider_for(carrier_opt, fake, database_url)
    plans_csv, pairs_csv = write_fake_price_files(tmp_path)
    rows = list(csv.reader(plans_csv.open()))
    rows[2][4] = "0"  # data_per_overage_charge_mb of line 3
    rows[5][1] = "-1"  # base_rate of line 6
    rows[7][6] = "maybe"  # pooled of line 8
    rows.append(rows[1])  # a repeated code
    with plans_csv.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pairs_csv.open("a") as handle:
        handle.write("CP_Basic_ON,No Such Plan\n")
    result = run(
        carrier_opt,
        *("rate-plans", "load", "acme", "--rate-plans", str(plans_csv)),
        *("--comm-plans", str(pairs_csv)),
        database_url=database_url,
    )
    assert result.exit_code == 1
    for expected in (
        "rate_plans.csv:3:data_per_overage_charge_mb: must be greater than 0",
        "rate_plans.csv:6:base_rate: must not be negative",
        "rate_plans.csv:8:pooled: 'maybe' is not true or false",
        f"rate_plans.csv:{len(rows)}:rate_plan_code:",
        "comm_plan_rate_plans.csv:",
        "unknown rate plan 'No Such Plan'",
    ):
        assert expected in result.output, result.output
    with migrated_engine.connect() as connection:
        for table in (JasperCarrierRatePlan, JasperCommunicationPlanRatePlan):
            assert connection.scalar(select(func.count()).select_from(table)) == 0


def test_loading_prices_twice_updates_and_replaces_pairs(
    carrier_opt, migrated_engine, database_url, tmp_path
):
    with FakeJasper(devices=1) as fake:
        add_provider_for(carrier_opt, fake, database_url)
    plans_csv, pairs_csv = write_fake_price_files(tmp_path)
    args = ("rate-plans", "load", "acme", "--rate-plans", str(plans_csv))
    first = run(carrier_opt, *args, "--comm-plans", str(pairs_csv), database_url=database_url)
    assert first.exit_code == 0, first.output
    fewer = Path(tmp_path / "fewer.csv")
    fewer.write_text("communication_plan,rate_plan_code\nCP_Basic_ON,M2M Data 1MB\n")
    second = run(carrier_opt, *args, "--comm-plans", str(fewer), database_url=database_url)
    assert second.exit_code == 0, second.output
    assert "0 rate plans added, 13 updated, 1 allowed pairs" in second.output
    with migrated_engine.connect() as connection:
        pairs = connection.scalar(select(func.count()).select_from(JasperCommunicationPlanRatePlan))
    assert pairs == 1


def test_export_refuses_a_period_never_synced(carrier_opt, migrated_engine, database_url, tmp_path):
    with FakeJasper(devices=1) as fake:
        add_provider_for(carrier_opt, fake, database_url)
    result = run(
        carrier_opt,
        *("instance", "export", "acme", "--billing-period", "2020-01", "--out", str(tmp_path)),
        database_url=database_url,
    )
    assert result.exit_code == 1
    assert "acme has no usage stored for billing period 2020-01: store it first" in result.output
    assert "carrier-opt sync acme (add --past-periods N" in result.output
