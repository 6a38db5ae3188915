"""Idle and orphan SIMs: what the fleet pays for SIMs that do nothing.

A SIM with no data, SMS or voice for several billing periods in a row still pays its plan's
base rate every period; a SIM billed although it was never activated is a provisioning
mistake. Neither is a rate-plan question, so the optimizer leaves both alone; this module lists
them with what each costs and what deactivating it would save. Nothing is deactivated here or
anywhere else automatically: deactivation is the operator's decision.

"In a row" is counted on stored periods only: a period whose usage was never stored (or a
SIM without a row in it) breaks the streak, because the absence of a record is not evidence
of no usage.

The saving of deactivating a pooled SIM is not its base rate: its allowance leaves the pool,
which can raise the pool's overage. Savings are therefore priced with the cost model
(:mod:`carrier_opt.core.pricing`): each SIM's alone, and all of them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import device_breakdown, overage_units, pool_loads_mb, total_cost

DEFAULT_IDLE_PERIODS = 3
HISTORY_COLUMNS = ("iccid", "period_key", "data_bytes", "sms_count", "voice_seconds")


def idle_streaks(history: pd.DataFrame, periods: Sequence[str]) -> pd.Series:
    """Per ICCID, how many of the last stored ``periods`` (oldest first, the period examined
    last) in a row it had no data, SMS or voice, counting back from the last one.

    ``history``: one row per SIM and stored period (:data:`HISTORY_COLUMNS`). A SIM that used
    anything in the last period has a streak of 0; a period without its row stops the count.
    """
    if history.empty:
        return pd.Series(dtype=np.int64, name="idle_periods")
    used = (
        history["data_bytes"].fillna(0).astype(float).gt(0)
        | history["sms_count"].fillna(0).astype(float).gt(0)
        | history["voice_seconds"].fillna(0).astype(float).gt(0)
    )
    table = (
        pd.DataFrame(
            {"iccid": history["iccid"], "period_key": history["period_key"], "idle": ~used}
        )
        .pivot_table(index="iccid", columns="period_key", values="idle", aggfunc="min")
        .reindex(columns=list(periods))
    )
    streak = np.zeros(len(table), dtype=np.int64)
    counting = np.ones(len(table), dtype=bool)
    for period in reversed(list(periods)):
        idle = table[period].to_numpy(dtype=object)
        counting &= idle == True  # noqa: E712  (missing rows are NaN: they stop the streak)
        streak += counting
    return pd.Series(streak, index=table.index, name="idle_periods")


@dataclass(frozen=True)
class IdleReport:
    """Idle and never-activated SIMs of one provider's period, priced."""

    idle: pd.DataFrame  # iccid, rate_plan_code, idle_periods, cost_usd, saving_usd
    never_activated: pd.DataFrame  # iccid, status, rate_plan_code, cost_usd, saving_usd
    idle_periods: int  # the streak that makes a SIM idle
    periods_stored: int  # periods looked at (the streak cannot be longer)
    saving_together_usd: float  # every listed SIM deactivated at once

    @property
    def idle_cost_usd(self) -> float:
        return float(self.idle["cost_usd"].sum())

    def summary(self) -> str:
        """One line for the mail and the command line."""
        if self.periods_stored < self.idle_periods:
            return (
                f"idle SIMs: not known yet, {self.periods_stored} of the {self.idle_periods} "
                "periods needed are stored"
            )
        line = (
            f"idle SIMs: {len(self.idle):,} with no data, SMS or voice for "
            f"{self.idle_periods}+ periods cost {self.idle_cost_usd:,.2f} USD a period"
        )
        if len(self.never_activated):
            line += f"; {len(self.never_activated):,} billed although never activated"
        return (
            f"{line}; deactivating them would save {self.saving_together_usd:,.2f} USD a period "
            "(nothing is deactivated automatically)"
        )


