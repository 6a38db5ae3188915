"""Generated mobility groups and customer instances: seeded, valid, and optimized sensibly."""

import numpy as np
import pandas as pd
import pytest

from carrier_opt.core.instance import OVERAGE_ONLY, RATE_ONLY, instance_from_frames
from carrier_opt.core.legacy import legacy_baseline
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.pricing import total_cost, validate_assignment
from carrier_opt.core.synthetic import customer_account, mobility_account

N = 300
GENERATORS = {"mobility": mobility_account, "customer": customer_account}


def frames(account) -> tuple[pd.DataFrame, ...]:
    return account.rate_plans, account.comm_plan_rate_plans, account.devices


@pytest.mark.parametrize("kind", GENERATORS)
def test_same_seed_same_account_other_seed_other_fleet(kind):
    make = GENERATORS[kind]
    for first, again in zip(frames(make(N, seed=5)), frames(make(N, seed=5)), strict=True):
        pd.testing.assert_frame_equal(first, again)
    other = make(N, seed=6).devices
    assert not np.array_equal(other["usage_mb"], make(N, seed=5).devices["usage_mb"])
    assert other["iccid"].is_unique


@pytest.mark.parametrize("kind", GENERATORS)
def test_tables_are_a_valid_instance(kind):
    account = GENERATORS[kind](N, seed=1)
    instance = instance_from_frames(*frames(account))
    assert instance.n_devices == N
    assert (instance.current_plan >= 0).all()
    assert not instance.dropped_plans
    # Every SIM's current plan is one its communication plan allows.
    assert instance.allowed[instance.comm_plan, instance.current_plan].all()


def test_mobility_group_is_one_communication_plan_with_typed_gb_plans():
    instance = mobility_account(N, seed=2).instance()
    assert len(instance.comm_plan_codes) == 1 and instance.allowed.all()
    assert {RATE_ONLY, OVERAGE_ONLY} <= set(instance.charge_type.tolist())
    assert instance.pooled.sum() == 1
    assert np.median(instance.usage_mb) > 500  # GB-scale usage, not IoT megabytes
    # Real phone fleets are over-provisioned: many lines sit on the unlimited plan.
    unlimited = instance.charge_type[instance.current_plan] == RATE_ONLY
    assert unlimited.mean() > 0.25


@pytest.mark.parametrize("share", [0.3, 0.5])
def test_customer_instance_has_other_customers_sims_locked_in_the_pools(share):
    instance = customer_account(N, seed=3, locked_share=share).instance()
    locked = instance.locked
    assert locked.sum() == round(share * N)
    assert instance.pooled[instance.current_plan[locked]].all()
    assert not instance.pooled.all()  # the customer also has individual plans
    assert 1 <= instance.pooled.sum() <= 2


@pytest.mark.parametrize("kind", GENERATORS)
def test_optimizer_beats_legacy_and_keeps_locked_sims(kind):
    instance = GENERATORS[kind](N, seed=4).instance()
    legacy = legacy_baseline(instance, max_sequences=20)
    result = optimize(instance, time_limit_s=3, starts=[legacy.assignment])
    validate_assignment(instance, result.assignment)
    assert result.cost == pytest.approx(total_cost(instance, result.assignment), abs=1e-6)
    assert result.cost <= legacy.cost + 1e-6
    assert result.cost <= total_cost(instance, instance.current_plan) + 1e-6
    assert result.bound.value <= result.cost + 1e-6
    locked = instance.locked
    assert locked.any() or kind == "mobility"
    assert (result.assignment[locked] == instance.current_plan[locked]).all()
