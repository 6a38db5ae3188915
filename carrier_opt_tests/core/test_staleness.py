"""The value of refreshing a SIM's usage, and a run's staleness figures (issue 27)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from carrier_opt.core.staleness import (
    NO_READING,
    RATE_SWING,
    SimReadings,
    money_at_stake,
    refresh_order,
    staleness,
)

DAY = 86_400.0
PERIOD = 30 * DAY


def readings(**columns) -> SimReadings:
    base = dict(
        projected_mb=[500.0, 0.0, 10.0, 95.0, 500.0, np.nan],
        reading_age_s=[7 * DAY, 7 * DAY, 7 * DAY, 7 * DAY, 0.5 * DAY, np.nan],
        allowance_mb=[0.0, 100.0, 100.0, 100.0, 0.0, 100.0],
        price_per_mb=[0.01, 0.05, 0.05, 0.05, 0.01, 0.05],
        overage_unit_mb=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        pooled=[True, False, False, False, True, False],
    )
    base.update(columns)
    return SimReadings(**{name: np.array(value) for name, value in base.items()})


def test_money_at_stake_follows_what_can_change_the_bill():
    value = money_at_stake(readings(), PERIOD)
    heavy_pooled, idle, far_below, near_break, fresh_heavy, never_read = value
    assert never_read == NO_READING
    assert far_below == 0.0 and idle == 0.0  # a week's swing cannot reach the allowance
    assert near_break > 0.0  # 95 MB of 100, a week unobserved: may cross
    assert heavy_pooled > near_break > 0 and heavy_pooled > fresh_heavy > 0
    # 500 MB pooled, 7 of 30 days unobserved: δ = 501 × 7/30 × swing MB either way, at $0.01.
    assert heavy_pooled == pytest.approx(2 * 501 * 7 / 30 * RATE_SWING * 0.01 + 0.01)
    # 95 MB of 100 on its own plan: the part of [95 − δ, 95 + δ] above 100 MB, at $0.05, and
    # one unit more.
    assert near_break == pytest.approx((95 + 96 * 7 / 30 * RATE_SWING - 100) * 0.05 + 0.05)


def test_the_value_order_and_the_stalest_baseline_differ():
    found = readings()
    value = money_at_stake(found, PERIOD)
    by_value = refresh_order(value, found.reading_age_s).tolist()
    by_age = refresh_order(value, found.reading_age_s, by="stalest").tolist()
    assert by_value[:4] == [5, 0, 3, 4] and by_value[-2:] == [1, 2]
    assert by_age[0] == 5 and by_age[-1] == 4  # never read first, the freshest last


def test_the_runs_figures_count_stale_sims_and_bound_the_money():
    found = readings(reading_age_s=[2 * DAY, 2 * DAY, 0.1 * DAY, 0.1 * DAY, 3 * DAY, 3 * DAY])
    found = SimReadings(**{**found.__dict__, "projected_mb": np.nan_to_num(found.projected_mb)})
    times = [datetime(2026, 11, day, tzinfo=UTC) for day in (3, 3, 5, 5, 2, 2)]
    figures = staleness(found, times, PERIOD)
    assert (figures.sims, figures.stale_sims) == (6, 4)
    assert figures.oldest_reading == datetime(2026, 11, 2, tzinfo=UTC)
    stale = np.array([True, True, False, False, True, True])
    assert figures.money_bound_usd == float(money_at_stake(found, PERIOD)[stale].sum())
    assert "4 of 6 SIMs decided on usage older than 24 h" in figures.line()