def idle_report(
    instance: Instance,
    streaks: pd.Series,
    never_activated: np.ndarray,
    statuses: Sequence[str],
    idle_periods: int,
    periods_stored: int,
) -> IdleReport:
    """Price the idle SIMs (``streaks`` at least ``idle_periods``) and the never-activated
    ones (bool per SIM of ``instance``) of ``instance`` on their current plans."""
    current = instance.current_plan
    priced = current >= 0
    streak = streaks.reindex(instance.iccids).fillna(0).to_numpy(dtype=np.int64)
    idle = priced & (streak >= idle_periods)
    orphan = priced & np.asarray(never_activated, dtype=bool) & ~idle
    plans = np.where(priced, current, 0)
    bill = _Bill(instance, plans)
    costs = np.where(priced, bill.line_cost, 0.0)
    alone = bill.savings_alone()
    listed = idle | orphan
    together = total_cost(instance, plans) - bill.cost_without(listed)
    codes = instance.plan_codes[plans]
    status = np.asarray(statuses, dtype=object)

    def frame(mask: np.ndarray, extra: dict) -> pd.DataFrame:
        rows = pd.DataFrame(
            {
                "iccid": instance.iccids[mask],
                **{key: value[mask] for key, value in extra.items()},
                "rate_plan_code": codes[mask],
                "cost_usd": costs[mask].round(2),
                "saving_usd": alone[mask].round(2),
            }
        )
        return rows.sort_values(["saving_usd", "iccid"], ascending=[False, True], ignore_index=True)

    return IdleReport(
        idle=frame(idle, {"idle_periods": streak}),
        never_activated=frame(orphan, {"status": status}),
        idle_periods=idle_periods,
        periods_stored=periods_stored,
        saving_together_usd=round(float(together), 2),
    )


def deactivation_savings(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """Per SIM, what the bill loses if that SIM alone leaves the fleet: its base, SMS and own
    overage, and for a pooled SIM the change in its pool's overage once its usage and its
    allowance both leave the pool (negative when the pool then bills more than it saves)."""
    return _Bill(instance, assignment).savings_alone()


class _Bill:
    """An assignment's bill split as deactivation needs it, priced once: each SIM's own
    charges (base, SMS, overage of a plan without a pool) and each pool's load and charge."""

    def __init__(self, instance: Instance, assignment: np.ndarray) -> None:
        self.instance, self.assignment = instance, assignment
        lines = device_breakdown(instance, assignment)
        self.line_cost = lines["cost_usd"].to_numpy(dtype=float)
        self.pool = instance.pool_of[assignment]
        pooled = self.pool >= 0
        own_overage = np.where(pooled, 0.0, lines["overage_usd"].to_numpy(dtype=float))
        self.own = (lines["base_usd"] + lines["sms_usd"]).to_numpy(dtype=float) + own_overage
        self.load = pool_loads_mb(instance, assignment)

    def _charge(self, load: np.ndarray, pools: np.ndarray) -> np.ndarray:
        rate, unit = self.instance.pool_overage_rate[pools], self.instance.pool_unit_mb[pools]
        return overage_units(load, unit) * rate

    def savings_alone(self) -> np.ndarray:
        instance, assignment = self.instance, self.assignment
        pooled = self.pool >= 0
        safe = np.where(pooled, self.pool, 0)
        sim_load = instance.usage_mb - instance.allowance_mb[assignment] * instance.proration
        now = self._charge(self.load[safe], safe)
        without = self._charge(self.load[safe] - sim_load, safe)
        return self.own + np.where(pooled, now - without, 0.0)

    def cost_without(self, leaving: np.ndarray) -> float:
        """The bill once the SIMs in ``leaving`` are gone (cost model terms)."""
        staying = ~leaving
        loads = pool_loads_mb(self.instance, self.assignment, among=staying)
        pools = self._charge(loads, np.arange(self.instance.n_pools))
        return float(self.own[staying].sum() + pools.sum())
