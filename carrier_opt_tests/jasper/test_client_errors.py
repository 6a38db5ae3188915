"""Retries on what Cisco says to retry, a clear final error on everything else."""

from __future__ import annotations

import time

import pytest

from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.payloads import deduplicate_devices
from carrier_opt.jasper.transport import RetryPolicy
from carrier_opt_tests.jasper.support import client_for, recent_enough


def test_a_sync_under_ten_percent_server_errors_succeeds_and_counts_its_retries(
    start_fake,
) -> None:
    fake = start_fake(devices=300, error_rate=0.10)
    client = client_for(fake)

    devices = deduplicate_devices(client.search_devices(recent_enough()))
    for plan in fake.rate_plan_names:
        list(client.usage_by_rate_plan(plan, fake.cycle_start_date))

    assert len(devices) == 300
    failures = sum(1 for r in fake.request_log if r.status == 500)
    assert failures > 0, "the fault knob must have fired"
    stats = client.stats
    assert stats.retries == failures
    assert stats.calls == len(fake.request_log)
    assert stats.pages == stats.calls - stats.retries


def test_throttling_answers_are_retried_and_counted(start_fake) -> None:
    fake = start_fake(devices=200, throttle_rate=0.3)
    client = client_for(fake)

    assert len(list(client.search_devices(recent_enough()))) == 200
    for plan in fake.rate_plan_names:
        list(client.usage_by_rate_plan(plan, fake.cycle_start_date))

    statuses = [r.status for r in fake.request_log]
    assert 400 in statuses and 429 in statuses, "both kinds of throttling must have fired"
    assert client.stats.throttled == statuses.count(400) + statuses.count(429)
    assert client.stats.retries == client.stats.throttled


def test_the_final_error_carries_status_code_and_message_after_bounded_attempts(
    start_fake,
) -> None:
    fake = start_fake(error_rate=1.0)
    policy = RetryPolicy(max_attempts=4, max_total_s=5, initial_backoff_s=0.001, max_backoff_s=0.01)
    client = client_for(fake, retry_policy=policy)

    with pytest.raises(CarrierApiError) as caught:
        client.echo("ping")

    error = caught.value
    assert (error.status, error.error_code) == (500, "30000001")
    assert "Unknown server error" in str(error)
    assert "gave up after 4 attempts" in str(error)
    assert len(fake.request_log) == 4
    assert client.stats.retries == 3


def test_the_total_retry_time_is_bounded_too(start_fake) -> None:
    fake = start_fake(error_rate=1.0)
    policy = RetryPolicy(
        max_attempts=100, max_total_s=0.5, initial_backoff_s=0.1, max_backoff_s=0.2
    )
    client = client_for(fake, retry_policy=policy)

    started = time.monotonic()
    with pytest.raises(CarrierApiError):
        client.echo("ping")

    assert time.monotonic() - started < 1.0
    assert 2 <= len(fake.request_log) < 10


def test_wrong_credentials_fail_at_once_with_the_carriers_code(fake) -> None:
    client = JasperClient(fake.base_url, fake.credentials[0], "wrong-key", calls_per_second=1000)

    with pytest.raises(CarrierApiError) as caught:
        client.echo("ping")

    assert (caught.value.status, caught.value.error_code) == (401, "10000001")
    assert "Invalid credentials" in str(caught.value)
    assert len(fake.request_log) == 1, "a 401 is final: no retry"
    assert client.stats.retries == 0


def test_an_unknown_iccid_is_a_final_404(fake) -> None:
    client = client_for(fake)
    with pytest.raises(CarrierApiError) as caught:
        client.device_details("89012600000000000000")
    assert (caught.value.status, caught.value.error_code) == (404, "20000001")
    assert len(fake.request_log) == 1


def test_a_stopped_fake_is_unreachable_and_that_is_retried_then_reported(fake) -> None:
    client = JasperClient(
        fake.base_url,
        *fake.credentials,
        retry_policy=RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.001),
        connect_timeout_s=1,
    )
    client.echo("ping")  # leaves a keep-alive connection open
    fake.stop()
    with pytest.raises(CarrierApiError) as caught:
        client.echo("ping")
    assert caught.value.status is None
    assert "could not reach the server" in str(caught.value)
    assert client.stats.calls == 3
