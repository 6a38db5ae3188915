"""Sync over real HTTP against the fake carrier, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from carrier_opt.db import merge as merge_module
from carrier_opt.db.merge import merge_staging
from carrier_opt.db.models import (
    BillingPeriod,
    Device,
    DeviceRatePlanHistory,
    JasperCommunicationPlan,
    JasperSyncRun,
)
from carrier_opt.db.staging import (
    DEVICE_COLUMNS,
    DEVICE_STAGING,
    StagingLoader,
    clear_staging,
)
from carrier_opt.db.sync_runs import OVERLAP, watermark
from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt.jasper.payloads import Device as CarrierDevice
from carrier_opt.pipeline import sync as sync_module
from carrier_opt.pipeline.carrier_rows import device_row
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import (
    add_fake_provider,
    assert_device_matches_fleet,
    device_state,
)
from carrier_opt_tests.jasper.support import client_for

TEN_PERCENT_FAULTS = FakeFaults(error_rate=0.05, throttle_rate=0.05, duplicates_per_search=25)


class InjectedCrash(RuntimeError):
    """A crash injected into the sync by a test."""


def crash(*_args, **_kwargs):
    raise InjectedCrash("injected")


def count(engine: Engine, column) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count(column))) or 0)


@pytest.mark.slow  # a real process killed, or thousands of SIMs
@pytest.mark.reliability
def test_a_5000_sim_sync_with_faults_ends_with_exactly_the_fakes_sims(migrated_engine):
    with FakeJasper(devices=5000, seed=11, faults=TEN_PERCENT_FAULTS) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert_device_matches_fleet(migrated_engine, fake)
        statuses = [entry.status for entry in fake.request_log]
    assert report.api.retries > 0 and {500, 429, 400} <= set(statuses)
    assert report.merge.duplicates_dropped >= 25  # SIMs modified while paging came twice
    assert report.merge.inserted == 5000 and report.problems == []
    with migrated_engine.connect() as connection:
        plans = set(connection.scalars(select(JasperCommunicationPlan.name)))
        period = connection.execute(select(BillingPeriod)).one()
    assert plans == {device.communication_plan for device in fake.fleet}
    assert period.period_start.day == 1 and period.time_zone == "UTC"


def test_api_economy_when_bulk_usage_covers_every_sim(migrated_engine):
    with FakeJasper(devices=1234, seed=5) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        calls = fake.request_log
        plans_in_use = {device.rate_plan for device in fake.fleet}
        # The first sync: every search page, one details call per SIM, usage per plan.
        usage_pages = sum(
            math.ceil(sum(d.rate_plan == plan for d in fake.fleet) / 50) for plan in plans_in_use
        )
        budget = math.ceil(1234 / 50) + 1234 + usage_pages
        assert len(calls) == report.api.calls <= budget
        assert report.details_calls == 1234
        assert not [call for call in calls if call.route.endswith("ctdUsages")]
        usage_plans = {call.query["ratePlanName"] for call in calls if call.route == "usages"}
        assert usage_plans == plans_in_use

        # A second sync with nothing modified: the search page and the usage, no details.
        fake.clear_request_log()
        again = sync_provider(migrated_engine, "acme", client=client_for(fake))
        routes = [call.route for call in fake.request_log]
    assert again.details_calls == 0 and again.merge.updated == 0
    assert routes.count("devices") == 1
    assert not [route for route in routes if route.startswith("devices/")]
    assert len(routes) == 1 + usage_pages


def test_only_sims_missing_from_bulk_usage_fall_back_to_per_sim_usage(migrated_engine):
    with FakeJasper(devices=400, seed=6, faults=FakeFaults(missing_usage_fraction=0.05)) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert_device_matches_fleet(migrated_engine, fake)
        per_sim = {
            call.route.split("/")[1] for call in fake.request_log if "ctdUsages" in call.route
        }
        missing = {device.iccid for device in fake.fleet if not device.in_bulk_usage}
    assert per_sim == missing and len(missing) == 20


@pytest.mark.reliability
def test_a_crash_after_staging_or_inside_the_merge_leaves_device_as_it_was(
    migrated_engine, monkeypatch
):
    with FakeJasper(devices=300, seed=8, faults=TEN_PERCENT_FAULTS) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        before = device_state(migrated_engine)
        editor = client_for(fake)
        moved = sorted(before)[:7]
        for iccid in moved:
            editor.edit_device(iccid, rate_plan="Pay As You Go")
        with monkeypatch.context() as patch:
            patch.setattr(sync_module, "merge_staging", crash)  # staging done, merge never runs
            with pytest.raises(InjectedCrash):
                sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert device_state(migrated_engine) == before
        with monkeypatch.context() as patch:
            patch.setattr(merge_module, "apply_usage", crash)  # after updates and inserts ran
            with pytest.raises(InjectedCrash):
                sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert device_state(migrated_engine) == before
        assert count(migrated_engine, DeviceRatePlanHistory.id) == 0
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        assert_device_matches_fleet(migrated_engine, fake)
    assert report.merge.rate_plan_changes == count(migrated_engine, DeviceRatePlanHistory.id)
    with migrated_engine.connect() as connection:
        history = connection.execute(select(DeviceRatePlanHistory)).all()
    changed = {row.iccid for row in history}
    assert changed == {iccid for iccid in moved if before[iccid][1] != "Pay As You Go"}
    assert {row.new_rate_plan_code for row in history} == {"Pay As You Go"}


def test_wrong_credentials_give_one_clear_error_and_leave_device_untouched(migrated_engine):
    with FakeJasper(devices=120, seed=9) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake))
        before = device_state(migrated_engine)
        wrong = JasperClient(fake.base_url, fake.credentials[0], "not-the-key")
        with pytest.raises(CarrierApiError) as raised:
            sync_provider(migrated_engine, "acme", client=wrong)
    message = str(raised.value)
    assert "refused the credentials" in message and "TEST_JASPER_API_KEY" in message
    assert "not-the-key" not in message and "\n" not in message
    assert device_state(migrated_engine) == before


@pytest.mark.reliability
def test_malformed_records_are_skipped_and_reported(migrated_engine):
    with FakeJasper(devices=400, seed=4, faults=FakeFaults(malformed_fraction=0.05)) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        fleet = fake.fleet
    # A search record without its ICCID cannot be synced; a SIM whose details are broken is
    # synced with the search's fields (and reported), never dropped.
    nameless = {d.iccid for d in fleet if d.malformation == "missing_iccid"}
    state = device_state(migrated_engine)
    assert set(state) == {d.iccid for d in fleet} - nameless
    malformed = [d for d in fleet if d.malformation]
    assert len(report.problems) >= len(malformed) == 20
    bad_details = [d for d in fleet if d.malformation == "garbage_date"]
    assert bad_details and all(
        any(f"GET /devices/{d.iccid}" in line and "dateUpdated" in line for line in report.problems)
        for d in bad_details
    )
    assert all(state[d.iccid][1] == d.rate_plan for d in bad_details)


def test_the_merge_keeps_the_latest_copy_of_a_sim_and_is_idempotent(migrated_engine):
    with FakeJasper(devices=1, seed=1) as fake:
        provider_id = add_fake_provider(migrated_engine, fake)
    now = datetime.now(UTC)
    iccid = "89012600000000000001"
    copies = [
        CarrierDevice(iccid, status="ACTIVATED", rate_plan="old", date_updated=now),
        CarrierDevice(iccid, status="ACTIVATED", rate_plan="newest", date_updated=now),
        CarrierDevice(
            iccid, status="ACTIVATED", rate_plan="older", date_updated=now - timedelta(1)
        ),
    ]
    loader = StagingLoader(migrated_engine, DEVICE_STAGING, DEVICE_COLUMNS)
    loader.extend(device_row(provider_id, device, page, now) for page, device in enumerate(copies))
    loader.flush()
    options = {"merged_at": now, "billing_period_id": None, "projection_factor": 1.0}
    with migrated_engine.begin() as connection:
        first = merge_staging(connection, provider_id, **options)
    with migrated_engine.begin() as connection:
        again = merge_staging(connection, provider_id, **options)
    assert (first.inserted, first.duplicates_dropped) == (1, 2)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    assert device_state(migrated_engine)[iccid][1] == "newest"
    clear_staging(migrated_engine, provider_id)
    assert count(migrated_engine, DEVICE_STAGING.c.id) == 0
    assert count(migrated_engine, Device.id) == 1


def test_the_watermark_moves_only_when_a_sync_completes(migrated_engine, monkeypatch):
    now = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    with FakeJasper(devices=30, seed=1, now=now) as fake:
        provider_id = add_fake_provider(migrated_engine, fake)
        with migrated_engine.connect() as connection:
            assert watermark(connection, provider_id, now) == now - timedelta(days=364)
        first = sync_provider(migrated_engine, "acme", client=client_for(fake), now=now)
        assert first.modified_since == now - timedelta(days=364)
        later = now + timedelta(hours=5)
        with migrated_engine.connect() as connection:
            mark = watermark(connection, provider_id, later)
        # The carrier's own clock when it answered the first page: no skew to allow for.
        assert now <= mark <= now + timedelta(seconds=5)
        with monkeypatch.context() as patch:  # a failed sync leaves the watermark where it was
            patch.setattr(sync_module, "merge_staging", crash)
            with pytest.raises(InjectedCrash):
                sync_provider(migrated_engine, "acme", client=client_for(fake), now=later)
        with migrated_engine.connect() as connection:
            assert watermark(connection, provider_id, later) == mark
    # Without the carrier's Date, our clock stands in, less a margin for skew.
    with migrated_engine.begin() as connection:
        connection.execute(update(JasperSyncRun).values(carrier_started_at=None))
        started = connection.scalar(
            select(JasperSyncRun.search_started_at).where(JasperSyncRun.status == "completed")
        )
    with migrated_engine.connect() as connection:
        assert watermark(connection, provider_id, later) == started - OVERLAP


def test_sims_activated_mid_period_are_prorated_from_their_details(migrated_engine, tmp_path):
    from carrier_opt.core.usage import proration
    from carrier_opt.db.export import instance_tables
    from carrier_opt.db.loads.rate_plans import load_rate_plans
    from carrier_opt_tests.db.sync_support import write_fake_price_files

    now = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
    with FakeJasper(devices=300, seed=13, now=now) as fake:
        add_fake_provider(migrated_engine, fake)
        load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path))
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=now)
        activated = {d.iccid: d.date_activated for d in fake.fleet}
    tables = instance_tables(migrated_engine, "acme", "2026-06")
    devices = tables.devices.set_index("iccid")
    mid_period = [
        iccid
        for iccid, moment in activated.items()
        if moment is not None and tables.period.start < moment and iccid in devices.index
    ]
    assert mid_period, "the fake must activate some SIMs inside the period"
    for iccid in mid_period:  # the search has no activation date: it came from the details
        expected = proration(activated[iccid], tables.period)
        assert devices.loc[iccid, "proration"] == pytest.approx(expected, abs=1e-6)
        assert expected < 1
