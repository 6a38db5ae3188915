"""Usage never goes silently to zero: every known bulk shape is read, anything else falls back
to per-SIM ctdUsages with a warning naming the plan, and usage is dated by the carrier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from carrier_opt.db.models import Device, ServiceProvider
from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, assert_device_matches_fleet
from carrier_opt_tests.jasper.support import client_for

NOW = datetime(2026, 4, 9, 13, 0, tzinfo=UTC)


def per_sim_calls(fake: FakeJasper) -> set[str]:
    return {call.route.split("/")[1] for call in fake.request_log if "ctdUsages" in call.route}


def test_the_zones_shape_is_summed_over_zones(migrated_engine):
    with FakeJasper(devices=300, seed=2, now=NOW, faults=FakeFaults(usage_shape="zones")) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        assert_device_matches_fleet(migrated_engine, fake)
        assert per_sim_calls(fake) == set() and report.warnings == []
    assert report.bulk_usage_rows == 300


def test_an_unknown_shape_falls_back_per_sim_and_names_plan_and_keys(migrated_engine):
    with FakeJasper(devices=120, seed=3, now=NOW, faults=FakeFaults(usage_shape="unknown")) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        assert_device_matches_fleet(migrated_engine, fake)  # no SIM at zero usage
        assert per_sim_calls(fake) == {device.iccid for device in fake.fleet}
        plans = {device.rate_plan for device in fake.fleet}
    assert len(report.warnings) == len(plans)
    assert all(
        "no known shape (keys: lastPage, pageNumber, usageRecords)" in w for w in report.warnings
    )
    assert {w.split("'")[1] for w in report.warnings} == plans


def test_an_empty_answer_for_a_plan_with_sims_falls_back_per_sim(migrated_engine):
    faults = FakeFaults(missing_usage_fraction=1.0)  # bulk usage lists nobody
    with FakeJasper(devices=80, seed=4, now=NOW, faults=faults) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        assert_device_matches_fleet(migrated_engine, fake)
        assert per_sim_calls(fake) == {device.iccid for device in fake.fleet}
    assert report.warnings and all(
        "lists no SIM while SIMs are on the plan" in w for w in report.warnings
    )


def test_bulk_usage_can_be_turned_off(migrated_engine):
    with FakeJasper(devices=40, seed=5, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        with migrated_engine.begin() as connection:
            connection.execute(update(ServiceProvider).values(bulk_usage=False))
        report = sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        assert_device_matches_fleet(migrated_engine, fake)
        assert not [call for call in fake.request_log if call.route == "usages"]
    assert report.ctd_usage_calls == 40 and "bulk usage is off" in report.warnings[0]


def test_usage_is_dated_by_the_carriers_answer_not_the_syncs_clock(migrated_engine):
    with FakeJasper(devices=20, seed=6, now=NOW) as fake:
        add_fake_provider(migrated_engine, fake)
        later = NOW + timedelta(hours=2)  # our clock runs two hours ahead of the carrier's
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=later)
    with migrated_engine.connect() as connection:
        dates = set(connection.scalars(select(Device.usage_date)))
    # Each answer carries its own Date; the fake's clock ticks in real time, so a sync that
    # crosses a second boundary dates its pages a second apart. None is dated by our clock.
    assert dates and all(abs(moment - NOW) < timedelta(seconds=30) for moment in dates)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (FakeFaults(ignore_page_number=True), "repeats page 1"),
    ],
)
def test_a_server_that_does_not_page_fails_the_sync_instead_of_looping(
    migrated_engine, faults, message
):
    with FakeJasper(devices=120, seed=7, now=NOW, faults=faults) as fake:
        add_fake_provider(migrated_engine, fake)
        with pytest.raises(CarrierApiError, match=message):
            sync_provider(migrated_engine, "acme", client=client_for(fake), now=NOW)
        assert len([c for c in fake.request_log if c.route == "devices"]) == 2
        with migrated_engine.connect() as connection:
            assert connection.scalars(select(Device.id)).all() == []  # nothing half-written
