"""Issue 13, case 3: proration is a per-provider setting (legacy), on the command-line path:
`provider set --no-proration`, `instance export`, `optimize`; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from carrier_opt.cli import cli
from carrier_opt.core.billing import period_for_key
from carrier_opt.core.instance import load_instance, read_assignment
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import DeviceUsagePeriod
from carrier_opt.db.providers import load_provider
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, write_fake_price_files
from carrier_opt_tests.jasper.support import client_for

APRIL = datetime(2025, 4, 12, 9, 0, tzinfo=UTC)  # April 2025: a 30-day cycle


def run(*args: str, database_url: str | None = None):
    extra = ["--database-url", database_url] if database_url else []
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def late_activation(migrated_engine: Engine, tmp_path: Path) -> None:
    """'acme' synced in April 2025; one SIM activated 10 days before the end uses 290 MB on
    S ($10, 300 MB, $0.05/MB over), and may move to L ($20, 1000 MB)."""
    with FakeJasper(devices=20, seed=5, now=APRIL) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=APRIL)
    plans_csv, pairs_csv = write_fake_price_files(tmp_path / "prices")
    with plans_csv.open("a") as handle:
        handle.write("S,10,300,0.05,1,0,false\nL,20,1000,0.05,1,0,false\n")
    with pairs_csv.open("a") as handle:
        handle.write("CP_LATE,S\nCP_LATE,L\n")
    load_rate_plans(migrated_engine, "acme", plans_csv, pairs_csv)
    with migrated_engine.connect() as connection:
        cycle = load_provider(connection, "acme").cycle
    period = period_for_key(cycle, "2025-04")
    assert period.days == 30
    with migrated_engine.begin() as connection:
        row_id = connection.scalar(select(DeviceUsagePeriod.id).limit(1))
        connection.execute(
            DeviceUsagePeriod.__table__.update()
            .where(DeviceUsagePeriod.id == row_id)
            .values(
                status="ACTIVATED",
                communication_plan="CP_LATE",
                carrier_rate_plan_code="S",
                usage_mb=290.0,
                ctd_data_usage_bytes=290 * 1_048_576,
                usage_date=period.end - timedelta(days=1),
                date_activated=period.end - timedelta(days=10),
            )
        )


def late_sim(folder: Path, database_url: str) -> tuple[float, str]:
    """(proration, optimized plan) of the late SIM in a fresh export of April."""
    run(
        "instance",
        "export",
        "acme",
        "--billing-period",
        "2025-04",
        "--out",
        str(folder),
        database_url=database_url,
    )
    out, summary = folder.parent / f"{folder.name}.csv", folder.parent / f"{folder.name}.json"
    run("optimize", str(folder), "--out", str(out), "--summary", str(summary), "--time-limit", "5")
    instance = load_instance(folder)
    assignment = read_assignment(out, instance)
    (late,) = [
        d
        for d, comm in enumerate(instance.comm_plan)
        if instance.comm_plan_codes[comm] == "CP_LATE"
    ]
    assert json.loads(summary.read_text())["devices"] == instance.n_devices
    return float(instance.proration[late]), str(instance.plan_codes[assignment[late]])


def test_a_provider_without_proration_keeps_a_late_sim_on_its_plan(
    late_activation, database_url, tmp_path
):
    shown = run("provider", "show", "acme", database_url=database_url).output
    assert "uses proration" in shown and "yes" in shown
    # Prorated (today's default for M2M): a third of S's 300 MB is 100, 190 MB over costs
    # $9.50 + $3.33; a third of L costs $6.67 without overage: the SIM moves to L.
    assert late_sim(tmp_path / "prorated", database_url) == (pytest.approx(10 / 30, 1e-5), "L")
    run("provider", "set", "acme", "--no-proration", database_url=database_url)
    # Without proration (the legacy setting): 290 MB fit S's 300 MB for $10; L costs $20.
    assert late_sim(tmp_path / "whole", database_url) == (1.0, "S")
