"""The figures of one optimization report, in cents, before any spreadsheet is involved.

Kept apart from the workbook so the arithmetic can be tested on its own and reused by the
e-mail body and the Dagster metadata.

**Rounding (which figure is authoritative).** The cost model works in float USD; a report shows
cents. Rounding each line on its own would make the lines add up to something a few cents away
from the bill, so lines are *apportioned* instead: every charge component of every SIM (base,
SMS, overage) is rounded down to the cent, and the cents still missing to reach the bill
rounded to the cent (half up) go, one each, to the components with the largest remainders
(Hamilton's method). Hence, exactly:

* ``Σ lines == cost_before / cost_after`` (the Summary's figures),
* every line is within one cent of the cost model's per-SIM charge
  (:func:`carrier_opt.core.pricing.device_breakdown`),
* ``cost_before`` / ``cost_after`` equal ``total_cost`` rounded half-up to the cent, so they
  match an ``OptimizationInstance`` cost (stored with four decimals) to the cent.

The authoritative figure is the bill: the instance's total cost rounded to the cent. A component
that is exactly zero (no SMS, no overage) is never given a stray cent.

**Pool overage share** (``pool_overage_share``): the pool's overage spread evenly over the
pool's SIMs, as the legacy reports showed it, rounded to the cent. Informational only: the
charge columns already contain the pool's overage, split by excess usage, so the shares are
never added to any total.

**Usage** (per SIM): ``ctd_usage_mb`` is what the carrier reported for the cycle so far, read
at ``usage_date`` (a UTC timestamp, ``NaT`` when unknown; the workbook shows it in the
provider's zone), and ``projected_usage_mb`` the instance's usage — cycle-to-date usage
projected to the whole period (:mod:`carrier_opt.core.usage`), the figure every charge is
priced on. Both are shown: they differ most early in a cycle, when the projection matters most.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from carrier_opt.core.billing import BillingPeriodSpan, zone_of
from carrier_opt.core.idle import IdleReport
from carrier_opt.core.instance import Instance
from carrier_opt.core.money import cents, usd_difference
from carrier_opt.core.move_reasons import move_reasons
from carrier_opt.core.pricing import (
    device_breakdown,
    pool_overage_shares,
    total_cost,
    validate_assignment,
)
from carrier_opt.core.settlement import StoredSettlement
from carrier_opt.db.push_history import LatestPush
from carrier_opt.db.sync_facts import SyncFacts
from carrier_opt.errors import InputError

COMPONENTS = ("base", "sms", "overage")
"""Charge components of a SIM's cost, in the order the sheets show them."""

ASSIGNMENT_COLUMNS = (
    "iccid",
    "msisdn",
    "communication_plan",
    "current_rate_plan",
    "recommended_rate_plan",
    "ctd_usage_mb",
    "usage_date",
    "projected_usage_mb",
    "sms_count",
    "proration",
    "shared_pool",
    "cost_before",
    "cost_after",
    "saving",
    "changed",
    "move_reason",
    *(f"{c}_before" for c in COMPONENTS),
    *(f"{c}_after" for c in COMPONENTS),
    "pool_overage_share",
)

AUTHORITATIVE_NOTE = (
    "The total cost is authoritative: the cost model's bill rounded to the cent (half up). "
    "Per-SIM amounts are apportioned so that they add up to it exactly; each is within one "
    "cent of the unrounded per-SIM charge."
)

POOL_OVERAGE_SHARE_NOTE = (
    "Pool overage share (USD): the pool's overage spread evenly over its SIMs, as the legacy "
    "reports showed it; informational, the charge columns already contain the pool's overage "
    "split by excess usage."
)


