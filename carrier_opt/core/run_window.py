"""When to optimize: the legacy run window, turned into run keys that de-duplicate themselves.

The legacy rule (legacy-behaviour spec, "When to run"): in the provider's
local time, run while ``days_left = period end − local now`` is **under 8 days** and the local
date is not past the cycle end date, never before the provider's
``optimization_start_hour_local`` on any day of the window; on that **last day**, run again
every hour from that hour on. A provider without a start hour runs from local midnight (and
gets no hourly runs: a warning says so).

A sensor ticks every few minutes, so instead of deciding "run now or not" this module names the
runs that are *due* at an instant, each with a ``run_key`` that Dagster uses to start it only once:

* one run per local day in the window (from the start hour), ``provider|YYYY-MM|YYYY-MM-DD``;
* on the last day, one more per local hour from the start hour, ``provider|YYYY-MM|YYYY-MM-DD|HH``.

Decisions that matter across DST changes and odd month ends:

* ``days_left`` is measured on the **local wall clock** (as the legacy did with naive local
  datetimes), so the window opens at the same local time of day 8 days before the end even when
  a DST change in between makes that 8 × 24 ± 1 real hours. Measured in elapsed time, a spring
  change would open it an hour early, on a ninth local date.
* The "end date" (the last day) is the **cycle end day** in local time. With the usual
  ``end_hour = 0`` it is the period's last local day; with ``end_hour > 0`` the period runs on
  for a few hours of the next date, which the legacy "not past the end date" rule excludes.
* Run keys use **local** dates and hours: on a fall-back day the repeated hour has one key (one
  run), on a spring-forward day the skipped hour has none.

Pure: imports only the standard library and :mod:`carrier_opt.core.billing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from carrier_opt.core.billing import (
    AT_END_HOUR,
    BillingCycle,
    BillingPeriodSpan,
    period_containing,
)
from carrier_opt.errors import InputError

WINDOW_DAYS = 8
"""Runs are due while fewer than this many (local wall-clock) days are left in the period."""

RUN_KEY_SEPARATOR = "|"


@dataclass(frozen=True)
class DueRun:
    """One run the window asks for; ``local_hour`` is None for the once-a-day run."""

    run_key: str
    local_date: date
    local_hour: int | None = None

    @property
    def is_hourly(self) -> bool:
        """True for a last-day hourly run (False for the daily run)."""
        return self.local_hour is not None


@dataclass(frozen=True)
class WindowDecision:
    """What the run window says about one provider at one instant."""

    provider: str
    period: BillingPeriodSpan
    local_now: datetime
    end_date: date
    days_left: float
    in_window: bool
    due: tuple[DueRun, ...]
    warning: str | None = None

    @property
    def period_key(self) -> str:
        """The ``YYYY-MM`` key of the billing period containing the instant."""
        return self.period.key

    @property
    def is_last_day(self) -> bool:
        """True on the cycle end day (local), when the hourly rule applies."""
        return self.local_now.date() == self.end_date

    @property
    def run_keys(self) -> tuple[str, ...]:
        """The run keys of the due runs (one per tick: the day's, or on the last day the hour's)."""
        return tuple(run.run_key for run in self.due)


def scheduled_runs(
    provider_name: str,
    cycle: BillingCycle,
    start_hour: int | None,
    now_utc: datetime,
) -> WindowDecision:
    """The runs due for ``provider_name`` at the aware instant ``now_utc``.

    ``start_hour`` is the provider's ``optimization_start_hour_local``; when it is None the
    last-day hourly runs are skipped (the daily run still happens) and ``warning`` says why, so
    one badly configured provider never stops the others.
    """
    if start_hour is not None and not 0 <= start_hour <= 23:
        raise InputError(f"optimization start hour must be 0..23, got {start_hour}")
    period = period_containing(cycle, now_utc)
    local_now = now_utc.astimezone(cycle.zone)
    end_date = last_run_day(cycle, period, start_hour)
    days_left = wall_clock_days_left(period, local_now)
    in_window = days_left < WINDOW_DAYS and local_now.date() <= end_date
    if not in_window:
        return WindowDecision(provider_name, period, local_now, end_date, days_left, False, ())
    today = local_now.date()
    if start_hour is not None and local_now.hour < start_hour:
        # The legacy system starts no run before the provider's start hour, on any day of
        # the window: in the window, but nothing due yet.
        return WindowDecision(provider_name, period, local_now, end_date, days_left, True, ())
    due = [DueRun(daily_run_key(provider_name, period.key, today), today)]
    warning = None
    if today == end_date:
        if start_hour is None:
            warning = _missing_start_hour_warning(provider_name, period.key)
        elif local_now.hour >= start_hour:
            # The hour's run replaces the day's: one run per partition per tick, so a sensor
            # turned on late on the last day does not start two runs that refuse each other.
            key = hourly_run_key(provider_name, period.key, today, local_now.hour)
            due = [DueRun(key, today, local_now.hour)]
    return WindowDecision(
        provider_name, period, local_now, end_date, days_left, True, tuple(due), warning
    )


def cycle_end_date(cycle: BillingCycle, period: BillingPeriodSpan) -> date:
    """The local cycle end day of ``period`` (the legacy "end date", the "last day").

    Stepping back ``end_hour`` hours from the period's end on the wall clock (which also undoes
    a DST-skipped end) lands on the end day's midnight (legacy rule) or on the midnight that
    follows it (:data:`AFTER_END_DAY`).
    """
    local_end = period.end.astimezone(cycle.zone).replace(tzinfo=None)
    midnight = (local_end - timedelta(hours=cycle.end_hour)).date()
    return midnight if cycle.end_rule == AT_END_HOUR else midnight - timedelta(days=1)


def last_run_day(cycle: BillingCycle, period: BillingPeriodSpan, start_hour: int | None) -> date:
    """The "last day" of ``period``: the day of the hourly runs and of the second-run
    exception, and the last day of the window.

    It is the legacy end date (:func:`cycle_end_date`) when some hour of it from the start
    hour on lies in the period. A cycle that ends on its end day before the start hour (end
    hour 0 under the legacy reading, or a provider migrated from "the midnight after the end
    day" whose end moved to the next day's early hours) leaves no such hour: its last day is
    then the day before, the last day it always had, so it keeps its hourly runs.
    """
    zone = cycle.zone
    last = cycle_end_date(cycle, period)
    local_end = period.end.astimezone(zone)
    if local_end.date() != last:  # ends at a later midnight: every hour of ``last`` counts
        return last
    ends_at = local_end.hour * 60 + local_end.minute
    if ends_at <= 60 * (start_hour or 0):
        return last - timedelta(days=1)
    return last


def wall_clock_days_left(period: BillingPeriodSpan, local_now: datetime) -> float:
    """Fractional days from ``local_now`` to the period end, read on the local wall clock."""
    local_end = period.end.astimezone(local_now.tzinfo).replace(tzinfo=None)
    return (local_end - local_now.replace(tzinfo=None)) / timedelta(days=1)


def daily_run_key(provider_name: str, period_key: str, local_date: date) -> str:
    """``provider|YYYY-MM|YYYY-MM-DD``: at most one run per provider, period and local day."""
    return RUN_KEY_SEPARATOR.join((provider_name, period_key, local_date.isoformat()))


def hourly_run_key(provider_name: str, period_key: str, local_date: date, hour: int) -> str:
    """``provider|YYYY-MM|YYYY-MM-DD|HH``: at most one run per last-day local hour."""
    return RUN_KEY_SEPARATOR.join(
        (provider_name, period_key, local_date.isoformat(), f"{hour:02d}")
    )


def _missing_start_hour_warning(provider_name: str, period_key: str) -> str:
    return (
        f"service provider {provider_name!r} has no optimization start hour "
        f"(ServiceProvider.optimization_start_hour_local), so period {period_key} gets no "
        "hourly runs on its last day, only the daily one; set the hour to enable them"
    )
