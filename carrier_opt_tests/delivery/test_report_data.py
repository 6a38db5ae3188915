"""The report's figures add up: lines to the bill exactly, each line within a cent."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier_opt.core.money import cents as round_half_up_cents
from carrier_opt.core.pricing import device_breakdown, plan_breakdown, total_cost
from carrier_opt.delivery.report_data import (
    apportion_cents,
    report_data_from,
)
from carrier_opt_tests.core.strategies import instances, random_valid_assignment
from carrier_opt_tests.delivery.support import PERIOD, small_instance

CENT = 0.01
LINE_TOLERANCE = CENT + 1e-9
"""Documented in report_data.py: every apportioned line is within one cent of the model."""


def cents(amount: float) -> int:
    return round(amount * 100)


@settings(max_examples=150, deadline=None)
@given(instance=instances(max_devices=15, max_plans=4), seed=st.integers(0, 10_000))
def test_lines_add_up_to_the_bill_and_stay_within_a_cent(instance, seed):
    current = instance.current_plan
    recommended = random_valid_assignment(instance, seed)
    data = report_data_from(instance, current, recommended, provider="p", period=PERIOD)
    frame = data.assignments

    for side, assignment in (("before", current), ("after", recommended)):
        bill = total_cost(instance, assignment)
        reported = data.cost_before if side == "before" else data.cost_after
        assert cents(reported) == round_half_up_cents(bill)
        assert abs(reported - bill) <= 0.005 + 1e-9  # the contract's half-cent tolerance
        assert int(sum(cents(v) for v in frame[f"cost_{side}"])) == cents(reported)
        exact = device_breakdown(instance, assignment)
        for component in ("base", "sms", "overage"):
            lines = frame[f"{component}_{side}"].to_numpy()
            assert np.all(np.abs(lines - exact[f"{component}_usd"].to_numpy()) <= LINE_TOLERANCE)
            assert np.all(lines[exact[f"{component}_usd"].to_numpy() == 0] == 0)
        components = sum(frame[f"{c}_{side}"].map(cents) for c in ("base", "sms", "overage"))
        assert components.tolist() == frame[f"cost_{side}"].map(cents).tolist()
        stats = data.plan_statistics
        assert int(stats[f"cost_{side}"].map(cents).sum()) == cents(reported)
        exact_plans = plan_breakdown(instance, assignment)
        assert stats[f"devices_{side}"].tolist() == exact_plans["devices"].tolist()


def test_apportioning_never_touches_exact_cents_and_hits_the_total():
    amounts = np.array([1.005, 2.0, 0.0, 3.3333, 0.1 + 0.2])
    total = round_half_up_cents(amounts.sum())
    result = apportion_cents(amounts, total)
    assert result.sum() == total
    assert result[1] == 200 and result[2] == 0 and result[4] == 30
    assert np.all(np.abs(result - amounts * 100) < 1)


def test_apportioning_refuses_an_unreachable_total():
    with pytest.raises(ValueError, match="cannot apportion"):
        apportion_cents(np.array([1.0, 2.0]), 305)


def test_round_half_up_rounds_half_cents_up_not_to_even():
    assert round_half_up_cents(0.125) == 13
    assert round_half_up_cents(2.675) == 268  # the float is 2.67499999...; repr is 2.675
    assert round_half_up_cents(10.0) == 1000


def test_changes_identity_and_shared_pool_are_reported():
    instance = small_instance()
    recommended = instance.current_plan.copy()
    recommended[1] = 1  # the heavy SIM leaves the 10 MB pool for the 100 MB pool
    read_at = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    info = pd.DataFrame(
        {
            "iccid": instance.iccids,
            "msisdn": [f"+1555000{i}" for i in range(5)],
            "ctd_usage_mb": instance.usage_mb / 4,
            "usage_date": [read_at.isoformat(), read_at, None, "", "not a date"],
        }
    )
    data = report_data_from(
        instance,
        instance.current_plan,
        recommended,
        provider="acme",
        period=PERIOD,
        legacy_cost=500.0,
        lower_bound=10.0,
        gap=0.5,
        seconds=1.25,
        device_info=info,
    )
    frame = data.assignments
    assert frame["changed"].tolist() == [False, True, False, False, False]
    assert frame.loc[1, "recommended_rate_plan"] == "POOL_100MB"
    assert frame["msisdn"].tolist() == [f"+1555000{i}" for i in range(5)]
    # Cycle-to-date usage and its reading's moment from the SIMs, the projected usage (what
    # the charges are priced on) from the instance: three columns, never one number twice.
    assert frame["ctd_usage_mb"].tolist() == pytest.approx(instance.usage_mb / 4)
    assert frame["usage_date"].tolist()[:2] == [read_at, read_at]
    assert frame["usage_date"].isna().tolist() == [False, False, True, True, True]
    assert frame["projected_usage_mb"].tolist() == pytest.approx(instance.usage_mb)
    assert "usage_mb" not in frame.columns
    assert data.devices_changed == 1
    assert data.saving == pytest.approx(data.cost_before - data.cost_after)
    assert data.shared_pool is not None
    assert data.shared_pool["iccid"].tolist() == [instance.iccids[3]]


def test_a_current_plan_that_was_dropped_leaves_the_before_side_empty():
    instance = small_instance(locked=False)
    current = instance.current_plan.copy()
    current[0] = -1
    data = report_data_from(instance, current, instance.current_plan, provider="p", period=PERIOD)
    assert data.cost_before is None and data.saving is None
    assert data.assignments["cost_before"].isna().all()
    assert data.shared_pool is None


def test_pool_overage_share_spreads_each_pools_overage_evenly_and_scope_is_kept():
    instance = small_instance()
    current = instance.current_plan
    data = report_data_from(
        instance, current, current, provider="p", period=PERIOD, scope="Customer Acme"
    )
    frame = data.assignments
    assert data.scope == "Customer Acme"
    plans = plan_breakdown(instance, current)
    for code in ("POOL_10MB", "POOL_100MB"):
        on_pool = frame[frame["recommended_rate_plan"] == code]
        assert on_pool["pool_overage_share"].nunique() == 1  # even, not by excess
        spread = on_pool["pool_overage_share"].sum()
        assert spread == pytest.approx(plans.loc[code, "overage_usd"], abs=0.01 * len(on_pool))
    assert frame.loc[frame["recommended_rate_plan"] == "POOL_10MB", "pool_overage_share"].iloc[0]
    assert (
        frame.loc[frame["recommended_rate_plan"] == "IND_20MB", "pool_overage_share"] == 0
    ).all()
    # Informational: the charges are unchanged, the share is in no cost.
    assert cents(frame["cost_after"].sum()) == cents(data.cost_after)
    assert data.shared_pool["pool_overage_share"].tolist() == [frame.loc[3, "pool_overage_share"]]
