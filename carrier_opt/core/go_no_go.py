"""The legacy Go/No-Go rule for pushing rate-plan changes, exactly (``legacy-behaviour.md``)::

    minutes_remaining = floor((period_end − local_now) / 1 minute)
    rate              = best devices-per-minute of earlier updates, 60 when none
    minutes_needed    = min(count, 250) / rate
    Go  ⇔  minutes_remaining − minutes_needed ≥ 10

It is decided once, for the whole change set, before the first batch. A change made after the
period ends would be billed in the *next* period, where the recommendation may be wrong, so the
same arithmetic also tells a running push when the next batch would no longer fit
(:func:`next_batch_fits`): the push then stops at that batch boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from carrier_opt.errors import InputError

BATCH_SIZE = 250
"""Devices per batch, as the legacy system sent them."""

DEFAULT_RATE_PER_MINUTE = 60.0
"""Devices per minute assumed when no earlier update was measured."""

BUFFER_MINUTES = 10
"""Minutes before the period ends that must stay free of updates."""


@dataclass(frozen=True)
class Decision:
    """A Go/No-Go verdict and the numbers behind it (for the e-mail and the logs)."""

    go: bool
    devices: int
    minutes_remaining: int
    minutes_needed: float
    rate_per_minute: float
    rate_observed: bool
    period_end: datetime | None = None
    """When the billing period ends (as given: the provider's zone or UTC)."""
    now: datetime | None = None
    """The moment the rule was applied."""

    @property
    def reason(self) -> str:
        """One sentence an operator can act on; for a period already over, when it ended
        (not a negative count of minutes)."""
        if self.minutes_remaining < 0 and self.period_end is not None and self.now is not None:
            return (
                f"No Go: the billing period ended {self.period_end:%Y-%m-%d %H:%M %Z} "
                f"({_ago(self.now - self.period_end)}); a change now would be billed in the "
                "next period"
            )
        rate = f"{self.rate_per_minute:.1f} devices/min" + (
            "" if self.rate_observed else " (default: no earlier update measured)"
        )
        margin = self.minutes_remaining - self.minutes_needed
        verdict = "Go" if self.go else "No Go"
        return (
            f"{verdict}: {self.minutes_remaining} min left in the billing period, "
            f"{self.minutes_needed:.1f} min needed for the next {min(self.devices, BATCH_SIZE)} "
            f"of {self.devices} devices at {rate}; margin {margin:.1f} min "
            f"(at least {BUFFER_MINUTES} needed)"
        )


def go_no_go(
    now_local: datetime,
    period_end: datetime,
    device_count: int,
    best_rate_per_minute: float | None,
) -> Decision:
    """The legacy Go/No-Go rule, exactly (see the module docstring).

    Both instants must be timezone-aware (the provider's local "now" and the period end are
    then compared as instants). ``best_rate_per_minute`` ``None`` or ≤ 0 means "never measured".
    """
    for name, moment in (("now_local", now_local), ("period_end", period_end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InputError(f"{name} must be timezone-aware, got {moment!r}")
    if device_count < 0:
        raise InputError(f"device_count must not be negative, got {device_count}")
    observed = best_rate_per_minute is not None and best_rate_per_minute > 0
    rate = float(best_rate_per_minute) if observed else DEFAULT_RATE_PER_MINUTE
    minutes_remaining = math.floor((period_end - now_local) / timedelta(minutes=1))
    minutes_needed = min(device_count, BATCH_SIZE) / rate
    return Decision(
        go=minutes_remaining - minutes_needed >= BUFFER_MINUTES,
        devices=device_count,
        minutes_remaining=minutes_remaining,
        minutes_needed=minutes_needed,
        rate_per_minute=rate,
        rate_observed=observed,
        period_end=period_end,
        now=now_local,
    )


def _ago(elapsed: timedelta) -> str:
    """``5 days ago``, ``3 h ago``, ``12 min ago`` (the largest whole unit)."""
    minutes = max(1, math.floor(elapsed / timedelta(minutes=1)))
    if minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)} days ago"
    if minutes >= 120:
        return f"{minutes // 60} h ago"
    return f"{minutes} min ago"


def next_batch_fits(
    now: datetime, period_end: datetime, batch_devices: int, rate_per_minute: float | None
) -> Decision:
    """Whether the next batch of a running push still ends before the buffer (the Go/No-Go
    arithmetic on that batch alone); a push that hears No Go stops at this boundary."""
    return go_no_go(now, period_end, batch_devices, rate_per_minute)


PUSH_RESERVE_S = (BUFFER_MINUTES + BATCH_SIZE / DEFAULT_RATE_PER_MINUTE) * 60
"""What a push needs before the period ends: the buffer and one batch at the default pace."""

SOLVE_RESERVE_S = 300.0
"""What a run needs after its sync: solving, the report, the mail."""

RUN_WINDOW_S = 3600.0
"""A last-day hourly run decides within its hour (the next one starts then)."""


def calls_before_deadline(now: datetime, period_end: datetime, calls_per_second: float) -> int:
    """The call budget of a last-day hourly run's sync (issue 27): the calls that fit, at the
    carrier's pace, in what is left of its hour before solving — and before the push time the
    Go/No-Go needs ahead of the period end. At least 1 (the search then stops the sync, and
    the run decides on stored usage, saying so)."""
    left_s = (period_end - now).total_seconds() - PUSH_RESERVE_S
    seconds = min(RUN_WINDOW_S, left_s) - SOLVE_RESERVE_S
    return max(1, math.floor(seconds * calls_per_second))
