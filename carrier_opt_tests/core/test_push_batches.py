"""Push batches never leave the bill above where it started, at any batch boundary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carrier_opt.core.pricing import total_cost
from carrier_opt.core.push_batches import (
    COST_TOLERANCE_USD,
    changed_devices,
    marginal_costs,
    next_batch,
    plan_push,
)
from carrier_opt.errors import InputError
from carrier_opt_tests.core.strategies import instances, pool_example, random_valid_assignment


def test_the_pooled_example_pushes_both_changes_together_and_lands_on_the_optimum():
    instance = pool_example()
    state = instance.current_plan
    target = np.array([0, 0])  # both on POOL100
    assert total_cost(instance, state) == pytest.approx(45.0)
    assert total_cost(instance, target) == pytest.approx(20.0)
    # Alone, B costs more on the pool; alone in the pool, A costs more too.
    assert marginal_costs(instance, state, target, np.array([0, 1])) == pytest.approx([20.0, 5.0])

    plan = plan_push(instance, state, target)
    assert [b.devices.tolist() for b in plan.batches] == [[0, 1]]
    assert plan.batches[0].bill_after_usd == pytest.approx(20.0)
    assert plan.held_back.size == 0

    # One change per batch cannot be safe: the plan holds both back and says why.
    single = plan_push(instance, state, target, limit=1)
    assert single.batches == [] and single.held_back.tolist() == [0, 1]
    assert "held back" in single.held_back_reason and "$45.00" in single.held_back_reason


def test_when_a_is_already_on_the_pool_only_b_moves_and_the_bill_falls():
    instance = pool_example(a_plan=0)
    state = instance.current_plan
    target = np.array([0, 0])
    assert total_cost(instance, state) == pytest.approx(60.0 + 5.0)
    plan = plan_push(instance, state, target)
    assert [b.devices.tolist() for b in plan.batches] == [[1]]
    assert plan.target_usd == pytest.approx(20.0)


def test_changes_that_only_raise_the_bill_are_never_batched():
    instance = pool_example()
    state = np.array([2, 1])  # A on SOLO200 ($40), B on SOLO10 ($5)
    target = np.array([1, 2])  # A to SOLO10: 5 + 140 = 145 (worse); B to SOLO200: 40 (worse)
    assert (
        next_batch(
            instance,
            state,
            target,
            changed_devices(state, target),
            baseline_usd=total_cost(instance, state),
        )
        is None
    )


def test_bad_arguments_are_refused():
    instance = pool_example()
    with pytest.raises(InputError, match="batch limit"):
        next_batch(
            instance,
            instance.current_plan,
            instance.current_plan,
            np.array([0]),
            baseline_usd=0.0,
            limit=251,
        )
    with pytest.raises(InputError, match="not priced"):
        next_batch(instance, np.array([-1, 1]), np.array([0, 0]), np.array([0]), baseline_usd=0.0)


def _state_and_target(instance, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two random valid assignments, the cheaper one as the target (a winner never costs more
    than the state it replaces)."""
    first = random_valid_assignment(instance, seed)
    second = random_valid_assignment(instance, seed + 1)
    if total_cost(instance, first) < total_cost(instance, second):
        return second, first
    return first, second


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    instance=instances(max_devices=14, max_plans=4, charge_types=True),
    seed=st.integers(0, 10_000),
    limit=st.integers(1, 4),
)
def test_every_batch_prefix_costs_no_more_than_the_state_before(instance, seed, limit):
    state, target = _state_and_target(instance, seed)
    baseline = total_cost(instance, state)
    plan = plan_push(instance, state, target, limit=limit)
    moving = state.copy()
    placed: list[int] = []
    for batch in plan.batches:
        assert 1 <= batch.devices.size <= limit
        assert batch.bill_before_usd == pytest.approx(total_cost(instance, moving))
        moving[batch.devices] = target[batch.devices]
        assert total_cost(instance, moving) == pytest.approx(batch.bill_after_usd)
        assert total_cost(instance, moving) <= baseline + COST_TOLERANCE_USD
        placed.extend(batch.devices.tolist())
    changed = changed_devices(state, target).tolist()
    assert sorted(placed + plan.held_back.tolist()) == changed
    assert len(set(placed)) == len(placed)
    if plan.held_back.size == 0:
        assert total_cost(instance, moving) == pytest.approx(total_cost(instance, target))
    else:
        assert plan.held_back_reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances(max_devices=14, max_plans=4), seed=st.integers(0, 10_000))
def test_within_the_batch_limit_the_whole_set_is_pushed_and_reaches_the_target(instance, seed):
    state, target = _state_and_target(instance, seed)
    plan = plan_push(instance, state, target)  # 250 per batch: every change fits one batch
    assert plan.held_back.size == 0
    final = state.copy()
    for batch in plan.batches:
        final[batch.devices] = target[batch.devices]
    assert np.array_equal(final, target)
    assert plan.target_usd == pytest.approx(total_cost(instance, target))


@settings(max_examples=100, deadline=None)
@given(instance=instances(max_devices=10, max_plans=4, charge_types=True), seed=st.integers(0, 999))
def test_marginal_costs_are_exact_for_one_change(instance, seed):
    state, target = _state_and_target(instance, seed)
    devices = changed_devices(state, target)
    deltas = marginal_costs(instance, state, target, devices)
    for device, delta in zip(devices.tolist(), deltas.tolist(), strict=True):
        trial = state.copy()
        trial[device] = target[device]
        assert delta == pytest.approx(
            total_cost(instance, trial) - total_cost(instance, state), abs=1e-6
        )
