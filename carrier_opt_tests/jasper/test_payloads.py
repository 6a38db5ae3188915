"""Parsing the carrier's records: liberal about formats, precise about what is broken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.fake.endpoints import format_jasper_date
from carrier_opt.jasper.payloads import (
    Device,
    MalformedRecordError,
    RecordPlace,
    deduplicate_devices,
    parse_count,
    parse_device,
    parse_jasper_datetime,
)

ICCID = "8988216716970004975"
MOMENT = datetime(2016, 6, 29, 0, 21, 33, 339000, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2016-06-29 00:21:33.339+0000",  # the spec's format
        "2016-06-29T00:21:33.339+00:00",
        "2016-06-29T00:21:33.339Z",
        "2016-06-29T02:21:33.339+0200",
        "2016-06-28 19:21:33.339-05:00",
        " 2016-06-29 00:21:33.339 ",  # no offset: UTC
    ],
)
def test_dates_in_every_accepted_spelling_mean_the_same_utc_moment(text: str) -> None:
    parsed = parse_jasper_datetime(text)
    assert parsed == MOMENT
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_dates_are_none(empty: str | None) -> None:
    assert parse_jasper_datetime(empty) is None


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(timezone(timedelta(hours=-3))),
    )
)
def test_the_fakes_date_format_parses_back_to_the_millisecond(moment: datetime) -> None:
    expected = moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_jasper_datetime(format_jasper_date(moment)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [(5, 5), ("17", 17), (3.0, 3), (None, None), ("", None)]
)
def test_counts_accept_numbers_and_digit_texts(raw: object, expected: int | None) -> None:
    assert parse_count(raw) == expected


@pytest.mark.parametrize("raw", ["1.2 MB", -1, 2.5, True, [1]])
def test_counts_reject_what_is_not_a_whole_number(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_count(raw)


def test_a_search_record_with_detail_fields_is_parsed_in_full() -> None:
    record = {
        "iccid": ICCID,
        "status": "ACTIVATED",
        "ratePlan": "hphlr rp1",
        "communicationPlan": "CP_Basic_ON",
        "accountId": 100020620,
        "msisdn": "",
        "dateActivated": "2016-06-29 00:21:33.339+0000",
        "dateUpdated": None,
    }
    device = parse_device(record, RecordPlace("GET /devices", 1, 0))
    assert device == Device(
        iccid=ICCID,
        status="ACTIVATED",
        rate_plan="hphlr rp1",
        communication_plan="CP_Basic_ON",
        account_id="100020620",
        date_activated=MOMENT,
    )


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"status": "ACTIVATED"}, "iccid"),
        ({"iccid": "not-an-iccid"}, "iccid"),
        ({"iccid": ICCID, "dateUpdated": "31/02/2024 25:61"}, "dateUpdated"),
    ],
)
def test_a_broken_record_names_endpoint_page_index_and_field(record: dict, field: str) -> None:
    with pytest.raises(MalformedRecordError) as caught:
        parse_device(record, RecordPlace("GET /devices", 3, 17))
    problem = caught.value.problem
    assert (problem.endpoint, problem.page, problem.index, problem.field) == (
        "GET /devices",
        3,
        17,
        field,
    )
    assert "page 3 record 17" in str(caught.value)
    assert repr(field) in str(caught.value)
    assert isinstance(caught.value, CarrierApiError)


def test_deduplication_keeps_the_latest_copy_of_each_iccid() -> None:
    old = Device(ICCID, status="ACTIVATED", date_updated=MOMENT)
    new = Device(ICCID, status="DEACTIVATED", date_updated=MOMENT + timedelta(hours=1))
    other = Device("8988216716970004983", status="ACTIVATED")
    assert deduplicate_devices([old, other, new]) == [new, other]
    assert deduplicate_devices([new, other, old]) == [new, other]
