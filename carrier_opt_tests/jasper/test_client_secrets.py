"""The API key never leaks: not in logs, not in exception text, not in ``repr(client)``."""

from __future__ import annotations

import base64
import logging

import pytest

from carrier_opt.errors import CarrierApiError, ConfigurationError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt_tests.jasper.support import FAST_RETRIES, recent_enough

API_KEY = "s3cr3t-api-key-0123456789"


def _secrets(username: str, api_key: str) -> list[str]:
    token = base64.b64encode(f"{username}:{api_key}".encode()).decode()
    return [api_key, token, f"Basic {token}"]


def test_secrets_stay_out_of_logs_errors_and_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    with FakeJasper(devices=60, seed=3, api_key=API_KEY) as fake:
        client = JasperClient(
            fake.base_url, "fake-user", API_KEY, retry_policy=FAST_RETRIES, calls_per_second=1e4
        )
        fake.faults = FakeFaults(error_rate=0.3)
        list(client.search_devices(recent_enough()))  # with retries, so retry logs too
        fake.faults = FakeFaults(error_rate=1.0)
        with pytest.raises(CarrierApiError) as final:
            client.echo("x")
        errors += [str(final.value), repr(final.value)]
        wrong = JasperClient(fake.base_url, "fake-user", API_KEY + "-old", calls_per_second=1e4)
        with pytest.raises(CarrierApiError) as rejected:
            wrong.echo("x")
        errors += [str(rejected.value), repr(rejected.value)]
        shown = [repr(client), str(client), repr(wrong), str(client.stats)]

    assert "retrying" in caplog.text, "the retry path must have been logged"
    for secret in _secrets("fake-user", API_KEY) + _secrets("fake-user", API_KEY + "-old"):
        assert secret not in caplog.text
        assert all(secret not in text for text in errors + shown)


def test_a_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigurationError) as caught:
        JasperClient(f"https://user:{API_KEY}@jasper.example/rws/api/v1/", "user", API_KEY)
    assert API_KEY not in str(caught.value)
