"""A fake Cisco Control Center (Jasper) over real HTTP, for tests, the demo and benchmarks.

``server`` is the HTTP front (authentication, faults, request log), ``endpoints`` the REST
resources it answers, ``fleet`` the synthetic SIMs and usage behind them, ``prices`` the price
lists and customer files written for a fleet, and ``replay`` a recorded real account served
back. None of it is imported by the client: the real carrier and the fake meet only on the wire.
"""

from carrier_opt.jasper.fake.server import (
    API_ROOT,
    DEFAULT_API_KEY,
    DEFAULT_USERNAME,
    FakeFaults,
    FakeJasper,
    LoggedRequest,
)

__all__ = [
    "API_ROOT",
    "DEFAULT_API_KEY",
    "DEFAULT_USERNAME",
    "FakeFaults",
    "FakeJasper",
    "LoggedRequest",
]
