"""Usage projection and proration at period edges, DST changes and leap days."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from carrier_opt.core.billing import BillingCycle, period_for_key
from carrier_opt.core.usage import (
    BYTES_PER_MB,
    bytes_to_mb,
    days_billable,
    project_usage_frame,
    project_usage_mb,
    projection_factor,
    proration,
    prorations,
)

CHICAGO = ZoneInfo("America/Chicago")
UTC_MONTHS = BillingCycle(31, 0, "UTC")


def test_one_mb_is_binary():
    assert BYTES_PER_MB == 1_048_576
    assert bytes_to_mb(1_048_576) == 1.0
    assert bytes_to_mb(1_618_183) == pytest.approx(1.5432, abs=1e-4)
    assert bytes_to_mb(None) is None


def test_halfway_through_the_period_usage_doubles_plus_one_percent():
    period = period_for_key(UTC_MONTHS, "2026-04")  # 30 days
    halfway = period.start + timedelta(days=15)
    assert projection_factor(period, halfway) == pytest.approx(2.02)
    assert project_usage_mb(10.0, "ACTIVATED", halfway, period) == pytest.approx(20.2)


@pytest.mark.parametrize("status", ["DEACTIVATED", "RETIRED"])
def test_deactivated_and_retired_sims_are_not_projected(status):
    period = period_for_key(UTC_MONTHS, "2026-04")
    assert project_usage_mb(10.0, status, period.start + timedelta(days=3), period) == 10.0


@pytest.mark.parametrize("status", ["TEST_READY", "INVENTORY", "ACTIVATION_READY", None])
def test_every_other_status_is_projected_as_in_the_legacy_system(status):
    """Issue 13, case 4: 100 MB of TEST_READY usage at mid-period is about 202 MB."""
    period = period_for_key(UTC_MONTHS, "2026-04")
    halfway = period.start + timedelta(days=15)
    assert project_usage_mb(100.0, status, halfway, period) == pytest.approx(202.0)


def test_usage_dated_at_or_outside_the_period_edges_is_unchanged():
    period = period_for_key(UTC_MONTHS, "2026-04")
    for usage_date in (
        period.start,  # no time elapsed: nothing to scale from
        period.end,  # the period has ended
        period.start - timedelta(seconds=1),
        period.end + timedelta(days=1),
        None,
    ):
        assert project_usage_mb(7.0, "ACTIVATED", usage_date, period) == 7.0


def test_just_before_the_end_the_projection_is_the_headroom_only():
    period = period_for_key(UTC_MONTHS, "2026-04")
    assert projection_factor(period, period.end - timedelta(seconds=1)) == pytest.approx(1.01)


def test_a_run_after_the_period_ended_does_not_project():
    period = period_for_key(UTC_MONTHS, "2026-04")
    usage_date = period.start + timedelta(days=10)
    assert projection_factor(period, usage_date, as_of=period.end) == 1.0
    assert projection_factor(period, usage_date, as_of=period.end - timedelta(hours=1)) > 1


def test_projection_uses_real_seconds_across_spring_forward():
    period = period_for_key(BillingCycle(18, 0, "America/Chicago"), "2026-03")  # 28 d − 1 h
    usage_date = period.start + timedelta(days=14)
    expected = (28 * 86_400 - 3_600) / (14 * 86_400) * 1.01
    assert projection_factor(period, usage_date) == pytest.approx(expected)


def test_projection_in_a_leap_february():
    period = period_for_key(UTC_MONTHS, "2028-02")  # 29 days
    usage_date = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert projection_factor(period, usage_date) == pytest.approx(29 / 28.5 * 1.01)


def test_project_usage_frame_matches_the_scalar_rule():
    period = period_for_key(UTC_MONTHS, "2026-04")
    dates = pd.Series(
        [period.start + timedelta(days=10), None, period.start + timedelta(days=20)],
        dtype=object,
    )
    projected = project_usage_frame(
        [3.0, 4.0, 5.0], ["ACTIVATED", "ACTIVATED", "DEACTIVATED"], dates, period
    )
    assert projected == pytest.approx([3.0 * 3 * 1.01, 4.0, 5.0])
    assert isinstance(projected, np.ndarray)


def test_a_sim_activated_before_the_period_is_billed_in_full():
    period = period_for_key(UTC_MONTHS, "2026-04")
    assert proration(period.start - timedelta(days=40), period) == 1.0
    assert proration(None, period) == 1.0
    assert proration(period.start, period) == 1.0  # activated at the first instant


def test_mid_period_activation_rounds_billable_days_up():
    period = period_for_key(UTC_MONTHS, "2026-04")  # 30 days
    activated = datetime(2026, 4, 21, 9, 30, tzinfo=UTC)  # 9 days 14.5 h before the end
    assert days_billable(activated, period) == 10
    assert proration(activated, period) == pytest.approx(10 / 30)
    last_second = period.end - timedelta(seconds=1)
    assert days_billable(last_second, period) == 1


def test_proration_counts_local_days_across_fall_back():
    period = period_for_key(BillingCycle(18, 0, "America/Chicago"), "2026-11")  # 31 days, +1 h
    activated = datetime(2026, 10, 30, tzinfo=CHICAGO).astimezone(UTC)  # before 1 Nov change
    # 20 local days to the 19 Nov midnight, although 20 days + 1 h of real time.
    assert days_billable(activated, period) == 20
    assert proration(activated, period) == pytest.approx(20 / 31)


def test_proration_counts_local_days_across_spring_forward():
    period = period_for_key(BillingCycle(18, 0, "America/Chicago"), "2026-03")  # 28 days, −1 h
    activated = datetime(2026, 3, 1, tzinfo=CHICAGO).astimezone(UTC)
    assert days_billable(activated, period) == 18


def test_proration_on_a_leap_day():
    period = period_for_key(UTC_MONTHS, "2028-02")
    activated = datetime(2028, 2, 29, tzinfo=UTC)
    assert days_billable(activated, period) == 1
    assert proration(activated, period) == pytest.approx(1 / 29)


def test_prorations_of_a_column_with_missing_dates():
    period = period_for_key(UTC_MONTHS, "2026-04")
    column = pd.Series([pd.NaT, pd.Timestamp("2026-04-16", tz="UTC"), None], dtype=object)
    assert prorations(column, period) == pytest.approx([1.0, 15 / 30, 1.0])
