"""``carrier-opt jasper check``: five read-only calls checked against the project's schemas,
answers recorded redacted, and the recording served back by a replay server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from carrier_opt import clock
from carrier_opt.cli import cli
from carrier_opt.jasper.doctor import check_account, pseudonym
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt.jasper.fake.replay import ReplayJasper
from carrier_opt_tests.db.sync_support import API_KEY_ENV, USERNAME_ENV, add_fake_provider
from carrier_opt_tests.jasper.support import client_for

NOW = datetime(2026, 8, 20, 10, 0, tzinfo=UTC)


def test_the_doctor_reads_five_answers_and_finds_them_as_expected(tmp_path):
    with FakeJasper(devices=60, seed=9, now=NOW) as fake, client_for(fake) as client:
        checks = check_account(client, now=NOW, record_dir=tmp_path / "rec")
        calls = [(call.method, call.route) for call in fake.request_log]
        sims = {sim.iccid for sim in fake.fleet} | {sim.msisdn for sim in fake.fleet}
    assert [check.name for check in checks] == ["echo", "search", "details", "ctdUsages", "usages"]
    assert all(check.ok and not check.missing and not check.unknown for check in checks), [
        check.line() for check in checks
    ]
    assert len(calls) == 5 and {method for method, _ in calls} == {"GET"}
    search = next(check for check in checks if check.name == "search")
    assert search.note == ""  # four fields, as published
    # The recording hides every ICCID and MSISDN, consistently across answers.
    recorded = "".join(path.read_text() for path in (tmp_path / "rec").iterdir())
    assert not any(value in recorded for value in sims)
    manifest = json.loads((tmp_path / "rec" / "manifest.json").read_text())
    first = json.loads((tmp_path / "rec" / "search.json").read_text())["devices"][0]["iccid"]
    assert f"devices/{first}" in {entry["path"] for entry in manifest["recorded"]}

    # The recording, served back, gives the doctor the same answers.
    with ReplayJasper(tmp_path / "rec", now=NOW) as replay, client_for(replay) as client:
        replayed = check_account(client, now=NOW)
    assert [(c.name, c.ok, c.matched, c.missing) for c in replayed] == [
        (c.name, c.ok, c.matched, c.missing) for c in checks
    ]


def test_the_doctor_names_what_an_account_answers_differently():
    faults = FakeFaults(usage_shape="unknown")
    with FakeJasper(devices=30, seed=4, now=NOW, faults=faults) as fake, client_for(fake) as c:
        checks = {check.name: check for check in check_account(c, now=NOW)}
    usages = checks["usages"]
    assert usages.unknown == ["usageRecords"]
    assert "no record of a known shape" in usages.note


def test_jasper_check_from_the_command_line_never_prints_the_key(
    migrated_engine, database_url, monkeypatch
):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    with FakeJasper(devices=30, seed=5, api_key="s3cr3t-api-key", now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        env = {USERNAME_ENV: fake.credentials[0], API_KEY_ENV: fake.credentials[1]}
        result = CliRunner().invoke(
            cli, ["jasper", "check", "acme", "--database-url", database_url], env=env
        )
    assert result.exit_code == 0, result.output
    assert result.output.count("ok  ") == 5
    assert "s3cr3t-api-key" not in result.output


def test_pseudonyms_keep_the_shape_and_are_stable():
    iccid = "89012604093900000005"
    assert pseudonym(iccid) == pseudonym(iccid) != iccid
    assert len(pseudonym(iccid)) == len(iccid) and pseudonym(iccid).startswith("89")
    assert pseudonym(iccid).isdigit()


@pytest.mark.parametrize("status", [403, 401])
def test_jasper_check_records_an_essential_account_and_provider_show_says_so(
    migrated_engine, database_url, monkeypatch, status
):
    """Issue 27: the refused /usages is a capability, not a failed check, and it is stored;
    `provider set --account-type auto` forgets it so the next sync asks again."""
    monkeypatch.setattr(clock, "now", lambda: NOW)
    with FakeJasper(
        devices=30, seed=5, now=NOW, account_type="essential", refusal_status=status
    ) as fake:
        add_fake_provider(migrated_engine, fake)
        env = {USERNAME_ENV: fake.credentials[0], API_KEY_ENV: fake.credentials[1]}
        checked = CliRunner().invoke(
            cli, ["jasper", "check", "acme", "--database-url", database_url], env=env
        )
    assert checked.exit_code == 0, checked.output
    assert f"refused (HTTP {status}) while Echo works" in checked.output
    assert "recorded: Get Usage by Rate Plan refused" in checked.output
    shown = CliRunner().invoke(cli, ["provider", "show", "acme", "--database-url", database_url])
    assert "auto: Get Usage by Rate Plan refused (carrier-opt jasper check" in shown.output
    CliRunner().invoke(
        cli,
        ["provider", "set", "acme", "--account-type", "essential", "--database-url", database_url],
    )
    shown = CliRunner().invoke(cli, ["provider", "show", "acme", "--database-url", database_url])
    assert "essential (set by the operator); carrier: Get Usage by Rate Plan refused" in (
        shown.output
    )
    CliRunner().invoke(
        cli, ["provider", "set", "acme", "--account-type", "auto", "--database-url", database_url]
    )
    shown = CliRunner().invoke(cli, ["provider", "show", "acme", "--database-url", database_url])
    assert "auto: Get Usage by Rate Plan not tried yet" in shown.output
