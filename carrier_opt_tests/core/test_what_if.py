"""What-if offers (issue 31, point 4): a plan added or withdrawn, priced against the fleet."""

import pandas as pd
import pytest

from carrier_opt.core.instance import instance_from_frames, load_instance
from carrier_opt.core.pricing import total_cost
from carrier_opt.core.what_if import PlanOffer, break_even_base_rate, what_if, with_offer
from carrier_opt.errors import InputError
from carrier_opt_tests.core.strategies import reference_dir

PLANS = pd.DataFrame(
    {
        "rate_plan_code": ["SMALL_10MB", "LARGE_1GB"],
        "base_rate": [5.0, 40.0],
        "data_allowance_mb": [10, 1024],
        "overage_rate": [1.0, 1.0],
        "data_per_overage_charge_mb": [1.0, 1.0],
        "sms_rate": [0.0, 0.0],
        "pooled": [False, False],
    }
)
PAIRS = pd.DataFrame(
    {
        "communication_plan": ["CP-A", "CP-A", "CP-B", "CP-B"],
        "rate_plan_code": ["SMALL_10MB", "LARGE_1GB", "SMALL_10MB", "LARGE_1GB"],
    }
)


def fleet() -> pd.DataFrame:
    """Three SIMs of 20 MB on CP-A (15 USD each on SMALL: 5 + 10 MB of overage) and one of
    2 MB on CP-B (5 USD on SMALL)."""
    return pd.DataFrame(
        {
            "iccid": ["A1", "A2", "A3", "B1"],
            "communication_plan": ["CP-A", "CP-A", "CP-A", "CP-B"],
            "rate_plan_code": ["SMALL_10MB"] * 4,
            "usage_mb": [20.0, 20.0, 20.0, 2.0],
            "sms_count": [0, 0, 0, 0],
            "proration": [1.0] * 4,
        }
    )


def test_an_offer_is_priced_with_its_moves_saving_and_break_even_by_hand():
    instance = instance_from_frames(PLANS, PAIRS, fleet())
    offer = PlanOffer.parse("MID_25MB,8,25,1,1,false", allow_on=["CP-A"])
    answer = what_if(instance, offer, time_limit_s=5)
    # Before: 3 × 15 + 5 = 50 USD. With MID_25MB (8 USD, 20 MB fits) on CP-A: 3 × 8 + 5 = 29.
    assert answer.before.cost == pytest.approx(50.0)
    assert answer.after.cost == pytest.approx(29.0)
    assert answer.saving == pytest.approx(21.0)
    assert (answer.moved, answer.onto_offer) == (3, 3)
    # It saves while 3 × base < 45, so up to 14.99 USD (to the cent).
    assert answer.break_even_base_rate == pytest.approx(14.99)
    assert "bisection" in answer.break_even_method
    assert total_cost(answer.changed, answer.after.assignment) == pytest.approx(29.0)


def test_an_offer_that_saves_nothing_even_free_has_a_break_even_of_zero():
    instance = instance_from_frames(PLANS, PAIRS, fleet())
    # 1 MB of allowance at 10 USD per MB beyond: even at 0 USD, B1's 2 MB cost 10 USD there
    # against 5 on SMALL_10MB, and the 20 MB SIMs 190 against 15.
    offer = PlanOffer.parse("TINY_1MB,0,1,10,1,false")
    answer = what_if(instance, offer, time_limit_s=5)
    assert answer.saving == pytest.approx(0.0)
    assert (answer.moved, answer.onto_offer) == (0, 0)
    assert answer.break_even_base_rate == 0.0


def test_withdrawing_a_plan_moves_its_sims_and_costs_what_the_next_best_costs():
    instance = instance_from_frames(PLANS, PAIRS, fleet())
    answer = what_if(instance, remove=["SMALL_10MB"], time_limit_s=5)
    # Every SIM must go to LARGE_1GB: 4 × 40 = 160 USD, 110 more than today's 50.
    assert answer.after.cost == pytest.approx(160.0)
    assert answer.saving == pytest.approx(-110.0)
    assert answer.moved == 4 and answer.break_even_base_rate is None


def test_break_even_on_a_reference_fleet_is_where_the_saving_ends():
    """p02 (2,000 SIMs, solved within the gap target in a second): an unpooled 1 GB plan at a
    fifth of a cent per MB beyond. Below its break-even the optimum puts SIMs on it; above,
    it saves nothing but what the two answers' gap target allows."""
    instance = load_instance(reference_dir("p02-small-mixed"))
    offer = PlanOffer("OFFER_1GB", 10.0, 1024.0, 0.002, 1.0, False)
    rate, _ = break_even_base_rate(instance, offer)
    assert rate > 0
    below = what_if(instance, offer.at_base_rate(rate * 0.9), time_limit_s=10)
    above = what_if(instance, offer.at_base_rate(rate + 0.5), time_limit_s=10)
    assert below.onto_offer > 0 and below.saving > 0
    noise = above.before.cost * above.before.gap_target_pct / 100 * 2
    assert above.saving <= noise
    assert above.before.cost <= below.before.cost + noise  # the same fleet, priced alike


@pytest.mark.parametrize(
    ("text", "allow_on", "message"),
    [
        ("X,1,2,3", [], "expected 6 comma-separated fields"),
        ("X,one,2,3,1,true", [], "BASE is not a number: 'one'"),
        ("X,1,-2,3,1,true", [], "ALLOWANCE_MB must be 0 or more"),
        ("X,1,2,3,0,true", [], "UNIT_MB must be more than 0"),
        ("X,1,2,3,1,maybe", [], "POOLED must be true or false"),
        ("SMALL_10MB,1,2,3,1,true", [], "rate plan SMALL_10MB is already offered"),
        ("X,1,2,3,1,true", ["CP-Z"], "unknown communication plan(s) CP-Z"),
    ],
)
def test_a_bad_offer_is_refused_naming_the_field(text, allow_on, message):
    instance = instance_from_frames(PLANS, PAIRS, fleet())
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with_offer(instance, PlanOffer.parse(text, allow_on))


def test_an_unknown_plan_to_withdraw_or_no_change_at_all_is_refused():
    instance = instance_from_frames(PLANS, PAIRS, fleet())
    with pytest.raises(InputError, match="unknown rate plan"):
        what_if(instance, remove=["NOPE"])
    with pytest.raises(InputError, match="give --add-plan, --remove-plan or both"):
        what_if(instance)
    # The command and the job share one reading of their options: allow_on needs a plan.
    assert PlanOffer.from_options("", ()) is None
    with pytest.raises(InputError, match="--allow-on applies to --add-plan, which is missing"):
        PlanOffer.from_options("", ["CP-A"])


def test_a_locked_sim_keeps_a_withdrawn_plan_and_is_counted():
    devices = fleet().assign(locked=["false", "false", "true", "false"])
    instance = instance_from_frames(PLANS, PAIRS, devices)
    answer = what_if(instance, remove=["SMALL_10MB"], time_limit_s=5)
    assert answer.locked_on_removed == 1
    # A3 stays on SMALL_10MB (15 USD); the three others move to LARGE_1GB: 3 × 40 + 15.
    assert answer.changed.plan_codes[answer.after.assignment[2]] == "SMALL_10MB"
    assert answer.after.cost == pytest.approx(135.0)
    assert answer.moved == 3
