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

from carrier_opt.core.instance import TRUE_WORDS

CUSTOMER_GROUP = "customer"
"""The single communication-plan label of a customer instance (customer plans are not tied to
communication plans)."""


def kept_on_plan(code: str) -> str:
    """The communication-plan label of SIMs on plan ``code`` with automatic change off: it
    allows that plan only, so the SIMs are priced but stay."""
    return f"{CUSTOMER_GROUP} kept on {code}"


def move_group(family: str | None, pooled: bool) -> str:
    """The communication-plan label of SIMs whose plan is of ``family`` (None: the plans
    without a family) and pooling flag ``pooled``: the legacy customer runs moved a SIM only
    among plans sharing both."""
    scope = CUSTOMER_GROUP if family is None else f"{CUSTOMER_GROUP} {family}"
    return f"{scope} ({'pooled' if pooled else 'not pooled'})"


def _is_true(value) -> bool:
    """A pooled/auto_change cell as the plan frames carry it (bool, 0/1 or 'true'/'false')."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value) if pd.notna(value) else False


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
    optionally:

    - ``auto_change`` (False: the legacy "automatic change off" — the plan's SIMs are priced and
      count in its pool but are never moved: their communication plan, see
      :func:`kept_on_plan`, allows only their plan);
    - ``plan_family`` (the legacy rate-plan code several plans share; None: the family of all
      plans without one).

    As in the legacy customer runs, every other SIM moves only among the plans offered to its
    customer of its plan's family with its plan's pooling flag (its communication plan is
    :func:`move_group`). ``devices``: the contract's device columns with ``rate_plan_code`` =
    the SIM's current customer plan, plus ``customer``. SIMs without a customer plan are not
    optimized (see :func:`unassigned_sims`). A SIM on a customer plan whose customer is not
    known (None: not read from the carrier yet) is nobody's to optimize, but whoever it
    belongs to it counts in its plan's pool: it enters locked every instance offered that pool.
    """
    on_plan = devices[devices["rate_plan_code"].notna()]
    known = on_plan["customer"].notna()
    devices = on_plan[known]
    unknown = sorted(set(devices["rate_plan_code"]) - set(customer_plans["rate_plan_code"]))
    if unknown:
        raise ValueError(f"SIMs are on customer plans that are not given: {', '.join(unknown)}")
    pool_of = dict(
        zip(customer_plans["rate_plan_code"], customer_plans["customer_rate_pool"], strict=True)
    )
    families = (
        customer_plans["plan_family"]
        if "plan_family" in customer_plans.columns
        else pd.Series(None, index=customer_plans.index, dtype=object)
    )
    group_of = {
        code: move_group(family if pd.notna(family) else None, _is_true(pooled))
        for code, family, pooled in zip(
            customer_plans["rate_plan_code"], families, customer_plans["pooled"], strict=True
        )
    }
    pooled = customer_plans["customer_rate_pool"].notna()
    shared_codes = set(
        customer_plans.loc[pooled & customer_plans["pool_customer"].isna(), "rate_plan_code"]
    )
    fixed_codes = set()
    if "auto_change" in customer_plans.columns:
        fixed = customer_plans["auto_change"].map(lambda value: not _is_true(value))
        fixed_codes = set(customer_plans.loc[fixed, "rate_plan_code"])
    out = []
    for customer in sorted(devices["customer"].unique()):
        own = devices[devices["customer"] == customer].copy()
        offered = customer_plans[
            ~pooled
            | customer_plans["pool_customer"].isna()
            | (customer_plans["pool_customer"] == customer)
        ]
        offered_pools = offered.loc[offered["customer_rate_pool"].notna(), "rate_plan_code"]
        others = on_plan[
            (
                known
                & (on_plan["customer"] != customer)
                & on_plan["rate_plan_code"].isin(shared_codes)
            )
            | (~known & on_plan["rate_plan_code"].isin(set(offered_pools)))
        ].copy()
        own["locked"] = False
        others["locked"] = True
        instance_devices = pd.concat([own, others], ignore_index=True)
        instance_devices["communication_plan"] = instance_devices["rate_plan_code"].map(group_of)
        kept = ~instance_devices["locked"] & instance_devices["rate_plan_code"].isin(fixed_codes)
        instance_devices.loc[kept, "communication_plan"] = instance_devices.loc[
            kept, "rate_plan_code"
        ].map(kept_on_plan)
        pairs = _allowed_plans(instance_devices, offered, group_of)
        # A SIM already on a plan not offered to its customer may stay there (data kept as is).
        codes = set(pairs["rate_plan_code"])
        plans = customer_plans[customer_plans["rate_plan_code"].isin(codes)].reset_index(drop=True)
        # The contract's rate_pool: every pooled plan feeding one customer rate pool shares it.
        plans["rate_pool"] = plans["customer_rate_pool"]
        pools = {
            code: pool_of[code] for code in plans["rate_plan_code"] if pd.notna(pool_of.get(code))
        }
        out.append(CustomerTables(str(customer), plans, pairs, instance_devices, pools))
    return out


def _allowed_plans(
    devices: pd.DataFrame, offered: pd.DataFrame, group_of: dict[str, str]
) -> pd.DataFrame:
    """The contract's communication-plan/rate-plan pairs of one customer instance: each move
    group allows the offered plans of its family and pooling flag and the plans its SIMs are on;
    a kept label allows its one plan."""
    pairs = set(zip(devices["communication_plan"], devices["rate_plan_code"], strict=True))
    labels = set(devices["communication_plan"])
    pairs |= {
        (group_of[code], code) for code in offered["rate_plan_code"] if group_of[code] in labels
    }
    return pd.DataFrame(sorted(pairs), columns=["communication_plan", "rate_plan_code"])


def unassigned_sims(devices: pd.DataFrame) -> pd.DataFrame:
    """Customer SIMs on no customer plan: the legacy customer runs reported them at $0 (they
    take no part in the optimization). ``devices`` as for :func:`customer_tables`."""
    return devices[devices["customer"].notna() & devices["rate_plan_code"].isna()].reset_index(
        drop=True
    )
