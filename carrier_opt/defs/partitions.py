"""Partitions: one per service provider × billing period.

* ``service_provider`` is dynamic: a provider becomes a partition when it is added
  (``carrier-opt provider add``) or when the billing-window sensor finds it active.
* ``billing_period`` is monthly, keyed ``YYYY-MM`` = the provider's cycle that *ends* in that
  month (``core.billing`` resolves it to exact instants in the provider's zone). It runs two
  months ahead of the calendar, because a cycle ending on the 18th of next month is already
  the current one after this month's 18th.
"""

import re

import dagster as dg

from carrier_opt.errors import InputError

SERVICE_PROVIDER = "service_provider"
BILLING_PERIOD = "billing_period"
FIRST_BILLING_PERIOD = "2025-01"
_PERIOD_KEY = re.compile(r"^\d{4}-\d{2}$")

service_provider_partitions = dg.DynamicPartitionsDefinition(name=SERVICE_PROVIDER)
billing_period_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_BILLING_PERIOD, fmt="%Y-%m", end_offset=2
)
provider_period_partitions = dg.MultiPartitionsDefinition(
    {SERVICE_PROVIDER: service_provider_partitions, BILLING_PERIOD: billing_period_partitions}
)


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
