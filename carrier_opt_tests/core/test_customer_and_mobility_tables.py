"""The pure splits behind mobility and customer runs: which SIMs and plans each instance gets."""

import numpy as np
import pandas as pd

from carrier_opt.core.customer import customer_tables
from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.mobility import GroupDefinition, split_into_groups
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.pricing import plan_breakdown, pool_overage_shares

PRICES = {
    "base_rate": "1",
    "data_allowance_mb": "10",
    "overage_rate": "1",
    "data_per_overage_charge_mb": "1",
    "sms_rate": "0",
}


def plans(rows: list[tuple]) -> pd.DataFrame:
    """(code, pooled, pool, pool customer) rows as a customer-plan table."""
    return pd.DataFrame(
        [
            {
                "rate_plan_code": code,
                **PRICES,
                "pooled": "true" if pooled else "false",
                "charge_type": "rate_and_overage",
                "customer_rate_pool": pool,
                "pool_customer": owner,
            }
            for code, pooled, pool, owner in rows
        ]
    )


def sims(rows: list[tuple]) -> pd.DataFrame:
    """(iccid, customer, customer plan, usage MB) rows as a device table."""
    return pd.DataFrame(
        [
            {
                "iccid": iccid,
                "communication_plan": "CP",
                "rate_plan_code": plan,
                "usage_mb": usage,
                "sms_count": 0,
                "proration": 1.0,
                "locked": "false",
                "customer": customer,
            }
            for iccid, customer, plan, usage in rows
        ]
    )


CUSTOMER_PLANS = plans(
    [
        ("SOLO", False, None, None),
        ("A_POOL", True, "A", "alpha"),
        ("B_POOL", True, "B", "beta"),
        ("SHARED", True, "S", None),
    ]
)
DEVICES = sims(
    [
        ("a1", "alpha", "SOLO", 5.0),
        ("a2", "alpha", "A_POOL", 1.0),
        ("b1", "beta", "B_POOL", 0.0),
        ("b2", "beta", "SHARED", 0.0),
        ("b3", "beta", "SOLO", 9.0),
        ("x1", None, "SOLO", 1.0),
        ("x2", "alpha", None, 1.0),
    ]
)


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


def test_a_sim_whose_customer_is_not_known_counts_locked_in_its_pool_and_is_nobodys():
    """Issue 27: the customer comes with Get Device Details, which a budgeted sync leaves for
    later. Such a SIM is no customer's to optimize, but it still uses its pool."""
    devices = pd.concat(
        [
            DEVICES,
            sims([("u_shared", None, "SHARED", 50.0), ("u_alpha", None, "A_POOL", 8.0)]),
        ],
        ignore_index=True,
    )
    by_customer = {t.customer: t for t in customer_tables(CUSTOMER_PLANS, devices)}
    assert set(by_customer) == {"alpha", "beta"}

    def locked(name: str) -> list[str]:
        frame = by_customer[name].devices
        return sorted(frame.loc[frame["locked"], "iccid"])

    assert locked("alpha") == ["b2", "u_alpha", "u_shared"]  # alpha's pool and the shared one
    assert locked("beta") == ["u_shared"]  # alpha's own pool is not offered to beta
    owned = {
        iccid
        for t in by_customer.values()
        for iccid in t.devices.loc[~t.devices["locked"], "iccid"]
    }
    assert not {"u_shared", "u_alpha", "x1"} & owned
    beta = by_customer["beta"]
    instance = instance_from_frames(beta.rate_plans, beta.comm_plan_rate_plans, beta.devices)
    shared = plan_breakdown(instance, instance.current_plan).loc["SHARED", "overage_usd"]
    assert shared == 30.0  # 50 MB over b2's and u_shared's 2 × 10 MB: the pool is priced whole


