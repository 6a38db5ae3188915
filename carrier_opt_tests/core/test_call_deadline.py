"""A last-day hourly run's sync budget comes from its deadline (issue 27)."""

from datetime import UTC, datetime, timedelta

from carrier_opt.core.go_no_go import PUSH_RESERVE_S, SOLVE_RESERVE_S, calls_before_deadline

END = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def test_a_run_hours_before_the_end_may_spend_its_hour_less_the_solving():
    calls = calls_before_deadline(END - timedelta(hours=6), END, 5.0)
    assert calls == int((3600 - SOLVE_RESERVE_S) * 5)  # 16,500: 3,300 SIMs per SIM at most


def test_near_the_end_the_push_time_comes_first():
    now = END - timedelta(minutes=40)
    calls = calls_before_deadline(now, END, 5.0)
    assert calls == int((40 * 60 - PUSH_RESERVE_S - SOLVE_RESERVE_S) * 5)
    assert calls_before_deadline(END - timedelta(minutes=10), END, 5.0) == 1  # stored usage
