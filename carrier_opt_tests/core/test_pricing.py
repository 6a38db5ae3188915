"""The contract's cost model: totals, breakdowns, the ceil tolerance and assignment validity."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier_opt.core.instance import load_instance
from carrier_opt.core.pricing import (
    assignment_problems,
    device_breakdown,
    plan_breakdown,
    total_cost,
    validate_assignment,
)
from carrier_opt.errors import InputError
from carrier_opt_tests.core.strategies import (
    DEVICES_CSV,
    RATE_PLANS_CSV,
    REFERENCE_NAMES,
    SMALL_CURRENT_COST,
    instances,
    random_valid_assignment,
    reference_dir,
    write_instance,
)

HALF_CENT = 0.005


@pytest.fixture
def small(tmp_path):
    return load_instance(write_instance(tmp_path))


def test_small_instance_costs_what_the_contract_says(small):
    assert total_cost(small, small.current_plan) == pytest.approx(SMALL_CURRENT_COST, abs=1e-9)


def test_plan_breakdown_explains_each_plan(small):
    plans = plan_breakdown(small, small.current_plan)
    pool = plans.loc["POOL"]
    assert pool["devices"] == 1
    assert pool["allowance_mb"] == pytest.approx(50.0)
    assert pool["base_usd"] == pytest.approx(2.5)
    assert pool["overage_usd"] == pytest.approx(10.0)
    assert plans.loc["SMALL", "sms_usd"] == pytest.approx(0.01)


def test_pooled_plan_shares_one_allowance(tmp_path):
    # Two SIMs on POOL (100 MB each): 30 + 160 = 190 MB fits in 200 MB, so no overage,
    # although the second SIM alone is 60 MB over its own allowance.
    devices = DEVICES_CSV.replace("D1,CP-A,SMALL,5,1,1", "D1,CP-A,POOL,30,0,1").replace(
        "D2,CP-A,POOL,150,0,0.5", "D2,CP-A,POOL,160,0,1"
    )
    instance = load_instance(write_instance(tmp_path, devices=devices))
    assert plan_breakdown(instance, instance.current_plan).loc["POOL", "overage_usd"] == 0.0


def test_individual_plan_bills_each_sim_alone(tmp_path):
    # SMALL (10 MB, not pooled): SIM 1 is 5 MB under, SIM 2 is 2.5 MB over → 3 units for SIM 2.
    devices = DEVICES_CSV.replace("D2,CP-A,POOL,150,0,0.5", "D2,CP-A,SMALL,12.5,0,1")
    instance = load_instance(write_instance(tmp_path, devices=devices))
    overage = plan_breakdown(instance, instance.current_plan).loc["SMALL", "overage_usd"]
    assert overage == pytest.approx(3 * 0.5)


@pytest.mark.parametrize(
    ("usage_mb", "units"), [("13.0000000001", 3), ("13.000001", 4), ("10", 0), ("10.5", 1)]
)
def test_float_noise_inside_ceil_is_forgiven(tmp_path, usage_mb, units):
    devices = DEVICES_CSV.replace("D1,CP-A,SMALL,5,1,1", f"D1,CP-A,SMALL,{usage_mb},0,1")
    instance = load_instance(write_instance(tmp_path, devices=devices))
    overage = plan_breakdown(instance, instance.current_plan).loc["SMALL", "overage_usd"]
    assert overage == pytest.approx(units * 0.5)


def test_pool_overage_rounds_up_to_whole_units(tmp_path):
    rate_plans = RATE_PLANS_CSV.replace("POOL,5.0,100,0.1,1,", "POOL,5.0,100,0.1,30,")
    instance = load_instance(write_instance(tmp_path, rate_plans=rate_plans))
    # 150 MB − 50 MB prorated pool = 100 MB = 3.33 units of 30 MB → 4 units × 0.1.
    assert plan_breakdown(instance, instance.current_plan).loc["POOL", "overage_usd"] == (
        pytest.approx(0.4)
    )


def test_device_breakdown_charges_pool_overage_to_sims_over_their_share(tmp_path):
    devices = DEVICES_CSV.replace("D1,CP-A,SMALL,5,1,1", "D1,CP-A,POOL,40,0,1")
    instance = load_instance(write_instance(tmp_path, devices=devices))
    rows = device_breakdown(instance, instance.current_plan).set_index("iccid")
    # Pool: 150 allowance, 190 used → 40 units. D1 is under its 100 MB share and pays none.
    assert rows.loc["D1", "overage_usd"] == 0.0
    assert rows.loc["D2", "overage_usd"] == pytest.approx(4.0)


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_current_cost_matches_reference_to_the_cent(name):
    folder = reference_dir(name)
    expected = json.loads((folder / "expected.json").read_text())
    instance = load_instance(folder)
    assert round(total_cost(instance, instance.current_plan), 2) == expected["current_cost"]


@settings(max_examples=150, deadline=None)
@given(instance=instances(), seed=st.integers(0, 2**32 - 1))
def test_breakdowns_add_up_to_the_total(instance, seed):
    assignment = random_valid_assignment(instance, seed)
    total = total_cost(instance, assignment)
    assert device_breakdown(instance, assignment)["cost_usd"].sum() == pytest.approx(
        total, abs=HALF_CENT
    )
    plans = plan_breakdown(instance, assignment)
    assert plans["cost_usd"].sum() == pytest.approx(total, abs=HALF_CENT)
    assert plans["devices"].sum() == instance.n_devices


@settings(max_examples=100, deadline=None)
@given(instance=instances(), seed=st.integers(0, 2**32 - 1))
def test_costs_are_non_negative_and_device_charges_match_plans(instance, seed):
    assignment = random_valid_assignment(instance, seed)
    rows = device_breakdown(instance, assignment)
    assert (rows[["base_usd", "sms_usd", "overage_usd"]] >= 0).all().all()
    by_plan = rows.groupby("rate_plan_code")["overage_usd"].sum()
    plans = plan_breakdown(instance, assignment)
    for code, overage in by_plan.items():
        assert overage == pytest.approx(plans.loc[code, "overage_usd"], abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(instance=instances(), seed=st.integers(0, 2**32 - 1))
def test_more_usage_never_costs_less(instance, seed):
    assignment = random_valid_assignment(instance, seed)
    before = total_cost(instance, assignment)
    usage = instance.usage_mb.copy()
    usage[seed % instance.n_devices] += 50.0
    heavier = dataclasses.replace(instance, usage_mb=usage)
    assert total_cost(heavier, assignment) >= before - 1e-9


def test_random_valid_assignments_are_valid(small):
    for seed in range(20):
        assert assignment_problems(small, random_valid_assignment(small, seed)) == []


def test_moving_a_locked_device_is_invalid(small):
    with pytest.raises(InputError, match="locked device 'D3' must stay on 'BIG', not 'POOL'"):
        validate_assignment(small, np.array([0, 1, 1]))


def test_plan_not_allowed_by_communication_plan_is_invalid(small):
    with pytest.raises(
        InputError, match="communication plan 'CP-A' does not allow rate plan 'BIG'"
    ):
        validate_assignment(small, np.array([2, 1, 2]))


def test_assignment_of_wrong_length_or_index_is_invalid(small):
    assert "expected (3,)" in str(assignment_problems(small, np.array([0, 1]))[0])
    assert "plan index 7" in str(assignment_problems(small, np.array([7, 1, 2]))[0])


@settings(max_examples=200, deadline=None)
@given(instances(max_devices=30, max_plans=5, charge_types=True), st.randoms())
def test_the_total_is_the_sum_of_the_bills_terms_to_the_bit(instance, rnd):
    """``total_cost`` computes each array once and bins the pools' loads by slot (a last slot
    for the SIMs outside a pool) instead of over a masked copy; the terms are the helpers' own,
    summed in the same order, so the total must be theirs exactly, not merely to the cent."""
    from carrier_opt.core import pricing

    assignment = np.array(
        [rnd.randrange(instance.n_plans) for _ in range(instance.n_devices)], dtype=np.int64
    )
    sums = pricing._plan_sums(instance, assignment)
    fixed = instance.billed_base_rate * sums["proration"] + instance.sms_rate * sums["sms"]
    excess = pricing._device_excess_mb(instance, assignment)
    own = pricing._own_overage_usd(instance, assignment, excess)
    pools = pricing.pool_charges(instance, assignment)
    assert total_cost(instance, assignment) == float(fixed.sum() + own.sum() + pools.sum())
