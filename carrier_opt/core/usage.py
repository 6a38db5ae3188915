"""Usage units, end-of-period projection and proration, as the legacy system computed them.

* 1 MB = 1,048,576 bytes (binary), the carrier billing convention.
* Projection: a SIM in any status but DEACTIVATED or RETIRED (as the legacy system did: a
  TEST_READY or INVENTORY SIM keeps using data too) whose usage was measured inside the
  period, before the period ended, is projected to the whole period with 1 % headroom::

      projected = usage × period_seconds / seconds_from_period_start_to_usage_date × 1.01

  DEACTIVATED and RETIRED SIMs and usage measured outside the period keep their usage
  unchanged. The usage date is the carrier's (the ``Date`` of its usage answer). A usage date
  exactly at the period start is "no time elapsed": unchanged.
* Proration: a SIM activated inside the period is billable for
  ``min(ceil(days from activation to period end), days_in_period)`` days, counted in the
  provider's local wall-clock days (so a DST change does not add or remove a day); otherwise
  for the whole period. ``proration = billable days / days_in_period``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from carrier_opt.core.billing import BillingPeriodSpan, zone_of

BYTES_PER_MB = 1_048_576
"""Bytes in one (binary) megabyte."""

PROJECTION_HEADROOM = 1.01
"""The legacy system's safety margin on projected usage."""

UNPROJECTED_STATUSES = frozenset({"DEACTIVATED", "RETIRED"})
"""SIMs in these statuses use no more data this period: their usage is not projected. Every
other status (and an unknown one) is projected, as in the legacy system."""

BILLED_STATUSES = frozenset({"ACTIVATED"})
"""SIMs in these statuses are billed even without usage (others only when they used some)."""


def is_projected(status: str | None) -> bool:
    """True when a SIM in ``status`` has its usage projected to the period's end."""
    return status not in UNPROJECTED_STATUSES


def bytes_to_mb(data_bytes: int | float | None) -> float | None:
    """Bytes as (binary) MB; ``None`` stays ``None``."""
    return None if data_bytes is None else data_bytes / BYTES_PER_MB


def projection_factor(
    period: BillingPeriodSpan, usage_date: datetime | None, *, as_of: datetime | None = None
) -> float:
    """What a projected SIM's usage measured at ``usage_date`` is multiplied by.

    1.0 (no projection) when the usage date is missing, not strictly after the period start,
    or not before its end, and when ``as_of`` (the time of the run) is at or past the end.
    """
    if usage_date is None or not period.start < usage_date < period.end:
        return 1.0
    if as_of is not None and as_of >= period.end:
        return 1.0
    elapsed_s = (usage_date - period.start).total_seconds()
    return period.seconds / elapsed_s * PROJECTION_HEADROOM


def project_usage_mb(
    usage_mb: float,
    status: str | None,
    usage_date: datetime | None,
    period: BillingPeriodSpan,
    *,
    as_of: datetime | None = None,
) -> float:
    """One SIM's projected usage for the period (see the module docstring)."""
    if not is_projected(status):
        return usage_mb
    return usage_mb * projection_factor(period, usage_date, as_of=as_of)


def project_usage_frame(
    usage_mb: Sequence[float] | pd.Series,
    statuses: Sequence[str | None] | pd.Series,
    usage_dates: Sequence[datetime | None] | pd.Series,
    period: BillingPeriodSpan,
    *,
    as_of: datetime | None = None,
) -> np.ndarray:
    """Projected usage of many SIMs at once (arrays in, a float array out)."""
    usage = np.asarray(usage_mb, dtype=float)
    factors = _factors(list(usage_dates), period, as_of)
    projected = ~np.isin(np.asarray(list(statuses), dtype=object), list(UNPROJECTED_STATUSES))
    return np.where(projected, usage * factors, usage)


def days_billable(date_activated: datetime | None, period: BillingPeriodSpan) -> int:
    """Days of the period a SIM is billed for (local wall-clock days, ceiling, capped)."""
    days_in_period = period.days
    if date_activated is None or not period.contains(date_activated):
        return days_in_period
    zone = zone_of(period.time_zone)
    activated_local = date_activated.astimezone(zone).replace(tzinfo=None)
    end_local = period.end.astimezone(zone).replace(tzinfo=None)
    days = math.ceil((end_local - activated_local).total_seconds() / 86_400)
    return max(1, min(days, days_in_period))


def proration(date_activated: datetime | None, period: BillingPeriodSpan) -> float:
    """Share ``0 < p <= 1`` of the period a SIM is billed for."""
    return days_billable(date_activated, period) / period.days


def prorations(
    dates_activated: Iterable[datetime | None] | pd.Series, period: BillingPeriodSpan
) -> np.ndarray:
    """:func:`proration` of many SIMs (a float array)."""
    return np.array([proration(_py_datetime(d), period) for d in dates_activated], dtype=float)


def _factors(
    usage_dates: list[datetime | None], period: BillingPeriodSpan, as_of: datetime | None
) -> np.ndarray:
    cache: dict[datetime | None, float] = {}
    factors = np.empty(len(usage_dates), dtype=float)
    for index, raw in enumerate(usage_dates):
        moment = _py_datetime(raw)
        if moment not in cache:
            cache[moment] = projection_factor(period, moment, as_of=as_of)
        factors[index] = cache[moment]
    return factors


def _py_datetime(value: object) -> datetime | None:
    """A plain aware datetime from a datetime, a pandas Timestamp, NaT or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, datetime):
        return value
    raise TypeError(f"expected a datetime, got {value!r}")
