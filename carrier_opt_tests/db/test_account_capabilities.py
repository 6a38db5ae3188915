"""Issue 27: an account that may not call Get Usage by Rate Plan (Cisco's Essential accounts)
is a capability fact, found out once, never a credentials failure."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from carrier_opt.db.models import ServiceProvider
from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.past_usage import fetch_past_usage
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, assert_device_matches_fleet
from carrier_opt_tests.jasper.support import client_for


def _capability(engine) -> tuple:
    with engine.connect() as connection:
        return connection.execute(
            select(
                ServiceProvider.account_type,
                ServiceProvider.usage_by_rate_plan,
                ServiceProvider.capabilities_note,
            )
        ).one()


def _calls(fake: FakeJasper, route: str) -> int:
    return sum(1 for call in fake.request_log if call.route.split("/")[0] == route)


@pytest.mark.parametrize("status", [403, 401])
def test_a_refused_usages_is_the_accounts_type_not_bad_credentials(migrated_engine, status):
    with FakeJasper(devices=300, seed=2, account_type="essential", refusal_status=status) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert_device_matches_fleet(migrated_engine, fake)  # usage of every SIM, per SIM
        assert report.bulk_usage_refused and report.ctd_usage_calls == 300
        assert _calls(fake, "usages") == 2 and _calls(fake, "echo") == 2
        said = [w for w in report.warnings if "may not call Get Usage by Rate Plan" in w]
        assert len(said) == 1 and f"HTTP {status}" in said[0]
        account_type, usage_by_rate_plan, note = _capability(migrated_engine)
        assert (account_type, usage_by_rate_plan) == ("auto", "refused")
        assert f"GET /usages refused (HTTP {status}" in note
        fake.clear_request_log()
        again = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert _calls(fake, "usages") == 0  # found out once, not asked every sync
        assert any("the account refused Get Usage by Rate Plan" in w for w in again.warnings)


def test_wrong_credentials_on_an_essential_account_are_still_bad_credentials(migrated_engine):
    with FakeJasper(devices=60, seed=2, account_type="essential", refusal_status=401) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        wrong = JasperClient(fake.base_url, fake.credentials[0], "not-the-key")
        with pytest.raises(CarrierApiError, match="refused the credentials"):
            sync_provider(migrated_engine, "acme", client=wrong)


def test_an_advantage_account_is_recorded_and_one_refused_plan_is_that_plans(migrated_engine):
    with FakeJasper(devices=200, seed=2) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
    assert not report.bulk_usage_refused and report.ctd_usage_calls == 0
    _, usage_by_rate_plan, note = _capability(migrated_engine)
    assert usage_by_rate_plan == "allowed" and note.startswith("GET /usages answered")


def test_an_account_set_essential_never_calls_usages(migrated_engine):
    with FakeJasper(devices=120, seed=2) as fake:
        add_fake_provider(migrated_engine, fake)
        with migrated_engine.begin() as connection:
            connection.execute(update(ServiceProvider).values(account_type="essential"))
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert _calls(fake, "usages") == 0 and report.ctd_usage_calls == 120
        assert_device_matches_fleet(migrated_engine, fake)


def test_past_cycles_on_an_essential_account_say_why_they_cannot_be_read(migrated_engine):
    with FakeJasper(devices=80, seed=2, account_type="essential") as fake:
        add_fake_provider(migrated_engine, fake)
        with migrated_engine.begin() as connection:  # not found out yet: the past asks first
            connection.execute(update(ServiceProvider).values(account_type="auto"))
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        fake.clear_request_log()
        past = fetch_past_usage(migrated_engine, "acme", 2, client=client_for(fake))
    assert past.periods == [] and _calls(fake, "usages") == 0
    assert len(past.warnings) == 1 and "past cycles cannot be read" in past.warnings[0]
