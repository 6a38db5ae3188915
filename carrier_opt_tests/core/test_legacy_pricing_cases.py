"""Legacy business rules on pricing, with the numbers of issue 13, on `carrier-opt optimize`.

Case 2: a plan that bills overage but has no overage price is dropped (legacy refused it).
Case 8: pooled plans sharing a ``rate_pool`` form one pool (legacy pooled a mobility group's or
a customer rate pool's plans together).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from carrier_opt.cli import cli
from carrier_opt.core.bound import lagrangian_bound
from carrier_opt.core.instance import load_instance, read_assignment
from carrier_opt.core.legacy import legacy_baseline
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.pricing import (
    device_breakdown,
    plan_breakdown,
    pool_charges,
    pool_overage_shares,
    total_cost,
)
from carrier_opt_tests.core.strategies import write_instance

HEADER = (
    "rate_plan_code,base_rate,data_allowance_mb,overage_rate,data_per_overage_charge_mb,"
    "sms_rate,pooled"
)


def run_optimize(folder) -> dict:
    out, summary = folder / "assignments.csv", folder / "summary.json"
    result = CliRunner().invoke(
        cli,
        [
            "optimize",
            str(folder),
            "--out",
            str(out),
            "--summary",
            str(summary),
            "--time-limit",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(summary.read_text())


# --------------------------------------------------------------------------- case 2


TINY_BIG = f"""{HEADER},charge_type
TINY,5,10,0,1,0,false,
BIG,20,1000,0.01,1,0,false,
"""
TINY_BIG_PAIRS = "communication_plan,rate_plan_code\nCP,TINY\nCP,BIG\n"
TINY_BIG_SIMS = """iccid,communication_plan,rate_plan_code,usage_mb
S500,CP,BIG,500
S800,CP,BIG,800
"""


def test_a_plan_without_overage_price_is_dropped_with_its_reason(tmp_path):
    folder = write_instance(tmp_path, TINY_BIG, TINY_BIG_PAIRS, TINY_BIG_SIMS)
    summary = run_optimize(folder)
    # Free overage on TINY would put both SIMs there at $10; legacy refused the plan.
    assert summary["optimized_cost"] == 40.0
    dropped = {plan["rate_plan_code"]: plan["reason"] for plan in summary["dropped_plans"]}
    assert list(dropped) == ["TINY"]
    assert "overage_rate is 0" in dropped["TINY"] and "rate_only" in dropped["TINY"]
    assignment = read_assignment(tmp_path / "assignments.csv", load_instance(folder))
    assert (assignment == 0).all()  # BIG, the only plan offered


def test_a_rate_only_plan_may_have_no_overage_price(tmp_path):
    rate_only = TINY_BIG.replace("TINY,5,10,0,1,0,false,", "TINY,5,10,0,1,0,false,rate_only")
    folder = write_instance(tmp_path, rate_only, TINY_BIG_PAIRS, TINY_BIG_SIMS)
    summary = run_optimize(folder)
    # rate_only bills no overage by definition: both SIMs on TINY at $5 each.
    assert summary["optimized_cost"] == 10.0
    assert summary["dropped_plans"] == []


# --------------------------------------------------------------------------- case 8


SHARE = f"""{HEADER},rate_pool
SHARE_2GB,30,2048,10,1024,0,true,SHARE
SHARE_10GB,60,10240,10,1024,0,true,SHARE
"""
SHARE_PAIRS = "communication_plan,rate_plan_code\nCP,SHARE_2GB\nCP,SHARE_10GB\n"
SHARE_SIMS = """iccid,communication_plan,rate_plan_code,usage_mb
HEAVY,CP,SHARE_10GB,11000
LIGHT,CP,SHARE_2GB,100
"""


def test_plans_sharing_a_rate_pool_form_one_pool(tmp_path):
    folder = write_instance(tmp_path, SHARE, SHARE_PAIRS, SHARE_SIMS)
    instance = load_instance(folder)
    assert list(instance.pool_names) == ["SHARE"]
    assert list(instance.pool_of) == [0, 0]
    # One 12 GB pool holds 11,100 MB: no overage, $90 (legacy); per-plan pools cost $100.
    assert total_cost(instance, instance.current_plan) == pytest.approx(90.0)
    summary = run_optimize(folder)
    assert summary["current_cost"] == 90.0
    assert summary["optimized_cost"] == 90.0
    assert summary["lower_bound"] <= 90.0


def test_without_the_rate_pool_each_plan_pools_alone(tmp_path):
    separate = SHARE.replace(",SHARE\n", ",\n")
    folder = write_instance(tmp_path, separate, SHARE_PAIRS, SHARE_SIMS)
    instance = load_instance(folder)
    assert instance.n_pools == 2
    # HEAVY is 760 MB over the 10 GB plan alone: one 1024 MB unit, $10.
    assert total_cost(instance, instance.current_plan) == pytest.approx(100.0)


def test_a_shared_pool_bills_overage_once_and_splits_it_by_excess(tmp_path):
    sims = SHARE_SIMS.replace("HEAVY,CP,SHARE_10GB,11000", "HEAVY,CP,SHARE_10GB,13000")
    instance = load_instance(write_instance(tmp_path, SHARE, SHARE_PAIRS, sims))
    current = instance.current_plan
    # 13,100 MB in a 12,288 MB pool: 812 MB over, one unit of 1024 MB, $10 once.
    assert list(pool_charges(instance, current)) == [10.0]
    assert total_cost(instance, current) == pytest.approx(100.0)
    rows = device_breakdown(instance, current).set_index("iccid")
    assert rows.loc["HEAVY", "overage_usd"] == pytest.approx(10.0)
    assert rows.loc["LIGHT", "overage_usd"] == 0.0
    plans = plan_breakdown(instance, current)
    assert plans["overage_usd"].sum() == pytest.approx(10.0)
    # The legacy's per-SIM rows showed the pool average.
    assert list(pool_overage_shares(instance, current)) == [5.0, 5.0]


MIXED = f"""{HEADER},rate_pool
A,10,100,1,1,0,true,P
B,20,200,2,1,0,true,P
C,5,10,1,1,0,true,Q
"""


def test_a_rate_pool_with_two_overage_prices_is_dropped_with_its_reason(tmp_path):
    pairs = "communication_plan,rate_plan_code\nCP,A\nCP,B\nCP,C\n"
    sims = "iccid,communication_plan,rate_plan_code,usage_mb\nS1,CP,C,50\n"
    summary = run_optimize(write_instance(tmp_path, MIXED, pairs, sims))
    dropped = {plan["rate_plan_code"]: plan["reason"] for plan in summary["dropped_plans"]}
    assert sorted(dropped) == ["A", "B"]
    assert "rate_pool 'P' has more than one overage price" in dropped["A"]


def test_the_optimizer_uses_the_shared_pool_to_save(tmp_path):
    """Two 10 GB-heavy SIMs and eight idle ones: the idle SIMs on the small plan lend their
    allowance to the pool; per-plan pools could not."""
    sims = "iccid,communication_plan,rate_plan_code,usage_mb\n"
    sims += "H1,CP,SHARE_10GB,12000\nH2,CP,SHARE_10GB,12000\n"
    sims += "".join(f"L{i},CP,SHARE_10GB,0\n" for i in range(4))
    folder = write_instance(tmp_path, SHARE, SHARE_PAIRS, sims)
    instance = load_instance(folder)
    result = optimize(instance, time_limit_s=5)
    bound = lagrangian_bound(instance)
    legacy = legacy_baseline(instance)
    # Pool: H1 and H2 need 24,000 MB. Cheapest: everything on the 2 GB plan costs 6 × 30 +
    # ceil((24,000 − 12,288) / 1024) × 10 = 180 + 120 = 300; all on 10 GB: 360, no overage;
    # heavies on 10 GB and idles on 2 GB: 120 + 120 = 240 and 28,672 MB, no overage.
    assert result.cost == pytest.approx(240.0)
    assert bound.value <= result.cost + 1e-6
    assert result.cost <= legacy.cost + 1e-9
    # Inside one pool only the number of 10 GB plans matters, not which SIMs hold them.
    codes = list(instance.plan_codes[result.assignment])
    assert codes.count("SHARE_10GB") == 2
