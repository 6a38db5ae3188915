"""When the ``daily_sync`` schedule syncs a provider: once per local day, at its local hour.

The schedule ticks every hour on the hour (UTC). A provider is due on the one tick whose
preceding hour contains its sync instant: the provider's local date at its sync hour, read
in its zone. That picks exactly one tick per local day whatever the zone's offset (half-hour
zones are due at the half hour after), and across DST changes: on a spring-forward day
whose sync hour does not exist (02:00 in New York), the instant is read with the offset
before the change (03:00 local, one hour on); on a fall-back day the first of the two
02:00s counts. Pure: the caller gives the tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from carrier_opt.core.billing import BillingCycle, period_containing

TICK = timedelta(hours=1)
"""The schedule's interval (cron ``0 * * * *``)."""

RUN_KEY_PREFIX = "daily_sync"


@dataclass(frozen=True)
class DailySyncDue:
    """One provider's sync due at a tick: its local day and the billing period it stores."""

    provider: str
    local_date: date
    period_key: str

    @property
    def run_key(self) -> str:
        """Unique per provider and local day (a retried tick asks for the same run)."""
        return f"{RUN_KEY_PREFIX}|{self.provider}|{self.local_date.isoformat()}"


def sync_instant(cycle: BillingCycle, local_day: date, hour: int) -> datetime:
    """The UTC instant of ``hour``:00 on ``local_day`` in the cycle's zone (see the module
    docstring for the days DST skips or repeats that hour)."""
    wall = datetime(local_day.year, local_day.month, local_day.day, hour, tzinfo=cycle.zone)
    return wall.astimezone(UTC)


def daily_sync_due(
    provider: str, cycle: BillingCycle, hour: int, tick: datetime
) -> DailySyncDue | None:
    """The provider's sync due at the hourly ``tick`` (aware), or None."""
    if not 0 <= hour <= 23:
        raise ValueError(f"daily sync hour must be 0..23, got {hour}")
    previous = tick - TICK
    days = {previous.astimezone(cycle.zone).date(), tick.astimezone(cycle.zone).date()}
    for day in sorted(days):
        instant = sync_instant(cycle, day, hour)
        if previous < instant <= tick:
            return DailySyncDue(provider, day, period_containing(cycle, tick).key)
    return None
