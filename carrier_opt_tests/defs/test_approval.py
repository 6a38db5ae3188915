"""A person approves a dry run: from the Dagster UI (approved_rate_plan_push) or the command
line (carrier-opt push), the partition's winner reaches the fake carrier under the automatic
push's rules, and the report is stored again with the realized saving."""

import functools
import io
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from carrier_opt import clock
from carrier_opt.cli import cli
from carrier_opt.db.models import OptimizationInstanceResultFile, RatePlanPush, RatePlanUpdate
from carrier_opt.defs import resources
from carrier_opt.defs.assets import approval, m2m
from carrier_opt.defs.partitions import partition_key
from carrier_opt.defs.resources import NotifierResource, ResultStoreResource
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.db.sync_support import API_KEY_ENV, USERNAME_ENV
from carrier_opt_tests.defs import support
from carrier_opt_tests.defs.test_delivery_assets import start_fake, summary
from carrier_opt_tests.delivery.push_support import assert_audit_matches_the_carrier

NOW = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
PERIOD = "2026-10"


@pytest.fixture
def dry_run(migrated_engine, monkeypatch, tmp_path, database_url):
    """A partition run with automatic updates off: its push is a dry run."""
    with FakeJasper(devices=500, seed=11, now=NOW) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        store = ResultStoreResource(folder=str(tmp_path / "reports"))
        result = support.materialize_partition(
            database_url,
            m2m.m2m_assets,
            partition_key("acme", PERIOD),
            run_config={"ops": {"queue_results": {"config": {"time_limit_s": 5.0}}}},
            result_store=store,
            notifier=NotifierResource(),
        )
        assert result.success
        assert fake.edits == []
        yield fake, store


def dry_run_changes(engine) -> set[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(RatePlanUpdate.iccid, RatePlanUpdate.to_rate_plan_code).where(
                RatePlanUpdate.status == "dry_run"
            )
        ).all()
    return {tuple(row) for row in rows}


def stored_workbook(engine) -> openpyxl.Workbook:
    with engine.connect() as connection:
        uri = connection.scalar(select(OptimizationInstanceResultFile.storage_uri))
    return openpyxl.load_workbook(
        io.BytesIO(Path(unquote(urlsplit(uri).path)).read_bytes()), data_only=True
    )


def test_approving_in_dagster_pushes_the_dry_run_and_refreshes_the_report(
    dry_run, migrated_engine, database_url
):
    fake, store = dry_run
    wanted = dry_run_changes(migrated_engine)
    assert wanted and summary(stored_workbook(migrated_engine))["Carrier push"].startswith(
        "dry run"
    )

    def approve():
        return support.materialize_partition(
            database_url,
            [approval.approved_rate_plan_push],
            partition_key("acme", PERIOD),
            run_config={"ops": {"approved_rate_plan_push": {"config": {"approved_by": "J. Doe"}}}},
            result_store=store,
            notifier=NotifierResource(),
        )

    result = approve()
    assert result.success
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("approved_rate_plan_push")[
            0
        ].metadata.items()
    }
    assert meta["approved_by"] == "J. Doe" and meta["mode"] == "approved"
    assert meta["sent"] == len(wanted) and meta["decision"] == "Go"
    assert {(e.iccid, e.fields["ratePlan"]) for e in fake.edits} == wanted
    figures = summary(stored_workbook(migrated_engine))
    assert figures["Carrier push"].startswith("approved push, completed")
    assert figures["Realized saving (USD)"] == figures["Expected saving (USD)"] > 0
    with migrated_engine.connect() as connection:
        push = connection.execute(
            select(RatePlanPush.__table__).order_by(RatePlanPush.id.desc())
        ).first()
    assert push.approved_by == "J. Doe" and push.dagster_run_id is not None

    again = approve()  # the carrier already shows every target: nothing is sent twice
    assert again.success
    assert len(fake.edits) == len(wanted)
    assert_audit_matches_the_carrier(migrated_engine, fake)


def test_approving_from_the_command_line(dry_run, migrated_engine, database_url, monkeypatch):
    fake, store = dry_run
    wanted = dry_run_changes(migrated_engine)
    monkeypatch.setattr(clock, "now", fake.now)
    # The command builds its resources as a deployment does; only the call rate is the fake's
    # (as in the Dagster runs of these tests): at Cisco's 5 calls/s its 847 calls took 64 s.
    # The rate itself is tested in jasper/test_client_politeness.py.
    monkeypatch.setattr(
        resources,
        "JasperResource",
        functools.partial(resources.JasperResource, calls_per_second=support.FAKE_CALLS_PER_SECOND),
    )
    env = {
        USERNAME_ENV: fake.credentials[0],
        API_KEY_ENV: fake.credentials[1],
        "CARRIER_OPT_REPORTS_FOLDER": store.folder,
    }
    args = ["push", "acme", "--billing-period", PERIOD, "--database-url", database_url]
    refused = CliRunner().invoke(cli, args, env=env)
    assert refused.exit_code != 0 and "--approved-by" in refused.output
    result = CliRunner().invoke(cli, [*args, "--approved-by", "ops on call"], env=env)
    assert result.exit_code == 0, result.output
    assert f"sent {len(wanted)}" in result.output and "report: file://" in result.output
    assert {(e.iccid, e.fields["ratePlan"]) for e in fake.edits} == wanted
    assert fake.credentials[1] not in result.output
    bad = CliRunner().invoke(
        cli,
        [
            "push",
            "acme",
            "--billing-period",
            "2026-13",
            "--approved-by",
            "x",
            "--database-url",
            database_url,
        ],
        env=env,
    )
    assert bad.exit_code != 0 and "--billing-period must look like" in bad.output


def test_an_approval_without_a_completed_run_says_what_to_do(migrated_engine, database_url):
    from carrier_opt.db.providers import add_provider

    add_provider(
        migrated_engine,
        "acme",
        jasper_url="https://jasper.example.com/rws/api/v1/",
        billing_cycle_end_day=31,
        time_zone="UTC",
        billing_cycle_end_rule="after_end_day",
    )
    result = CliRunner().invoke(
        cli,
        [
            "push",
            "acme",
            "--billing-period",
            "2025-01",
            "--approved-by",
            "x",
            "--database-url",
            database_url,
        ],
    )
    assert result.exit_code != 0
    assert "no completed optimization to push; run the partition first" in result.output
