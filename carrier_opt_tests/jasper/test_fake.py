"""The fake enforces the spec: raw HTTP calls (plain ``requests``) against it on loopback."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests

from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake.fleet import MB, build_fleet, cycle_start


def _get(fake: FakeJasper, route: str, auth=None, **params) -> requests.Response:
    return requests.get(
        fake.base_url + route, params=params, auth=auth or fake.credentials, timeout=5
    )


def _since(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


def test_the_fake_listens_on_loopback_only_by_default(fake) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/rws/api/v1/")


def test_no_authorization_header_gets_the_spring_style_401(fake) -> None:
    response = requests.get(fake.base_url + "echo/x", timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Jasper"'
    assert response.json() == {
        "errorMessage": "Full authentication is required to access this resource"
    }


def test_wrong_credentials_get_10000001(fake) -> None:
    response = _get(fake, "echo/x", auth=("fake-user", "nope"))
    assert response.status_code == 401
    assert response.json() == {"errorCode": "10000001", "errorMessage": "Invalid credentials"}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "10000003"),
        ({"modifiedSince": _since(timedelta(days=1))}, "10002119"),
        ({"modifiedSince": _since(-timedelta(days=366))}, "10000045"),
        ({"modifiedSince": _since(-timedelta(days=1)), "pageSize": "51"}, "10000028"),
        ({"modifiedSince": _since(-timedelta(days=1)), "colour": "blue"}, "10000028"),
    ],
    ids=["missing", "future", "too-old", "page-size-51", "unknown-parameter"],
)
def test_device_search_rejects_what_the_spec_rejects(fake, params: dict, code: str) -> None:
    response = _get(fake, "devices", **params)
    assert response.status_code == 400
    assert response.json()["errorCode"] == code
    assert response.json()["errorMessage"]


def test_an_unencoded_plus_in_modified_since_is_rejected(fake) -> None:
    since = _since(-timedelta(days=1))
    response = requests.get(
        f"{fake.base_url}devices?modifiedSince={since}", auth=fake.credentials, timeout=5
    )
    assert response.status_code == 400
    assert "offset" in response.json()["errorMessage"]


def test_search_pages_are_at_most_fifty_and_sorted_oldest_first(fake) -> None:
    since = _since(-timedelta(days=364))
    first = _get(fake, "devices", modifiedSince=since, pageNumber=1).json()
    last = _get(fake, "devices", modifiedSince=since, pageNumber=3).json()
    assert (len(first["devices"]), first["lastPage"]) == (50, False)
    assert (len(last["devices"]), last["lastPage"]) == (20, True)
    modified = {d.iccid: d.date_updated for d in fake.fleet}
    stamps = [modified[d["iccid"]] for d in first["devices"] + last["devices"]]
    assert stamps == sorted(stamps)
    # Four fields per SIM, as the real search answers; the rest is in the details.
    assert set(first["devices"][0]) == {"iccid", "status", "ratePlan", "communicationPlan"}
    details = _get(fake, f"devices/{first['devices'][0]['iccid']}").json()
    assert details["dateUpdated"][10] == " "  # the spec's own date format


def test_a_put_is_recorded_and_validated(fake) -> None:
    iccid = fake.fleet[3].iccid
    url = f"{fake.base_url}devices/{iccid}"
    good = requests.put(url, json={"ratePlan": "M2M Data 1GB"}, auth=fake.credentials, timeout=5)
    bad = requests.put(url, json={"ratePlan": "No Such Plan"}, auth=fake.credentials, timeout=5)
    empty = requests.put(url, json={}, auth=fake.credentials, timeout=5)

    assert (good.status_code, good.json()) == (200, {"iccid": iccid})
    assert [bad.status_code, empty.status_code] == [400, 400]
    assert [e.fields for e in fake.edits] == [{"ratePlan": "M2M Data 1GB"}]
    assert fake.fleet[3].rate_plan == "M2M Data 1GB"


def test_the_request_log_keeps_method_path_query_and_status(fake) -> None:
    _get(fake, "usages", ratePlanName="M2M Data 5MB")
    _get(fake, "devices/89012600000000000000")
    first, second = fake.request_log
    assert (first.method, first.route, first.query, first.status) == (
        "GET",
        "usages",
        {"ratePlanName": "M2M Data 5MB"},
        200,
    )
    assert (second.route, second.status) == ("devices/89012600000000000000", 404)


def test_the_same_seed_builds_the_same_fleet_and_another_seed_another() -> None:
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert build_fleet(50, seed=1, now=now) == build_fleet(50, seed=1, now=now)
    assert build_fleet(50, seed=1, now=now) != build_fleet(50, seed=2, now=now)


def test_the_fleet_looks_like_a_real_one() -> None:
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    fleet = build_fleet(2000, seed=4, now=now)
    statuses = Counter(d.status for d in fleet)
    mid_cycle = [
        d for d in fleet if d.date_activated and d.date_activated.date() >= cycle_start(now)
    ]
    assert statuses.most_common(1)[0][0] == "ACTIVATED"
    assert {"DEACTIVATED", "INVENTORY"} <= set(statuses)
    assert len({d.rate_plan for d in fleet}) >= 10
    assert len({d.communication_plan for d in fleet}) >= 3
    assert mid_cycle, "some SIMs are activated inside the current cycle"
    assert max(d.ctd_data_bytes for d in fleet) > 100 * MB
    assert all(now - timedelta(days=365) < d.date_updated <= now for d in fleet)
    assert len({d.iccid for d in fleet}) == 2000


def test_a_pinned_clock_makes_the_fake_live_on_that_day() -> None:
    pinned = datetime(2025, 1, 15, 9, tzinfo=UTC)
    with FakeJasper(devices=30, seed=2, now=pinned) as fake:
        assert fake.cycle_start_date == pinned.date().replace(day=1)
        since = (fake.now() - timedelta(days=364)).isoformat(timespec="seconds")
        found = _get(fake, "devices", modifiedSince=since).json()["devices"]
        too_late = _get(fake, "devices", modifiedSince=_since(-timedelta(days=1)))
    assert len(found) == 30
    assert too_late.json()["errorCode"] == "10002119", "today is in the pinned clock's future"


def _put(fake: FakeJasper, iccid: str, body: dict) -> requests.Response:
    return requests.put(
        f"{fake.base_url}devices/{iccid}", json=body, auth=fake.credentials, timeout=5
    )


def test_the_spec_s_edit_fields_are_accepted_and_others_refused(fake) -> None:
    iccid = fake.fleet[0].iccid
    fields = {"accountCustom3": "site 7", "ipv4Address": "10.0.0.7", "operatorCustom1": "x"}
    assert _put(fake, iccid, fields).status_code == 200
    details = _get(fake, f"devices/{iccid}").json()
    assert (details["accountCustom3"], details["fixedIPAddress"]) == ("site 7", "10.0.0.7")
    for field in ("simNotes", "endConsumerId", "colour"):  # not in the public DeviceEditModel
        refused = _put(fake, iccid, {field: "x"})
        assert refused.status_code == 400 and refused.json()["errorCode"] == "10000028"
    # ... and the custom fields filter the search, as the spec allows.
    found = _get(
        fake, "devices", modifiedSince=_since(-timedelta(days=364)), accountCustom3="site 7"
    ).json()
    assert [d["iccid"] for d in found["devices"]] == [iccid]


def test_a_future_effective_date_is_scheduled_not_applied(start_fake) -> None:
    fake = start_fake(devices=5, now=datetime(2026, 5, 10, 12, 0, tzinfo=UTC))
    device = fake.fleet[0]
    before = device.rate_plan
    other = next(name for name in fake.rate_plan_names if name != before)
    when = (fake.now() + timedelta(seconds=2)).isoformat(timespec="seconds")
    assert _put(fake, device.iccid, {"ratePlan": other, "effectiveDate": when}).status_code == 200
    assert _get(fake, f"devices/{device.iccid}").json()["ratePlan"] == before  # not yet
    assert fake.edits[-1].effective_at is not None
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while _get(fake, f"devices/{device.iccid}").json()["ratePlan"] != other:
        assert datetime.now(UTC) < deadline, "the scheduled edit never took effect"


def test_usage_by_rate_plan_takes_the_spec_s_rate_plan_version(fake) -> None:
    plan = fake.fleet[0].rate_plan
    assert _get(fake, "usages", ratePlanName=plan, ratePlanVersion="2").status_code == 200
    refused = _get(fake, "usages", ratePlanName=plan, ratePlanVersion="two")
    assert refused.status_code == 400


def test_usage_grows_with_the_fakes_clock_and_the_fake_knows_the_cycles_end():
    """Issue 27's growth model: a later read is larger, about 10 % of SIMs change their rate
    for good, and the end of the cycle is known for benchmarks."""
    from datetime import UTC, datetime

    from carrier_opt.jasper.fake.growth import growth_for
    from carrier_opt_tests.jasper.support import client_for

    day_10 = datetime(2026, 9, 10, 12, 0, tzinfo=UTC)
    with FakeJasper(devices=400, seed=3, now=day_10, usage_growth=True) as fake:
        active = [d for d in fake.fleet if d.status == "ACTIVATED" and d.monthly_data_bytes]
        sim = active[0]
        with client_for(fake) as client:
            early = client.ctd_usage(sim.iccid).ctd_data_bytes
            fake.move_clock(datetime(2026, 9, 25, 12, 0, tzinfo=UTC))
            late = client.ctd_usage(sim.iccid).ctd_data_bytes
        end = fake.end_of_cycle_bytes(sim.iccid)
    assert 0 < early < late < end
    start = datetime(2026, 9, 1, tzinfo=UTC)
    changing = [
        growth_for(3, d.iccid, d.monthly_data_bytes, start.date(), 30, start).changes_on
        for d in active
    ]
    share = sum(day is not None for day in changing) / len(changing)
    assert 0.05 < share < 0.16
