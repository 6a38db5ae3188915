"""Seeded synthetic accounts for benchmarks and demos: realistic IoT fleets, any size.

Why our own generator: the reference instances stop at 20 k SIMs, while the product must run
on a million. The mix follows what M2M fleets look like: many idle and light SIMs (meters,
trackers), fewer medium ones, a heavy tail (gateways, cameras); pooled tiers from 1 MB to
10 GB whose price per MB falls with size; a few individual plans; communication plans that
allow overlapping subsets of the plans; some mid-cycle activations (proration), SMS, and SIMs
locked on their plan.

More account shapes for the benchmark table: :func:`mobility_account` (an optimization
group of phones on GB-scale typed plans), :func:`customer_account` (an agent's customer
plans, with other customers' SIMs locked in the shared pools) and :func:`shared_pool_account`
(the IoT fleet with its pooled tiers in three multi-plan pools, the contract's ``rate_pool``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carrier_opt.core.instance import Instance, instance_from_frames

POOLED_TIERS_MB = (1, 5, 10, 25, 50, 100, 250, 500, 1024, 2048, 5120, 10240)
INDIVIDUAL_PLANS = (("IND_PAYG_0MB", 0.0), ("IND_20MB", 20.0), ("IND_200MB", 200.0))

# (share of SIMs, median MB, log-normal sigma, mean SMS per period)
USAGE_MIX = {
    "idle": (0.25, 0.01, 1.0, 0.2),
    "light": (0.35, 3.0, 0.9, 4.0),
    "medium": (0.28, 60.0, 0.8, 10.0),
    "heavy": (0.12, 900.0, 0.9, 20.0),
}


@dataclass(frozen=True)
class SyntheticAccount:
    """The three instance tables of a generated account (as the CSV files would hold them)."""

    rate_plans: pd.DataFrame
    comm_plan_rate_plans: pd.DataFrame
    devices: pd.DataFrame

    def instance(self) -> Instance:
        """Validate the tables into an optimizer instance (the same rules as the files)."""
        return instance_from_frames(self.rate_plans, self.comm_plan_rate_plans, self.devices)

    def write(self, folder) -> None:
        """Write the instance folder (rate_plans.csv, comm_plan_rate_plans.csv, devices.csv)."""
        from pathlib import Path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.rate_plans.to_csv(folder / "rate_plans.csv", index=False)
        self.comm_plan_rate_plans.to_csv(folder / "comm_plan_rate_plans.csv", index=False)
        self.devices.to_csv(folder / "devices.csv", index=False)


def rate_plans(n_plans: int = 15) -> pd.DataFrame:
    """``n_plans`` plans: up to 12 pooled tiers plus individual plans, prices like carriers'."""
    n_individual = min(len(INDIVIDUAL_PLANS), max(n_plans - len(POOLED_TIERS_MB), 1))
    tiers = POOLED_TIERS_MB[: n_plans - n_individual]
    rows = []
    for allowance in tiers:
        # Price per MB falls with size (concave base rate); overage dearer than the bundle.
        base = round(0.6 + 1.1 * allowance**0.62, 2)
        rows.append(
            {
                "rate_plan_code": f"POOL_{allowance}MB",
                "base_rate": base,
                "data_allowance_mb": allowance,
                "overage_rate": round(1.6 * base / max(allowance, 1), 4),
                "data_per_overage_charge_mb": 1.0,
                "sms_rate": 0.02 if allowance < 100 else 0.01,
                "pooled": True,
            }
        )
    for code, allowance in INDIVIDUAL_PLANS[:n_individual]:
        base = round(0.25 + 0.9 * allowance**0.6, 2)
        rows.append(
            {
                "rate_plan_code": code,
                "base_rate": base,
                "data_allowance_mb": allowance,
                "overage_rate": 0.9 if allowance == 0 else round(2.5 * base / allowance, 4),
                "data_per_overage_charge_mb": 1.0,
                "sms_rate": 0.05,
                "pooled": False,
            }
        )
    return pd.DataFrame(rows)


