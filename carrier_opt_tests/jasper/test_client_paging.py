"""Paging through the fleet over real HTTP: every SIM once, usage for every SIM, few calls."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta

from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.payloads import deduplicate_devices
from carrier_opt_tests.jasper.support import client_for, recent_enough


def test_search_returns_every_iccid_once_after_deduplication_despite_mid_paging_edits(
    start_fake,
) -> None:
    fake = start_fake(devices=237, duplicates_per_search=3)
    client = client_for(fake)

    result = client.search_devices(recent_enough())
    devices = list(result)

    counts = Counter(device.iccid for device in devices)
    assert sum(1 for n in counts.values() if n == 2) == 3, "the fault must really duplicate"
    unique = deduplicate_devices(devices)
    assert sorted(d.iccid for d in unique) == sorted(d.iccid for d in fake.fleet)
    searches = [r for r in fake.request_log if r.route == "devices"]
    assert [r.query["pageNumber"] for r in searches] == [str(n) for n in range(1, 6)]
    assert {r.query["pageSize"] for r in searches} == {"50"}
    assert result.pages_read == len(searches) == client.stats.pages == math.ceil((237 + 3) / 50)


def test_search_is_oldest_modification_first_with_four_fields_and_details_carry_the_rest(
    fake,
) -> None:
    client = client_for(fake)
    devices = list(client.search_devices(recent_enough()))

    modified = {d.iccid: d.date_updated for d in fake.fleet}
    stamps = [modified[d.iccid] for d in devices]
    assert stamps == sorted(stamps)
    # The real search answers iccid, status, ratePlan and communicationPlan only.
    assert all(d.status and d.rate_plan and d.communication_plan for d in devices)
    assert not any(d.imsi or d.msisdn or d.date_updated or d.date_activated for d in devices)
    details = [client.device_details(d.iccid) for d in devices[:20]]
    assert all(d.date_updated.tzinfo is not None for d in details)
    assert all(d.imsi and d.msisdn and d.account_id and d.date_added for d in details)
    activated = [d for d in details if d.status == "ACTIVATED"]
    assert activated and all(d.date_activated for d in activated)


def test_search_filters_reach_the_server(fake) -> None:
    client = client_for(fake)
    deactivated = list(client.search_devices(recent_enough(), status="DEACTIVATED"))
    assert {d.status for d in deactivated} == {"DEACTIVATED"}
    assert len(deactivated) == sum(1 for d in fake.fleet if d.status == "DEACTIVATED")
    assert fake.request_log[-1].query["status"] == "DEACTIVATED"


def test_bulk_usage_and_ctd_fallback_cover_the_fleet_within_the_call_budget(start_fake) -> None:
    fake: FakeJasper = start_fake(devices=260, missing_usage_fraction=0.02)
    client = client_for(fake)

    devices = deduplicate_devices(client.search_devices(recent_enough()))
    plans = [plan.name for plan in client.rate_plans()]
    after_plans = client.stats
    usage = {
        record.iccid: record
        for plan in plans
        for record in client.usage_by_rate_plan(plan, fake.cycle_start_date)
    }
    bulk_calls = client.stats - after_plans
    missing = {d.iccid for d in devices} - set(usage)

    assert len(plans) == len(fake.rate_plan_names) >= 10
    assert missing == {d.iccid for d in fake.fleet if not d.in_bulk_usage}
    assert len(missing) == round(260 * 0.02)
    for iccid in missing:
        fallback = client.ctd_usage(iccid)
        assert (
            fallback.ctd_data_bytes
            == next(d for d in fake.fleet if d.iccid == iccid).ctd_data_bytes
        )
    n, r = len(devices), len(plans)
    search_pages = math.ceil(n / 50)
    assert search_pages + bulk_calls.calls <= 2 * math.ceil(n / 50) + r
    assert all(u.data_bytes == d.ctd_data_bytes for d in fake.fleet if (u := usage.get(d.iccid)))


def test_usage_is_heavy_tailed_in_bytes(start_fake) -> None:
    fake = start_fake(devices=400, seed=11)
    client = client_for(fake)
    data = sorted(
        (
            u.data_bytes
            for p in fake.rate_plan_names
            for u in client.usage_by_rate_plan(p, fake.cycle_start_date)
        ),
        reverse=True,
    )
    idle = sum(1 for b in data if b == 0)
    top_5_percent = sum(data[: len(data) // 20])
    assert 0.2 < idle / len(data) < 0.6
    assert top_5_percent > 0.5 * sum(data)


def test_a_past_cycle_has_its_own_usage(fake) -> None:
    client = client_for(fake)
    plan = fake.rate_plan_names[0]
    current = fake.cycle_start_date
    previous = (current - timedelta(days=1)).replace(day=1)
    this_cycle = {u.iccid: u.data_bytes for u in client.usage_by_rate_plan(plan, current)}
    last_cycle = {u.iccid: u.data_bytes for u in client.usage_by_rate_plan(plan, previous)}
    assert set(this_cycle) == set(last_cycle)
    assert this_cycle != last_cycle
    assert fake.request_log[-1].query["cycleStartDate"] == previous.isoformat()


def test_echo_round_trips_text_that_needs_escaping(fake) -> None:
    assert client_for(fake).echo("hello world/ü?&") == "hello world/ü?&"


def test_edit_device_puts_the_carriers_field_names_and_the_fake_applies_them(fake) -> None:
    client = client_for(fake)
    target = fake.fleet[0]
    before = target.date_updated

    answered = client.edit_device(target.iccid, rate_plan="M2M Data 25MB", device_id="DEV-9")

    assert answered == target.iccid
    assert fake.edits[-1].fields == {"ratePlan": "M2M Data 25MB", "deviceID": "DEV-9"}
    assert fake.request_log[-1].method == "PUT"
    details = client.device_details(target.iccid)
    assert (details.rate_plan, details.device_id) == ("M2M Data 25MB", "DEV-9")
    assert details.date_updated > before
    latest = list(client.search_devices(recent_enough()))[-1]
    assert latest.iccid == target.iccid, "an edited SIM is the most recently modified"
