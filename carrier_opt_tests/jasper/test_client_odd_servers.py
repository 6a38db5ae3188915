"""Odd answers the fake does not give, scripted with pytest-httpserver (on localhost)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.paging import GLITCH_ATTEMPTS
from carrier_opt_tests.jasper.support import FAST_RETRIES

ROOT = "/rws/api/v1/"


def _client(httpserver: HTTPServer) -> JasperClient:
    return JasperClient(
        httpserver.url_for(ROOT),
        "user",
        "key",
        retry_policy=FAST_RETRIES,
        calls_per_second=1e4,
    )


def test_an_iso_8859_1_error_body_is_decoded_into_the_error(httpserver: HTTPServer) -> None:
    body = json.dumps(
        {"errorCode": "10000028", "errorMessage": "Paramètre « pageSize » invalide"},
        ensure_ascii=False,
    ).encode("iso-8859-1")
    httpserver.expect_request(ROOT + "echo/x").respond_with_response(
        Response(body, status=400, content_type="application/json")
    )

    with pytest.raises(CarrierApiError) as caught:
        _client(httpserver).echo("x")

    assert (caught.value.status, caught.value.error_code) == (400, "10000028")
    assert "Paramètre « pageSize » invalide" in str(caught.value)
    assert caught.value.carrier_message == "Paramètre « pageSize » invalide"


def test_a_429_with_retry_after_is_waited_out_then_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(ROOT + "echo/x").respond_with_json(
        {"errorMessage": "Too Many Requests"}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request(ROOT + "echo/x").respond_with_json({"context": "x"})
    client = _client(httpserver)

    started = time.monotonic()
    assert client.echo("x") == "x"

    assert time.monotonic() - started >= 1.0, "Retry-After outranks the tiny test backoff"
    assert (client.stats.calls, client.stats.retries, client.stats.throttled) == (2, 1, 1)


def test_a_proxy_error_page_is_retried_and_reported_readably(httpserver: HTTPServer) -> None:
    httpserver.expect_request(ROOT + "echo/x").respond_with_data(
        "<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html"
    )

    with pytest.raises(CarrierApiError) as caught:
        _client(httpserver).echo("x")

    assert caught.value.status == 502 and caught.value.error_code is None
    assert "502 Bad Gateway" in str(caught.value)
    assert len(httpserver.log) == FAST_RETRIES.max_attempts


def test_without_last_page_a_short_page_ends_the_listing(httpserver: HTTPServer) -> None:
    records = [{"iccid": f"89012600000000000{n:03d}", "dataUsage": n} for n in range(53)]
    for page, chunk in ((1, records[:50]), (2, records[50:])):
        httpserver.expect_ordered_request(
            ROOT + "usages",
            query_string={
                "ratePlanName": "P",
                "cycleStartDate": "2026-03-01",
                "pageSize": "50",
                "pageNumber": str(page),
            },
        ).respond_with_json({"usages": chunk})

    usage = list(_client(httpserver).usage_by_rate_plan("P", date(2026, 3, 1)))

    assert len(usage) == 53
    assert usage[-1].data_bytes == 52
    assert len(httpserver.log) == 2


def test_an_html_page_behind_a_200_is_retried_once_then_refused(httpserver: HTTPServer) -> None:
    page = Response("<html><body>Maintenance</body></html>", status=200, content_type="text/html")
    httpserver.expect_request(ROOT + "echo/x").respond_with_response(page)

    with pytest.raises(CarrierApiError, match=r"not JSON .*text/html.*Maintenance"):
        _client(httpserver).echo("x")
    assert len(httpserver.log) == 2  # one retry, not six


def test_an_html_glitch_that_passes_is_forgotten(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(ROOT + "echo/x").respond_with_response(
        Response("<html>busy</html>", status=200, content_type="text/html")
    )
    httpserver.expect_ordered_request(ROOT + "echo/x").respond_with_json({"context": "x"})
    assert _client(httpserver).echo("x") == "x"


def test_a_retry_after_beyond_the_time_budget_is_reported_not_slept(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(ROOT + "echo/x").respond_with_json(
        {"errorMessage": "Too Many Requests"}, status=429, headers={"Retry-After": "3600"}
    )
    started = time.monotonic()
    with pytest.raises(CarrierApiError, match="asked to wait 3600 s, beyond this call's time"):
        _client(httpserver).echo("x")
    assert time.monotonic() - started < 5 and len(httpserver.log) == 1


def _fifty(first: int) -> list[dict]:
    return [
        {"iccid": f"89012600000000000{n:03d}", "status": "ACTIVATED"}
        for n in range(first, first + 50)
    ]


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("second_page", "message"),
    [
        ({}, "has no 'devices' and does not say it is the last page"),
        ({"lastPage": False, "message": "try later"}, "keys: \\['lastPage', 'message'\\]"),
        ({"pageNumber": 2, "lastPage": False, "devices": []}, "an empty page that says it is not"),
        (
            {"pageNumber": 2, "lastPage": "false", "devices": []},
            "an empty page that says it is not",
        ),
    ],
)
def test_a_glitch_mid_listing_is_asked_again_then_fails_instead_of_shortening_the_fleet(
    httpserver: HTTPServer, second_page: dict, message: str
) -> None:
    """Issue 26: ``{"pageNumber": 5, "lastPage": false, "devices": []}`` used to end the
    listing (1,800 of 2,000 SIMs lost for good). It is asked again, then fails."""

    def answer(request):
        if request.args.get("pageNumber") == "1":
            return Response(json.dumps({"pageNumber": 1, "lastPage": False, "devices": _fifty(0)}))
        return Response(json.dumps(second_page), content_type="application/json")

    httpserver.expect_request(ROOT + "devices").respond_with_handler(answer)
    since = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(CarrierApiError, match=message) as caught:
        list(_client(httpserver).search_devices(since))
    asked = [r for r in httpserver.log if r[0].args.get("pageNumber") == "2"]
    assert len(asked) == GLITCH_ATTEMPTS == 3
    assert f"asked {GLITCH_ATTEMPTS} times" in str(caught.value)


def test_a_page_echoing_another_number_fails_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(ROOT + "devices").respond_with_json(
        {"pageNumber": 1, "lastPage": False, "devices": _fifty(0)}
    )
    httpserver.expect_ordered_request(ROOT + "devices").respond_with_json(
        {"pageNumber": 1, "lastPage": False, "devices": []}
    )
    since = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(CarrierApiError, match="page 2 was asked, page 1"):
        list(_client(httpserver).search_devices(since))


@pytest.mark.reliability
def test_an_empty_page_that_passes_on_the_next_ask_loses_nothing(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(ROOT + "devices").respond_with_json(
        {"pageNumber": 1, "lastPage": False, "devices": _fifty(0)}
    )
    httpserver.expect_ordered_request(ROOT + "devices").respond_with_json(
        {"pageNumber": 2, "lastPage": False, "devices": []}
    )
    httpserver.expect_ordered_request(ROOT + "devices").respond_with_json(
        {"pageNumber": 2, "lastPage": True, "devices": _fifty(50)}
    )
    devices = list(_client(httpserver).search_devices(datetime(2026, 3, 1, tzinfo=UTC)))
    assert len({d.iccid for d in devices}) == 100


@pytest.mark.reliability
def test_an_empty_usage_page_that_is_not_the_last_fails_the_plan(httpserver: HTTPServer) -> None:
    records = [{"iccid": f"89012600000000000{n:03d}", "dataUsage": 1} for n in range(50)]
    httpserver.expect_ordered_request(ROOT + "usages").respond_with_json(
        {"pageNumber": 1, "lastPage": False, "usages": records}
    )
    for _ in range(GLITCH_ATTEMPTS):
        httpserver.expect_ordered_request(ROOT + "usages").respond_with_json(
            {"pageNumber": 2, "lastPage": False, "usages": []}
        )
    with pytest.raises(CarrierApiError, match="GET /usages page 2: an empty page"):
        _client(httpserver).usage_by_rate_plan("P", date(2026, 3, 1))


def test_usage_records_without_their_usage_are_listed_not_zeroed(httpserver: HTTPServer) -> None:
    records = [
        {"iccid": "89012600000000000001", "dataUsage": 1048576, "smsUsage": 2},
        {"iccid": "89012600000000000002", "smsUsage": 3},
        {"iccid": "89012600000000000003", "dataUsage": None},
    ]
    httpserver.expect_request(ROOT + "usages").respond_with_json(
        {"pageNumber": 1, "lastPage": True, "usages": records}
    )
    bulk = _client(httpserver).usage_by_rate_plan("P", date(2026, 3, 1))
    assert {u.iccid: u.data_bytes for u in bulk} == {"89012600000000000001": 1048576}
    assert bulk.missing_usage == ["89012600000000000002", "89012600000000000003"]


def test_the_zones_shape_sums_each_sims_zones(httpserver: HTTPServer) -> None:
    usage = {
        "dataUsage": 100,
        "smsMOUsage": 1,
        "smsMTUsage": 2,
        "voiceMOUsage": 3,
        "voiceMTUsage": 4,
    }
    zones = [
        {"zone": "Home", "devices": [{"deviceId": "89012600000000000001", "usage": usage}]},
        {"zone": "EU", "devices": [{"deviceId": "89012600000000000001", "usage": usage}]},
    ]
    httpserver.expect_request(ROOT + "usages").respond_with_json(
        {"ratePlanName": "P", "pageNumber": 1, "lastPage": True, "zones": zones}
    )
    (record,) = _client(httpserver).usage_by_rate_plan("P", date(2026, 3, 1))
    assert (record.data_bytes, record.sms_count, record.voice_seconds) == (200, 6, 14)
