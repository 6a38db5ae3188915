"""Money as people read it: one rounding rule and one way of writing amounts.

The cost model works in float USD. Every figure shown — Dagster metadata, asset checks, the
workbook, the mails — is rounded to the cent **half up**, once, by :func:`cents`; a saving is
the difference of the rounded costs, so the same saving reads the same everywhere (a float
``round(before - after, 2)`` could differ from it by a cent). :func:`usd_text` writes an amount
with its currency and thousands separators, for text (mails, markdown tables); Dagster metadata
shows an amount as a number under a name ending in ``_usd`` (:func:`cost_figures`), never as
both.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import numpy as np


def cents(amount: float | Decimal) -> int:
    """``amount`` USD in whole cents, rounded half up."""
    value = amount if isinstance(amount, Decimal) else Decimal(repr(float(amount)))
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usd(amount: float | Decimal | None) -> float | None:
    """``amount`` rounded to the cent (half up), as a float Dagster can plot; None stays None."""
    return None if amount is None else cents(amount) / 100


def cents_of(amounts: Iterable[float] | np.ndarray) -> np.ndarray:
    """Many amounts in whole cents at once, by the rule of :func:`cents` (half up, away from
    zero): the float noise of ``amount × 100`` is dropped at 6 decimals first, as the shortest
    decimal of a float would read."""
    array = amounts if isinstance(amounts, np.ndarray) else np.fromiter(amounts, dtype=float)
    values = np.round(array.astype(float) * 100.0, 6)
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)


STORED_DECIMALS = 4
"""Decimal places of an amount in the database (``db.types.MONEY``, Numeric(18, 4))."""


def shown_as_stored(shown: float, stored: float | Decimal) -> bool:
    """Whether ``shown`` (an amount rounded to the cent from the cost model's float) is the
    ``stored`` amount (the same float kept to 4 decimals) to the cent.

    Not ``usd(stored) == shown``: storing rounds once already, so 86,079.764999… is stored
    as 86,079.7650, which rounds half up to .77 where the float itself reads .76 (the demo's
    past period warned of that). The two agree when they are within half a cent plus half
    the stored precision."""
    slack = Decimal("0.005") + Decimal(5) / Decimal(10) ** (STORED_DECIMALS + 1)
    stored = stored if isinstance(stored, Decimal) else Decimal(repr(float(stored)))
    return abs(Decimal(repr(float(shown))) - stored) <= slack


def sum_usd(amounts: Iterable[float] | np.ndarray) -> float:
    """The amounts added in whole cents, each rounded as it is shown: a total that reads as the
    sum of the figures above it (no ``0.30000000000000004``)."""
    return int(cents_of(amounts).sum()) / 100


def usd_difference(a: float | Decimal, b: float | Decimal) -> float:
    """``a − b`` as the difference of the amounts rounded to the cent (a saving reads as the
    difference of the costs shown)."""
    return (cents(a) - cents(b)) / 100


def usd_text(amount: float | Decimal | None) -> str:
    """``$52,330.79`` (``-$1.50`` below zero, ``n/a`` for None)."""
    if amount is None:
        return "n/a"
    whole = cents(amount)
    sign = "-" if whole < 0 else ""
    return f"{sign}${abs(whole) / 100:,.2f}"


def cost_figures(before: float, after: float, legacy: float, bound: float) -> dict:
    """The cost figures of a run: each amount to the cent under a ``*_usd`` name (the currency
    in the name, the amount a number), the saving as the difference of the rounded costs, and
    the saving and the optimizer's gap in percent."""
    before_c, after_c = cents(before), cents(after)
    saving_c = before_c - after_c
    return {
        "cost_before_usd": before_c / 100,
        "cost_after_usd": after_c / 100,
        "saving_usd": saving_c / 100,
        "saving_pct": round(100 * saving_c / before_c, 2) if before_c else 0.0,
        "legacy_cost_usd": usd(legacy),
        "lower_bound_usd": usd(bound),
        "gap_pct": round(100 * (after - bound) / bound, 4) if bound > 0 else 0.0,
    }