@dataclass(frozen=True)
class PushSummary:
    """What the carrier push of the report's instance did, for the report and the mail."""

    mode: str
    """``automatic``, ``approved`` or ``dry_run``."""
    status: str
    decision: str | None
    changes: int
    already_on_target: int
    sent: int
    failed: int
    not_sent: int
    held_back: int
    expected_saving: float | None
    """Cost before optimization minus the bill once every change is made (USD, to the cent)."""
    realized_saving: float | None
    """Cost before optimization minus the bill of what the carrier shows after the push."""
    note: str | None = None
    refused: bool = False
    """This push was refused the provider's lock and did nothing (no push of the instance ran)."""
    refused_later: str | None = None
    """A push after this one that was refused the lock: which, when and why (it sent nothing)."""

    @classmethod
    def from_latest(cls, latest: LatestPush) -> PushSummary:
        """The latest push that ran, with a refusal that came after it."""
        later = latest.refused_later
        return dataclasses.replace(
            cls.from_row(latest.row),
            refused=not latest.ran,
            refused_later=None if later is None else _refusal_text(later),
        )

    @classmethod
    def from_row(cls, row: dict) -> PushSummary:
        """From a ``RatePlanPush`` row."""

        def saving(bill) -> float | None:
            before = row.get("cost_before_usd")
            if before is None or bill is None:
                return None
            return usd_difference(float(before), float(bill))

        sent_anything = row["mode"] != "dry_run"
        return cls(
            mode=row["mode"],
            status=row["status"],
            decision=row.get("decision"),
            changes=row["changes"],
            already_on_target=row["already_on_target"],
            sent=row["sent"],
            failed=row["failed"],
            not_sent=row["not_sent"],
            held_back=row["held_back"],
            expected_saving=saving(row.get("expected_bill_usd")),
            realized_saving=saving(row.get("realized_bill_usd")) if sent_anything else 0.0,
            note=row.get("stop_reason"),
        )

    @property
    def headline(self) -> str:
        """One line: what reached the carrier."""
        if self.refused:
            return (
                f"{self.mode} push refused: another push of the provider held the lock, nothing "
                "was read or sent"
            )
        if self.mode == "dry_run":
            return (
                f"dry run: {self.changes:,} change(s) recorded, nothing sent "
                f"({self.already_on_target:,} already on target at the carrier)"
            )
        return (
            f"{self.mode} push, {self.status}: {self.sent:,} of {self.changes:,} change(s) "
            f"sent, {self.failed:,} failed, {self.not_sent:,} not sent, {self.held_back:,} held "
            f"back ({self.already_on_target:,} already on target)"
        )


