"""Usage that grows through the period, SIM by SIM (issue 27), for call-budget benchmarks.

Without it the fake's cycle-to-date usage is fixed when the fleet is built, so a later sync
reads the same numbers and nothing is ever stale. With ``usage_growth`` each ACTIVATED SIM
uses data day by day:

* a **daily rate** of its monthly usage / 30, times **day-to-day noise** (log-normal, σ 0.35:
  a day is often 30 % off its rate, rarely double);
* about **10 %** of SIMs (:data:`CHANGING_SHARE`) change their rate **for good** on a day drawn
  uniformly in the cycle: half spike (× 2 to × 6: a firmware update, a stuck modem), half drop
  (× 0 to × 0.3: a device switched off);
* usage starts at the later of the cycle start and the activation.

Cycle-to-date usage at time ``t`` is the sum of the whole days before ``t`` plus the elapsed
share of the current day. The fake knows each SIM's **end-of-period usage** (the whole
cycle's days) for benchmarks to price decisions on the truth. The model is drawn from the
fake's seed and the SIM's ICCID only: it was not tuned to any refresh order.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

NOISE_SIGMA = 0.35
CHANGING_SHARE = 0.10
SPIKE = (2.0, 6.0)
DROP = (0.0, 0.3)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class UsageGrowth:
    """One SIM's daily data use over one cycle (bytes per day, from the cycle's first day)."""

    cycle_start: date
    daily_bytes: tuple[float, ...]
    starts_at: datetime
    """When the SIM starts using data in the cycle (the cycle start, or its activation)."""
    changes_on: int | None = None
    """The day (0-based) its rate changed for good, if it did."""

    def bytes_at(self, moment: datetime) -> int:
        """Cycle-to-date data at ``moment``."""
        start = datetime.combine(self.cycle_start, datetime.min.time(), tzinfo=UTC)
        total = 0.0
        for day, rate in enumerate(self.daily_bytes):
            day_start = start + day * DAY
            begin = max(day_start, self.starts_at)
            end = min(day_start + DAY, moment)
            if end > begin:
                total += rate * ((end - begin) / DAY)
        return round(total)

    def end_of_cycle_bytes(self) -> int:
        """The whole cycle's data: what the bill will price."""
        start = datetime.combine(self.cycle_start, datetime.min.time(), tzinfo=UTC)
        return self.bytes_at(start + len(self.daily_bytes) * DAY)


def growth_for(
    seed: int, iccid: str, monthly_bytes: int, cycle: date, days: int, starts_at: datetime
) -> UsageGrowth:
    """The SIM's growth over a cycle of ``days`` days, drawn from ``seed`` and ``iccid``."""
    digest = hashlib.sha256(f"growth:{seed}:{iccid}:{cycle.isoformat()}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    rate = monthly_bytes / 30.0
    changes_on = rng.randrange(days) if rng.random() < CHANGING_SHARE else None
    factor = rng.uniform(*SPIKE) if rng.random() < 0.5 else rng.uniform(*DROP)
    daily = []
    for day in range(days):
        noise = math.exp(rng.gauss(-(NOISE_SIGMA**2) / 2, NOISE_SIGMA))  # mean 1
        changed = changes_on is not None and day >= changes_on
        daily.append(rate * noise * (factor if changed else 1.0))
    return UsageGrowth(cycle, tuple(daily), starts_at, changes_on)
