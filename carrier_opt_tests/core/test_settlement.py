"""Settlement of a closed period (issue 31, point 1), by hand: final usage both below and above
the projection."""

import numpy as np
import pandas as pd
import pytest

from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.settlement import settle

PLANS = pd.DataFrame(
    {
        "rate_plan_code": ["SOLO_10MB", "SOLO_50MB", "POOL_20MB"],
        "base_rate": [2.0, 5.0, 3.0],
        "data_allowance_mb": [10, 50, 20],
        "overage_rate": [1.0, 1.0, 1.0],
        "data_per_overage_charge_mb": [1.0, 1.0, 1.0],
        "sms_rate": [0.0, 0.0, 0.0],
        "pooled": [False, False, True],
    }
)
PAIRS = pd.DataFrame(
    {"communication_plan": ["CP"] * 3, "rate_plan_code": ["SOLO_10MB", "SOLO_50MB", "POOL_20MB"]}
)
SOLO_10, SOLO_50 = 0, 1


def final_fleet(usage: list[float]):
    return instance_from_frames(
        PLANS,
        PAIRS,
        pd.DataFrame(
            {
                "iccid": ["A", "B"],
                "communication_plan": ["CP", "CP"],
                "rate_plan_code": ["SOLO_10MB", "SOLO_10MB"],
                "usage_mb": usage,
                "sms_count": [0, 0],
                "proration": [1.0, 1.0],
            }
        ),
    )


def test_a_push_settled_on_usage_below_and_above_its_projection():
    """A was projected at 20 MB (12 USD on SOLO_10MB, 5 on SOLO_50MB: moved and pushed) but
    used 8; B was projected at 5 MB (stays on SOLO_10MB) but used 30."""
    final = final_fleet([8.0, 30.0])
    before = np.array([SOLO_10, SOLO_10])
    optimized = np.array([SOLO_50, SOLO_10])
    result = settle(final, before, optimized, optimized, np.array([20.0, 5.0]), 0)
    # On final usage: before 2 + (2 + 20) = 24; as billed and optimized 5 + 22 = 27; the
    # optimum for 8 and 30 MB: both in POOL_20MB, 38 MB in 40, 2 × 3 = 6.
    assert (result.cost_before, result.cost_actual, result.cost_optimized) == (24, 27, 27)
    assert result.cost_optimum == pytest.approx(6.0)
    assert result.realized_saving == -3  # the push cost 3 USD on the usage that came
    assert result.left_on_table == 0
    assert result.projection_error_cost == pytest.approx(21.0)
    assert (result.projected_mb, result.final_mb, result.pushed) == (25.0, 38.0, 1)
    assert result.final and result.pools.empty  # no pooled plan in the optimized assignment
    lines = result.lines()
    assert lines[0] == "settled on final usage (2 SIMs, 1 on a new plan at the close)"
    assert "projection error: +13.0 MB (+52.0 %), it cost 21.00 USD" in lines[-1]


def test_a_period_without_a_push_settles_on_what_was_left_on_the_table():
    final = final_fleet([25.0, 3.0])  # used as projected
    before = np.array([SOLO_10, SOLO_10])
    optimized = np.array([SOLO_50, SOLO_10])
    result = settle(final, before, before, optimized, np.array([25.0, 3.0]), 1)
    # Nothing pushed: billed as before, (2 + 15) + 2 = 19; the assignment would have cost
    # 5 + 2 = 7, so 12 USD were left on the table. The optimum (both in POOL_20MB, 28 MB in
    # 40) is 6: the 1 USD between them is this hand-made assignment's, not the projection's.
    assert result.realized_saving == 0 and result.pushed == 0
    assert result.left_on_table == pytest.approx(12.0)
    assert result.projection_error_cost == pytest.approx(1.0)
    assert not result.final
    assert result.lines()[0].startswith("settled on PROVISIONAL: 1 SIMs last read before")


def test_pool_errors_are_summed_per_pool_of_the_optimized_assignment():
    final = final_fleet([12.0, 30.0])
    pool = 2
    optimized = np.array([pool, pool])
    result = settle(final, optimized, optimized, optimized, np.array([10.0, 25.0]), 0)
    [row] = result.pools.to_dict("records")
    assert row == {"pool": "POOL_20MB", "projected_mb": 35.0, "final_mb": 42.0, "error_mb": 7.0}
    # 42 MB in 40 MB of pool: 2 USD of overage on 6 of base.
    assert result.cost_actual == pytest.approx(8.0)
    assert "pool POOL_20MB: projected 35.0 MB, final 42.0 MB (+7.0)" in result.lines()[-1]
