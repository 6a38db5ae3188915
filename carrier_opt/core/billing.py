"""The billing calendar: a provider's billing cycle resolved into exact periods.

A provider's cycle is described by the day of the month it ends on (``end_day``), an hour
(``end_hour``), an IANA time zone and the rule that reads the two numbers (``end_rule``). A
period is keyed ``YYYY-MM`` by the month in which it *ends*:

* :data:`AT_END_HOUR` (the legacy system's rule, and every new provider's):
  ``end = local (year, month, end_day) at end_hour:00`` — day 18, hour 23 ends on the 18th at
  23:00.
* :data:`AFTER_END_DAY` (carrier_opt's first rule, kept for providers stored before it changed
  whose end cannot be written the legacy way, and for calendar months):
  ``end = local midnight after the end day + end_hour hours`` — day 31, hour 0 is the end of the
  month's last day.

An end day past the month's last day (31 in April, 29 in a common February) means the month's
last day. A period starts where the previous one ended; periods are half-open ``[start, end)``.

All instants are aware UTC datetimes; the zone is applied only to find local midnights. A
wall-clock end that a DST change skips resolves with ``fold=0`` (the offset before the change),
which is the instant of the change itself; an ambiguous one takes its first occurrence.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carrier_opt.errors import InputError

_PERIOD_KEY = re.compile(r"(\d{4})-(\d{2})")

AT_END_HOUR = "at_end_hour"
"""The cycle ends on the end day at the end hour (the legacy system's rule)."""
AFTER_END_DAY = "after_end_day"
"""The cycle ends at the midnight after the end day, plus the end hour."""
END_RULES = (AT_END_HOUR, AFTER_END_DAY)


@dataclass(frozen=True)
class BillingCycle:
    """How a provider's billing cycle is configured (day, hour, zone)."""

    end_day: int
    end_hour: int = 0
    time_zone: str = "UTC"
    end_rule: str = AFTER_END_DAY
    """How ``end_day`` and ``end_hour`` are read (module docstring). Providers store theirs;
    the default here keeps a bare ``BillingCycle(31)`` a calendar month."""

    def __post_init__(self) -> None:
        if self.end_rule not in END_RULES:
            raise InputError(
                f"billing cycle end rule must be one of {', '.join(END_RULES)}, "
                f"got {self.end_rule!r}"
            )
        if not 1 <= self.end_day <= 31:
            raise InputError(f"billing cycle end day must be 1..31, got {self.end_day}")
        if not 0 <= self.end_hour <= 23:
            raise InputError(f"billing cycle end hour must be 0..23, got {self.end_hour}")
        zone_of(self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        """The provider's time zone."""
        return zone_of(self.time_zone)


@dataclass(frozen=True)
class BillingPeriodSpan:
    """One resolved billing period: its key and exact aware-UTC bounds ``[start, end)``."""

    key: str
    start: datetime
    end: datetime
    time_zone: str

    @property
    def seconds(self) -> float:
        """Length in seconds (an hour more or less than whole days across a DST change)."""
        return (self.end - self.start).total_seconds()

    @property
    def days(self) -> int:
        """Number of local calendar days in the period (what proration divides by)."""
        zone = zone_of(self.time_zone)
        return (self.end.astimezone(zone).date() - self.start.astimezone(zone).date()).days

    @property
    def first_local_day(self) -> date:
        """The local date the period starts on (the carrier's ``cycleStartDate``)."""
        return self.start.astimezone(zone_of(self.time_zone)).date()

    @property
    def last_local_day(self) -> date:
        """The local date of the cycle end day (the last whole day of the period)."""
        return (self.end - timedelta(microseconds=1)).astimezone(zone_of(self.time_zone)).date()

    def contains(self, instant: datetime) -> bool:
        """True when ``instant`` (aware) lies in ``[start, end)``."""
        _require_aware(instant, "instant")
        return self.start <= instant < self.end


def zone_of(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name, or :class:`InputError` naming the bad zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris"
        ) from None


def parse_period_key(key: str) -> tuple[int, int]:
    """``(year, month)`` from a ``YYYY-MM`` key, or :class:`InputError`."""
    match = _PERIOD_KEY.fullmatch(key.strip()) if isinstance(key, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InputError(f"billing period {key!r} must look like YYYY-MM, e.g. 2026-03")
    return int(match.group(1)), int(match.group(2))


def period_key(year: int, month: int) -> str:
    """The ``YYYY-MM`` key of the period ending in that month."""
    return f"{year:04d}-{month:02d}"


def periods_between(earlier: str, later: str) -> int:
    """How many periods ``later`` comes after ``earlier`` (negative when before): a period
    per month, whatever the cycle, so the keys alone answer."""
    earlier_year, earlier_month = parse_period_key(earlier)
    later_year, later_month = parse_period_key(later)
    return (later_year - earlier_year) * 12 + later_month - earlier_month


def periods_ending_with(key: str, count: int) -> list[str]:
    """The ``count`` period keys up to ``key`` included, oldest first (a period per month)."""
    year, month = parse_period_key(key)
    return [period_key(*_shift_month(year, month, -back)) for back in range(count - 1, -1, -1)]


def cycle_end(cycle: BillingCycle, year: int, month: int) -> datetime:
    """The aware-UTC instant the cycle ending in ``year``-``month`` ends."""
    end_day = date(year, month, min(cycle.end_day, calendar.monthrange(year, month)[1]))
    if cycle.end_rule == AFTER_END_DAY:
        end_day += timedelta(days=1)  # the midnight after the end day
    local = datetime.combine(end_day, time(cycle.end_hour), tzinfo=cycle.zone)
    return local.astimezone(UTC)


def period_for_key(cycle: BillingCycle, key: str) -> BillingPeriodSpan:
    """The period ``key`` (``YYYY-MM``, the month it ends in) of ``cycle``."""
    year, month = parse_period_key(key)
    previous_year, previous_month = _shift_month(year, month, -1)
    return BillingPeriodSpan(
        key=period_key(year, month),
        start=cycle_end(cycle, previous_year, previous_month),
        end=cycle_end(cycle, year, month),
        time_zone=cycle.time_zone,
    )


def period_containing(cycle: BillingCycle, instant: datetime) -> BillingPeriodSpan:
    """The period of ``cycle`` that contains the aware ``instant``."""
    _require_aware(instant, "instant")
    local = instant.astimezone(cycle.zone)
    year, month = local.year, local.month
    for _ in range(3):  # the local month's period, or at most one either side
        period = period_for_key(cycle, period_key(year, month))
        if instant < period.start:
            year, month = _shift_month(year, month, -1)
        elif instant >= period.end:
            year, month = _shift_month(year, month, 1)
        else:
            return period
    raise AssertionError(f"no billing period contains {instant.isoformat()}")  # unreachable


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InputError(f"{name} must be a timezone-aware datetime, got {instant!r}")
