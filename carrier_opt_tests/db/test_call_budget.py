"""Issue 27: a sync within a call budget spends it in order of worth and says what it left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from carrier_opt.db.models import Device, JasperSyncRun, SyncStatus
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.call_plan import CallBudgetSpent
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, assert_device_matches_fleet
from carrier_opt_tests.jasper.support import client_for

NOW = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=7)
SIMS = 300


def _calls(fake: FakeJasper, kind: str) -> int:
    routes = {
        "search": lambda r: r == "devices",
        "details": lambda r: r.startswith("devices/") and not r.endswith("ctdUsages"),
        "ctd": lambda r: r.endswith("ctdUsages"),
    }
    return sum(1 for call in fake.request_log if routes[kind](call.route))


def _usage_dates(engine) -> dict[str, datetime]:
    with engine.connect() as connection:
        return dict(connection.execute(select(Device.iccid, Device.usage_date)).all())


def test_an_essential_refresh_within_a_budget_reads_what_is_worth_most(migrated_engine):
    with FakeJasper(devices=SIMS, seed=21, now=NOW, account_type="essential") as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        before = _usage_dates(migrated_engine)
        fake.clear_request_log()
        budget = 60
        report = sync_provider(
            migrated_engine, "acme", client=client_for(fake), now=LATER, max_calls=budget
        )
        calls = len(fake.request_log)
        ctd = _calls(fake, "ctd")
    after = _usage_dates(migrated_engine)
    refreshed = [iccid for iccid in after if after[iccid] != before[iccid]]
    assert calls <= budget and ctd == len(refreshed) == budget - report.api.pages
    assert report.usage_left_stale == SIMS - ctd
    assert any("keep their last reading" in warning for warning in report.warnings)
    figures = report.staleness
    assert figures is not None and figures.stale_sims > 0 and figures.money_bound_usd > 0
    assert figures.oldest_reading is not None and figures.oldest_reading < LATER - timedelta(days=6)


def test_a_budget_smaller_than_the_search_stops_before_merging_and_the_next_resumes(
    migrated_engine,
):
    with FakeJasper(devices=SIMS, seed=21, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        with pytest.raises(CallBudgetSpent, match="ran out after search page 3"):
            sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW, max_calls=3)
        assert len(fake.request_log) == 3
        with migrated_engine.connect() as connection:
            assert connection.scalar(select(func.count(Device.id))) == 0
            run = connection.execute(select(JasperSyncRun)).one()
        assert run.status == SyncStatus.FAILED and run.pages_done == 3
        report = sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        assert report.resumed and run.split_at is not None  # this period's SIMs listed first
        # Each page read once over both syncs: 300 SIMs are 6 pages, 7 when the listing is
        # split in two at the period start.
        assert _calls(fake, "search") == 3 + report.pages_read <= 7
        assert_device_matches_fleet(migrated_engine, fake)


def test_details_a_budget_left_are_fetched_by_the_next_syncs_new_sims_first(migrated_engine):
    with FakeJasper(devices=SIMS, seed=21, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        pages = -(-SIMS // 50)
        first = sync_provider(
            migrated_engine, "acme", client=client_for(fake), now=NOW, max_calls=pages + 40 + 100
        )
        details = _calls(fake, "details")
        assert first.details_pending == SIMS - details and details > 0
        with migrated_engine.connect() as connection:
            pending = connection.scalar(
                select(func.count()).select_from(Device).where(Device.details_at.is_(None))
            )
            stored = connection.scalar(select(func.count(Device.id)))
        assert stored == SIMS and pending == first.details_pending
        fake.clear_request_log()
        second = sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        assert _calls(fake, "details") == pending and second.details_pending == 0
        assert_device_matches_fleet(migrated_engine, fake)


def test_a_first_sync_within_a_budget_fetches_this_periods_sims_details_first(migrated_engine):
    """The split listing: SIMs modified since the period began (activated in it, so prorated)
    get their details first; with a budget of search pages + those details + usage pages the
    sync completes, optimization-ready, and says how many details are still missing."""
    with FakeJasper(devices=SIMS, seed=21, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        start = datetime(2026, 9, 1, tzinfo=UTC)
        recent = {d.iccid for d in fake.fleet if d.date_updated >= start}
        plans = {d.rate_plan for d in fake.fleet}
        budget = 8 + len(recent) + len(plans) + 2  # two listings' pages, details, usage pages
        report = sync_provider(
            migrated_engine, "acme", client=client_for(fake), now=NOW, max_calls=budget
        )
        details = {
            call.route.split("/")[1]
            for call in fake.request_log
            if call.route.startswith("devices/") and not call.route.endswith("ctdUsages")
        }
    assert 0 < len(recent) < SIMS // 2
    assert recent <= details  # every SIM of this period has its activation date
    assert report.details_pending == SIMS - len(details) > 0
    with migrated_engine.connect() as connection:
        stored = connection.scalar(select(func.count(Device.id)))
    assert stored == SIMS
