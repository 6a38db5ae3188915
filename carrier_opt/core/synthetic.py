"""Seeded synthetic accounts for benchmarks and demos: realistic IoT fleets, any size.

Why our own generator: the reference instances stop at 20 k SIMs, while the product must run
on a million. The mix follows what M2M fleets look like: many idle and light SIMs (meters,
trackers), fewer medium ones, a heavy tail (gateways, cameras); pooled tiers from 1 MB to
10 GB whose price per MB falls with size; a few individual plans; communication plans that
allow overlapping subsets of the plans; some mid-cycle activations (proration), SMS, and SIMs
locked on their plan.
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
