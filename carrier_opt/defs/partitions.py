"""Partitions: one per service provider × billing period.

* ``service_provider`` is dynamic: a provider becomes a partition when it is added
  (``carrier-opt provider add``) or when the billing-window sensor finds it active.
* ``billing_period`` is monthly, keyed ``YYYY-MM`` = the provider's cycle that *ends* in that
  month (``core.billing`` resolves it to exact instants in the provider's zone).

Where the periods end. Each provider's open period is a different key: ``2026-06`` for a
calendar-month provider on 20 June, ``2026-07`` for one whose cycle ends on the 18th (after
the 18th) or on the 1st (all month long), ``2026-08`` for that 1st-of-the-month provider in
Auckland or Kiritimati in the last hours of 30 June UTC (already 1 July there). One list of
periods serves every provider, so it has to end at the latest period *some* provider can be
in: the next month of the earliest time zone (UTC+14), ``end_offset=2`` in
``Pacific/Kiritimati``. Ending it at the calendar month (``end_offset=1``) would leave out
every provider's open period after its cycle's end day — the daily sync and the sensor could
not ask for it — and UTC months would leave out those of zones ahead of UTC for a few hours a
month (``carrier_opt_tests/defs/test_period_partitions.py`` checks every end day, rule and
zone). The price: "Latest" in the materialize dialog can be a period that has not started for
the provider at hand; the launch check refuses it with the provider's current period
(:mod:`carrier_opt.defs.launch_checks`).

Where they start: :data:`FIRST_BILLING_PERIOD`, fixed. Dagster's time partitions cannot roll
forward with the calendar, and a later start would hide the partitions (and the asset history)
of the periods already run; the launchpad's picker therefore starts there.
"""

import re

import dagster as dg

from carrier_opt.db.providers import checked_provider_name
from carrier_opt.errors import InputError

SERVICE_PROVIDER = "service_provider"
BILLING_PERIOD = "billing_period"
FIRST_BILLING_PERIOD = "2025-01"
EARLIEST_ZONE = "Pacific/Kiritimati"
"""UTC+14: the first zone where a month begins (the periods reach every provider's)."""
_PERIOD_KEY = re.compile(r"^\d{4}-\d{2}$")

service_provider_partitions = dg.DynamicPartitionsDefinition(name=SERVICE_PROVIDER)
billing_period_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_BILLING_PERIOD, fmt="%Y-%m", end_offset=2, timezone=EARLIEST_ZONE
)
provider_period_partitions = dg.MultiPartitionsDefinition(
    {SERVICE_PROVIDER: service_provider_partitions, BILLING_PERIOD: billing_period_partitions}
)


def is_period_partition(period_key: str) -> bool:
    """Whether ``period_key`` is a ``billing_period`` partition now (Dagster refuses a run
    request, and with it a whole sensor tick, for one that is not)."""
    return billing_period_partitions.has_partition_key(period_key)


def partition_problem(provider: str, period_key: str) -> str | None:
    """Why ``provider`` × ``period_key`` cannot be a partition (one line), or None: a name that
    cannot be a partition key (stored before names were checked) or a period outside the
    ``billing_period`` partitions."""
    try:
        checked_provider_name(provider)
    except InputError as error:
        return str(error)
    if not is_period_partition(period_key):
        return f"billing period {period_key} is not a billing_period partition"
    return None


def partition_key(provider: str, period_key: str) -> dg.MultiPartitionKey:
    """The partition of one provider's billing period."""
    return dg.MultiPartitionKey({SERVICE_PROVIDER: provider, BILLING_PERIOD: period_key})


def provider_and_period(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(provider name, period key) of a partition key."""
    if not isinstance(key, dg.MultiPartitionKey):
        key = provider_period_partitions.get_partition_key_from_str(key)
    dimensions = key.keys_by_dimension
    return dimensions[SERVICE_PROVIDER], dimensions[BILLING_PERIOD]


def launched_partition(key: str | dg.MultiPartitionKey | None) -> tuple[str, str]:
    """(provider, period) of the partition a run was launched for, or one line saying what
    is wrong with the launch (Dagster lets these through to the first step):

    - no partition at all (a launch of the whole job);
    - the two halves swapped (``acme|2026-11`` typed for ``2026-11|acme``).
    """
    if key is None:
        raise InputError(
            "this job runs one service provider × billing period at a time: launch it for a "
            "partition (pick a provider and a YYYY-MM period), e.g. 2026-11|acme"
        )
    provider, period = provider_and_period(key)
    if _PERIOD_KEY.match(provider) and not _PERIOD_KEY.match(period):
        raise InputError(
            f"the partition reads {period}|{provider} the wrong way round: a partition key is "
            f"YYYY-MM|provider, e.g. {provider}|{period}"
        )
    return provider, period
