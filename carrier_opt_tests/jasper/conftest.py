"""Fixtures for the Jasper adapter: fakes serving on loopback, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from carrier_opt.jasper.fake import FakeFaults, FakeJasper


@pytest.fixture
def fake() -> Iterator[FakeJasper]:
    """A fault-free fake with 120 SIMs (three pages of 50)."""
    with FakeJasper(devices=120, seed=7) as server:
        yield server


@pytest.fixture
def start_fake() -> Iterator[Callable[..., FakeJasper]]:
    """Start fakes with chosen size, seed and fault knobs; all are stopped after the test."""
    started: list[FakeJasper] = []

    def start(devices: int = 120, seed: int = 7, now=None, **faults: Any) -> FakeJasper:
        server = FakeJasper(
            devices=devices, seed=seed, now=now, faults=FakeFaults(**faults)
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
