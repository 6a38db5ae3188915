"""The one clock of carrier_opt, so that tests (and replays) can pin "now".

Everything that decides by the time — the billing calendar's current period, Go/No-Go, the
push's deadline — reads :func:`now` (or the Dagster assets' ``clock``, which reads it), never
``datetime.now()`` directly. Tests replace it with ``monkeypatch.setattr(clock, "now", ...)``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)
