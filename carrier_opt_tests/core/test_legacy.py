"""The legacy baseline reconstruction: valid, never worse than its base assignment."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings

from carrier_opt.core.bound import lagrangian_bound
from carrier_opt.core.instance import load_instance
from carrier_opt.core.legacy import base_assignment, legacy_baseline
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
