"""Mobility optimization groups: which SIMs and which typed plans each group optimizes.

A mobility fleet (phones, tablets, hotspots) is optimized per *optimization group*: the SIMs of
the group's communication plans may only use the plans of the types the group allows, and, as
in the legacy system, every pooled plan of the group feeds **one** pool (the contract's
``rate_pool``, named after the group): allowances add up and overage is priced once. One pool
has one overage price, so when the group's pooled plans disagree on it each keeps its own pool
(:attr:`GroupTables.pool_note` says so) rather than being dropped. As in the legacy system, a
SIM whose current plan is of a type the group does not allow is left out of the group's
optimization (reported, never moved), and a group offering more plans than its limit is
skipped with an alert.

Pure: tables in, tables out (no database, no Dagster).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from carrier_opt.core.instance import Instance, instance_from_frames, overage_price_conflict

GROUP_PLAN_COLUMN = "communication_plan"


@dataclass(frozen=True)
class GroupDefinition:
    """An optimization group as configured: member communication plans and allowed types."""

    name: str
    communication_plans: tuple[str, ...]
    rate_plan_types: tuple[str, ...]
    max_rate_plans: int


@dataclass(frozen=True)
class GroupTables:
    """One group's optimizer input (the contract's three tables) and what was left out."""

    group: GroupDefinition
    rate_plans: pd.DataFrame
    comm_plan_rate_plans: pd.DataFrame
    """Pairs keyed by *typed* communication plan (:func:`typed_plan`): a SIM may only move to
    plans of its own plan's type, as in the legacy system (a phone never to a hotspot plan)."""
    devices: pd.DataFrame
    """The group's SIMs with their carrier communication plan (what the database stores)."""
    excluded: pd.DataFrame
    """The group's SIMs whose current plan is of a type the group does not allow."""
    skipped_reason: str | None
    pool_note: str | None = None
    """Why the group's pooled plans do not form one pool (None: they do, or there is none)."""
    device_types: pd.Series | None = None
    """Each SIM's plan type (the type of its current plan), aligned with ``devices``."""

    @property
    def instance_devices(self) -> pd.DataFrame:
        """``devices`` as the optimizer sees them: communication plan qualified by plan type."""
        if self.device_types is None:
            return self.devices
        return self.devices.assign(
            communication_plan=[
                typed_plan(comm, kind)
                for comm, kind in zip(
                    self.devices[GROUP_PLAN_COLUMN], self.device_types, strict=True
                )
            ]
        )

    def instance(self) -> Instance:
        """The group's optimizer instance (rate pools and plan types applied)."""
        return instance_from_frames(
            self.rate_plans, self.comm_plan_rate_plans, self.instance_devices
        )


def typed_plan(communication_plan: str, plan_type: str) -> str:
    """The instance's communication plan of a SIM: its carrier one and its plan type."""
    return f"{communication_plan} [{plan_type}]"


def split_into_groups(
    groups: list[GroupDefinition],
    rate_plans: pd.DataFrame,
    plan_types: dict[str, str | None],
    devices: pd.DataFrame,
) -> list[GroupTables]:
    """Each group's tables: its SIMs (by communication plan) on plans of its types.

    ``rate_plans`` and ``devices`` are shaped like the contract's tables (the provider's whole
    period); ``plan_types`` maps a rate-plan code to its type. Mobility plans are typed, not
    tied to communication plans: a SIM may use every plan of the group of its own plan's type
    (the legacy rule: a phone SIM is never moved to a hotspot plan, even when the group allows
    both types).
    """
    typed = rate_plans["rate_plan_code"].map(plan_types)
    current_type = devices["rate_plan_code"].map(plan_types)
    out = []
    for group in groups:
        plans = rate_plans[typed.isin(group.rate_plan_types)].reset_index(drop=True)
        plans, pool_note = _one_pool(group, plans)
        members = devices[GROUP_PLAN_COLUMN].isin(group.communication_plans)
        in_type = current_type.isin(group.rate_plan_types)
        group_devices = devices[members & in_type].reset_index(drop=True)
        device_types = current_type[members & in_type].reset_index(drop=True)
        excluded = devices[members & ~in_type].reset_index(drop=True)
        plan_type = plans["rate_plan_code"].map(plan_types)
        pairs = pd.DataFrame(
            [
                (typed_plan(comm_plan, kind), code)
                for comm_plan, kind in sorted(
                    set(zip(group_devices[GROUP_PLAN_COLUMN], device_types, strict=True))
                )
                for code in plans.loc[plan_type == kind, "rate_plan_code"]
            ],
            columns=["communication_plan", "rate_plan_code"],
        )
        skipped = _skipped(group, plans, group_devices)
        out.append(
            GroupTables(
                group, plans, pairs, group_devices, excluded, skipped, pool_note, device_types
            )
        )
    return out


def _one_pool(group: GroupDefinition, plans: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The group's plans with ``rate_pool`` set on its pooled plans when they can share a pool."""
    plans = plans.copy()
    pooled = plans["pooled"].astype(str).str.strip().str.lower().isin(("true", "t", "yes", "1"))
    if "charge_type" in plans.columns:
        pooled &= plans["charge_type"].fillna("").astype(str).str.lower() != "rate_only"
    listed = overage_price_conflict(
        plans.loc[pooled, "rate_plan_code"],
        plans.loc[pooled, "overage_rate"],
        plans.loc[pooled, "data_per_overage_charge_mb"],
    )
    if listed is not None:
        note = (
            f"the pooled plans of group {group.name} have different overage prices ({listed}); "
            "each pools on its own"
        )
        return plans, note
    plans["rate_pool"] = None
    plans.loc[pooled, "rate_pool"] = group.name
    return plans, None


def _skipped(group: GroupDefinition, plans: pd.DataFrame, devices: pd.DataFrame) -> str | None:
    if len(plans) > group.max_rate_plans:
        return f"{len(plans)} rate plans exceed the group's limit of {group.max_rate_plans}"
    if plans.empty:
        return f"no rate plan of the types {', '.join(group.rate_plan_types)} is loaded"
    if devices.empty:
        return "no SIM of the group is billable in the period"
    return None
