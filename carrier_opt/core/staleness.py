"""What an old usage reading could cost: the order of usage refreshes within a call budget,
and the staleness figures every run reports (issue 27).

A SIM read at time ``r`` and decided on at ``t`` has an unobserved stretch ``t − r``. The
method, stated once and used for both purposes:

* **Swing.** Over the unobserved stretch the SIM's usage rate may rise to four times its
  observed pace or stop (:data:`RATE_SWING` = 3): its end-of-period usage may move by
  ``δ = (U + FLOOR_MB) × (t − r) / period × RATE_SWING`` MB from the projection ``U`` (the
  floor lets an idle SIM that starts using data count too).
* **Price of a megabyte.** On a plan, moving ``δ`` MB moves the bill by at most the plan's
  overage price per MB (``overage_rate / data_per_overage_charge_mb``) times the part of
  ``[U − δ, U + δ]`` where usage is billed: all of it on a pooled plan (its pool may be in
  overage), only the part above the allowance on a plan of its own (a SIM far below its
  allowance moves nothing), plus one overage unit for the rounding up. The decision may put
  the SIM on another plan its communication plan allows, so the SIM's value is the largest
  over its own plan and the other plans whose break point (allowance) lies inside its swing:
  a SIM near *any* plan's break point counts, a plan far below its usage does not. A SIM with no
  reading, or with no priced plan, gets :data:`NO_READING` (refresh it first).

``money_at_stake`` is that bound per SIM; refreshing the highest first spends calls where the
decision can change (heavy users in pools, SIMs near a break point, old readings). Summed over
the SIMs a run decided on stale readings it is the run's stated upper bound on what staleness
could move (within the swing assumed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

RATE_SWING = 3.0
"""How far the usage rate may move over an unobserved stretch, as a share of its observed
pace (3.0: from stopping to four times the pace: a stuck modem, a firmware update). Chosen on
`carrier-opt bench call-budget` at 2,000 SIMs: 1.0 closed 63 % / 77 % of the gap at 15 % /
50 % budgets, 3.0 67 % / 93 % (docs/benchmarks.md)."""

FLOOR_MB = 1.0
"""Usage every SIM may start using in a period, so an idle reading is not certain."""

NO_READING = float("inf")
"""The value of refreshing a SIM that has no reading (or no priced plan): first in line."""

STALE_AFTER_S = 24 * 3600
"""A reading older than this at decision time counts as stale in the run's figures."""


@dataclass(frozen=True)
class SimReadings:
    """The inputs per SIM (NaN where unknown). The plan columns may be 2-D, one row per SIM
    and one column per plan it may be on, its own plan first (padded with NaN prices)."""

    projected_mb: np.ndarray
    reading_age_s: np.ndarray
    """Seconds between the reading and the decision (NaN: no reading)."""
    allowance_mb: np.ndarray
    price_per_mb: np.ndarray
    overage_unit_mb: np.ndarray
    pooled: np.ndarray
    active: np.ndarray | None = None
    """Whether the SIM is ACTIVATED (None: all are). Only ACTIVATED SIMs are priced on their
    usage, so another SIM's reading moves nothing: it is refreshed last."""


def money_at_stake(readings: SimReadings, period_s: float) -> np.ndarray:
    """Per SIM, the most its stale reading could move the bill (the module's method)."""
    age = np.clip(np.nan_to_num(readings.reading_age_s, nan=period_s) / period_s, 0.0, 1.0)
    usage = np.nan_to_num(readings.projected_mb, nan=0.0)
    delta = (usage + FLOOR_MB) * age * RATE_SWING
    low, high = (usage - delta)[:, None], (usage + delta)[:, None]
    allowance = np.nan_to_num(_plans(readings.allowance_mb), nan=0.0)
    billed = np.where(
        _plans(readings.pooled).astype(bool),
        high - low,
        np.clip(high - np.maximum(low, allowance), 0.0, None),
    )
    # Another plan matters where its break point lies inside the SIM's swing: a plan far
    # below the usage is not where the decision would put the SIM (column 0: its own plan).
    other = np.arange(billed.shape[1])[None, :] > 0
    billed = np.where(other & (allowance < low), 0.0, billed)
    price = _plans(readings.price_per_mb)
    unit = np.where(billed > 0, np.nan_to_num(_plans(readings.overage_unit_mb)) * price, 0.0)
    with np.errstate(invalid="ignore"):
        per_plan = np.where(np.isnan(price), -np.inf, billed * price + unit)
    money = per_plan.max(axis=1) if per_plan.shape[1] else np.full(len(usage), -np.inf)
    unknown = (
        np.isnan(readings.reading_age_s) | np.isnan(readings.projected_mb) | ~np.isfinite(money)
    )
    money = np.where(unknown, NO_READING, money)
    if readings.active is not None:
        money = np.where(readings.active, money, 0.0)
    return np.where(age == 0, 0.0, money)


def _plans(column: np.ndarray) -> np.ndarray:
    """A plan column as 2-D (a 1-D column is one plan per SIM)."""
    return column[:, None] if column.ndim == 1 else column


def refresh_order(
    value: np.ndarray,
    reading_age_s: np.ndarray,
    *,
    by: str = "value",
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of SIMs in the order their usage should be refreshed: ``value`` (money at
    stake, highest first; ties: ACTIVATED SIMs first, then stalest first) or ``stalest`` (the
    baseline: oldest reading first, never read first)."""
    age = np.nan_to_num(reading_age_s, nan=np.inf)
    if by == "stalest":
        return np.argsort(-age, kind="stable")
    if by != "value":
        raise ValueError(f"refresh order must be value or stalest, not {by!r}")
    inactive = np.zeros(len(value), dtype=bool) if active is None else ~np.asarray(active)
    return np.lexsort((-age, inactive, -value))


@dataclass(frozen=True)
class Staleness:
    """How old the usage behind a decision was: the figures a run shows."""

    sims: int
    stale_sims: int
    """SIMs decided on a reading older than :data:`STALE_AFTER_S` (or none at all)."""
    oldest_reading: datetime | None
    money_bound_usd: float
    """The most staleness could move the bill, by the module's method (inf: a SIM has no
    reading)."""

    def line(self) -> str:
        """One sentence for logs, mails and reports."""
        if not self.sims:
            return "no SIM"
        oldest = (
            "none" if self.oldest_reading is None else f"{self.oldest_reading:%Y-%m-%d %H:%M} UTC"
        )
        bound = (
            "unbounded (SIMs without a reading)"
            if not np.isfinite(self.money_bound_usd)
            else f"at most ${self.money_bound_usd:,.2f}"
        )
        return (
            f"{self.stale_sims:,} of {self.sims:,} SIMs decided on usage older than 24 h; oldest "
            f"reading {oldest}; what staleness could move: {bound} (if each SIM's usage rate "
            f"stopped or rose to {1 + RATE_SWING:.0f}x since its reading)"
        )


def staleness(
    readings: SimReadings, reading_times: list[datetime | None], period_s: float
) -> Staleness:
    """The run's figures from its SIMs' readings (see :class:`Staleness`)."""
    age = readings.reading_age_s
    stale = np.isnan(age) | (age > STALE_AFTER_S)
    money = money_at_stake(readings, period_s)
    known = [moment for moment in reading_times if moment is not None]
    return Staleness(
        sims=len(age),
        stale_sims=int(stale.sum()),
        oldest_reading=min(known) if known else None,
        money_bound_usd=float(money[stale].sum()) if stale.any() else 0.0,
    )
