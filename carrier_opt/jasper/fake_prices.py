"""Price list of the fake operator's rate plans, for the demo and for trying carrier_opt out.

Jasper does not expose prices, so a real deployment loads its contract's prices with
``carrier-opt rate-plans load``. The fake's plans get prices shaped like real M2M offers:
the bigger the bundle, the cheaper each MB; overage dearer than the bundle; two pooled plans.
"""

from __future__ import annotations

import csv
from pathlib import Path

from carrier_opt.jasper.fake_fleet import COMMUNICATION_PLANS, RATE_PLANS

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
        "LTE-M 2MB", "M2M Data 5MB", "M2M Data 10MB", "M2M Data 25MB", "Pool 5MB Shared",
        "Pool 50MB Shared", "Pay As You Go",
    ),
}  # fmt: skip


def write_fake_prices(folder: Path) -> tuple[Path, Path]:
    """Write ``rate_plans.csv`` and ``comm_plan_rate_plans.csv`` for the fake operator."""
    folder.mkdir(parents=True, exist_ok=True)
    plans_csv, pairs_csv = folder / "rate_plans.csv", folder / "comm_plan_rate_plans.csv"
    with plans_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["rate_plan_code", "base_rate", "data_allowance_mb", "overage_rate",
             "data_per_overage_charge_mb", "sms_rate", "pooled"]
        )  # fmt: skip
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
