"""Every hour of a leap year, in two DST zones and UTC (issue 14): the billing calendar, the
run window and the Go/No-Go hold the same rules on month ends, 29 February and DST changes.

Nothing here reads the machine's clock or zone: the instants are built, so the suite gives the
same answer on any date (``faketime``) and under any ``TZ``.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest

from carrier_opt.core.billing import (
    AFTER_END_DAY,
    AT_END_HOUR,
    BillingCycle,
    period_containing,
    period_for_key,
)
from carrier_opt.core.go_no_go import BUFFER_MINUTES, go_no_go
from carrier_opt.core.run_window import WINDOW_DAYS, cycle_end_date, last_run_day, scheduled_runs

YEAR = 2028  # a leap year: 29 February is in it
START_HOUR = 9
CYCLES = {
    # Legacy reading, end hour 23: DST starts 12 March and ends 5 November 2028 in Chicago.
    "chicago-18-at-23": BillingCycle(18, 23, "America/Chicago", AT_END_HOUR),
    # Month-end cycles in a southern zone (DST ends 2 April, starts 24 September 2028).
    "auckland-31-after": BillingCycle(31, 0, "Pacific/Auckland", AFTER_END_DAY),
    # End day 29 at end hour 2: 29 February exists this year, 02:00 is skipped on DST days.
    "auckland-29-at-2": BillingCycle(29, 2, "Pacific/Auckland", AT_END_HOUR),
    "utc-30-at-0": BillingCycle(30, 0, "UTC", AT_END_HOUR),
}


def hours_of_the_year() -> list[datetime]:
    start = datetime(YEAR, 1, 1, tzinfo=UTC)
    return [start + timedelta(hours=h) for h in range(366 * 24)]


@pytest.fixture(scope="module", params=list(CYCLES))
def year(request):
    """(cycle, [(instant, period, decision)]) for every hour of the year, on the half hour."""
    cycle = CYCLES[request.param]
    rows = []
    for hour in hours_of_the_year():
        instant = hour + timedelta(minutes=30)
        rows.append(
            (
                instant,
                period_containing(cycle, instant),
                scheduled_runs("acme", cycle, START_HOUR, instant),
            )
        )
    return cycle, rows


def test_every_instant_is_in_exactly_one_period_and_periods_tile(year):
    cycle, rows = year
    for instant, period, _ in rows:
        assert period.start <= instant < period.end, instant
        following = period_for_key(cycle, _next_key(period.key))
        assert following.start == period.end
        assert 27 * 24 <= period.seconds / 3600 <= 32 * 24


def test_each_period_ends_on_its_end_day_at_its_end_hour_local(year):
    cycle, rows = year
    for key in sorted({period.key for _, period, _ in rows}):
        period = period_for_key(cycle, key)
        local_end = period.end.astimezone(cycle.zone)
        y, m = int(key[:4]), int(key[5:])
        day = date(y, m, min(cycle.end_day, calendar.monthrange(y, m)[1]))
        if cycle.end_rule == AFTER_END_DAY:
            day += timedelta(days=1)
        assert local_end.date() == day, (key, local_end)
        # The end hour, or the hour after it when DST skips it (02:00 on a spring-forward day).
        assert local_end.hour in (cycle.end_hour, cycle.end_hour + 1), (key, local_end)
        assert cycle_end_date(cycle, period) == (
            day if cycle.end_rule == AT_END_HOUR else day - timedelta(days=1)
        )


def test_runs_are_due_only_in_the_window_from_the_start_hour_hourly_on_the_last_day(year):
    cycle, rows = year
    daily_dates: dict[str, set[date]] = defaultdict(set)
    hourly: dict[str, set[tuple[date, int]]] = defaultdict(set)
    keys: dict[str, tuple] = {}
    for instant, period, decision in rows:
        local = instant.astimezone(cycle.zone)
        if decision.due:
            assert decision.in_window and decision.days_left < WINDOW_DAYS
            assert local.hour >= START_HOUR  # never before the start hour (legacy)
        for due in decision.due:
            assert keys.setdefault(due.run_key, (period.key, due.local_date, due.local_hour)) == (
                period.key,
                due.local_date,
                due.local_hour,
            )  # one run key means one run, all year long
            if due.is_hourly:
                assert due.local_date == last_run_day(cycle, period, START_HOUR) == local.date()
                hourly[period.key].add((due.local_date, due.local_hour))
            else:
                daily_dates[period.key].add(due.local_date)
        assert len(decision.due) <= 1  # one run per partition per tick
    assert len(daily_dates) >= 12
    for key, dates in daily_dates.items():
        ordered = sorted(dates | {day for day, _ in hourly[key]})
        period = period_for_key(cycle, key)
        assert ordered[-1] == last_run_day(cycle, period, START_HOUR), key
        assert ordered == [ordered[0] + timedelta(days=n) for n in range(len(ordered))], key
        assert WINDOW_DAYS - 1 <= len(ordered) <= WINDOW_DAYS + 1, (key, ordered)
        # Hourly runs on the last day, every hour from the start hour to the period end.
        last = last_run_day(cycle, period, START_HOUR)
        expected = {
            hour
            for hour in range(START_HOUR, 24)
            if any(
                p.key == key
                and i.astimezone(cycle.zone).date() == last
                and i.astimezone(cycle.zone).hour == hour
                for i, p, _ in rows
            )
        }
        assert {hour for _, hour in hourly[key]} == expected, key
        assert expected, key  # every period keeps its last-day hourly runs


def test_go_no_go_counts_the_minutes_to_the_period_end(year):
    cycle, rows = year
    for instant, period, _decision in rows[::7]:
        local = instant.astimezone(cycle.zone)
        verdict = go_no_go(local, period.end, 250, None)
        assert verdict.minutes_remaining == (period.end - instant) // timedelta(minutes=1)
        assert verdict.go == (verdict.minutes_remaining - 250 / 60 >= BUFFER_MINUTES)
    last = period.end - timedelta(minutes=BUFFER_MINUTES)
    assert not go_no_go(last.astimezone(cycle.zone), period.end, 1, None).go


def _next_key(key: str) -> str:
    y, m = int(key[:4]), int(key[5:])
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"
