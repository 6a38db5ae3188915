"""Price list of the fake operator's rate plans, for the demo and for trying carrier_opt out.

Jasper does not expose prices, so a real deployment loads its contract's prices with
``carrier-opt rate-plans load``. The fake's plans get prices shaped like real M2M offers:
the bigger the bundle, the cheaper each MB; overage dearer than the bundle; two pooled plans.

A mobility fleet's list is typed (``rate_plan_type``) and comes with its
``optimization_groups.csv``; an M2M fleet's comes with the agent's ``customer_rate_plans.csv``
(plans the agent sells on, at a markup; one pool owned by a customer, one shared), and
:func:`write_fake_customer_sims` puts a fake fleet's SIMs on those plans.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from carrier_opt.core.instance import RATE_PLAN_COLUMNS
from carrier_opt.jasper.fake.fleet import (
    COMMUNICATION_PLANS,
    MOBILITY_COMMUNICATION_PLANS,
    MOBILITY_RATE_PLANS,
    RATE_PLANS,
    FakeDevice,
)

PRICE_COLUMNS = list(RATE_PLAN_COLUMNS)

# rate plan → (base_rate USD, overage_rate USD per unit, unit MB, sms_rate USD)
PRICES: dict[str, tuple[float, float, float, float]] = {
    "NB-IoT 500KB": (0.35, 0.05, 0.1, 0.02),
    "M2M Data 1MB": (0.60, 0.40, 1.0, 0.02),
    "LTE-M 2MB": (0.80, 0.35, 1.0, 0.02),
    "M2M Data 5MB": (1.20, 0.25, 1.0, 0.02),
    "M2M Data 10MB": (1.80, 0.20, 1.0, 0.02),
    "M2M Data 25MB": (3.00, 0.15, 1.0, 0.02),
    "M2M Data 50MB": (4.50, 0.12, 1.0, 0.02),
    "M2M Data 100MB": (7.00, 0.10, 1.0, 0.01),
    "M2M Data 250MB": (12.00, 0.08, 1.0, 0.01),
    "M2M Data 1GB": (25.00, 0.04, 1.0, 0.01),
    "Pool 5MB Shared": (1.40, 0.20, 1.0, 0.02),
    "Pool 50MB Shared": (5.00, 0.10, 1.0, 0.02),
    "Pay As You Go": (0.10, 0.90, 1.0, 0.05),
}

# Narrow-band communication plans cannot use the big LTE bundles.
RESTRICTED_COMMUNICATION_PLANS: dict[str, tuple[str, ...]] = {
    "CP_NB_IoT": ("NB-IoT 500KB", "M2M Data 1MB", "Pool 5MB Shared", "Pay As You Go"),
    "CP_LTE_M": (
        "LTE-M 2MB",
        "M2M Data 5MB",
        "M2M Data 10MB",
        "M2M Data 25MB",
        "Pool 5MB Shared",
        "Pool 50MB Shared",
        "Pay As You Go",
    ),
}


# Mobility plans, per GB: rate plan → (base USD, overage USD per unit, unit MB, sms USD,
# charge type). The unlimited phone plan bills its base rate only.
MOBILITY_PRICES: dict[str, tuple[float, float, float, float, str]] = {
    "PHONE_2GB": (15.00, 10.00, 1024, 0.0, "rate_and_overage"),
    "PHONE_5GB": (25.00, 10.00, 1024, 0.0, "rate_and_overage"),
    "PHONE_15GB": (40.00, 8.00, 1024, 0.0, "rate_and_overage"),
    "PHONE_POOL_10GB": (30.00, 7.00, 1024, 0.0, "rate_and_overage"),
    "PHONE_UNLIMITED": (55.00, 0.0, 1024, 0.0, "rate_only"),
    "TABLET_1GB": (10.00, 10.00, 1024, 0.0, "rate_and_overage"),
    "TABLET_5GB": (20.00, 8.00, 1024, 0.0, "rate_and_overage"),
    "TABLET_POOL_20GB": (35.00, 6.00, 1024, 0.0, "rate_and_overage"),
    "HOTSPOT_10GB": (30.00, 8.00, 1024, 0.0, "rate_and_overage"),
    "HOTSPOT_50GB": (60.00, 5.00, 1024, 0.0, "rate_and_overage"),
    "HOTSPOT_100GB": (90.00, 4.00, 1024, 0.0, "rate_and_overage"),
}

# Mobility optimization groups: name → (communication plans, rate-plan types, max rate plans).
MOBILITY_GROUPS: dict[str, tuple[str, str, int]] = {
    "Phones": ("MOB_PHONE", "phone", 15),
    "Tablets": ("MOB_TABLET", "tablet", 15),
    "Hotspots": ("MOB_HOTSPOT", "hotspot", 15),
}

POOL_OWNER = "Acme Metering"
"""The customer (of ``fleet.CUSTOMERS``) owning the agent's customer-specific pool."""