def _refusal_text(row: dict) -> str:
    when = f"{row['started_at']:%Y-%m-%d %H:%M} UTC"
    return f"push {row['id']} ({when}): {row.get('stop_reason') or 'refused the lock'}"


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the optimization report shows, money already in cents (as floats of 2 dp).

    ``cost_before`` is ``None`` when the current assignment cannot be priced (a SIM is on a
    plan that was dropped as invalid); the "before" columns are then empty.
    ``assignments`` has the columns of :data:`ASSIGNMENT_COLUMNS`, one row per SIM;
    ``plan_statistics`` one row per offered rate plan (sums of the assignment lines);
    ``shared_pool`` the shared-pool SIMs (locked: counted in a pool but not optimized), or
    ``None`` when there are none — they are also in ``assignments``. Both carry
    ``pool_overage_share`` (see the module docstring; never part of a total).
    ``scope`` names what part of the provider the report covers (``"Optimization group
    Phones"``, ``"Customer Acme Metering"``); ``None`` for the whole provider.
    """

    provider: str
    period_key: str
    period_start: datetime
    period_end: datetime
    time_zone: str
    devices: int
    cost_before: float | None
    cost_after: float
    lower_bound: float | None
    gap: float | None
    legacy_cost: float | None
    seconds: float | None
    proven_optimal: bool
    assignments: pd.DataFrame
    plan_statistics: pd.DataFrame
    shared_pool: pd.DataFrame | None = None
    dropped_plans: tuple[tuple[str, str], ...] = ()
    scope: str | None = None
    push: PushSummary | None = None
    """The carrier push of this instance (``None`` before any push or dry run)."""
    sync: SyncFacts | None = None
    """The syncs behind the run and the SIM counts (``None``: not known, e.g. offline)."""
    unassigned_sims: int = 0
    """Customer SIMs on no customer plan, listed in ``assignments`` at $0 (customer reports,
    as the legacy customer runs did); not in ``devices``."""
    details_pending: frozenset[str] = frozenset()
    """ICCIDs whose carrier details are still to come (:mod:`carrier_opt.core.details`): a
    detail-only field of theirs that is empty is missing, shown as such, never as a blank."""
    idle: IdleReport | None = None
    """Idle and never-activated SIMs of the period (M2M reports; ``None``: not looked at)."""
    trend: pd.DataFrame | None = None
    """The provider's optimized periods (``core.trend.TREND_COLUMNS``; M2M reports)."""
    settlement: StoredSettlement | None = None
    """The provider's latest settled period (M2M reports; ``None``: none settled)."""
    customer_not_read: int = 0
    """Customer reports: the provider's SIMs whose customer is not read yet, so in no
    customer's report (they may be this customer's); only counted, since they may be
    another customer's SIMs."""

    @property
    def details_pending_iccids(self) -> list[str]:
        """The report's own SIMs (named in it) whose details are still to come."""
        named = self.assignments["iccid"].astype(str)
        return sorted(named[named.isin(self.details_pending)])

    @property
    def saving(self) -> float | None:
        """Cost before minus cost after, in USD to the cent (``None`` when before is unknown)."""
        if self.cost_before is None:
            return None
        return usd_difference(self.cost_before, self.cost_after)

    @property
    def saving_percent(self) -> float | None:
        """The saving as a share of the cost before, in percent."""
        if self.cost_before is None or self.cost_before == 0:
            return None
        return 100.0 * (self.saving or 0.0) / self.cost_before

    @property
    def devices_changed(self) -> int:
        """How many SIMs the recommendation moves to another plan."""
        return int(self.assignments["changed"].sum())

    @property
    def period_start_local(self) -> datetime:
        """Start of the billing period in the provider's time zone."""
        return self.period_start.astimezone(zone_of(self.time_zone))

    @property
    def period_end_local(self) -> datetime:
        """End of the billing period in the provider's time zone."""
        return self.period_end.astimezone(zone_of(self.time_zone))


def without_other_customers_identities(data: ReportData) -> ReportData:
    """``data`` with the shared-pool SIMs made anonymous: ICCID replaced by ``shared pool SIM
    N``, MSISDN removed.

    In a customer's report the shared-pool SIMs belong to *other* customers of the agent; the
    customer may see that they use and pay into the pool, not which SIMs they are. The
    database keeps the real rows (``OptimizationSharedPoolResult``) for the agent.
    """
    if data.shared_pool is None:
        return data
    assignments = data.assignments.copy()
    shared = assignments["shared_pool"].to_numpy(dtype=bool)
    labels = [f"shared pool SIM {n}" for n in range(1, int(shared.sum()) + 1)]
    assignments.loc[shared, "iccid"] = labels
    assignments.loc[shared, "msisdn"] = None
    pool = data.shared_pool.copy()
    pool["iccid"] = labels
    pool["msisdn"] = None
    return dataclasses.replace(data, assignments=assignments, shared_pool=pool)


UNASSIGNED = "Unassigned"
"""The plan shown for a customer SIM on no customer plan."""


def with_unassigned_sims(data: ReportData, sims: pd.DataFrame) -> ReportData:
    """``data`` with customer SIMs on no customer plan listed after the others at $0 (plan
    ``Unassigned``), as the legacy customer reports showed them. They take no part in any
    total, the plan statistics or ``devices``. ``sims``: ``iccid``, ``msisdn``, ``usage_mb``
    (projected), ``sms_count`` and, optionally, ``ctd_usage_mb`` and ``usage_date``."""
    if sims.empty:
        return data
    zero = np.zeros(len(sims))
    rows = pd.DataFrame(
        {
            "iccid": sims["iccid"].astype(str).to_numpy(dtype=object),
            "msisdn": sims["msisdn"]
            .where(sims["msisdn"].notna() & (sims["msisdn"] != ""), None)
            .to_numpy(dtype=object),
            "communication_plan": UNASSIGNED,
            "current_rate_plan": UNASSIGNED,
            "recommended_rate_plan": UNASSIGNED,
            "ctd_usage_mb": _optional(sims, "ctd_usage_mb").astype(float).to_numpy(),
            "usage_date": _utc_moments(_optional(sims, "usage_date")),
            "projected_usage_mb": sims["usage_mb"].astype(float).to_numpy(),
            "sms_count": sims["sms_count"].astype(np.int64).to_numpy(),
            "proration": 1.0,
            "shared_pool": False,
            "cost_before": zero if data.cost_before is not None else np.nan,
            "cost_after": zero,
            "saving": zero if data.cost_before is not None else np.nan,
            "changed": False,
            "move_reason": "",
            **{f"{c}_before": zero if data.cost_before is not None else np.nan for c in COMPONENTS},
            **{f"{c}_after": zero for c in COMPONENTS},
            "pool_overage_share": np.nan,
        }
    )
    assignments = pd.concat([data.assignments, rows[list(ASSIGNMENT_COLUMNS)]], ignore_index=True)
    return dataclasses.replace(data, assignments=assignments, unassigned_sims=len(sims))


def apportion_cents(amounts: np.ndarray, total_cents: int) -> np.ndarray:
    """Whole cents for each of ``amounts`` (USD ≥ 0) that add up to ``total_cents`` exactly.

    Largest-remainder method: floor every amount, then give one cent each to the largest
    remainders. Exact-cent amounts have no remainder and are never changed. Raises
    :class:`ValueError` when ``total_cents`` is not within one cent per amount of ``Σ amounts``.
    """
    raw = np.round(np.asarray(amounts, dtype=float) * 100.0, 6)  # drop float noise
    floors = np.floor(raw)
    remainders = raw - floors
    missing = int(total_cents - floors.sum())
    if not 0 <= missing <= int((remainders > 0).sum()):
        raise ValueError(
            f"cannot apportion {total_cents} cents over amounts adding up to {raw.sum():.4f}"
        )
    result = floors.astype(np.int64)
    if missing:
        # Stable sort: equal remainders are served in row order, so the result is reproducible.
        order = np.argsort(-remainders, kind="stable")[:missing]
        result[order] += 1
    return result


def report_data_from(
    instance: Instance,
    current: np.ndarray,
    recommended: np.ndarray,
    *,
    provider: str,
    period: BillingPeriodSpan,
    legacy_cost: float | None = None,
    lower_bound: float | None = None,
    gap: float | None = None,
    seconds: float | None = None,
    proven_optimal: bool = False,
    device_info: pd.DataFrame | None = None,
    scope: str | None = None,
    details_pending: frozenset[str] = frozenset(),
) -> ReportData:
    """Price both assignments with the cost model and lay the figures out for the report.

    ``current`` may hold ``-1`` for SIMs on a dropped plan; the "before" side is then left
    empty. ``device_info`` adds per-ICCID columns the instance does not carry, each optional:
    ``msisdn``, ``ctd_usage_mb`` (the carrier's cycle-to-date usage) and ``usage_date`` (when
    it was read: aware datetimes or ISO 8601 text). The projected usage is the instance's own
    (what the cost model prices). ``recommended`` must be a valid assignment.
    ``scope`` labels the part of the provider the report covers (see :class:`ReportData`);
    ``details_pending`` the ICCIDs whose carrier details are still to come.
    """
    current = np.asarray(current, dtype=np.int64)
    recommended = np.asarray(recommended, dtype=np.int64)
    validate_assignment(instance, recommended)
    if current.shape != recommended.shape:
        raise InputError(
            f"current assignment has shape {current.shape}, expected {recommended.shape}"
        )
    priced_before = bool((current >= 0).all())

    after, cost_after = _apportioned_lines(instance, recommended)
    if priced_before:
        before, cost_before = _apportioned_lines(instance, current)
    else:
        before, cost_before = None, None
    shares = pool_overage_shares(instance, recommended)
    assignments = _assignment_frame(
        instance, current, recommended, before, after, device_info, shares
    )
    return ReportData(
        provider=provider,
        period_key=period.key,
        period_start=period.start,
        period_end=period.end,
        time_zone=period.time_zone,
        devices=instance.n_devices,
        cost_before=None if cost_before is None else _cents_to_usd(cost_before),
        cost_after=_cents_to_usd(cost_after),
        lower_bound=lower_bound,
        gap=gap,
        legacy_cost=legacy_cost,
        seconds=seconds,
        proven_optimal=proven_optimal,
        assignments=assignments,
        plan_statistics=_plan_statistics(instance, current, recommended, assignments),
        shared_pool=_shared_pool(assignments),
        dropped_plans=tuple((p.rate_plan_code, p.reason) for p in instance.dropped_plans),
        scope=scope,
        details_pending=frozenset(details_pending),
    )


def _apportioned_lines(instance: Instance, assignment: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Per-SIM base/sms/overage in whole cents adding up to the bill; and the bill in cents."""
    lines = device_breakdown(instance, assignment)
    components = lines[[f"{c}_usd" for c in COMPONENTS]].to_numpy(dtype=float)
    # The bill is total_cost itself (what the pipeline stores), not a re-summation of lines.
    bill_cents = cents(total_cost(instance, assignment))
    line_cents = apportion_cents(components.ravel(), bill_cents).reshape(components.shape)
    frame = pd.DataFrame(line_cents, columns=list(COMPONENTS))
    frame["cost"] = line_cents.sum(axis=1)
    return frame, bill_cents


def _assignment_frame(
    instance: Instance,
    current: np.ndarray,
    recommended: np.ndarray,
    before: pd.DataFrame | None,
    after: pd.DataFrame,
    device_info: pd.DataFrame | None,
    shares: np.ndarray,
) -> pd.DataFrame:
    """One row per SIM with identity, plans, usage, both sides' charges in USD and the
    (informational) even share of its pool's overage after the recommendation."""
    codes = instance.plan_codes
    current_codes = np.array([codes[p] if p >= 0 else None for p in current.tolist()], dtype=object)
    info = _device_info(instance, device_info)
    frame = pd.DataFrame(
        {
            "iccid": instance.iccids.astype(object),
            "msisdn": info["msisdn"].to_numpy(dtype=object),
            "communication_plan": instance.comm_plan_codes[instance.comm_plan].astype(object),
            "current_rate_plan": current_codes,
            "recommended_rate_plan": codes[recommended].astype(object),
            "ctd_usage_mb": info["ctd_usage_mb"].to_numpy(dtype=float),
            "usage_date": _utc_moments(info["usage_date"]),
            "projected_usage_mb": instance.usage_mb.astype(float),
            "sms_count": instance.sms_count.astype(np.int64),
            "proration": instance.proration.astype(float),
            "shared_pool": instance.locked.astype(bool),
        }
    )
    frame["cost_before"] = _usd_column(None if before is None else before["cost"])
    frame["cost_after"] = _usd_column(after["cost"])
    frame["saving"] = _usd_column(None if before is None else before["cost"] - after["cost"])
    frame["changed"] = current != recommended
    frame["move_reason"] = move_reasons(instance, current, recommended)
    for component in COMPONENTS:
        frame[f"{component}_before"] = _usd_column(None if before is None else before[component])
    for component in COMPONENTS:
        frame[f"{component}_after"] = _usd_column(after[component])
    frame["pool_overage_share"] = _share_column(shares)
    return frame[list(ASSIGNMENT_COLUMNS)]


_DEVICE_INFO = ("msisdn", "ctd_usage_mb", "usage_date")


def _device_info(instance: Instance, device_info: pd.DataFrame | None) -> pd.DataFrame:
    """``msisdn``, ``ctd_usage_mb`` and ``usage_date`` per SIM in instance order (blank when
    unknown)."""
    index = pd.Index(instance.iccids.astype(str), name="iccid")
    empty = pd.DataFrame(
        {
            "msisdn": pd.Series(None, index=index, dtype=object),
            "ctd_usage_mb": np.nan,
            "usage_date": pd.Series(None, index=index, dtype=object),
        },
        index=index,
    )
    if device_info is None or device_info.empty:
        return empty
    if "iccid" not in device_info.columns:
        raise InputError("device_info needs an 'iccid' column")
    info = (
        device_info.assign(iccid=device_info["iccid"].astype(str))
        .drop_duplicates("iccid", keep="last")
        .set_index("iccid")
    )
    for column in _DEVICE_INFO:
        if column in info.columns:
            empty[column] = info[column].reindex(index).to_numpy()
    empty["msisdn"] = empty["msisdn"].astype(object).where(empty["msisdn"].notna(), None)
    return empty


def _utc_moments(values: pd.Series) -> pd.DatetimeIndex:
    """Moments (aware datetimes or ISO 8601 text) as UTC timestamps, ``NaT`` where unknown (a
    blank, ``None``, something unreadable)."""
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601"))


def _optional(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]``, or a column of blanks when ``frame`` has none."""
    if column in frame.columns:
        return frame[column]
    return pd.Series(None, index=frame.index, dtype=object)


def _plan_statistics(
    instance: Instance, current: np.ndarray, recommended: np.ndarray, assignments: pd.DataFrame
) -> pd.DataFrame:
    """Per offered plan, before and after: devices, pooled allowance, usage and charges.

    Charges are sums of the apportioned lines, so each column adds up to the Summary.
    """
    rows = pd.DataFrame(
        {
            "rate_plan": instance.plan_codes.astype(object),
            "pooled": instance.pooled.astype(bool),
            "base_rate": instance.base_rate.astype(float),
            "data_allowance_mb": instance.allowance_mb.astype(float),
        }
    )
    for side, assignment in (("before", current), ("after", recommended)):
        valid = assignment >= 0
        plan = assignment[valid]

        def per_plan(values: np.ndarray, plan: np.ndarray = plan, valid: np.ndarray = valid):
            return np.bincount(plan, weights=values[valid], minlength=instance.n_plans)

        rows[f"devices_{side}"] = per_plan(np.ones(instance.n_devices)).astype(np.int64)
        rows[f"pool_allowance_mb_{side}"] = instance.allowance_mb * per_plan(instance.proration)
        rows[f"usage_mb_{side}"] = per_plan(instance.usage_mb)
        for component in (*COMPONENTS, "cost"):
            column = f"{component}_{side}"
            amounts = assignments["cost_" + side if component == "cost" else column]
            if amounts.isna().all():
                rows[column] = np.nan
                continue
            cents = np.rint(amounts.fillna(0).to_numpy(dtype=float) * 100).astype(np.int64)
            rows[column] = per_plan(cents.astype(float)) / 100.0
    return rows


def _shared_pool(assignments: pd.DataFrame) -> pd.DataFrame | None:
    """The shared-pool SIMs (in a pool, not optimized), or ``None`` when there are none."""
    shared = assignments[assignments["shared_pool"]]
    if shared.empty:
        return None
    columns = [
        "iccid",
        "msisdn",
        "communication_plan",
        "recommended_rate_plan",
        "ctd_usage_mb",
        "usage_date",
        "projected_usage_mb",
        "sms_count",
        "proration",
        *(f"{c}_after" for c in COMPONENTS),
        "cost_after",
        "pool_overage_share",
    ]
    return (
        shared[columns]
        .rename(columns={"recommended_rate_plan": "rate_plan"})
        .reset_index(drop=True)
    )


def _share_column(shares: np.ndarray) -> np.ndarray:
    """Pool overage shares in USD rounded half up to the cent (equal shares stay equal)."""
    return np.array([cents(share) for share in shares.tolist()], np.int64) / 100.0


def _usd_column(cents: pd.Series | np.ndarray | None) -> np.ndarray | float:
    """Whole cents as USD floats of two decimals; NaN (an empty cell) when not priced."""
    if cents is None:
        return np.nan
    return np.asarray(cents, dtype=np.int64) / 100.0


def _cents_to_usd(cents: int) -> float:
    return cents / 100.0
