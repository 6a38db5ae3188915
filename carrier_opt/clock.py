"""The one clock of carrier_opt, so that tests (and replays) can pin "now".

Everything that decides by the time — the billing calendar's current period, Go/No-Go, the
push's deadline, the sensor, the stamps written to the database — reads :func:`now` (or the
Dagster assets' ``clock``, which reads it), never ``datetime.now()`` directly. Tests in one
process replace it with ``monkeypatch.setattr(clock, "now", ...)``.

Processes a test cannot patch (a Dagster daemon, a webserver's code server, the run workers
they start) read ``CARRIER_OPT_CLOCK_SHIFT``: seconds added to the machine's clock. Every
process given the same shift agrees on the moved "now", which keeps running, so an end-to-end
test can place the whole deployment in a billing window whatever the date it runs on.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from carrier_opt.errors import ConfigurationError

SHIFT_ENV = "CARRIER_OPT_CLOCK_SHIFT"


def now() -> datetime:
    """The current instant, aware, in UTC (moved by ``CARRIER_OPT_CLOCK_SHIFT`` if set)."""
    return datetime.now(UTC) + shift()


def shift() -> timedelta:
    """The shift ``CARRIER_OPT_CLOCK_SHIFT`` asks for (none when unset)."""
    raw = os.environ.get(SHIFT_ENV, "").strip()
    if not raw:
        return timedelta(0)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or abs(seconds) > 100 * 366 * 86400:
        raise ConfigurationError(
            f"{SHIFT_ENV}={raw!r}: expected a number of seconds to add to the clock, e.g. -86400"
        )
    return timedelta(seconds=seconds)


def real_clock_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without libfaketime (``LD_PRELOAD`` entry, ``FAKETIME*`` settings).

    Under `faketime` (``make test-clock``) the Dagster daemon's loops stall on the faked
    clock, so a deployment's processes run on the machine's real clock and get their moved
    "now" from ``CARRIER_OPT_CLOCK_SHIFT`` alone, computed against that real clock."""
    clean = {k: v for k, v in env.items() if not k.startswith(("FAKETIME", "DONT_FAKE"))}
    preload = [part for part in clean.get("LD_PRELOAD", "").split() if "faketime" not in part]
    if preload:
        clean["LD_PRELOAD"] = " ".join(preload)
    else:
        clean.pop("LD_PRELOAD", None)
    return clean


def real_now(env: Mapping[str, str]) -> datetime:
    """The machine's real clock, read by a child without libfaketime (the calling process's
    own clock may be faked)."""
    answer = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env=real_clock_env(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return datetime.fromtimestamp(float(answer.stdout), UTC)
