"""Helpers shared by the Jasper tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.transport import RetryPolicy

FAST_RETRIES = RetryPolicy(
    max_attempts=6, max_total_s=10.0, initial_backoff_s=0.001, max_backoff_s=0.01
)
"""Tiny backoffs: the tests exercise the retry logic, not the clock."""

FAST_CALLS_PER_SECOND = 10_000.0
"""Tests that are not about politeness lift the rate cap to keep the suite fast."""


def recent_enough() -> datetime:
    """The oldest ``modifiedSince`` the API accepts, with a day of margin: the whole fleet."""
    return datetime.now(UTC) - timedelta(days=364)


def client_for(server: FakeJasper, **options: Any) -> JasperClient:
    """A client of ``server`` with fast retries and no practical rate cap unless overridden."""
    options.setdefault("retry_policy", FAST_RETRIES)
    options.setdefault("calls_per_second", FAST_CALLS_PER_SECOND)
    return JasperClient(server.base_url, *server.credentials, **options)


def lift_the_rate_cap(monkeypatch) -> None:
    """Clients that a command builds itself (``provider add``, ``sync``) skip the 5 calls/s
    wait against a fake carrier, as :func:`client_for` clients do. Only tests that are not
    about politeness use it; everything else about the client is the command's own."""
    from carrier_opt.jasper import client as client_module

    class Unthrottled(JasperClient):
        def __init__(self, *args: Any, **options: Any) -> None:
            options["calls_per_second"] = FAST_CALLS_PER_SECOND
            super().__init__(*args, **options)

    monkeypatch.setattr(client_module, "JasperClient", Unthrottled)
