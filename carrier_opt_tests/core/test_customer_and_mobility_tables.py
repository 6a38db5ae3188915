"""The pure splits behind mobility and customer runs: which SIMs and plans each instance gets."""

import numpy as np
import pandas as pd

from carrier_opt.core.customer import customer_tables
from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.mobility import GroupDefinition, split_into_groups
from carrier_opt.core.pricing import plan_breakdown, pool_overage_shares

PRICES = {"base_rate": "1", "data_allowance_mb": "10", "overage_rate": "1",
          "data_per_overage_charge_mb": "1", "sms_rate": "0"}  # fmt: skip


def plans(rows: list[tuple]) -> pd.DataFrame:
    """(code, pooled, pool, pool customer) rows as a customer-plan table."""
    return pd.DataFrame(
        [{"rate_plan_code": code, **PRICES, "pooled": "true" if pooled else "false",
          "charge_type": "rate_and_overage", "customer_rate_pool": pool, "pool_customer": owner}
         for code, pooled, pool, owner in rows]
    )  # fmt: skip


def sims(rows: list[tuple]) -> pd.DataFrame:
    """(iccid, customer, customer plan, usage MB) rows as a device table."""
    return pd.DataFrame(
        [{"iccid": iccid, "communication_plan": "CP", "rate_plan_code": plan, "usage_mb": usage,
          "sms_count": 0, "proration": 1.0, "locked": "false", "customer": customer}
         for iccid, customer, plan, usage in rows]
    )  # fmt: skip


CUSTOMER_PLANS = plans(
    [("SOLO", False, None, None), ("A_POOL", True, "A", "alpha"), ("B_POOL", True, "B", "beta"),
     ("SHARED", True, "S", None)]
)  # fmt: skip
DEVICES = sims(
    [("a1", "alpha", "SOLO", 5.0), ("a2", "alpha", "A_POOL", 1.0),
     ("b1", "beta", "B_POOL", 0.0), ("b2", "beta", "SHARED", 0.0), ("b3", "beta", "SOLO", 9.0),
     ("x1", None, "SOLO", 1.0), ("x2", "alpha", None, 1.0)]
)  # fmt: skip


def test_each_customer_gets_its_plans_and_the_shared_pools_other_sims_locked():
    by_customer = {t.customer: t for t in customer_tables(CUSTOMER_PLANS, DEVICES)}
    assert set(by_customer) == {"alpha", "beta"}  # no customer / no plan: ignored
    alpha = by_customer["alpha"]
    assert set(alpha.rate_plans["rate_plan_code"]) == {"SOLO", "A_POOL", "SHARED"}  # not B_POOL
    own = alpha.devices[~alpha.devices["locked"]]
    locked = alpha.devices[alpha.devices["locked"]]
    assert list(own["iccid"]) == ["a1", "a2"] and alpha.own_sims == 2
    assert list(locked["iccid"]) == ["b2"] and alpha.locked_sims == 1  # beta's shared-pool SIM
    assert alpha.pools == {"A_POOL": "A", "SHARED": "S"}
    beta = by_customer["beta"]
    assert set(beta.rate_plans["rate_plan_code"]) == {"SOLO", "B_POOL", "SHARED"}
    assert beta.locked_sims == 0  # alpha has no SIM in the shared pool
    instance = instance_from_frames(alpha.rate_plans, alpha.comm_plan_rate_plans, alpha.devices)
    assert instance.locked.tolist() == [False, False, True]


def test_pool_overage_is_spread_evenly_over_the_pools_sims():
    frame = sims([("s1", "c", "SHARED", 30.0), ("s2", "c", "SHARED", 0.0),
                  ("s3", "c", "SOLO", 25.0)])  # fmt: skip
    pairs = pd.DataFrame({"communication_plan": "CP", "rate_plan_code": ["SOLO", "SHARED"]})
    table = CUSTOMER_PLANS[CUSTOMER_PLANS["rate_plan_code"].isin(["SOLO", "SHARED"])]
    instance = instance_from_frames(table, pairs, frame)
    shares = pool_overage_shares(instance, instance.current_plan)
    pool_overage = plan_breakdown(instance, instance.current_plan).loc["SHARED", "overage_usd"]
    assert pool_overage == 10.0  # 30 MB used, 2 × 10 MB allowance
    assert shares.tolist() == [5.0, 5.0, 0.0]  # the solo SIM's own overage is not a pool's
    assert np.isclose(shares.sum(), pool_overage)


def test_mobility_groups_take_their_sims_and_typed_plans_and_say_why_not():
    rate_plans = pd.DataFrame(
        [{"rate_plan_code": code, **PRICES, "pooled": "false"}
         for code in ("PHONE_S", "PHONE_L", "TAB", "HOT")]
    )  # fmt: skip
    types = {"PHONE_S": "phone", "PHONE_L": "phone", "TAB": "tablet", "HOT": "hotspot"}
    devices = pd.DataFrame(
        [{"iccid": i, "communication_plan": cp, "rate_plan_code": plan, "usage_mb": 1.0,
          "sms_count": 0, "proration": 1.0, "locked": "false"}
         for i, cp, plan in [("p1", "MOB_PHONE", "PHONE_S"), ("p2", "MOB_PHONE", "TAB"),
                             ("t1", "MOB_TABLET", "TAB"), ("h1", "MOB_HOT", "HOT")]]
    )  # fmt: skip
    groups = [
        GroupDefinition("Phones", ("MOB_PHONE",), ("phone",), 15),
        GroupDefinition("Tablets", ("MOB_TABLET",), ("tablet",), 15),
        GroupDefinition("Small", ("MOB_HOT",), ("phone", "hotspot"), 2),
        GroupDefinition("Empty", ("MOB_WATCH",), ("phone",), 15),
    ]
    split = {g.group.name: g for g in split_into_groups(groups, rate_plans, types, devices)}
    phones = split["Phones"]
    assert list(phones.devices["iccid"]) == ["p1"]
    assert list(phones.excluded["iccid"]) == ["p2"]  # a phone on a tablet plan stays out
    assert set(phones.rate_plans["rate_plan_code"]) == {"PHONE_S", "PHONE_L"}
    assert set(phones.comm_plan_rate_plans["rate_plan_code"]) == {"PHONE_S", "PHONE_L"}
    assert phones.skipped_reason is None
    assert "3 rate plans exceed the group's limit of 2" in split["Small"].skipped_reason
    assert split["Empty"].skipped_reason == "no SIM of the group is billable in the period"
