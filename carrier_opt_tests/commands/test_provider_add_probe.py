"""Issue 27: ``provider add`` finds out which functions the account may call (Get Usage by
Rate Plan, which Essential accounts lack) when it contacts the carrier, against the fake; a
carrier it cannot reach is one warning line and never fails the add."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from carrier_opt.cli import carrier, cli
from carrier_opt.db.models import ServiceProvider
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.db.sync_support import API_KEY_ENV, USERNAME_ENV


def _add(url: str, database_url: str, *options: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        cli,
        [
            *("provider", "add", "acme", "--jasper-url", url),
            *("--billing-cycle-end-day", "31", "--billing-cycle-end-rule", "after_end_day"),
            *("--timezone", "UTC", "--username-env", USERNAME_ENV, "--api-key-env", API_KEY_ENV),
            *options,
            *("--database-url", database_url),
        ],
        env=env,
    )


def _credentials(fake: FakeJasper) -> dict[str, str]:
    return {USERNAME_ENV: fake.credentials[0], API_KEY_ENV: fake.credentials[1]}


def _capability(engine) -> tuple:
    with engine.connect() as connection:
        return tuple(
            connection.execute(
                select(ServiceProvider.account_type, ServiceProvider.usage_by_rate_plan)
            ).one()
        )


def _calls(fake: FakeJasper, route: str) -> int:
    return sum(1 for call in fake.request_log if call.route.split("/")[0] == route)


@pytest.mark.parametrize("status", [403, 401])
def test_add_finds_out_an_essential_account_and_provider_show_says_so(
    migrated_engine, database_url, status
):
    with FakeJasper(devices=120, seed=3, account_type="essential", refusal_status=status) as fake:
        added = _add(
            fake.base_url,
            database_url,
            *("--backfill-periods", "0", "--probe-account"),
            env=_credentials(fake),
        )
        assert added.exit_code == 0, added.output
        assert _calls(fake, "usages") == 2 and _calls(fake, "devices") == 1  # 4 calls in all
        assert len(fake.request_log) == 4
    assert "acme: the account may not call Get Usage by Rate Plan" in added.stdout
    assert f"HTTP {status}" in added.stdout
    assert _capability(migrated_engine) == ("auto", "refused")
    shown = CliRunner().invoke(cli, ["provider", "show", "acme", "--database-url", database_url])
    assert "auto: Get Usage by Rate Plan refused" in shown.output


def test_add_records_an_advantage_account_with_one_usages_call(migrated_engine, database_url):
    with FakeJasper(devices=60, seed=3) as fake:
        added = _add(
            fake.base_url,
            database_url,
            *("--backfill-periods", "0", "--probe-account"),
            env=_credentials(fake),
        )
        assert _calls(fake, "usages") == 1
    assert added.exit_code == 0, added.output
    assert "acme: the account may call Get Usage by Rate Plan" in added.stdout
    assert _capability(migrated_engine) == ("auto", "allowed")


def test_onboarding_probes_first_so_the_first_sync_never_asks_usages_again(
    migrated_engine, database_url, monkeypatch
):
    monkeypatch.setattr(carrier, "DEFAULT_CALLS_PER_SECOND", 1000.0)  # one call per SIM
    with FakeJasper(devices=80, seed=3, account_type="essential") as fake:
        added = _add(fake.base_url, database_url, "--backfill-periods", "1", env=_credentials(fake))
        routes = [call.route.split("/")[0] for call in fake.request_log]
    assert added.exit_code == 0, added.output
    assert routes[:4] == ["echo", "devices", "usages", "usages"]  # the probe, first
    assert routes.count("usages") == 2  # the sync and the past period read per SIM
    assert "acme: the account may not call Get Usage by Rate Plan" in added.stdout
    assert "the account refused Get Usage by Rate Plan" in added.stderr  # the sync, told
    assert _capability(migrated_engine) == ("auto", "refused")


def test_add_with_no_carrier_call_does_not_probe(migrated_engine, database_url):
    with FakeJasper(devices=10, seed=3) as fake:
        added = _add(fake.base_url, database_url, "--backfill-periods", "0", env=_credentials(fake))
        assert fake.request_log == []
    assert added.exit_code == 0, added.output
    assert _capability(migrated_engine) == ("auto", None)


@pytest.mark.parametrize("reachable", [False, True], ids=["no-carrier", "no-credentials"])
def test_a_carrier_out_of_reach_is_one_line_and_the_account_stays_auto(
    migrated_engine, database_url, reachable
):
    with FakeJasper(devices=10, seed=3) as fake:
        url = fake.base_url if reachable else "http://127.0.0.1:9/rws/api/v1/"
        env = {USERNAME_ENV: "", API_KEY_ENV: ""} if reachable else _credentials(fake)
        added = _add(url, database_url, "--backfill-periods", "0", "--probe-account", env=env)
    assert added.exit_code == 0, added.output
    assert "added m2m service provider acme" in added.stdout
    warnings = added.stderr.strip().splitlines()
    assert len(warnings) == 1 and "could not ask acme's carrier" in warnings[0]
    assert "stays auto" in warnings[0]
    assert _capability(migrated_engine) == ("auto", None)
