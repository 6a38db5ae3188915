"""Customer pools: SIMs not being optimized still share the pool and change the answer.

In customer optimization the SIMs of a customer rate pool that are not optimized enter as
locked: they keep their plan but add usage and allowance to the pool. Ignoring them gives a
different (wrong) answer; this is the core behaviour the customer pipeline relies on.
"""

import pandas as pd

from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.pricing import total_cost

PLANS = pd.DataFrame(
    {
        "rate_plan_code": ["POOL_100MB", "SOLO_1GB"],
        "base_rate": [5.0, 20.0],
        "data_allowance_mb": [100, 1024],
        "overage_rate": [0.5, 0.5],
        "data_per_overage_charge_mb": [1.0, 1.0],
        "sms_rate": [0.0, 0.0],
        "pooled": [True, False],
    }
)
PAIRS = pd.DataFrame(
    {"communication_plan": ["CP", "CP"], "rate_plan_code": ["POOL_100MB", "SOLO_1GB"]}
)
HEAVY = {
    "iccid": "HEAVY",
    "communication_plan": "CP",
    "rate_plan_code": "SOLO_1GB",
    "usage_mb": 500.0,
    "sms_count": 0,
    "proration": 1.0,
    "locked": False,
}


def idle_shared_sims(count: int) -> list[dict]:
    """Idle SIMs of the customer's pool that are not being optimized (locked in place)."""
    return [
        {
            "iccid": f"IDLE{i}",
            "communication_plan": "CP",
            "rate_plan_code": "POOL_100MB",
            "usage_mb": 0.0,
            "sms_count": 0,
            "proration": 1.0,
            "locked": True,
        }
        for i in range(count)
    ]


def best_plan_of_heavy(devices: list[dict]) -> str:
    instance = instance_from_frames(PLANS, PAIRS, pd.DataFrame(devices))
    result = optimize(instance, time_limit_s=5)
    assert result.cost == total_cost(instance, result.assignment)
    return str(instance.plan_codes[result.assignment[list(instance.iccids).index("HEAVY")]])


def test_locked_pool_members_change_the_optimal_plan():
    # Alone in the pool the heavy SIM pays 400 MB of overage (5 + 200 USD): its own 1 GB plan
    # (20 USD) is cheaper.
    assert best_plan_of_heavy([HEAVY]) == "SOLO_1GB"
    # Five idle SIMs that stay in the pool bring 500 MB of spare allowance: joining the pool
    # now costs 5 USD instead of 20.
    assert best_plan_of_heavy([HEAVY, *idle_shared_sims(5)]) == "POOL_100MB"
