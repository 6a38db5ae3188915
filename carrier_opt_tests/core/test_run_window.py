"""The run window: which runs are due at an instant, across DST changes, month and year ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier_opt.core.billing import AFTER_END_DAY, AT_END_HOUR, BillingCycle, period_for_key
from carrier_opt.core.run_window import (
    WINDOW_DAYS,
    DueRun,
    cycle_end_date,
    daily_run_key,
    hourly_run_key,
    last_run_day,
    scheduled_runs,
)
from carrier_opt.errors import InputError

ZONES = (
    "UTC",
    "America/Chicago",
    "Europe/Berlin",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "America/St_Johns",
)


def at(zone: str, *args: int, fold: int = 0) -> datetime:
    """The aware UTC instant of a local wall-clock time in ``zone``."""
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def sweep(cycle: BillingCycle, start_hour: int | None, first: datetime, last: datetime, step):
    """Every decision from ``first`` to ``last`` (UTC) every ``step``, as a sensor would tick."""
    instant = first
    while instant <= last:
        yield scheduled_runs("acme", cycle, start_hour, instant)
        instant += step


def hour_exists(zone: str, day: date, hour: int) -> bool:
    """True when the local hour is on the clock that day (False for a spring-forward gap)."""
    wall = datetime(day.year, day.month, day.day, hour, 30, tzinfo=ZoneInfo(zone))
    return wall.astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall.replace(
        tzinfo=None
    )


# --- single instants --------------------------------------------------------------------------

FEB = BillingCycle(18, 0, "UTC")  # period 2026-02 ends 2026-02-19 00:00 UTC; last day Feb 18


def test_nine_days_before_the_end_nothing_is_due():
    decision = scheduled_runs("acme", FEB, 8, datetime(2026, 2, 10, 0, 0, tzinfo=UTC))
    assert decision.period_key == "2026-02"
    assert decision.days_left == 9
    assert not decision.in_window
    assert decision.run_keys == ()
    assert decision.warning is None


def test_the_window_opens_when_less_than_eight_days_are_left():
    exactly_eight = scheduled_runs("acme", FEB, 0, datetime(2026, 2, 11, tzinfo=UTC))
    just_after = scheduled_runs("acme", FEB, 0, datetime(2026, 2, 11, 0, 0, 1, tzinfo=UTC))
    assert exactly_eight.days_left == WINDOW_DAYS and not exactly_eight.in_window
    assert just_after.in_window
    assert just_after.run_keys == ("acme|2026-02|2026-02-11",)


def test_seven_days_before_the_end_one_daily_run_is_due_from_the_start_hour_on():
    morning = scheduled_runs("acme", FEB, 8, datetime(2026, 2, 12, 8, 5, tzinfo=UTC))
    evening = scheduled_runs("acme", FEB, 8, datetime(2026, 2, 12, 23, 55, tzinfo=UTC))
    assert morning.days_left == pytest.approx(7 - (8 * 60 + 5) / 1440)
    assert morning.run_keys == evening.run_keys == ("acme|2026-02|2026-02-12",)
    assert not morning.is_last_day


def test_last_day_before_the_start_hour_nothing_is_due():
    decision = scheduled_runs("acme", FEB, 8, datetime(2026, 2, 18, 7, 59, tzinfo=UTC))
    assert decision.is_last_day and decision.in_window
    assert decision.run_keys == ()


def test_no_run_starts_before_the_start_hour_on_any_window_day():
    """Issue 13, case 5 (legacy): start hour 9, a window day: nothing at 00:30, the daily run
    from 09:00 (we used to start it at local midnight)."""
    night = scheduled_runs("acme", FEB, 9, datetime(2026, 2, 14, 0, 30, tzinfo=UTC))
    nine = scheduled_runs("acme", FEB, 9, datetime(2026, 2, 14, 9, 0, tzinfo=UTC))
    assert night.in_window and night.run_keys == ()
    assert nine.run_keys == ("acme|2026-02|2026-02-14",)


@pytest.mark.parametrize(("hour", "minute"), [(8, 0), (8, 59), (13, 30), (23, 59)])
def test_last_day_from_the_start_hour_one_run_per_hour(hour, minute):
    """One run per tick (issue 15): on the last day the hour's run replaces the day's, so a
    sensor turned on late on the last day does not start two runs of one partition."""
    decision = scheduled_runs("acme", FEB, 8, datetime(2026, 2, 18, hour, minute, tzinfo=UTC))
    assert decision.run_keys == (f"acme|2026-02|2026-02-18|{hour:02d}",)
    assert [run.local_hour for run in decision.due] == [hour]
    assert [run.is_hourly for run in decision.due] == [True]


def test_after_the_end_the_next_period_is_far_from_its_end():
    decision = scheduled_runs("acme", FEB, 8, datetime(2026, 2, 19, 0, 0, tzinfo=UTC))
    assert decision.period_key == "2026-03"
    assert not decision.in_window and decision.run_keys == ()


def test_a_provider_without_start_hour_gets_the_daily_run_and_a_warning_on_the_last_day():
    last_day = scheduled_runs("acme", FEB, None, datetime(2026, 2, 18, 15, tzinfo=UTC))
    assert last_day.run_keys == ("acme|2026-02|2026-02-18",)
    assert last_day.warning is not None
    assert "acme" in last_day.warning and "optimization_start_hour_local" in last_day.warning
    earlier = scheduled_runs("acme", FEB, None, datetime(2026, 2, 17, 15, tzinfo=UTC))
    assert earlier.warning is None and earlier.run_keys == ("acme|2026-02|2026-02-17",)
    outside = scheduled_runs("acme", FEB, None, datetime(2026, 2, 1, tzinfo=UTC))
    assert outside.warning is None


def test_a_start_hour_out_of_range_is_refused():
    with pytest.raises(InputError, match=r"0\.\.23"):
        scheduled_runs("acme", FEB, 24, datetime(2026, 2, 18, tzinfo=UTC))


def test_run_keys_use_the_local_date_not_the_utc_date():
    # 2026-02-18 03:00 UTC is still Feb 17 in Chicago (UTC−6).
    cycle = BillingCycle(18, 0, "America/Chicago")
    decision = scheduled_runs("acme", cycle, 8, datetime(2026, 2, 18, 3, tzinfo=UTC))
    assert decision.local_now.date() == date(2026, 2, 17)
    assert decision.run_keys == ("acme|2026-02|2026-02-17",)


def test_run_key_formats():
    assert daily_run_key("p", "2026-01", date(2025, 12, 31)) == "p|2026-01|2025-12-31"
    assert hourly_run_key("p", "2026-01", date(2026, 1, 1), 7) == "p|2026-01|2026-01-01|07"


def test_a_migrated_provider_keeps_its_last_day_and_its_hourly_runs():
    """Migration 0008 rewrote "end day 18, the midnight after it" as the legacy "end day 19 at
    00:00": the same end instant. Its last day stays the 18th, with hourly runs from the start
    hour, and nothing runs on the 19th (the period is over)."""
    old, new = (
        BillingCycle(18, 0, "America/Chicago"),
        BillingCycle(19, 0, "America/Chicago", AT_END_HOUR),
    )
    for key in ("2026-02", "2026-03", "2026-11"):
        assert period_for_key(old, key) == period_for_key(new, key)
        assert last_run_day(new, period_for_key(new, key), 8) == last_run_day(
            old, period_for_key(old, key), 8
        )
    at = datetime(2026, 2, 18, 21, 30, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)
    assert (
        scheduled_runs("acme", new, 8, at).run_keys == scheduled_runs("acme", old, 8, at).run_keys
    )
    assert scheduled_runs("acme", new, 8, at).run_keys[-1] == "acme|2026-02|2026-02-18|21"
    # The same with an end hour before the start hour: 19th 06:00, start hour 8.
    early = BillingCycle(19, 6, "UTC", AT_END_HOUR)
    assert last_run_day(early, period_for_key(early, "2026-02"), 8) == date(2026, 2, 18)
    # From the start hour on, the legacy end day itself is the last day.
    late = BillingCycle(18, 23, "UTC", AT_END_HOUR)
    assert last_run_day(late, period_for_key(late, "2026-02"), 8) == date(2026, 2, 18)


def test_with_an_end_hour_the_hours_after_the_end_day_are_past_the_end_date():
    # End day 18, end hour 6: the period ends Feb 19 06:00, but Feb 19 is past the end date.
    cycle = BillingCycle(18, 6, "UTC")
    assert cycle_end_date(cycle, period_for_key(cycle, "2026-02")) == date(2026, 2, 18)
    early_next_day = scheduled_runs("acme", cycle, 8, datetime(2026, 2, 19, 3, tzinfo=UTC))
    assert early_next_day.period_key == "2026-02"
    assert not early_next_day.in_window and early_next_day.run_keys == ()
    opening = scheduled_runs("acme", cycle, 6, datetime(2026, 2, 11, 6, 1, tzinfo=UTC))
    assert opening.run_keys == ("acme|2026-02|2026-02-11",)
    assert not scheduled_runs("acme", cycle, 8, datetime(2026, 2, 11, 5, 59, tzinfo=UTC)).in_window


# --- DST: the window is measured on the local wall clock --------------------------------------


def test_chicago_march_dst_change_inside_the_window_keeps_eight_local_days():
    # Period 2026-03 ends Mar 15 00:00 CDT; clocks spring forward Mar 8. In elapsed time 8 days
    # before the end is Mar 6 23:00 CST, which would make Mar 6 a ninth day.
    cycle = BillingCycle(14, 0, "America/Chicago")
    before = scheduled_runs("acme", cycle, 8, at("America/Chicago", 2026, 3, 6, 23, 30))
    opened = scheduled_runs("acme", cycle, 0, at("America/Chicago", 2026, 3, 7, 0, 5))
    assert not before.in_window
    assert opened.run_keys == ("acme|2026-03|2026-03-07",)


def test_chicago_spring_forward_on_the_last_day_has_no_run_for_the_skipped_hour():
    cycle = BillingCycle(8, 0, "America/Chicago")  # last day Mar 8 2026, 02:00 does not exist
    hours = {
        run.local_hour
        for decision in sweep(
            cycle,
            0,
            at("America/Chicago", 2026, 3, 8, 0, 0),
            at("America/Chicago", 2026, 3, 8, 23, 55),
            timedelta(minutes=5),
        )
        for run in decision.due
        if run.is_hourly
    }
    assert hours == set(range(24)) - {2}


def test_chicago_fall_back_on_the_last_day_repeats_hour_one_under_one_key():
    cycle = BillingCycle(1, 0, "America/Chicago")  # last day Nov 1 2026, 01:00 happens twice
    first = scheduled_runs("acme", cycle, 0, at("America/Chicago", 2026, 11, 1, 1, 30, fold=0))
    second = scheduled_runs("acme", cycle, 0, at("America/Chicago", 2026, 11, 1, 1, 30, fold=1))
    assert second.local_now.astimezone(UTC) - first.local_now.astimezone(UTC) == timedelta(hours=1)
    assert first.run_keys == second.run_keys == ("acme|2026-11|2026-11-01|01",)


# --- whole windows, as a sensor sees them tick after tick -------------------------------------


@pytest.mark.parametrize(
    ("zone", "end_day", "key", "start_hour", "first_day", "last_day"),
    [
        # DST changes inside the window
        ("America/Chicago", 14, "2026-03", 6, date(2026, 3, 7), date(2026, 3, 14)),
        ("America/Chicago", 1, "2026-11", 0, date(2026, 10, 25), date(2026, 11, 1)),
        ("America/Chicago", 5, "2026-11", 9, date(2026, 10, 29), date(2026, 11, 5)),
        ("Europe/Berlin", 31, "2026-03", 0, date(2026, 3, 24), date(2026, 3, 31)),
        ("Europe/Berlin", 29, "2026-03", 1, date(2026, 3, 22), date(2026, 3, 29)),
        ("Europe/Berlin", 28, "2026-10", 2, date(2026, 10, 21), date(2026, 10, 28)),
        ("Pacific/Auckland", 30, "2026-09", 8, date(2026, 9, 23), date(2026, 9, 30)),
        ("Pacific/Auckland", 5, "2026-04", 8, date(2026, 3, 29), date(2026, 4, 5)),
        # year ends: the key is the month the period ends in, the dates are local
        ("Pacific/Auckland", 31, "2025-12", 8, date(2025, 12, 24), date(2025, 12, 31)),
        ("Pacific/Auckland", 1, "2026-01", 8, date(2025, 12, 25), date(2026, 1, 1)),
        ("America/Chicago", 2, "2026-01", 8, date(2025, 12, 26), date(2026, 1, 2)),
        # end day 31 in months of 28, 29, 30 and 31 days; end day 1
        ("UTC", 31, "2026-02", 8, date(2026, 2, 21), date(2026, 2, 28)),
        ("UTC", 31, "2028-02", 8, date(2028, 2, 22), date(2028, 2, 29)),
        ("UTC", 31, "2026-04", 8, date(2026, 4, 23), date(2026, 4, 30)),
        ("UTC", 31, "2026-05", 8, date(2026, 5, 24), date(2026, 5, 31)),
        ("America/Chicago", 31, "2026-02", 20, date(2026, 2, 21), date(2026, 2, 28)),
        ("UTC", 1, "2026-03", 8, date(2026, 2, 22), date(2026, 3, 1)),
        ("UTC", 30, "2028-02", 8, date(2028, 2, 22), date(2028, 2, 29)),
    ],
)
def test_a_whole_window_gives_eight_daily_runs_and_hourly_runs_on_the_last_day(
    zone, end_day, key, start_hour, first_day, last_day
):
    cycle = BillingCycle(end_day, 0, zone)
    period = period_for_key(cycle, key)
    decisions = list(
        sweep(
            cycle,
            start_hour,
            period.end - timedelta(days=10),
            period.end + timedelta(days=1),
            timedelta(minutes=10),
        )
    )
    due = [(decision, run) for decision in decisions for run in decision.due]
    assert all(len(decision.due) <= 1 for decision in decisions)  # one run per tick
    daily = sorted({run.local_date for _, run in due if not run.is_hourly})
    hourly = sorted({run.local_hour for _, run in due if run.is_hourly})
    # A daily run on each of the first seven days; the last day has its hourly runs.
    assert daily == [first_day + timedelta(days=n) for n in range(7)]
    assert daily[-1] == last_day - timedelta(days=1)
    assert hourly == [h for h in range(start_hour, 24) if hour_exists(zone, last_day, h)]
    for decision, run in due:
        assert decision.period_key == key
        assert run.local_date == decision.local_now.date()
        assert run.run_key.startswith(f"acme|{key}|{run.local_date.isoformat()}")
        assert not run.is_hourly or run.local_date == last_day


# --- properties over any zone, cycle and instant ----------------------------------------------

cycles = st.builds(
    BillingCycle,
    end_day=st.integers(1, 31),
    end_hour=st.sampled_from([0, 0, 0, 1, 2, 6, 23]),
    time_zone=st.sampled_from(ZONES),
)
any_cycles = st.builds(
    BillingCycle,
    end_day=st.integers(1, 31),
    end_hour=st.sampled_from([0, 0, 0, 1, 2, 6, 23]),
    time_zone=st.sampled_from(ZONES),
    end_rule=st.sampled_from([AFTER_END_DAY, AT_END_HOUR]),
)
"""Both readings of (end day, end hour); ``cycles`` keeps the one whose window is always
eight days (under the legacy reading an end hour late in the day opens it a day earlier)."""
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
start_hours = st.none() | st.integers(0, 23)


@given(cycle=any_cycles, start_hour=start_hours, now=instants)
def test_any_instant_gives_a_consistent_decision(cycle, start_hour, now):
    decision = scheduled_runs("acme", cycle, start_hour, now)
    today = decision.local_now.date()
    end = decision.end_date
    assert decision.period.contains(now)
    assert decision.period.first_local_day <= end <= decision.period.last_local_day
    started = start_hour is None or decision.local_now.hour >= start_hour
    if decision.in_window:
        # Eight dates, or nine under the legacy reading when the period ends late on its
        # last day (days_left < 8 then starts late on the ninth day before).
        assert end - timedelta(days=WINDOW_DAYS) <= today <= end
    assert len(decision.due) <= 1  # one run per partition per tick
    if decision.in_window and started and not (today == end and start_hour is not None):
        assert decision.due[0].run_key == daily_run_key("acme", decision.period_key, today)
    if not started:
        assert decision.due == ()
    if end - timedelta(days=WINDOW_DAYS - 2) <= today <= end:
        assert decision.in_window
    if not decision.in_window:
        assert decision.due == () and decision.warning is None
    hourly = [run for run in decision.due if run.is_hourly]
    hourly_expected = (
        decision.in_window
        and today == end
        and start_hour is not None
        and decision.local_now.hour >= start_hour
    )
    assert hourly == (
        [
            DueRun(
                hourly_run_key("acme", decision.period_key, today, decision.local_now.hour),
                today,
                decision.local_now.hour,
            )
        ]
        if hourly_expected
        else []
    )
    assert (decision.warning is not None) == (
        decision.in_window and today == end and start_hour is None
    )


@settings(max_examples=40, deadline=None)
@given(
    cycle=cycles,
    start_hour=st.integers(0, 23),
    year=st.integers(2024, 2030),
    month=st.integers(1, 12),
    minute=st.integers(1, 59),
)
def test_every_window_has_exactly_eight_consecutive_local_days(
    cycle, start_hour, year, month, minute
):
    period = period_for_key(cycle, f"{year:04d}-{month:02d}")
    end = cycle_end_date(cycle, period)
    first = period.end - timedelta(days=10) + timedelta(minutes=minute)
    decisions = list(sweep(cycle, start_hour, first, period.end, timedelta(hours=1)))
    runs = [run for decision in decisions if decision.period == period for run in decision.due]
    run_dates = sorted({run.local_date for run in runs})  # daily runs, hourly on the last day
    assert run_dates == [end - timedelta(days=n) for n in range(7, -1, -1)]
    hourly = {run.local_hour for run in runs if run.is_hourly}
    assert all(run.local_date == end for run in runs if run.is_hourly)
    assert hourly <= set(range(start_hour, 24))