def comm_plan_rate_plans(plans: pd.DataFrame) -> pd.DataFrame:
    """Six communication plans allowing overlapping subsets (small, large, all, mixed...)."""
    codes = list(plans["rate_plan_code"])
    pooled = [c for c, p in zip(codes, plans["pooled"], strict=True) if p]
    individual = [c for c, p in zip(codes, plans["pooled"], strict=True) if not p]
    subsets = {
        "CP_ALL": codes,
        "CP_SMALL": pooled[: max(len(pooled) * 2 // 3, 1)] + individual[:1],
        "CP_LARGE": pooled[len(pooled) // 3 :],
        "CP_MID": pooled[2:-2] or pooled,
        "CP_INDIVIDUAL": individual + pooled[:2],
        "CP_TRACKERS": pooled[:5] + individual,
    }
    return pd.DataFrame(
        [(cp, code) for cp, allowed in subsets.items() for code in allowed],
        columns=["communication_plan", "rate_plan_code"],
    )


def devices(n_devices: int, plans: pd.DataFrame, pairs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``n_devices`` SIMs with the usage mix, proration, SMS, current plans and locks."""
    rng = np.random.default_rng(seed)
    classes = list(USAGE_MIX)
    shares = np.array([USAGE_MIX[c][0] for c in classes])
    kind = rng.choice(len(classes), size=n_devices, p=shares / shares.sum())
    median = np.array([USAGE_MIX[c][1] for c in classes])[kind]
    sigma = np.array([USAGE_MIX[c][2] for c in classes])[kind]
    usage = np.round(median * np.exp(sigma * rng.standard_normal(n_devices)), 3)
    sms = rng.poisson(np.array([USAGE_MIX[c][3] for c in classes])[kind])
    proration = np.where(rng.random(n_devices) < 0.08, rng.integers(1, 30, n_devices) / 30, 1.0)
    usage = np.round(usage * proration, 3)
    comm_codes = pairs["communication_plan"].unique()
    comm = rng.choice(comm_codes, size=n_devices, p=_comm_weights(len(comm_codes)))
    current = _current_plans(rng, comm, pairs)
    return pd.DataFrame(
        {
            "iccid": [f"89010{seed % 1000:03d}{i:011d}" for i in range(n_devices)],
            "communication_plan": comm,
            "rate_plan_code": current,
            "usage_mb": usage,
            "sms_count": sms,
            "proration": np.round(proration, 6),
            "locked": rng.random(n_devices) < 0.02,
        }
    )


def _comm_weights(n: int) -> np.ndarray:
    weights = np.array([0.3, 0.2, 0.15, 0.15, 0.1, 0.1][:n])
    return weights / weights.sum()


def _current_plans(rng: np.random.Generator, comm: np.ndarray, pairs: pd.DataFrame) -> np.ndarray:
    """A random allowed plan per SIM: accounts drift from optimal between reviews."""
    current = np.empty(len(comm), dtype=object)
    for cp, allowed in pairs.groupby("communication_plan")["rate_plan_code"]:
        members = np.flatnonzero(comm == cp)
        current[members] = rng.choice(allowed.to_numpy(), size=len(members))
    return current


def synthetic_account(n_devices: int, n_plans: int = 15, seed: int = 0) -> SyntheticAccount:
    """A whole generated account: same arguments, same account, on every machine."""
    plans = rate_plans(n_plans)
    pairs = comm_plan_rate_plans(plans)
    return SyntheticAccount(plans, pairs, devices(n_devices, plans, pairs, seed))


SHARED_POOLS = (("SHARE_SMALL", 25), ("SHARE_MID", 500), ("SHARE_LARGE", 10240))
"""(rate_pool, largest tier MB in it): the tiers up to 25 MB, up to 500 MB, and the rest."""


def shared_pool_account(n_devices: int, seed: int = 0) -> SyntheticAccount:
    """The IoT fleet of :func:`synthetic_account` with its pooled tiers in three pools.

    Carriers sell "share" plans this way: tiers of one family pool together and bill one
    overage price. Each pool takes the overage price of its middle tier, so the tiers' base
    rates still fall with size. Pools span several communication plans' subsets, which is what
    makes the pool prices (the bound's λ) couple many SIM choices at once.
    """
    account = synthetic_account(n_devices, seed=seed)
    plans = account.rate_plans.copy()
    plans["rate_pool"] = ""
    pooled = plans["pooled"].to_numpy(dtype=bool)
    allowance = plans["data_allowance_mb"].to_numpy(dtype=float)
    lower = 0.0
    for name, upper in SHARED_POOLS:
        members = np.flatnonzero(pooled & (allowance > lower) & (allowance <= upper))
        if len(members):
            middle = members[len(members) // 2]
            plans.loc[members, "rate_pool"] = name
            plans.loc[members, "overage_rate"] = plans.loc[middle, "overage_rate"]
        lower = upper
    return SyntheticAccount(plans, account.comm_plan_rate_plans, account.devices)


# --------------------------------------------------------------------------- mobility groups

GB = 1024.0

# (code, listed base USD, allowance MB, overage USD per unit, MB per unit, pooled, charge_type)
MOBILITY_PLANS = (
    # Pay as you go: the line fee is billed in advance on another invoice, data per MB here.
    ("MOB_PAYG", 10.0, 0.0, 0.012, 1.0, False, "overage_only"),
    ("MOB_2GB", 15.0, 2 * GB, 10.0, GB, False, "rate_and_overage"),
    ("MOB_5GB", 25.0, 5 * GB, 10.0, GB, False, "rate_and_overage"),
    ("MOB_15GB", 40.0, 15 * GB, 10.0, GB, False, "rate_and_overage"),
    # Each SIM adds 10 GB to the group's pool; overage on the pool's total per MB.
    ("MOB_POOL_10GB", 30.0, 10 * GB, 0.015, 1.0, True, "rate_and_overage"),
    # Unlimited: never any overage (50 GB is the fair-use figure the carrier lists).
    ("MOB_UNLIMITED", 55.0, 50 * GB, 0.0, 1.0, False, "rate_only"),
)
MOBILITY_GROUP = "MOB_GROUP"

# (share of phones, median MB, log-normal sigma): a heavy tail in the GB range.
MOBILITY_USAGE_MIX = {
    "idle": (0.06, 2.0, 1.5),  # spare or parked phones
    "light": (0.30, 350.0, 1.0),
    "typical": (0.42, 2.6 * GB, 0.7),
    "heavy": (0.18, 9.0 * GB, 0.6),
    "hotspot": (0.04, 35.0 * GB, 0.5),
}


def mobility_rate_plans() -> pd.DataFrame:
    """The group's six typed plans (``charge_type`` column included)."""
    columns = (
        "rate_plan_code",
        "base_rate",
        "data_allowance_mb",
        "overage_rate",
        "data_per_overage_charge_mb",
        "pooled",
        "charge_type",
    )
    plans = pd.DataFrame(MOBILITY_PLANS, columns=list(columns))
    plans.insert(5, "sms_rate", 0.0)  # texts are free on every phone plan
    return plans


def mobility_account(n_devices: int, seed: int = 0) -> SyntheticAccount:
    """A mobility optimization group: ``n_devices`` phones in one communication plan.

    Plans are GB-scale: per-SIM 2, 5 and 15 GB plans (overage per started GB), a pooled
    10 GB plan, an unlimited ``rate_only`` plan and a pay-as-you-go ``overage_only`` plan.
    Usage is log-normal per user class (idle, light, typical, heavy, hotspot). Current plans
    look like real phone fleets: a third of the lines on unlimited whatever they use, most of
    the rest on a plan two to four times their usage, some in the pool; 1 % locked.
    """
    plans = mobility_rate_plans()
    codes = plans["rate_plan_code"].to_numpy()
    pairs = pd.DataFrame({"communication_plan": MOBILITY_GROUP, "rate_plan_code": codes})
    rng = np.random.default_rng([seed, 2])
    classes = list(MOBILITY_USAGE_MIX)
    shares = np.array([MOBILITY_USAGE_MIX[c][0] for c in classes])
    kind = rng.choice(len(classes), size=n_devices, p=shares / shares.sum())
    median = np.array([MOBILITY_USAGE_MIX[c][1] for c in classes])[kind]
    sigma = np.array([MOBILITY_USAGE_MIX[c][2] for c in classes])[kind]
    usage = median * np.exp(sigma * rng.standard_normal(n_devices))
    proration = np.where(rng.random(n_devices) < 0.05, rng.integers(1, 30, n_devices) / 30, 1.0)
    usage = np.round(usage * proration, 3)
    # Current plans: the plan the line was given at activation, rarely reviewed since.
    sized = np.array(["MOB_2GB", "MOB_5GB", "MOB_15GB", "MOB_UNLIMITED"], dtype=object)
    headroom = usage * rng.uniform(2.0, 4.0, n_devices)
    fitted = sized[np.searchsorted(np.array([2, 5, 15]) * GB, headroom)]
    draw = rng.random(n_devices)
    current = np.where(draw < 0.33, "MOB_UNLIMITED", fitted)
    current = np.where((draw >= 0.33) & (draw < 0.48), "MOB_POOL_10GB", current)
    current = np.where((draw >= 0.48) & (draw < 0.53), "MOB_PAYG", current)
    current = np.where(usage > 20 * GB, np.where(draw < 0.8, "MOB_UNLIMITED", current), current)
    return SyntheticAccount(
        plans,
        pairs,
        pd.DataFrame(
            {
                "iccid": [f"89014{seed % 1000:03d}{i:011d}" for i in range(n_devices)],
                "communication_plan": MOBILITY_GROUP,
                "rate_plan_code": current,
                "usage_mb": usage,
                "sms_count": rng.poisson(60.0, n_devices),
                "proration": np.round(proration, 6),
                "locked": rng.random(n_devices) < 0.01,
            }
        ),
    )


# --------------------------------------------------------------------------- customer pools

# (code, carrier's allowance MB, pooled, agent's markup on the carrier's price)
CUSTOMER_PLANS = (
    ("CUST_PAYG", 0.0, False, 1.5),
    ("CUST_10MB", 10.0, False, 1.4),
    ("CUST_POOL_25MB", 25.0, True, 1.3),
    ("CUST_100MB", 100.0, False, 1.35),
    ("CUST_POOL_250MB", 250.0, True, 1.25),
    ("CUST_1GB", 1024.0, False, 1.3),
)
CUSTOMER_COMM_PLANS = {
    "CUST_CP_ALL": [plan[0] for plan in CUSTOMER_PLANS],
    "CUST_CP_METERS": ["CUST_PAYG", "CUST_10MB", "CUST_POOL_25MB", "CUST_POOL_250MB"],
    # Other customers' SIMs in the shared pools (locked: only their own plan counts).
    "CUST_CP_SHARED": ["CUST_POOL_25MB", "CUST_POOL_250MB"],
}


def customer_rate_plans() -> pd.DataFrame:
    """The agent's customer plans: carrier prices (the synthetic curve) times a markup."""
    rows = []
    for code, allowance, pooled, markup in CUSTOMER_PLANS:
        if pooled:
            base = 0.6 + 1.1 * allowance**0.62
            overage = 1.6 * base / allowance
        else:
            base = 0.25 + 0.9 * allowance**0.6
            overage = 0.9 if allowance == 0 else 2.5 * base / allowance
        rows.append(
            {
                "rate_plan_code": code,
                "base_rate": round(markup * base, 2),
                "data_allowance_mb": allowance,
                "overage_rate": round(markup * overage, 4),
                "data_per_overage_charge_mb": 1.0,
                "sms_rate": 0.03,
                "pooled": pooled,
            }
        )
    return pd.DataFrame(rows)


def customer_account(n_devices: int, seed: int = 0, locked_share: float = 0.3) -> SyntheticAccount:
    """An agent's customer instance: the customer's SIMs plus the other SIMs of its pools.

    About ``1 - locked_share`` of the rows are the customer's own IoT SIMs (the synthetic
    usage mix; unlocked; current plans half sized to usage, half drifted). The rest are SIMs
    of other customers sharing the two customer pools: ``locked=True`` on a pooled plan,
    so they keep their plan but add their usage and allowance to the pool. Rows are shuffled.
    """
    plans = customer_rate_plans()
    pairs = pd.DataFrame(
        [(cp, code) for cp, allowed in CUSTOMER_COMM_PLANS.items() for code in allowed],
        columns=["communication_plan", "rate_plan_code"],
    )
    rng = np.random.default_rng([seed, 3])
    classes = list(USAGE_MIX)
    shares = np.array([USAGE_MIX[c][0] for c in classes])
    kind = rng.choice(len(classes), size=n_devices, p=shares / shares.sum())
    median = np.array([USAGE_MIX[c][1] for c in classes])[kind]
    sigma = np.array([USAGE_MIX[c][2] for c in classes])[kind]
    usage = median * np.exp(sigma * rng.standard_normal(n_devices))
    sms = rng.poisson(np.array([USAGE_MIX[c][3] for c in classes])[kind])
    proration = np.where(rng.random(n_devices) < 0.06, rng.integers(1, 30, n_devices) / 30, 1.0)
    usage = np.round(usage * proration, 3)
    locked = np.zeros(n_devices, dtype=bool)
    locked[rng.permutation(n_devices)[: round(locked_share * n_devices)]] = True
    own_cp = np.where(rng.random(n_devices) < 0.6, "CUST_CP_ALL", "CUST_CP_METERS")
    comm = np.where(locked, "CUST_CP_SHARED", own_cp)
    # Own SIMs: half on the smallest allowed plan that covers twice the usage, half drifted.
    current = _current_plans(rng, comm, pairs)
    allowance = plans.set_index("rate_plan_code")["data_allowance_mb"]
    for cp, allowed in CUSTOMER_COMM_PLANS.items():
        sizes = allowance[allowed].sort_values()
        fits = np.searchsorted(sizes.to_numpy(), 2 * usage)
        fitted = sizes.index.to_numpy()[np.minimum(fits, len(sizes) - 1)]
        chosen = (comm == cp) & ~locked & (rng.random(n_devices) < 0.5)
        current[chosen] = fitted[chosen]
    # Other customers' SIMs: the small pool below 15 MB of usage, the large one above.
    current[locked] = np.where(usage[locked] < 15, "CUST_POOL_25MB", "CUST_POOL_250MB")
    return SyntheticAccount(
        plans,
        pairs,
        pd.DataFrame(
            {
                "iccid": [f"89015{seed % 1000:03d}{i:011d}" for i in range(n_devices)],
                "communication_plan": comm,
                "rate_plan_code": current,
                "usage_mb": usage,
                "sms_count": sms,
                "proration": np.round(proration, 6),
                "locked": locked,
            }
        ),
    )
