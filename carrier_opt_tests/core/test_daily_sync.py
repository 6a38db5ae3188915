"""The daily sync's ticks: one per provider and local day, at its local hour, in any zone."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from carrier_opt.core.billing import BillingCycle
from carrier_opt.core.daily_sync import TICK, daily_sync_due, sync_instant

YEAR_START = datetime(2027, 1, 1, tzinfo=UTC)


def hourly_ticks(start: datetime, days: int):
    return (start + TICK * n for n in range(days * 24))


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/Berlin", "Pacific/Auckland", "Asia/Kolkata", "UTC"]
)
@pytest.mark.parametrize("hour", [0, 2, 23])
def test_every_local_day_of_a_year_gets_exactly_one_sync(zone, hour):
    cycle = BillingCycle(18, 0, zone)
    due = [
        daily_sync_due("acme", cycle, hour, tick)
        for tick in hourly_ticks(YEAR_START - timedelta(days=1), 367)
    ]
    days = Counter(d.local_date for d in due if d is not None)
    year = [date(2027, 1, 1) + timedelta(days=n) for n in range(365)]
    assert all(days[day] == 1 for day in year), [d for d in year if days[d] != 1]


def test_the_sync_runs_on_the_tick_after_the_local_hour():
    cycle = BillingCycle(18, 0, "America/Chicago")
    # 02:00 in Chicago on 1 December 2027 (CST, UTC-6) is 08:00 UTC.
    assert daily_sync_due("acme", cycle, 2, datetime(2027, 12, 1, 7, tzinfo=UTC)) is None
    due = daily_sync_due("acme", cycle, 2, datetime(2027, 12, 1, 8, tzinfo=UTC))
    assert due is not None
    assert due.local_date == date(2027, 12, 1)
    assert due.run_key == "daily_sync|acme|2027-12-01"
    assert due.period_key == "2027-12"  # the cycle ends on the 18th: December's cycle
    assert daily_sync_due("acme", cycle, 2, datetime(2027, 12, 1, 9, tzinfo=UTC)) is None


def test_the_period_is_the_one_open_at_the_tick():
    cycle = BillingCycle(18, 0, "UTC")
    due = daily_sync_due("acme", cycle, 2, datetime(2027, 12, 19, 2, tzinfo=UTC))
    assert due is not None and due.period_key == "2028-01"


def test_half_hour_zones_sync_at_the_half_hour_after():
    cycle = BillingCycle(18, 0, "Asia/Kolkata")  # UTC+05:30: 02:00 local is 20:30 UTC
    assert daily_sync_due("x", cycle, 2, datetime(2027, 6, 1, 20, tzinfo=UTC)) is None
    due = daily_sync_due("x", cycle, 2, datetime(2027, 6, 1, 21, tzinfo=UTC))
    assert due is not None and due.local_date == date(2027, 6, 2)


def test_a_skipped_local_hour_syncs_one_hour_later():
    cycle = BillingCycle(18, 0, "America/New_York")
    # 14 March 2027: 02:00 EST does not exist; the clocks jump to 03:00 EDT = 07:00 UTC.
    assert sync_instant(cycle, date(2027, 3, 14), 2) == datetime(2027, 3, 14, 7, tzinfo=UTC)
    due = daily_sync_due("x", cycle, 2, datetime(2027, 3, 14, 7, tzinfo=UTC))
    assert due is not None and due.local_date == date(2027, 3, 14)


def test_a_repeated_local_hour_syncs_once():
    cycle = BillingCycle(18, 0, "America/New_York")
    # 7 November 2027: 01:00-02:00 happens twice; the first 01:00 (EDT) is 05:00 UTC.
    ticks = [datetime(2027, 11, 7, h, tzinfo=UTC) for h in range(3, 9)]
    due = [daily_sync_due("x", cycle, 1, tick) for tick in ticks]
    assert [tick for tick, d in zip(ticks, due, strict=True) if d] == [ticks[2]]


def test_an_hour_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"0\.\.23"):
        daily_sync_due("x", BillingCycle(18, 0, "UTC"), 24, YEAR_START)
