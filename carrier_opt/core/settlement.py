"""Settlement of a closed billing period: the optimization's promise checked against the bill.

An optimization prices plans on usage *projected* to the period's end. Once the period has
closed, its final usage is known, and three assignments can be priced on it with the same cost
model (:mod:`carrier_opt.core.pricing`):

- *before*: the plans the SIMs had when the optimization ran (what staying put would cost);
- *actual*: the plans the SIMs had when the period closed (pushes included);
- *optimized*: the optimizer's assignment.

Their differences answer what an operator asks after the fact:

- **realized saving on the bill** = before − actual;
- **left on the table** = actual − optimized (what the changes not made would have saved; all
  of the saving when nothing was pushed);
- **what the projection's error cost** = optimized − the optimum for the final usage (the
  optimizer run again on it, within its gap target): what a perfect forecast would have saved
  on top;
- the projection's error itself, per pool and in total (final − projected MB).

A settlement is *final* only when every SIM's usage was read at or after the period's end (the
sync of the closing period, or the carrier's past-cycle answer). Otherwise it is provisional:
priced on the last readings, projected to the end as the optimizer would, and it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from carrier_opt.core.instance import Instance
from carrier_opt.core.optimizer import DEFAULT_GAP_TARGET_PCT, optimize
from carrier_opt.core.pricing import total_cost


@dataclass(frozen=True)
class Settlement:
    """One closed period priced on its final usage (USD; usage in MB)."""

    final: bool  # every reading taken at or after the period's end
    readings_before_end: int  # SIMs whose last reading predates the end (provisional if any)
    sims: int
    cost_before: float
    cost_actual: float
    cost_optimized: float
    cost_optimum: float  # the optimizer on the final usage
    optimum_stop_reason: str
    pushed: int  # SIMs whose plan at the close differs from their plan before
    pools: pd.DataFrame  # pool, projected_mb, final_mb, error_mb (the optimized assignment's)
    projected_mb: float
    final_mb: float

    @property
    def realized_saving(self) -> float:
        return self.cost_before - self.cost_actual

    @property
    def left_on_table(self) -> float:
        return self.cost_actual - self.cost_optimized

    @property
    def projection_error_cost(self) -> float:
        return self.cost_optimized - self.cost_optimum

    def lines(self) -> list[str]:
        """The settlement as the command prints it."""
        state = (
            "final usage"
            if self.final
            else f"PROVISIONAL: {self.readings_before_end:,} SIMs last read before the "
            "period's end, projected to it; settle again once the closed cycle is stored"
        )
        error = self.final_mb - self.projected_mb
        share = 100 * error / self.projected_mb if self.projected_mb else 0.0
        lines = [
            f"settled on {state} ({self.sims:,} SIMs, {self.pushed:,} on a new plan at the close)",
            f"  before the optimization:  {self.cost_before:>14,.2f} USD",
            f"  as billed (plans at close):{self.cost_actual:>13,.2f} USD",
            f"  optimizer's assignment:   {self.cost_optimized:>14,.2f} USD",
            f"  optimum on final usage:   {self.cost_optimum:>14,.2f} USD "
            f"({self.optimum_stop_reason})",
            f"  realized saving on the bill: {self.realized_saving:,.2f} USD",
            f"  left on the table:           {self.left_on_table:,.2f} USD",
            f"  projection error: {error:+,.1f} MB ({share:+.1f} %), it cost "
            f"{self.projection_error_cost:,.2f} USD",
        ]
        for row in self.pools.itertuples():
            lines.append(
                f"    pool {row.pool}: projected {row.projected_mb:,.1f} MB, final "
                f"{row.final_mb:,.1f} MB ({row.error_mb:+,.1f})"
            )
        return lines


@dataclass(frozen=True)
class StoredSettlement:
    """A settlement as stored for its period (the workbook's Settlement sheet reads it)."""

    period_key: str
    settled_at: datetime  # aware, UTC
    settlement: Settlement


def pools_markdown(settlement: Settlement) -> str:
    """The projection's error per pool and in total as a markdown table (MB)."""
    lines = ["| pool | projected MB | final MB | error MB |", "|---|---:|---:|---:|"]
    for row in settlement.pools.itertuples():
        lines.append(
            f"| {row.pool} | {row.projected_mb:,.1f} | {row.final_mb:,.1f} | {row.error_mb:+,.1f} |"
        )
    error = settlement.final_mb - settlement.projected_mb
    lines.append(
        f"| **all SIMs** | {settlement.projected_mb:,.1f} | {settlement.final_mb:,.1f} | "
        f"{error:+,.1f} |"
    )
    return "\n".join(lines)


def settle(
    final: Instance,
    before: np.ndarray,
    actual: np.ndarray,
    optimized: np.ndarray,
    projected_mb: np.ndarray,
    readings_before_end: int,
    *,
    time_limit_s: float = 60.0,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
) -> Settlement:
    """Price ``before``, ``actual`` and ``optimized`` (plan indices of ``final``) on the final
    usage of ``final``; ``projected_mb`` is each SIM's usage as the optimizer projected it."""
    optimum = optimize(
        final, time_limit_s=time_limit_s, gap_target_pct=gap_target_pct, starts=[optimized, actual]
    )
    pool = final.pool_of[optimized]
    in_pool = pool >= 0
    names = final.pool_names[pool[in_pool]]
    pools = (
        pd.DataFrame(
            {
                "pool": names,
                "projected_mb": np.asarray(projected_mb, dtype=float)[in_pool],
                "final_mb": final.usage_mb[in_pool],
            }
        )
        .groupby("pool", as_index=False)
        .sum()
    )
    pools["error_mb"] = pools["final_mb"] - pools["projected_mb"]
    return Settlement(
        final=readings_before_end == 0,
        readings_before_end=readings_before_end,
        sims=final.n_devices,
        cost_before=total_cost(final, before),
        cost_actual=total_cost(final, actual),
        cost_optimized=total_cost(final, optimized),
        cost_optimum=optimum.cost,
        optimum_stop_reason=optimum.stop_reason,
        pushed=int((actual != before).sum()),
        pools=pools,
        projected_mb=float(np.sum(projected_mb)),
        final_mb=float(final.usage_mb.sum()),
    )
