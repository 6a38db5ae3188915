"""Odd answers the fake does not give, scripted with pytest-httpserver (on localhost)."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.client import JasperClient
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
    records = [{"iccid": f"89012600000000000{n:03d}", "dataUsage": n} for n in range(50)]
    for page, chunk in ((1, records), (2, records[:3])):
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
    assert usage[-1].data_bytes == 2
    assert len(httpserver.log) == 2
