"""The billing_period partitions end at the latest period some provider can be in, no later
(issue 28, point 4; ``defs/partitions.py`` says why they cannot end at each provider's own).

Checked against :mod:`carrier_opt.core.billing` for every kind of cycle — end days early,
middle and late in the month, both end rules, end hours, zones from UTC-11 to UTC+14 — at
every hour of the two days around each month's turn in a year, and mid-month.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carrier_opt.core.billing import AFTER_END_DAY, AT_END_HOUR, BillingCycle, period_containing
from carrier_opt.defs.partitions import FIRST_BILLING_PERIOD, billing_period_partitions

ZONES = (
    "Pacific/Pago_Pago",  # UTC-11
    "America/Los_Angeles",
    "UTC",
    "Asia/Tokyo",
    "Pacific/Auckland",  # UTC+13 in its summer
    "Pacific/Kiritimati",  # UTC+14: the first place a month begins
)
CYCLES = [
    BillingCycle(day, hour, zone, rule)
    for day in (1, 2, 15, 18, 28, 31)
    for hour in (0, 23)
    for zone in ZONES
    for rule in (AT_END_HOUR, AFTER_END_DAY)
]


def instants() -> list[datetime]:
    """Every hour from 40 h before to 40 h after each month's turn (UTC) in 2027, and the
    middle of each month."""
    found = []
    for month in range(1, 13):
        turn = datetime(2027, month, 1, tzinfo=UTC)
        found.extend(turn + timedelta(hours=hours) for hours in range(-40, 41))
        found.append(turn + timedelta(days=16))
    return found


def test_the_periods_end_at_the_latest_open_period_of_any_provider():
    for instant in instants():
        latest = billing_period_partitions.get_partition_keys(current_time=instant)[-1]
        open_periods = {period_containing(cycle, instant).key for cycle in CYCLES}
        # Every provider's open period is a partition (the sensor and the daily sync ask for
        # it)...
        assert max(open_periods) <= latest, instant
        # ...and "Latest" is some provider's open period, not a month further.
        assert max(open_periods) == latest, instant


def test_the_periods_start_at_the_first_period():
    assert billing_period_partitions.get_partition_keys()[0] == FIRST_BILLING_PERIOD