def test_pool_overage_is_spread_evenly_over_the_pools_sims():
    frame = sims(
        [("s1", "c", "SHARED", 30.0), ("s2", "c", "SHARED", 0.0), ("s3", "c", "SOLO", 25.0)]
    )
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
        [
            {"rate_plan_code": code, **PRICES, "pooled": "false"}
            for code in ("PHONE_S", "PHONE_L", "TAB", "HOT")
        ]
    )
    types = {"PHONE_S": "phone", "PHONE_L": "phone", "TAB": "tablet", "HOT": "hotspot"}
    devices = pd.DataFrame(
        [
            {
                "iccid": i,
                "communication_plan": cp,
                "rate_plan_code": plan,
                "usage_mb": 1.0,
                "sms_count": 0,
                "proration": 1.0,
                "locked": "false",
            }
            for i, cp, plan in [
                ("p1", "MOB_PHONE", "PHONE_S"),
                ("p2", "MOB_PHONE", "TAB"),
                ("t1", "MOB_TABLET", "TAB"),
                ("h1", "MOB_HOT", "HOT"),
            ]
        ]
    )
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


def test_plans_feeding_one_customer_rate_pool_share_one_pool():
    """Legacy: a customer rate pool fed by several plans is one pool (issue 13, case 8)."""
    table = plans([("A_SMALL", True, "A", "alpha"), ("A_LARGE", True, "A", "alpha")])
    table.loc[table["rate_plan_code"] == "A_LARGE", "data_allowance_mb"] = "100"
    frame = sims([("a1", "alpha", "A_LARGE", 95.0), ("a2", "alpha", "A_SMALL", 12.0)])
    (alpha,) = customer_tables(table, frame)
    instance = instance_from_frames(alpha.rate_plans, alpha.comm_plan_rate_plans, alpha.devices)
    assert list(instance.pool_names) == ["A"]
    # One 110 MB pool holds 107 MB: no overage (per-plan pools would bill A_SMALL 2 MB).
    assert plan_breakdown(instance, instance.current_plan)["overage_usd"].sum() == 0.0


def test_a_mobility_groups_pooled_plans_form_one_pool_when_they_share_a_price():
    rate_plans = pd.DataFrame(
        [{"rate_plan_code": code, **PRICES, "pooled": "true"} for code in ("SHARE_S", "SHARE_L")]
    )
    types = {"SHARE_S": "phone", "SHARE_L": "phone"}
    devices = sims([("p1", "c", "SHARE_S", 5.0), ("p2", "c", "SHARE_L", 14.0)])
    group = GroupDefinition("G", ("CP",), ("phone",), 10)
    (tables,) = split_into_groups([group], rate_plans, types, devices)
    assert tables.pool_note is None
    instance = tables.instance()
    assert list(instance.pool_names) == ["G"] and instance.n_pools == 1
    # Different overage prices: each plan keeps its own pool, and the group says why.
    rate_plans.loc[1, "overage_rate"] = "2"
    (tables,) = split_into_groups([group], rate_plans, types, devices)
    assert "different overage prices" in tables.pool_note
    instance = tables.instance()
    assert instance.n_pools == 2 and instance.dropped_plans == ()


def test_a_sim_on_a_plan_with_automatic_change_off_is_priced_but_never_moved():
    """Legacy AutoChangeRatePlan off (issue 13, case 7): the SIM keeps its plan even when
    another plan is cheaper; it is priced, and it is the customer's own SIM (not locked)."""
    table = plans([("DEAR", False, None, None), ("CHEAP", False, None, None)])
    table.loc[table["rate_plan_code"] == "DEAR", "base_rate"] = "9"
    table["auto_change"] = [False, True]
    frame = sims([("kept", "c", "DEAR", 1.0), ("free", "c", "DEAR", 1.0)])
    table_free = table.assign(auto_change=True)
    (tables,) = customer_tables(table, frame.iloc[:1])
    instance = instance_from_frames(tables.rate_plans, tables.comm_plan_rate_plans, tables.devices)
    assert not instance.locked.any()
    result = optimize(instance, time_limit_s=2)
    assert instance.plan_codes[result.assignment].tolist() == ["DEAR"]
    assert result.cost == 9.0  # priced on its plan
    (moved,) = customer_tables(table_free, frame.iloc[1:])
    instance = instance_from_frames(moved.rate_plans, moved.comm_plan_rate_plans, moved.devices)
    assert instance.plan_codes[optimize(instance, time_limit_s=2).assignment].tolist() == ["CHEAP"]