# The agent's plans for its M2M customers: carrier prices with a markup of roughly 60-100 %.
# code → (base USD, allowance MB, overage USD/MB, sms USD, charge type, pool, pool customer)
CUSTOMER_PLANS: dict[str, tuple[float, float, float, float, str, str, str]] = {
    "AGENT_BASIC_5MB": (2.40, 5, 0.45, 0.04, "rate_and_overage", "", ""),
    "AGENT_STANDARD_25MB": (5.50, 25, 0.30, 0.04, "rate_and_overage", "", ""),
    "AGENT_PLUS_100MB": (12.50, 100, 0.18, 0.03, "rate_and_overage", "", ""),
    "AGENT_FLAT_1GB": (45.00, 1024, 0.0, 0.02, "rate_only", "", ""),
    "AGENT_POOL_ACME_50MB": (8.00, 50, 0.20, 0.03, "rate_and_overage", "ACME_POOL", POOL_OWNER),
    "AGENT_POOL_SHARED_10MB": (2.80, 10, 0.35, 0.04, "rate_and_overage", "SHARED_POOL", ""),
}
UNASSIGNED_SHARE = 0.1
"""Share of the SIMs with a customer that :func:`write_fake_customer_sims` leaves off plans."""


@dataclass(frozen=True)
class FakePriceList:
    """The files :func:`write_fake_price_list` wrote (``None``: not for this fleet)."""

    rate_plans: Path
    comm_plan_rate_plans: Path
    optimization_groups: Path | None = None
    customer_rate_plans: Path | None = None


def write_fake_prices(folder: Path, fleet: str = "m2m") -> tuple[Path, Path]:
    """Write the fake operator's price list for ``fleet``; answers ``rate_plans.csv`` and
    ``comm_plan_rate_plans.csv`` (the other files: :func:`write_fake_price_list`)."""
    written = write_fake_price_list(folder, fleet)
    return written.rate_plans, written.comm_plan_rate_plans


def write_fake_price_list(folder: Path, fleet: str = "m2m") -> FakePriceList:
    """Write every price file of an ``m2m`` or a ``mobility`` fleet into ``folder``.

    M2M: ``rate_plans.csv``, ``comm_plan_rate_plans.csv`` and ``customer_rate_plans.csv``;
    mobility: ``rate_plans.csv`` (with ``rate_plan_type`` and ``charge_type``),
    ``comm_plan_rate_plans.csv`` and ``optimization_groups.csv``.
    """
    if fleet == "mobility":
        return _write_mobility(folder)
    if fleet != "m2m":
        raise ValueError(f"fleet must be m2m or mobility, got {fleet!r}")
    plans_csv, pairs_csv = _write_m2m(folder)
    return FakePriceList(plans_csv, pairs_csv, customer_rate_plans=_write_customer_plans(folder))


