"""Politeness towards the carrier: one call in flight per account, and a cap on calls per second.

Cisco asks for at most 5 calls per second and one call at a time per account. Both limits belong
to the *account*, not to a client object: two clients (or two threads, or two Dagster ops in one
process) using the same credentials against the same server must share them. Hence a
process-wide registry of :class:`AccountGate` objects keyed by ``(base_url, username)``.
Processes do not share the gate; run one sync per account at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_registry: dict[tuple[str, str], AccountGate] = {}
_registry_lock = threading.Lock()


class AccountGate:
    """A lock held for the whole of each call plus a minimum spacing between call starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_start: float | None = None

    @contextmanager
    def call(self, calls_per_second: float) -> Iterator[None]:
        """Hold the account for one call, first waiting until the rate cap allows it to start."""
        min_spacing_s = 1.0 / calls_per_second
        with self._lock:
            if self._last_start is not None:
                wait_s = self._last_start + min_spacing_s - time.monotonic()
                if wait_s > 0:
                    time.sleep(wait_s)
            self._last_start = time.monotonic()
            yield


def gate_for(base_url: str, username: str) -> AccountGate:
    """The process-wide gate of one account on one server (created on first use)."""
    key = (base_url.rstrip("/"), username)
    with _registry_lock:
        gate = _registry.get(key)
        if gate is None:
            gate = _registry[key] = AccountGate()
        return gate
