"""Communication groups: the legacy grouping of communication plans for one optimization.

A SIM may only move to the rate plans its communication plan allows. Communication plans that
allow the same set of rate plans form one group, optimized as one queue family; a group that
offers more rate plans than the provider's limit is skipped, with the reason kept for the report
(the legacy system's ``OptimizationCommGroup``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class CommGroup:
    """Communication plans sharing one set of allowed rate plans."""

    name: str
    communication_plans: tuple[str, ...]
    rate_plans: tuple[str, ...]
    skipped_reason: str | None


def comm_groups(pairs: pd.DataFrame, max_rate_plans: int) -> list[CommGroup]:
    """Group communication plans with identical allowed rate-plan sets (the legacy grouping);
    a group offering more than ``max_rate_plans`` plans is skipped with the reason."""
    allowed = pairs.groupby("communication_plan")["rate_plan_code"].agg(
        lambda codes: tuple(sorted(codes))
    )
    groups = []
    for index, (plans, members) in enumerate(
        sorted(allowed.groupby(allowed).groups.items(), key=lambda item: item[0])
    ):
        reason = None
        if len(plans) > max_rate_plans:
            reason = f"{len(plans)} rate plans exceed the limit of {max_rate_plans} per group"
        groups.append(CommGroup(f"group-{index + 1}", tuple(sorted(members)), plans, reason))
    return groups
