"""Customer optimization: an agent re-prices its own customers on its customer rate plans.

Each customer is its own instance. Its SIMs may move between the customer plans offered to
it: plans outside any pool, plans of its own pools and plans of pools shared by all the agent's
customers. SIMs of *other* customers in a shared pool are not optimized in this instance, but
they keep adding usage and allowance to the pool, so they enter **locked** (contract column
``locked``): they keep their plan and count in the pool. Ignoring them would price the pool
wrongly and change the answer.

Customers are optimized one after the other against the others' current plans, as the legacy
system did; a customer's new plans reach the shared pool only once they are applied.

Pure: tables in, tables out (no database, no Dagster).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

CUSTOMER_GROUP = "customer"
"""The single communication-plan label of a customer instance (customer plans are not tied to
communication plans)."""


def kept_on_plan(code: str) -> str:
    """The communication-plan label of SIMs on plan ``code`` with automatic change off: it
    allows that plan only, so the SIMs are priced but stay."""
    return f"{CUSTOMER_GROUP} kept on {code}"


@dataclass(frozen=True)
class CustomerTables:
    """One customer's optimizer input (the contract's three tables)."""

    customer: str
    rate_plans: pd.DataFrame
    comm_plan_rate_plans: pd.DataFrame
    devices: pd.DataFrame
    """The customer's SIMs (``locked`` false) then other customers' shared-pool SIMs (true)."""
    pools: dict[str, str]
    """Rate-plan code → customer rate pool name, for the pooled plans of the instance."""

    @property
    def locked_sims(self) -> int:
        """Other customers' shared-pool SIMs in the instance (not optimized)."""
        return int(self.devices["locked"].astype(bool).sum())

    @property
    def own_sims(self) -> int:
        """The customer's own SIMs (the ones optimized)."""
        return len(self.devices) - self.locked_sims


def customer_tables(customer_plans: pd.DataFrame, devices: pd.DataFrame) -> list[CustomerTables]:
    """One instance per customer that has SIMs on customer plans.

    ``customer_plans``: the contract's rate-plan columns plus ``customer_rate_pool`` (pool name
    or None), ``pool_customer`` (the customer owning the pool; None: shared by all) and,
    optionally, ``auto_change`` (False: the legacy "automatic change off" — the plan's SIMs are
    priced and count in its pool but are never moved: their communication plan, see
    :func:`kept_on_plan`, allows only their plan).
    ``devices``: the contract's device columns with ``rate_plan_code`` = the SIM's current
    customer plan, plus ``customer``. SIMs without a customer or a customer plan are ignored.
    """
    devices = devices[devices["customer"].notna() & devices["rate_plan_code"].notna()]
    pool_of = dict(
        zip(customer_plans["rate_plan_code"], customer_plans["customer_rate_pool"], strict=True)
    )
    pooled = customer_plans["customer_rate_pool"].notna()
    shared_codes = set(customer_plans.loc[pooled & customer_plans["pool_customer"].isna(),
                                          "rate_plan_code"])  # fmt: skip
    fixed_codes = set()
    if "auto_change" in customer_plans.columns:
        fixed = customer_plans["auto_change"].map(lambda value: value is False or value == 0)
        fixed_codes = set(customer_plans.loc[fixed, "rate_plan_code"])
    out = []
    for customer in sorted(devices["customer"].unique()):
        own = devices[devices["customer"] == customer].copy()
        offered = customer_plans[
            ~pooled | customer_plans["pool_customer"].isna()
            | (customer_plans["pool_customer"] == customer)
        ]  # fmt: skip
        # A SIM already on a plan not offered to its customer may stay there (data kept as is).
        codes = set(offered["rate_plan_code"]) | set(own["rate_plan_code"])
        others = devices[
            (devices["customer"] != customer) & devices["rate_plan_code"].isin(shared_codes)
        ].copy()
        own["locked"] = False
        others["locked"] = True
        own["communication_plan"] = others["communication_plan"] = CUSTOMER_GROUP
        kept = own["rate_plan_code"].isin(fixed_codes)
        own.loc[kept, "communication_plan"] = own.loc[kept, "rate_plan_code"].map(kept_on_plan)
        instance_devices = pd.concat([own, others], ignore_index=True)
        plans = customer_plans[customer_plans["rate_plan_code"].isin(codes)].reset_index(drop=True)
        # The contract's rate_pool: every pooled plan feeding one customer rate pool shares it.
        plans["rate_pool"] = plans["customer_rate_pool"]
        pairs = pd.DataFrame(
            [(CUSTOMER_GROUP, code) for code in sorted(codes)]
            + [(kept_on_plan(code), code) for code in sorted(set(own.loc[kept, "rate_plan_code"]))],
            columns=["communication_plan", "rate_plan_code"],
        )
        pools = {
            code: pool_of[code] for code in plans["rate_plan_code"] if pd.notna(pool_of.get(code))
        }
        out.append(CustomerTables(str(customer), plans, pairs, instance_devices, pools))
    return out
