"""Broken records from the carrier: strict by default, skip-and-report when the sync asks."""

from __future__ import annotations

import pytest

from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.payloads import MalformedRecordError
from carrier_opt_tests.jasper.support import client_for, recent_enough


@pytest.fixture
def broken_fake(start_fake) -> FakeJasper:
    """250 SIMs of which 8 % have a broken record of some kind."""
    return start_fake(devices=250, seed=5, malformed_fraction=0.08)


def _broken(fake: FakeJasper, *kinds: str) -> set[str]:
    return {d.iccid for d in fake.fleet if d.malformation in kinds}


def test_the_default_is_to_stop_at_the_first_broken_record_and_say_where(broken_fake) -> None:
    with pytest.raises(MalformedRecordError) as caught:
        list(client_for(broken_fake).search_devices(recent_enough()))

    problem = caught.value.problem
    assert problem.endpoint == "GET /devices"
    assert problem.page is not None and problem.index is not None
    assert problem.field == "iccid"  # the search's four fields: only a missing ICCID breaks it
    assert f"page {problem.page} record {problem.index}" in str(caught.value)


def test_skipping_reports_every_broken_search_record_and_keeps_the_rest(broken_fake) -> None:
    result = client_for(broken_fake).search_devices(recent_enough(), skip_malformed=True)
    devices = list(result)

    # Search records carry no date or number: only a missing ICCID breaks one.
    broken = _broken(broken_fake, "missing_iccid")
    assert {d.iccid for d in devices} == {d.iccid for d in broken_fake.fleet} - broken
    assert len(result.problems) == len(broken) > 0
    assert {p.field for p in result.problems} == {"iccid"}
    for problem in result.problems:
        assert 1 <= problem.page <= result.pages_read
        assert 0 <= problem.index < 50


def test_broken_details_name_the_sim_and_the_field(broken_fake) -> None:
    iccid = sorted(_broken(broken_fake, "garbage_date"))[0]
    with pytest.raises(MalformedRecordError) as caught:
        client_for(broken_fake).device_details(iccid)
    assert caught.value.problem.field == "dateUpdated" and caught.value.problem.iccid == iccid
    assert "31/02/2024 25:61" in caught.value.problem.value


def test_skipping_reports_broken_usage_numbers_with_their_rate_plan_page(broken_fake) -> None:
    client = client_for(broken_fake)
    problems = []
    for plan in broken_fake.rate_plan_names:
        result = client.usage_by_rate_plan(plan, broken_fake.cycle_start_date, skip_malformed=True)
        list(result)
        problems += result.problems

    garbage = _broken(broken_fake, "garbage_number")
    assert {p.iccid for p in problems if p.field == "dataUsage"} == garbage
    assert {p.endpoint for p in problems} == {"GET /usages"}


def test_a_broken_single_record_raises_naming_the_field(broken_fake) -> None:
    iccid = sorted(_broken(broken_fake, "garbage_number"))[0]
    with pytest.raises(MalformedRecordError) as caught:
        client_for(broken_fake).ctd_usage(iccid)
    assert caught.value.problem.field == "ctdDataUsage"
    assert caught.value.problem.page is None
    assert iccid in str(caught.value)
