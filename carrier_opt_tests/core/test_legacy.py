"""The legacy baseline reconstruction: valid, never worse than its base assignment."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings

from carrier_opt.core import legacy
from carrier_opt.core.bound import lagrangian_bound
from carrier_opt.core.instance import load_instance
from carrier_opt.core.legacy import (
    base_assignment,
    device_orders,
    greedy_queue,
    legacy_baseline,
    rate_plan_sequences,
)
from carrier_opt.core.pricing import assignment_problems, total_cost
from carrier_opt_tests.core.strategies import (
    REFERENCE_NAMES,
    instances,
    reference_dir,
    write_instance,
)


def test_base_assignment_picks_the_closest_allowance_above_usage(tmp_path):
    instance = load_instance(write_instance(tmp_path))
    # D1 uses 5 MB (SMALL 10 MB fits); D2 uses 150 MB, more than any CP-A plan: largest (POOL).
    assert list(instance.plan_codes[base_assignment(instance)]) == ["SMALL", "POOL", "BIG"]


@settings(max_examples=40, deadline=None)
@given(instance=instances())
def test_legacy_is_valid_and_never_worse_than_base(instance):
    result = legacy_baseline(instance, max_sequences=20)
    assert assignment_problems(instance, result.assignment) == []
    assert result.cost == pytest.approx(total_cost(instance, result.assignment))
    assert result.cost <= result.base_cost + 1e-9
    assert np.array_equal(
        result.assignment[instance.locked], instance.current_plan[instance.locked]
    )


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_legacy_is_close_to_the_reference_reconstruction(name):
    folder = reference_dir(name)
    expected = json.loads((folder / "expected.json").read_text())
    instance = load_instance(folder)
    result = legacy_baseline(instance)
    assert result.cost >= lagrangian_bound(instance).value - 0.005
    # Our greedy queues are a little stronger than the reference's (never more than ~6 %).
    assert result.cost == pytest.approx(expected["seed_style_cost"], rel=0.07)
    assert result.cost <= expected["seed_style_cost"] + 0.005


def _greedy_reference(instance, order, candidates, base) -> np.ndarray:
    """The legacy queue's greedy in plain Python: each SIM, in order, takes the candidate plan
    that adds the least to the bill, priced with the exact pool charges as SIMs join."""
    placed = ~candidates.any(axis=1)
    assignment = base.copy()
    load = np.zeros(instance.n_pools)
    for device in np.flatnonzero(placed):
        pool = instance.pool_of[assignment[device]]
        if pool >= 0:
            load[pool] += instance.usage_mb[device] - (
                instance.allowance_mb[assignment[device]] * instance.proration[device]
            )

    def units(excess: float, unit: float) -> float:
        return 0.0 if excess <= 0 else max(math.ceil(excess / unit - 1e-9), 0.0)

    for device in order[~placed[order]]:
        best, best_delta = -1, math.inf
        for plan in np.flatnonzero(candidates[device]):
            excess = (
                instance.usage_mb[device]
                - instance.allowance_mb[plan] * (instance.proration[device])
            )
            delta = instance.billed_base_rate[plan] * instance.proration[device]
            delta += instance.sms_rate[plan] * instance.sms_count[device]
            pool = instance.pool_of[plan]
            if pool >= 0:
                unit, rate = instance.pool_unit_mb[pool], instance.pool_overage_rate[pool]
                delta += (units(load[pool] + excess, unit) - units(load[pool], unit)) * rate
            else:
                delta += (
                    units(excess, instance.overage_unit_mb[plan])
                    * (instance.billed_overage_rate[plan])
                )
            if delta < best_delta:
                best, best_delta = plan, delta
        assignment[device] = best
        if instance.pool_of[best] >= 0:
            load[instance.pool_of[best]] += instance.usage_mb[device] - (
                instance.allowance_mb[best] * instance.proration[device]
            )
    return assignment


@settings(max_examples=40, deadline=None)
@given(instance=instances(max_devices=20))
def test_the_greedy_kernel_matches_a_plain_python_reference(instance):
    base = base_assignment(instance)
    candidates = instance.allowed_for_devices() & ~instance.locked[:, None]
    every_plan = np.arange(instance.n_plans)
    for order in device_orders(instance).values():
        assert np.array_equal(
            greedy_queue(instance, order, every_plan, base),
            _greedy_reference(instance, order, candidates, base),
        )


def test_the_greedy_kernel_matches_the_reference_on_p03():
    """p03 is where the kernel before the pool index placed 6 of 2,000 SIMs differently."""
    instance = load_instance(reference_dir("p03-small-tiered"))
    base = base_assignment(instance)
    sequence = rate_plan_sequences(instance, 1)[0]
    in_sequence = np.zeros(instance.n_plans, dtype=bool)
    in_sequence[sequence] = True
    candidates = instance.allowed_for_devices() & in_sequence & ~instance.locked[:, None]
    order = next(iter(device_orders(instance).values()))
    assert np.array_equal(
        greedy_queue(instance, order, sequence, base),
        _greedy_reference(instance, order, candidates, base),
    )


def test_threads_do_not_change_the_legacy_answer():
    """The queues are priced in parallel and per device order; the winner, every queue's
    cost and the assignment are those of one thread in queue order."""
    instance = load_instance(reference_dir("p03-small-tiered"))
    one = legacy_baseline(instance, max_sequences=12, workers=1)
    three = legacy_baseline(instance, max_sequences=12, workers=3)
    assert one.tried == three.tried and len(one.tried) == 1 + 12 * 4
    assert (one.winning_queue, one.winner, one.cost) == (
        three.winning_queue,
        three.winner,
        three.cost,
    )
    assert np.array_equal(one.assignment, three.assignment)
    assert one.cost == pytest.approx(total_cost(instance, one.assignment), abs=1e-9)
    [won] = [queue for queue in one.tried if queue.name == one.winning_queue]
    assert won.cost == one.cost == min(queue.cost for queue in one.tried)


@settings(max_examples=30, deadline=None)
@given(instance=instances())
def test_the_base_assignment_ranked_in_blocks_is_the_whole_fleet_ranked_at_once(instance):
    """``base_assignment`` ranks the SIMs a block at a time (to bound its memory); blocks of
    one or two SIMs give what one block of every SIM gives."""
    whole = base_assignment(instance)
    for rows in (1, 2):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(legacy, "BASE_BLOCK_ROWS", rows)
            assert np.array_equal(base_assignment(instance), whole)
