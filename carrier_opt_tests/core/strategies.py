"""Shared test data: a small hand-made instance and hypothesis strategies for random ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import strategies as st

from carrier_opt.core.instance import CHARGE_TYPES, Instance, instance_from_frames

SHARED_INSTANCES = Path(__file__).resolve().parents[2] / "benchmarks" / "instances"
"""The reference instances, copied into the repository (``benchmarks/instances``) so that every
clone runs the tests that need them."""

RATE_PLANS_CSV = """\
rate_plan_code,base_rate,data_allowance_mb,overage_rate,data_per_overage_charge_mb,sms_rate,pooled
SMALL,1.0,10,0.5,1,0.01,false
POOL,5.0,100,0.1,1,0.01,true
BIG,20.0,1000,0.05,10,0.0,true
"""
COMM_PLAN_RATE_PLANS_CSV = """\
communication_plan,rate_plan_code
CP-A,SMALL
CP-A,POOL
CP-B,POOL
CP-B,BIG
"""
DEVICES_CSV = """\
iccid,communication_plan,rate_plan_code,usage_mb,sms_count,proration,locked
D1,CP-A,SMALL,5,1,1,false
D2,CP-A,POOL,150,0,0.5,false
D3,CP-B,BIG,900,2,1,true
"""
SMALL_CURRENT_COST = 1.01 + 12.5 + 20.0
"""D1: 1 base + 1 SMS; POOL: 2.5 base + ceil(150 − 50) × 0.1; BIG: 20 base, no overage."""


def write_instance(
    folder: Path,
    rate_plans: str = RATE_PLANS_CSV,
    comm_plan_rate_plans: str = COMM_PLAN_RATE_PLANS_CSV,
    devices: str = DEVICES_CSV,
) -> Path:
    """Write the three instance files (pass None to leave one out) and return the folder."""
    files = {
        "rate_plans.csv": rate_plans,
        "comm_plan_rate_plans.csv": comm_plan_rate_plans,
        "devices.csv": devices,
    }
    for name, text in files.items():
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


REFERENCE_NAMES = (
    sorted(p.name for p in SHARED_INSTANCES.iterdir() if (p / "devices.csv").is_file())
    if SHARED_INSTANCES.is_dir()
    else ["(reference instances absent)"]
)


def reference_dir(name: str) -> Path:
    """The folder of one reference instance, skipping the test when it is absent."""
    folder = SHARED_INSTANCES / name
    if not (folder / "devices.csv").is_file():
        pytest.fail(f"reference instance {name} not found at {SHARED_INSTANCES}")
    return folder


@st.composite
def instances(
    draw, max_devices: int = 12, max_plans: int = 4, charge_types: bool = False
) -> Instance:
    """Small random valid instances: mixed pooled/individual plans, proration, locked SIMs, and
    pooled plans sharing a ``rate_pool`` (they then share one overage price, as they must).

    ``charge_types=True`` also draws the optional ``charge_type`` column (sometimes left out,
    cells sometimes empty).
    """
    n_plans = draw(st.integers(1, max_plans))
    money = st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 2))
    plans = pd.DataFrame(
        {
            "rate_plan_code": [f"P{p}" for p in range(n_plans)],
            "base_rate": draw(st.lists(money, min_size=n_plans, max_size=n_plans)),
            "data_allowance_mb": draw(
                st.lists(st.sampled_from([0, 1, 10, 100, 500]), min_size=n_plans, max_size=n_plans)
            ),
            "overage_rate": draw(
                st.lists(
                    st.floats(0.0001, 2).map(lambda x: round(x, 4)),
                    min_size=n_plans,
                    max_size=n_plans,
                )
            ),
            "data_per_overage_charge_mb": draw(
                st.lists(st.sampled_from([0.001, 1.0, 10.0]), min_size=n_plans, max_size=n_plans)
            ),
            "sms_rate": draw(
                st.lists(st.sampled_from([0.0, 0.01, 0.05]), min_size=n_plans, max_size=n_plans)
            ),
            "pooled": draw(st.lists(st.booleans(), min_size=n_plans, max_size=n_plans)),
        }
    )
    if draw(st.booleans()):  # half the time, pools that span plans
        pools = draw(
            st.lists(st.sampled_from(["", "R0", "R1"]), min_size=n_plans, max_size=n_plans)
        )
        plans["rate_pool"] = pools
        for name in ("R0", "R1"):
            members = [p for p in range(n_plans) if pools[p] == name]
            for column in ("overage_rate", "data_per_overage_charge_mb"):
                plans.loc[members, column] = plans.loc[members[:1], column].sum()
    if charge_types and draw(st.integers(0, 3)) > 0:  # mostly with the column
        kinds = st.sampled_from(("", *CHARGE_TYPES))
        plans["charge_type"] = draw(st.lists(kinds, min_size=n_plans, max_size=n_plans))
    n_comm = draw(st.integers(1, 3))
    allowed = [
        draw(st.sets(st.integers(0, n_plans - 1), min_size=1, max_size=n_plans))
        for _ in range(n_comm)
    ]
    pairs = pd.DataFrame(
        [(f"C{c}", f"P{p}") for c, plan_set in enumerate(allowed) for p in sorted(plan_set)],
        columns=["communication_plan", "rate_plan_code"],
    )
    n_devices = draw(st.integers(1, max_devices))
    rows = []
    for d in range(n_devices):
        comm = draw(st.integers(0, n_comm - 1))
        rows.append(
            {
                "iccid": f"D{d}",
                "communication_plan": f"C{comm}",
                "rate_plan_code": f"P{draw(st.sampled_from(sorted(allowed[comm])))}",
                "usage_mb": draw(st.floats(0, 2000).map(lambda x: round(x, 3))),
                "sms_count": draw(st.integers(0, 30)),
                "proration": draw(st.sampled_from([1.0, 1.0, 0.5, 0.3333, 0.0333])),
                "locked": draw(st.booleans()) and draw(st.booleans()),
            }
        )
    return instance_from_frames(plans, pairs, pd.DataFrame(rows))


def random_valid_assignment(instance: Instance, seed: int) -> np.ndarray:
    """A uniformly random valid assignment (locked SIMs stay, others pick an allowed plan)."""
    rng = np.random.default_rng(seed)
    allowed = instance.allowed_for_devices()
    return np.array([rng.choice(np.flatnonzero(row)) for row in allowed], dtype=np.int64)


POOL_EXAMPLE_PLANS = ("POOL100", "SOLO10", "SOLO200")


def pool_example(
    a_plan: int = 2, plans: tuple[str, str, str] = POOL_EXAMPLE_PLANS, iccids=("A", "B")
) -> Instance:
    """Issue 11's pooled example: POOL100 ($10, 100 MB, pooled), SOLO10 ($5, 10 MB) and SOLO200
    ($40, 200 MB), all $1 per MB over; SIM A uses 150 MB on plan ``a_plan`` (an index into
    ``plans``: SOLO200 by default), B 5 MB on SOLO10. The optimum puts both on the pool: $20."""
    frame = pd.DataFrame(
        {
            "rate_plan_code": list(plans),
            "base_rate": [10.0, 5.0, 40.0],
            "data_allowance_mb": [100, 10, 200],
            "overage_rate": [1.0, 1.0, 1.0],
            "data_per_overage_charge_mb": [1.0, 1.0, 1.0],
            "sms_rate": [0.0, 0.0, 0.0],
            "pooled": [True, False, False],
        }
    )
    pairs = pd.DataFrame({"communication_plan": ["CP"] * 3, "rate_plan_code": list(plans)})
    devices = pd.DataFrame(
        {
            "iccid": list(iccids),
            "communication_plan": ["CP", "CP"],
            "rate_plan_code": [plans[a_plan], plans[1]],
            "usage_mb": [150.0, 5.0],
            "sms_count": [0, 0],
            "proration": [1.0, 1.0],
            "locked": [False, False],
        }
    )
    return instance_from_frames(frame, pairs, devices)
