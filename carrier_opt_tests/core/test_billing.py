"""Billing periods: exact UTC bounds across DST changes, short months, leap years, year ends."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carrier_opt.core.billing import (
    BillingCycle,
    cycle_end,
    parse_period_key,
    period_containing,
    period_for_key,
)
from carrier_opt.errors import InputError

CHICAGO = ZoneInfo("America/Chicago")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def test_a_period_runs_from_the_day_after_the_previous_end_day_to_the_end_of_its_end_day():
    period = period_for_key(BillingCycle(18, 0, "America/Chicago"), "2026-02")
    assert period.key == "2026-02"
    assert period.start == local(CHICAGO, 2026, 1, 19)
    assert period.end == local(CHICAGO, 2026, 2, 19)
    assert period.start.tzinfo is UTC and period.end.tzinfo is UTC
    assert period.days == 31
    assert period.first_local_day.isoformat() == "2026-01-19"
    assert period.last_local_day.isoformat() == "2026-02-18"


def test_end_day_31_ends_on_the_last_day_of_shorter_months():
    cycle = BillingCycle(31, 0, "UTC")
    april = period_for_key(cycle, "2026-04")
    assert april.start == datetime(2026, 4, 1, tzinfo=UTC)
    assert april.end == datetime(2026, 5, 1, tzinfo=UTC)
    assert april.days == 30
    assert period_for_key(cycle, "2026-02").days == 28
    assert period_for_key(cycle, "2028-02").days == 29  # leap year
    assert period_for_key(cycle, "2026-03").days == 31


@pytest.mark.parametrize(
    ("key", "start", "end", "days"),
    [
        ("2024-02", (2024, 1, 31), (2024, 3, 1), 30),  # leap February: ends on the 29th
        ("2025-02", (2025, 1, 31), (2025, 3, 1), 29),  # common February: ends on the 28th
        ("2024-03", (2024, 3, 1), (2024, 3, 31), 30),
        ("2025-03", (2025, 3, 1), (2025, 3, 31), 30),
    ],
)
def test_end_day_30_around_february(key, start, end, days):
    period = period_for_key(BillingCycle(30, 0, "UTC"), key)
    assert period.start == datetime(*start, tzinfo=UTC)
    assert period.end == datetime(*end, tzinfo=UTC)
    assert period.days == days


def test_the_period_ending_in_january_starts_in_the_previous_year():
    period = period_for_key(BillingCycle(5, 0, "Europe/Paris"), "2027-01")
    paris = ZoneInfo("Europe/Paris")
    assert period.start == local(paris, 2026, 12, 6)
    assert period.end == local(paris, 2027, 1, 6)
    nye = local(paris, 2026, 12, 31, 23, 59)
    assert period_containing(BillingCycle(5, 0, "Europe/Paris"), nye).key == "2027-01"


def test_a_period_across_spring_forward_is_an_hour_short_but_keeps_its_days():
    period = period_for_key(BillingCycle(18, 0, "America/Chicago"), "2026-03")  # DST 8 March
    assert period.days == 28
    assert period.seconds == 28 * 86_400 - 3_600
    assert period.end.hour == 5  # 00:00 CDT = 05:00 UTC
    assert period.start.hour == 6  # 00:00 CST = 06:00 UTC


def test_a_period_across_fall_back_is_an_hour_long():
    period = period_for_key(BillingCycle(18, 0, "America/Chicago"), "2026-11")  # DST 1 Nov
    assert period.days == 31
    assert period.seconds == 31 * 86_400 + 3_600


def test_the_end_hour_shifts_the_end_past_midnight():
    cycle = BillingCycle(18, 6, "America/Chicago")
    assert cycle_end(
        cycle,
        2026,
        2,
    ) == local(CHICAGO, 2026, 2, 19, 6)


def test_an_end_hour_skipped_by_dst_resolves_to_the_change():
    # 8 March 2026, 02:00 Chicago does not exist: the clocks jump from 02:00 CST to 03:00 CDT.
    cycle = BillingCycle(7, 2, "America/Chicago")
    assert cycle_end(cycle, 2026, 3) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def test_period_containing_uses_half_open_bounds():
    cycle = BillingCycle(18, 0, "America/Chicago")
    period = period_for_key(cycle, "2026-03")
    assert period_containing(cycle, period.start).key == "2026-03"
    assert period_containing(cycle, period.end - timedelta(microseconds=1)).key == "2026-03"
    assert period_containing(cycle, period.end).key == "2026-04"
    # 18 March 23:30 Chicago is 19 March in UTC, still the March period.
    assert period_containing(cycle, local(CHICAGO, 2026, 3, 18, 23, 30)).key == "2026-03"


@given(
    end_day=st.integers(1, 31),
    end_hour=st.integers(0, 23),
    zone=st.sampled_from(["UTC", "America/Chicago", "Europe/London", "Australia/Sydney"]),
    instant=st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_every_instant_lies_in_exactly_one_period_and_periods_tile(
    end_day, end_hour, zone, instant
):
    cycle = BillingCycle(end_day, end_hour, zone)
    period = period_containing(cycle, instant)
    assert period.start <= instant < period.end
    year, month = parse_period_key(period.key)
    following = period_for_key(cycle, f"{year + month // 12:04d}-{month % 12 + 1:02d}")
    assert following.start == period.end
    assert 28 <= period.days <= 31


@pytest.mark.parametrize("key", ["2026-13", "2026-1", "26-01", "", "2026/01"])
def test_bad_period_keys_are_refused(key):
    with pytest.raises(InputError, match="YYYY-MM"):
        parse_period_key(key)


def test_bad_cycles_are_refused():
    with pytest.raises(InputError, match="end day"):
        BillingCycle(0)
    with pytest.raises(InputError, match="end hour"):
        BillingCycle(5, 24)
    with pytest.raises(InputError, match="Mars/Olympus"):
        BillingCycle(5, 0, "Mars/Olympus")


def test_naive_instants_are_refused():
    with pytest.raises(InputError, match="timezone-aware"):
        period_containing(BillingCycle(5), datetime(2026, 1, 1))