def write_fake_customer_sims(folder: Path, fleet_devices: Iterable[FakeDevice]) -> Path:
    """Write ``customer_sims.csv``: each SIM with a customer on one of the agent's plans.

    The plan is chosen from the ICCID (deterministic); only the pool owner's SIMs go on its
    pool's plan; about :data:`UNASSIGNED_SHARE` of the SIMs are listed with no plan.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "customer_sims.csv"
    owned = {code for code, row in CUSTOMER_PLANS.items() if row[6]}
    for_everyone = [code for code in CUSTOMER_PLANS if code not in owned]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iccid", "customer_rate_plan"])
        for device in fleet_devices:
            if not device.customer or not device.iccid:
                continue
            draw = int.from_bytes(hashlib.sha256(device.iccid.encode()).digest()[:8], "big")
            if draw % 1000 < UNASSIGNED_SHARE * 1000:
                writer.writerow([device.iccid, ""])
                continue
            choices = for_everyone + [
                code for code in owned if CUSTOMER_PLANS[code][6] == device.customer
            ]
            writer.writerow([device.iccid, choices[(draw // 1000) % len(choices)]])
    return path


def _write_m2m(folder: Path) -> tuple[Path, Path]:
    """``rate_plans.csv`` and ``comm_plan_rate_plans.csv`` of the M2M operator."""
    folder.mkdir(parents=True, exist_ok=True)
    plans_csv, pairs_csv = folder / "rate_plans.csv", folder / "comm_plan_rate_plans.csv"
    with plans_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PRICE_COLUMNS)
        for plan in RATE_PLANS:
            base, overage, unit, sms = PRICES[plan.name]
            pooled = "true" if plan.plan_type == "POOLED" else "false"
            writer.writerow([plan.name, base, plan.allowance_mb, overage, unit, sms, pooled])
    with pairs_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["communication_plan", "rate_plan_code"])
        for comm in COMMUNICATION_PLANS:
            allowed = RESTRICTED_COMMUNICATION_PLANS.get(comm, tuple(p.name for p in RATE_PLANS))
            writer.writerows([comm, code] for code in allowed)
    return plans_csv, pairs_csv


def _write_mobility(folder: Path) -> FakePriceList:
    folder.mkdir(parents=True, exist_ok=True)
    plans_csv, pairs_csv = folder / "rate_plans.csv", folder / "comm_plan_rate_plans.csv"
    groups_csv = folder / "optimization_groups.csv"
    with plans_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*PRICE_COLUMNS, "charge_type", "rate_plan_type"])
        for plan in MOBILITY_RATE_PLANS:
            base, overage, unit, sms, charge_type = MOBILITY_PRICES[plan.name]
            pooled = "true" if plan.plan_type == "POOLED" else "false"
            writer.writerow(
                [
                    plan.name,
                    base,
                    plan.allowance_mb,
                    overage,
                    unit,
                    sms,
                    pooled,
                    charge_type,
                    plan.rate_plan_type,
                ]
            )
    with pairs_csv.open("w", newline="", encoding="utf-8") as handle:
        # Every plan is allowed everywhere: the groups' rate-plan types do the restricting.
        writer = csv.writer(handle)
        writer.writerow(["communication_plan", "rate_plan_code"])
        for comm in MOBILITY_COMMUNICATION_PLANS:
            writer.writerows([comm, plan.name] for plan in MOBILITY_RATE_PLANS)
    with groups_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["optimization_group", "communication_plans", "rate_plan_types", "max_rate_plans"]
        )
        for name, (comms, types, max_plans) in MOBILITY_GROUPS.items():
            writer.writerow([name, comms, types, max_plans])
    return FakePriceList(plans_csv, pairs_csv, optimization_groups=groups_csv)


def _write_customer_plans(folder: Path) -> Path:
    path = folder / "customer_rate_plans.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [*PRICE_COLUMNS, "charge_type", "rate_plan_type", "customer_rate_pool", "pool_customer"]
        )
        for code, (base, allowance, overage, sms, charge, pool, owner) in CUSTOMER_PLANS.items():
            pooled = "true" if pool else "false"
            writer.writerow(
                [code, base, allowance, overage, 1, sms, pooled, charge, "", pool, owner]
            )
    return path
