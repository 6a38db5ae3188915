"""What-if offers: price a plan the carrier offers (or withdraws) against the real fleet.

Before negotiating, an agent wants three figures: what the fleet would cost with the new plan
(and how many SIMs would move to get there), and the highest base rate at which the plan
still saves anything — the price to negotiate down to. Both optimizations are the product's
own (:func:`core.optimizer.optimize`, with its proof of quality), so the saving is between two
answers each within the gap target of its optimum.

The break-even base rate comes from the LP relaxation, not from repeated optimizations: the
relaxation's optimum (:func:`core.bound.lagrangian_bound`, exact to solver tolerance) is a
non-increasing function of the new plan's base rate that equals the optimum without the plan
once the plan is too dear for any SIM. Bisection on the base rate, each step one bound
(a fraction of a second where an optimization takes seconds), finds the highest rate at which
the relaxation with the plan is still cheaper than without it, to the cent. The integer
optimum follows the relaxation to within the optimizer's gap, so near the break-even a
saving smaller than that gap is noise; :attr:`WhatIf.break_even_method` says so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from carrier_opt.core.bound import lagrangian_bound
from carrier_opt.core.instance import DEFAULT_CHARGE_TYPE, Instance
from carrier_opt.core.optimizer import DEFAULT_GAP_TARGET_PCT, OptimizationResult, optimize
from carrier_opt.errors import InputError

OFFER_FIELDS = ("CODE", "BASE", "ALLOWANCE_MB", "OVERAGE", "UNIT_MB", "POOLED")
"""The fields of ``--add-plan``, in order."""

BREAK_EVEN_CENT = 0.01
"""Bisection stops when the break-even base rate is known to the cent."""

BOUND_SECONDS = 5.0
"""Time limit of each relaxation solved by the bisection."""


@dataclass(frozen=True)
class PlanOffer:
    """A rate plan the carrier offers: the contract's plan columns (no SMS charge) and the
    communication plans that may use it (empty: every one)."""

    code: str
    base_rate: float
    allowance_mb: float
    overage_rate: float
    unit_mb: float
    pooled: bool
    allow_on: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, allow_on: Sequence[str] = ()) -> PlanOffer:
        """``CODE,BASE,ALLOWANCE_MB,OVERAGE,UNIT_MB,POOLED`` (``--add-plan``), or an error that
        names the field and what is wrong with it."""
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != len(OFFER_FIELDS):
            raise InputError(
                f"--add-plan {text!r}: expected {len(OFFER_FIELDS)} comma-separated fields "
                f"{','.join(OFFER_FIELDS)}, got {len(parts)}"
            )
        code, *numbers, pooled = parts
        if not code:
            raise InputError(f"--add-plan {text!r}: CODE is empty")
        values = [
            _number(text, name, raw) for name, raw in zip(OFFER_FIELDS[1:5], numbers, strict=True)
        ]
        if values[3] <= 0:
            raise InputError(f"--add-plan {text!r}: UNIT_MB must be more than 0, got {numbers[3]}")
        flag = pooled.lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise InputError(f"--add-plan {text!r}: POOLED must be true or false, got {pooled!r}")
        return cls(code, *values, flag in ("true", "1", "yes"), tuple(allow_on))

    @classmethod
    def from_options(cls, add_plan: str | None, allow_on: Sequence[str] = ()) -> PlanOffer | None:
        """The offer of ``--add-plan``/``--allow-on`` (the job's ``add_plan``/``allow_on``),
        None without one; ``allow_on`` without a plan is refused, not ignored."""
        if not add_plan:
            if allow_on:
                raise InputError(
                    "--allow-on applies to --add-plan, which is missing (in the what_if_offer "
                    "job: allow_on and add_plan)"
                )
            return None
        return cls.parse(add_plan, allow_on)

    def at_base_rate(self, base_rate: float) -> PlanOffer:
        return dataclasses.replace(self, base_rate=base_rate)


def _number(text: str, name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"--add-plan {text!r}: {name} is not a number: {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"--add-plan {text!r}: {name} must be 0 or more, got {raw!r}")
    return value


def with_offer(instance: Instance, offer: PlanOffer) -> Instance:
    """``instance`` with ``offer`` as one more plan, allowed on its communication plans."""
    if offer.code in set(instance.plan_codes.tolist()):
        raise InputError(f"--add-plan: rate plan {offer.code} is already offered; give a new code")
    comm_plans = instance.comm_plan_codes.tolist()
    unknown = [code for code in offer.allow_on if code not in comm_plans]
    if unknown:
        raise InputError(
            f"--allow-on: unknown communication plan(s) {', '.join(unknown)}; the instance has "
            f"{', '.join(comm_plans)}"
        )
    column = np.isin(instance.comm_plan_codes, offer.allow_on) if offer.allow_on else None
    if column is None:
        column = np.ones(len(comm_plans), dtype=bool)

    def plus(array: np.ndarray, value) -> np.ndarray:
        return np.append(array, np.array([value], dtype=array.dtype))

    return dataclasses.replace(
        instance,
        plan_codes=plus(instance.plan_codes, offer.code),
        base_rate=plus(instance.base_rate, offer.base_rate),
        allowance_mb=plus(instance.allowance_mb, offer.allowance_mb),
        overage_rate=plus(instance.overage_rate, offer.overage_rate),
        overage_unit_mb=plus(instance.overage_unit_mb, offer.unit_mb),
        sms_rate=plus(instance.sms_rate, 0.0),
        pooled=plus(instance.pooled, offer.pooled),
        allowed=np.column_stack([instance.allowed, column]),
        charge_type=plus(instance.charge_type, DEFAULT_CHARGE_TYPE),
        rate_pool=plus(instance.rate_pool, ""),
    )


def without_plans(instance: Instance, codes: Sequence[str]) -> Instance:
    """``instance`` with the plans ``codes`` withdrawn: no communication plan may use them.
    A locked SIM on one keeps it (it is not the optimizer's to move), and is counted."""
    known = instance.plan_codes.tolist()
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise InputError(f"--remove-plan: unknown rate plan(s) {', '.join(unknown)}")
    allowed = instance.allowed.copy()
    allowed[:, np.isin(instance.plan_codes, list(codes))] = False
    changed = dataclasses.replace(instance, allowed=allowed)
    movable = changed.allowed_for_devices().any(axis=1)
    stranded = np.flatnonzero(~movable)
    if len(stranded):
        raise InputError(
            f"--remove-plan {', '.join(codes)}: SIM {instance.iccids[stranded[0]]} "
            f"({len(stranded)} in all) would have no plan left on its communication plan"
        )
    return changed


@dataclass(frozen=True)
class WhatIf:
    """The optimum without and with the change, and what it means for the fleet."""

    before: OptimizationResult
    after: OptimizationResult
    changed: Instance
    moved: int  # SIMs whose optimal plan differs between the two answers
    onto_offer: int  # SIMs the optimum puts on the offered plan
    locked_on_removed: int  # locked SIMs that keep a withdrawn plan
    break_even_base_rate: float | None  # None without an offer
    break_even_method: str

    @property
    def saving(self) -> float:
        """USD the change saves per period (negative: it costs more)."""
        return self.before.cost - self.after.cost


def what_if(
    instance: Instance,
    offer: PlanOffer | None = None,
    remove: Sequence[str] = (),
    *,
    time_limit_s: float = 60.0,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
) -> WhatIf:
    """Optimize ``instance`` as it is and with the change (``offer`` added, ``remove``
    withdrawn), and find the offer's break-even base rate."""
    if offer is None and not remove:
        raise InputError("what-if: give --add-plan, --remove-plan or both")
    withdrawn = without_plans(instance, remove) if remove else instance
    changed = withdrawn
    on_plan = instance.current_plan >= 0  # -1: a dropped plan, which nobody can withdraw
    current_codes = np.where(on_plan, instance.plan_codes[np.maximum(instance.current_plan, 0)], "")
    locked_on_removed = int((instance.locked & np.isin(current_codes, list(remove))).sum())
    if offer is not None:
        changed = with_offer(changed, offer)
    options = {"time_limit_s": time_limit_s, "gap_target_pct": gap_target_pct}
    before = optimize(instance, **options)
    # The answer without the offer is a valid start with it (same plan indices, one more plan).
    starts = [before.assignment] if offer is not None and not remove else []
    after = optimize(changed, starts=starts, **options)
    unused = starts and not (after.assignment == len(instance.plan_codes)).any()
    if unused and after.cost < before.cost:
        # Without a SIM on the offer, the answer is one for the fleet as it is, and a cheaper
        # one than ``before`` found: the saving of the offer is then 0, not a search's noise.
        before = dataclasses.replace(before, assignment=after.assignment, cost=after.cost)
    codes_before = instance.plan_codes[before.assignment]
    codes_after = changed.plan_codes[after.assignment]
    onto = int((codes_after == offer.code).sum()) if offer is not None else 0
    break_even, method = None, ""
    if offer is not None:
        break_even, method = break_even_base_rate(withdrawn, offer)
    return WhatIf(
        before=before,
        after=after,
        changed=changed,
        moved=int((codes_before != codes_after).sum()),
        onto_offer=onto,
        locked_on_removed=locked_on_removed,
        break_even_base_rate=break_even,
        break_even_method=method,
    )


def break_even_base_rate(instance: Instance, offer: PlanOffer) -> tuple[float, str]:
    """(highest base rate at which ``offer`` still lowers the relaxation's optimum, method).

    0.0 when the plan saves nothing even free of charge."""
    reference = _relaxed(instance)
    tolerance = max(1e-7 * abs(reference), 0.005)  # the bound's own solver tolerance

    def saves(base_rate: float) -> bool:
        return _relaxed(with_offer(instance, offer.at_base_rate(base_rate))) < reference - tolerance

    method = (
        "bisection on the base rate over the LP relaxation (Lagrangian bound) with and without "
        "the plan, to the cent; near it a saving below the optimizer's gap is noise"
    )
    if not saves(0.0):
        return 0.0, method
    low, high = 0.0, max(offer.base_rate, 1.0)
    while saves(high):  # a SIM's whole bill bounds the rate: this ends
        low, high = high, high * 2
    while high - low > BREAK_EVEN_CENT / 2:
        middle = (low + high) / 2
        low, high = (middle, high) if saves(middle) else (low, middle)
    return math.floor(low * 100) / 100, method


def _relaxed(instance: Instance) -> float:
    return lagrangian_bound(instance, time_limit_s=BOUND_SECONDS).value


def describe_change(offer: PlanOffer | None, remove: Sequence[str]) -> str:
    """The change in one line, as the operator gave it."""
    parts = []
    if offer is not None:
        where = ", ".join(offer.allow_on) if offer.allow_on else "every communication plan"
        pooled = "pooled" if offer.pooled else "not pooled"
        parts.append(
            f"add {offer.code} (base {offer.base_rate:,.2f} USD, {offer.allowance_mb:,g} MB, "
            f"{offer.overage_rate:g} USD per {offer.unit_mb:g} MB beyond, {pooled}) on {where}"
        )
    if remove:
        parts.append(f"withdraw {', '.join(remove)}")
    return "; ".join(parts)


def report_lines(answer: WhatIf, offer: PlanOffer | None, remove: Sequence[str]) -> list[str]:
    """What the command prints and the job's metadata shows."""
    before, after = answer.before, answer.after
    share = 100 * answer.saving / before.cost if before.cost else 0.0
    lines = [
        f"what-if on {len(answer.changed.iccids):,} SIMs: {describe_change(offer, remove)}",
        f"  optimum as it is:     {before.cost:>14,.2f} USD ({before.stop_reason})",
        f"  optimum with change:  {after.cost:>14,.2f} USD ({after.stop_reason})",
        f"  saving:               {answer.saving:>14,.2f} USD per period ({share:.2f} %)",
        f"  SIMs that move:       {answer.moved:>14,}"
        + (f" ({answer.onto_offer:,} onto {offer.code})" if offer is not None else ""),
    ]
    if answer.locked_on_removed:
        lines.append(f"  locked SIMs that keep a withdrawn plan: {answer.locked_on_removed:,}")
    if offer is not None and answer.break_even_base_rate is not None:
        lines.append(
            f"  break-even base rate of {offer.code}: {answer.break_even_base_rate:,.2f} USD "
            f"({answer.break_even_method})"
        )
    return lines
