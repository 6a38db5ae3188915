"""Issue 26: a listing the carrier cut short never becomes a shorter fleet.

The fake answers a search page empty with ``lastPage: false`` (a real glitch), and, to prove
the fleet cross-checks catch what no page shows, the paging fix is undone for a sync (as any
unknown listing fault would behave). Every case ends with ``Device`` equal to the carrier.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from carrier_opt.db.models import Device, JasperSyncRun, SkippedCarrierRecord, SyncStatus
from carrier_opt.db.skipped_records import skipped_by_last_sync
from carrier_opt.db.sync_runs import FIRST_SYNC_WINDOW
from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper import paging
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt.pipeline import sync as sync_module
from carrier_opt.pipeline.fleet_check import IncompleteListingError, UsageCrossCheck
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, assert_device_matches_fleet
from carrier_opt_tests.jasper.support import client_for

pytestmark = pytest.mark.reliability

SIMS = 500  # ten search pages of 50; page 5 empty would keep 200 SIMs


def _old_last_page(body, records, page_size, *, endpoint, page_number):
    """``last_page`` as it was before issue 26: an empty page ended the listing."""
    flag = paging.parse_flag_or_none(body.get("lastPage")) if isinstance(body, dict) else None
    if flag is None:
        flag = records < page_size
    return flag or records == 0


def _syncs(engine: Engine) -> list:
    with engine.connect() as connection:
        return connection.execute(select(JasperSyncRun).order_by(JasperSyncRun.id)).all()


def _devices(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count(Device.id))) or 0)


def test_an_empty_page_mid_listing_fails_the_sync_and_loses_nothing(migrated_engine):
    faults = FakeFaults(empty_search_page=5)
    with FakeJasper(devices=SIMS, seed=3, faults=faults) as fake:
        add_fake_provider(migrated_engine, fake)
        with pytest.raises(CarrierApiError) as raised:
            sync_provider(migrated_engine, "acme", client=client_for(fake))
        message = str(raised.value)
        assert "GET /devices page 5: an empty page that says it is not the last" in message
        assert "asked 3 times" in message and "\n" not in message
        assert _devices(migrated_engine) == 0  # nothing merged, no watermark moved
        assert [run.status for run in _syncs(migrated_engine)] == [SyncStatus.FAILED]
        fake.faults = FakeFaults()  # the glitch passes: the next sync resumes and converges
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert report.resumed and report.merge.inserted == SIMS
        assert_device_matches_fleet(migrated_engine, fake)


def test_an_empty_page_that_passes_when_asked_again_costs_one_call(migrated_engine):
    faults = FakeFaults(empty_search_page=5, empty_page_answers=1)
    with FakeJasper(devices=SIMS, seed=3, faults=faults) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        page_5 = [r for r in fake.request_log if r.query.get("pageNumber") == "5"]
        assert_device_matches_fleet(migrated_engine, fake)
    searches = [call for call in page_5 if call.route == "devices"]
    assert len(searches) == 2 and report.merge.inserted == SIMS


def test_usage_listing_sims_the_search_lost_stops_the_sync_and_the_next_sweeps_all(
    migrated_engine, monkeypatch
):
    """The cross-check: with the paging fix undone the search ends at page 5, but bulk usage
    lists all 500 SIMs; the sync fails before the merge, and the next one sweeps afresh."""
    with FakeJasper(devices=SIMS, seed=3, faults=FakeFaults(empty_search_page=5)) as fake:
        add_fake_provider(migrated_engine, fake)
        with monkeypatch.context() as patch:
            patch.setattr(paging, "last_page", _old_last_page)
            with pytest.raises(IncompleteListingError) as raised:
                sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert "the carrier's usage lists 300 SIMs of 500 that its device listing left out" in (
            str(raised.value)
        )
        assert _devices(migrated_engine) == 0
        (failed,) = _syncs(migrated_engine)
        assert failed.full_sweep_next and failed.status == SyncStatus.FAILED
        fake.faults = FakeFaults()
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert_device_matches_fleet(migrated_engine, fake)
    assert not report.resumed and report.merge.inserted == SIMS
    repair = _syncs(migrated_engine)[-1]
    assert repair.resumed_from is None and repair.status == SyncStatus.COMPLETED
    assert repair.started_at - repair.modified_since == FIRST_SYNC_WINDOW


def test_a_fleet_cut_short_by_an_earlier_version_is_found_and_repaired(
    migrated_engine, monkeypatch
):
    """The damage the bug did before issue 26 (200 of 500 SIMs stored, the watermark moved):
    the next incremental sync finds the 300 in the usage and stops; the one after sweeps."""
    with FakeJasper(devices=SIMS, seed=3, faults=FakeFaults(empty_search_page=5)) as fake:
        add_fake_provider(migrated_engine, fake)
        with monkeypatch.context() as patch:  # the old code: no paging fix, no cross-check
            patch.setattr(paging, "last_page", _old_last_page)
            patch.setattr(
                sync_module,
                "check_usage_against_listing",
                lambda *args, **kwargs: UsageCrossCheck((), ()),
            )
            damaged = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert damaged.merge.inserted == 200 and _devices(migrated_engine) == 200
        fake.faults = FakeFaults()
        with pytest.raises(IncompleteListingError, match="usage lists 300 SIMs of 500"):
            sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert _devices(migrated_engine) == 200
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert_device_matches_fleet(migrated_engine, fake)


def test_known_sims_missing_from_a_full_sweep_stop_it_before_any_details_call(
    migrated_engine, monkeypatch
):
    """The shrink check: every stored SIM modified in the window must be listed."""
    with FakeJasper(devices=SIMS, seed=3) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        fake.faults = FakeFaults(empty_search_page=5)
        fake.clear_request_log()
        year_back = fake.now() - timedelta(days=360)
        with monkeypatch.context() as patch:
            patch.setattr(paging, "last_page", _old_last_page)
            with pytest.raises(IncompleteListingError) as raised:
                sync_provider(migrated_engine, "acme", client=client_for(fake), since=year_back)
        details_calls = [r for r in fake.request_log if r.route.startswith("devices/")]
        assert details_calls == []
        assert "the carrier's device listing is short: 300 of the 500 known SIMs" in str(
            raised.value
        )
        assert_device_matches_fleet(migrated_engine, fake)  # untouched


def test_skipped_records_are_stored_with_what_identifies_them(migrated_engine):
    with FakeJasper(devices=400, seed=4, faults=FakeFaults(malformed_fraction=0.05)) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        nameless = [d for d in fake.fleet if d.malformation == "missing_iccid"]
    with migrated_engine.connect() as connection:
        stored = connection.execute(select(SkippedCarrierRecord)).all()
        last = skipped_by_last_sync(connection, 1)
    assert len(stored) == len(report.problems) == last.total > 0
    assert len(last.shown) == min(20, last.total)
    without_iccid = [
        row
        for row in stored
        if row.iccid is None and row.field == "iccid" and row.endpoint == "GET /devices"
    ]
    assert nameless and len(without_iccid) == len(nameless)
    assert all("status=" in (row.identity or "") for row in without_iccid)
    assert {row.reason for row in without_iccid} == {"the ICCID is missing"}


def test_an_interrupted_sync_says_how_many_details_it_fetched(migrated_engine, monkeypatch):
    with FakeJasper(devices=300, seed=6) as fake:
        add_fake_provider(migrated_engine, fake)
        client = client_for(fake)
        real = client.device_details
        calls = {"n": 0}

        def details_then_crash(iccid):
            calls["n"] += 1
            if calls["n"] > 120:
                raise KeyboardInterrupt  # an operator's Ctrl-C, after 120 details
            return real(iccid)

        monkeypatch.setattr(client, "device_details", details_then_crash)
        with pytest.raises(KeyboardInterrupt):
            sync_provider(migrated_engine, "acme", client=client)
    (run,) = _syncs(migrated_engine)
    assert run.status == SyncStatus.FAILED and run.details_fetched == 100  # two commits of 50
