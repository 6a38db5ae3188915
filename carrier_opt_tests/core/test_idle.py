"""Idle and never-activated SIMs (issue 31, point 2), checked by hand."""

import numpy as np
import pandas as pd
import pytest

from carrier_opt.core.idle import deactivation_savings, idle_report, idle_streaks
from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.pricing import total_cost
from carrier_opt.core.synthetic import synthetic_account

PERIODS = ["2026-08", "2026-09", "2026-10", "2026-11"]


def history(rows: dict[str, list[float | None]]) -> pd.DataFrame:
    """Per ICCID its data bytes in each of :data:`PERIODS` (None: no row stored)."""
    records = [
        {
            "iccid": iccid,
            "period_key": period,
            "data_bytes": used,
            "sms_count": 0,
            "voice_seconds": 0,
        }
        for iccid, usage in rows.items()
        for period, used in zip(PERIODS, usage, strict=True)
        if used is not None
    ]
    return pd.DataFrame(records)


def test_a_streak_counts_back_from_the_last_period_and_a_missing_row_stops_it():
    frame = history(
        {
            "ALWAYS_IDLE": [0, 0, 0, 0],
            "WOKE_UP": [0, 0, 0, 5],
            "SLEPT_LATELY": [7, 0, 0, 0],
            "GAP": [0, None, 0, 0],  # period 2026-09 not stored for it: 2, not 4
        }
    )
    sms = frame.assign(data_bytes=0, sms_count=(frame["iccid"] == "WOKE_UP") * 1)
    streaks = idle_streaks(frame, PERIODS)
    assert streaks.to_dict() == {"ALWAYS_IDLE": 4, "GAP": 2, "SLEPT_LATELY": 3, "WOKE_UP": 0}
    # An SMS or a voice second is usage too.
    assert idle_streaks(sms, PERIODS)["WOKE_UP"] == 0
    voice = frame.assign(data_bytes=0, voice_seconds=(frame["iccid"] == "GAP") * 30)
    assert idle_streaks(voice, PERIODS)["GAP"] == 0


PLANS = pd.DataFrame(
    {
        "rate_plan_code": ["SOLO_10MB", "POOL_5MB"],
        "base_rate": [2.00, 1.00],
        "data_allowance_mb": [10, 5],
        "overage_rate": [0.5, 0.5],
        "data_per_overage_charge_mb": [1.0, 1.0],
        "sms_rate": [0.0, 0.0],
        "pooled": [False, True],
    }
)
PAIRS = pd.DataFrame(
    {"communication_plan": ["CP", "CP"], "rate_plan_code": ["SOLO_10MB", "POOL_5MB"]}
)


def fleet():
    """IDLE_SOLO on SOLO_10MB (2 USD); in POOL_5MB (15 MB of allowance): BUSY uses 12 MB,
    IDLE_POOL and NEW use nothing, so the pool has 3 MB spare."""
    return instance_from_frames(
        PLANS,
        PAIRS,
        pd.DataFrame(
            {
                "iccid": ["IDLE_SOLO", "BUSY", "IDLE_POOL", "NEW"],
                "communication_plan": ["CP"] * 4,
                "rate_plan_code": ["SOLO_10MB", "POOL_5MB", "POOL_5MB", "POOL_5MB"],
                "usage_mb": [0.0, 12.0, 0.0, 0.0],
                "sms_count": [0, 0, 0, 0],
                "proration": [1.0] * 4,
            }
        ),
    )


def test_idle_and_never_activated_sims_are_priced_with_the_pool_they_leave():
    instance = fleet()
    streaks = pd.Series({"IDLE_SOLO": 3, "BUSY": 0, "IDLE_POOL": 5, "NEW": 1})
    report = idle_report(
        instance,
        streaks,
        never_activated=np.array([False, False, False, True]),
        statuses=["ACTIVATED"] * 3 + ["TEST_READY"],
        idle_periods=3,
        periods_stored=5,
    )
    idle = report.idle.set_index("iccid")
    # IDLE_SOLO: 2.00 a period, all of it saved. IDLE_POOL: 1.00 a period, but its 5 MB
    # leave the pool: 12 MB in 10 MB, 2 MB of overage at 0.50 = 1.00, so it saves nothing.
    assert idle.loc["IDLE_SOLO", ["cost_usd", "saving_usd"]].tolist() == [2.0, 2.0]
    assert idle.loc["IDLE_POOL", ["cost_usd", "saving_usd"]].tolist() == [1.0, 0.0]
    assert idle.loc["IDLE_POOL", "idle_periods"] == 5
    [orphan] = report.never_activated.to_dict("records")
    assert (orphan["iccid"], orphan["status"], orphan["cost_usd"]) == ("NEW", "TEST_READY", 1.0)
    assert orphan["saving_usd"] == 0.0  # alone, NEW's 5 MB leaving also costs 1.00
    # All three gone: 2 + 1 + 1 of base saved, 12 MB in 5 MB: 7 MB × 0.50 = 3.50 of overage.
    assert report.saving_together_usd == pytest.approx(4.0 - 3.5)
    assert (
        "3+ periods cost 3.00 USD a period; 1 billed although never activated" in report.summary()
    )
    assert "nothing is deactivated automatically" in report.summary()


def test_without_enough_periods_stored_the_summary_says_so():
    report = idle_report(fleet(), pd.Series(dtype=int), np.zeros(4, bool), [""] * 4, 3, 2)
    assert report.summary() == ("idle SIMs: not known yet, 2 of the 3 periods needed are stored")


def test_each_sims_saving_is_the_bill_without_it_on_a_generated_fleet():
    instance = synthetic_account(120, seed=5).instance()
    plans = instance.current_plan
    savings = deactivation_savings(instance, plans)
    bill = total_cost(instance, plans)
    for sim in range(0, instance.n_devices, 7):
        keep = np.arange(instance.n_devices) != sim
        assert savings[sim] == pytest.approx(bill - _bill_of(instance, keep), abs=1e-6)


def _bill_of(instance, keep: np.ndarray) -> float:
    """The bill of the fleet restricted to ``keep``, by rebuilding it through the loader."""
    frames = pd.DataFrame(
        {
            "iccid": instance.iccids[keep],
            "communication_plan": instance.comm_plan_codes[instance.comm_plan[keep]],
            "rate_plan_code": instance.plan_codes[instance.current_plan[keep]],
            "usage_mb": instance.usage_mb[keep],
            "sms_count": instance.sms_count[keep],
            "proration": instance.proration[keep],
            "locked": instance.locked[keep],
        }
    )
    plans = pd.DataFrame(
        {
            "rate_plan_code": instance.plan_codes,
            "base_rate": instance.base_rate,
            "data_allowance_mb": instance.allowance_mb,
            "overage_rate": instance.overage_rate,
            "data_per_overage_charge_mb": instance.overage_unit_mb,
            "sms_rate": instance.sms_rate,
            "pooled": instance.pooled,
            "charge_type": instance.charge_type,
            "rate_pool": instance.rate_pool,
        }
    )
    rows, cols = np.nonzero(instance.allowed)
    pairs = pd.DataFrame(
        {
            "communication_plan": instance.comm_plan_codes[rows],
            "rate_plan_code": instance.plan_codes[cols],
        }
    )
    smaller = instance_from_frames(plans, pairs, frames)
    return total_cost(smaller, smaller.current_plan)
