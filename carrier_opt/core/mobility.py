"""Mobility optimization groups: which SIMs and which typed plans each group optimizes.

A mobility fleet (phones, tablets, hotspots) is optimized per *optimization group*: the SIMs of
the group's communication plans share one pool per pooled plan, and may only use the plans of
the types the group allows. As in the legacy system, a SIM whose current plan is of a type the
group does not allow is left out of the group's optimization (reported, never moved), and a
group offering more plans than its limit is skipped with an alert.

Pure: tables in, tables out (no database, no Dagster).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

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
    devices: pd.DataFrame
    excluded: pd.DataFrame
    """The group's SIMs whose current plan is of a type the group does not allow."""
    skipped_reason: str | None


def split_into_groups(
    groups: list[GroupDefinition],
    rate_plans: pd.DataFrame,
    plan_types: dict[str, str | None],
    devices: pd.DataFrame,
) -> list[GroupTables]:
    """Each group's tables: its SIMs (by communication plan) on plans of its types.

    ``rate_plans`` and ``devices`` are shaped like the contract's tables (the provider's whole
    period); ``plan_types`` maps a rate-plan code to its type. Every group's communication plans
    may use every plan of the group's types (mobility plans are typed, not tied to
    communication plans).
    """
    typed = rate_plans["rate_plan_code"].map(plan_types)
    current_type = devices["rate_plan_code"].map(plan_types)
    out = []
    for group in groups:
        plans = rate_plans[typed.isin(group.rate_plan_types)].reset_index(drop=True)
        members = devices[GROUP_PLAN_COLUMN].isin(group.communication_plans)
        in_type = current_type.isin(group.rate_plan_types)
        group_devices = devices[members & in_type].reset_index(drop=True)
        excluded = devices[members & ~in_type].reset_index(drop=True)
        pairs = pd.DataFrame(
            [
                (comm_plan, code)
                for comm_plan in sorted(set(group_devices[GROUP_PLAN_COLUMN]))
                for code in plans["rate_plan_code"]
            ],
            columns=["communication_plan", "rate_plan_code"],
        )
        out.append(
            GroupTables(
                group, plans, pairs, group_devices, excluded, _skipped(group, plans, group_devices)
            )
        )
    return out


def _skipped(group: GroupDefinition, plans: pd.DataFrame, devices: pd.DataFrame) -> str | None:
    if len(plans) > group.max_rate_plans:
        return f"{len(plans)} rate plans exceed the group's limit of {group.max_rate_plans}"
    if plans.empty:
        return f"no rate plan of the types {', '.join(group.rate_plan_types)} is loaded"
    if devices.empty:
        return "no SIM of the group is billable in the period"
    return None
