"""Why each SIM moves (issue 31, point 5): reasons in the cost model's terms, checked by hand."""

import numpy as np
import pandas as pd

from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.move_reasons import NOT_PRICED, UNPRICED_FLEET, move_reasons
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.pricing import device_breakdown
from carrier_opt.core.synthetic import synthetic_account

PLANS = pd.DataFrame(
    {
        "rate_plan_code": ["SOLO_10MB", "SOLO_25MB", "POOL_5MB"],
        "base_rate": [1.80, 3.00, 1.40],
        "data_allowance_mb": [10, 25, 5],
        "overage_rate": [0.20, 0.15, 0.20],
        "data_per_overage_charge_mb": [1.0, 1.0, 1.0],
        "sms_rate": [0.0, 0.0, 0.05],
        "pooled": [False, False, True],
    }
)
PAIRS = pd.DataFrame(
    {"communication_plan": ["CP"] * 3, "rate_plan_code": ["SOLO_10MB", "SOLO_25MB", "POOL_5MB"]}
)


def instance():
    """A 22 MB SIM on SOLO_10MB (1.80 + 12 MB × 0.20 = 4.20), a 3.1 MB SIM with 2 SMS on
    SOLO_10MB, and four idle SIMs in POOL_5MB (20 MB of room)."""
    return instance_from_frames(
        PLANS,
        PAIRS,
        pd.DataFrame(
            {
                "iccid": ["HEAVY", "LIGHT", "IDLE1", "IDLE2", "IDLE3", "IDLE4"],
                "communication_plan": ["CP"] * 6,
                "rate_plan_code": ["SOLO_10MB", "SOLO_10MB"] + ["POOL_5MB"] * 4,
                "usage_mb": [22.0, 3.1, 0.0, 0.0, 0.0, 0.0],
                "sms_count": [0, 2, 0, 0, 0, 0],
                "proration": [1.0] * 6,
            }
        ),
    )


def test_reasons_name_the_charges_on_both_plans_by_hand():
    fleet = instance()
    current = fleet.current_plan.copy()
    recommended = current.copy()
    recommended[0] = 1  # HEAVY → SOLO_25MB: 3.00, no overage
    recommended[1] = 2  # LIGHT → POOL_5MB: 1.40 + 2 SMS × 0.05; the pool keeps 21.9 MB spare
    reasons = move_reasons(fleet, current, recommended)
    assert reasons[0] == (
        "22.0 MB: SOLO_10MB $4.20 (base $1.80 + overage $2.40 for 12.0 MB beyond 10 MB) → "
        "SOLO_25MB $3.00 (fits 25 MB)"
    )
    assert reasons[1] == (
        "3.1 MB: SOLO_10MB $1.80 (fits 10 MB) → POOL_5MB $1.50 (fits 5 MB in pool POOL_5MB, "
        "21.9 MB spare, SMS $0.10)"
    )
    assert list(reasons[2:]) == [""] * 4  # SIMs that stay have none


def test_a_pool_over_its_allowance_says_by_how_much_and_what_it_bills():
    fleet = instance()
    current = fleet.current_plan.copy()
    recommended = np.array([2, 2, 2, 2, 2, 2])  # HEAVY's 22 MB and LIGHT's 3.1 into 30 MB
    reasons = move_reasons(fleet, current, recommended)
    # 25.1 MB in a pool of 6 × 5 MB: 4.9 MB spare; HEAVY alone is 17 MB beyond its 5 MB.
    assert reasons[0].endswith(
        "→ POOL_5MB $1.40 (17.0 MB beyond its 5 MB in pool POOL_5MB, 4.9 MB spare)"
    )
    recommended = np.array([2, 2, 2, 2, 2, 2])
    heavier = instance_from_frames(
        PLANS,
        PAIRS,
        pd.DataFrame(
            {
                "iccid": ["HEAVY", "LIGHT"],
                "communication_plan": ["CP"] * 2,
                "rate_plan_code": ["SOLO_10MB", "SOLO_10MB"],
                "usage_mb": [22.0, 3.1],
                "sms_count": [0, 0],
                "proration": [1.0, 1.0],
            }
        ),
    )
    reasons = move_reasons(heavier, heavier.current_plan, recommended[:2])
    # 25.1 MB in 10 MB: 15.1 MB over, 16 units × 0.20 = 3.20 USD, HEAVY's share 17 / 17.
    assert reasons[0].endswith(
        "→ POOL_5MB $4.60 (17.0 MB beyond its 5 MB in pool POOL_5MB, 15.1 MB over: $3.20 "
        "shared by excess)"
    )


def test_a_sim_whose_plan_was_dropped_says_it_must_move():
    fleet = instance()
    current = fleet.current_plan.copy()
    current[1] = -1
    recommended = fleet.current_plan.copy()
    recommended[1] = 2
    recommended[0] = 1
    reasons = move_reasons(fleet, current, recommended)
    assert reasons[1].startswith(f"3.1 MB: {NOT_PRICED} → POOL_5MB $1.50")
    # HEAVY's plan is offered, but with LIGHT's dropped today's pools cannot be priced.
    assert reasons[0].startswith(f"22.0 MB: SOLO_10MB ({UNPRICED_FLEET}) → SOLO_25MB $3.00")


def test_every_changed_sim_of_an_optimized_fleet_gets_the_costs_of_the_bill():
    """On a generated fleet, each changed SIM's reason carries its own charges before and
    after, exactly as :func:`device_breakdown` prices them."""
    fleet = synthetic_account(400, seed=3).instance()
    result = optimize(fleet, time_limit_s=5)
    reasons = move_reasons(fleet, fleet.current_plan, result.assignment)
    changed = np.flatnonzero(fleet.current_plan != result.assignment)
    assert len(changed) > 0 and all(reasons[changed]) and not any(np.delete(reasons, changed))
    before = device_breakdown(fleet, fleet.current_plan)["cost_usd"]
    after = device_breakdown(fleet, result.assignment)["cost_usd"]
    for sim in changed[:50]:
        was, now = reasons[sim].split(" → ")
        assert f"{fleet.plan_codes[fleet.current_plan[sim]]} ${before[sim]:,.2f} (" in was
        assert now.startswith(f"{fleet.plan_codes[result.assignment[sim]]} ${after[sim]:,.2f} (")
