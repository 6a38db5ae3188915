"""Partitions: one per service provider × billing period.

* ``service_provider`` is dynamic: a provider becomes a partition when it is added
  (``carrier-opt provider add``) or when the billing-window sensor finds it active.
* One partition set per fleet. A job offers only the partitions it can run: the M2M chain's
  assets are partitioned by ``service_provider_m2m`` (the M2M providers), the mobility chain's
  by ``service_provider_mobility``; the sync, customer, approval and push-check assets, which
  serve every fleet, by ``service_provider`` (every provider). The dimension is called
  ``service_provider`` in each, so a run's ``dagster/partition/service_provider`` tag — the
  per-provider concurrency pool — and its ``YYYY-MM|provider`` key are the same whichever set
  it comes from. :func:`register_provider` keeps the sets in step with the stored providers
  (``provider add``, the sensors, the daily sync): a provider whose fleet changes moves, and
  the billing-window sensor removes names no provider has (a typo in "Add partition").
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
from collections.abc import Collection, Iterable, Mapping

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
M2M_PROVIDERS = f"{SERVICE_PROVIDER}_m2m"
MOBILITY_PROVIDERS = f"{SERVICE_PROVIDER}_mobility"
FLEET_PROVIDER_PARTITIONS: Mapping[str, dg.DynamicPartitionsDefinition] = {
    "m2m": dg.DynamicPartitionsDefinition(name=M2M_PROVIDERS),
    "mobility": dg.DynamicPartitionsDefinition(name=MOBILITY_PROVIDERS),
}
"""The providers of each fleet (a provider is in its fleet's set and in ``service_provider``)."""
billing_period_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_BILLING_PERIOD, fmt="%Y-%m", end_offset=2, timezone=EARLIEST_ZONE
)


def _by_period(providers: dg.DynamicPartitionsDefinition) -> dg.MultiPartitionsDefinition:
    """``providers`` × billing period, the provider dimension named ``service_provider``."""
    return dg.MultiPartitionsDefinition(
        {SERVICE_PROVIDER: providers, BILLING_PERIOD: billing_period_partitions}
    )


provider_period_partitions = _by_period(service_provider_partitions)
"""Every provider × period: the assets that serve every fleet."""
m2m_period_partitions = _by_period(FLEET_PROVIDER_PARTITIONS["m2m"])
"""M2M providers × period: the ``optimize_billing_period`` chain."""
mobility_period_partitions = _by_period(FLEET_PROVIDER_PARTITIONS["mobility"])
"""Mobility providers × period: the ``optimize_mobility_period`` chain."""


def provider_sets(fleet: str) -> tuple[str, ...]:
    """The names of the dynamic partition sets a provider of ``fleet`` belongs to."""
    own = FLEET_PROVIDER_PARTITIONS.get(fleet)
    return (SERVICE_PROVIDER,) if own is None else (SERVICE_PROVIDER, own.name)


def partition_changes(
    partitions: Mapping[str, Collection[str]],
    fleets: Mapping[str, str],
    *,
    known: Mapping[str, str] | None = None,
) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
    """The requests that make the dynamic partition sets (``partitions``: set name → its keys
    now) follow the providers: each of ``fleets`` (name → fleet) added to its fleet's sets;
    a provider (of ``fleets`` or ``known``) taken out of another fleet's set; given every
    stored provider (``known``), names no provider has taken out of every set."""
    fleet_of = {**(known or {}), **fleets}
    own_set = {own.name: fleet for fleet, own in FLEET_PROVIDER_PARTITIONS.items()}
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    needed = {name for fleet in fleets.values() for name in provider_sets(fleet)}
    for set_name in sorted(partitions.keys() | needed):  # the same requests in the same order
        present = set(partitions.get(set_name, ()))
        new = sorted(
            name
            for name, fleet in fleets.items()
            if set_name in provider_sets(fleet) and name not in present
        )
        if new:
            requests.append(
                dg.AddDynamicPartitionsRequest(partitions_def_name=set_name, partition_keys=new)
            )
        stale = sorted(
            name
            for name in present
            if (known is not None and name not in fleet_of)
            or (set_name in own_set and name in fleet_of and fleet_of[name] != own_set[set_name])
        )
        if stale:
            requests.append(
                dg.DeleteDynamicPartitionsRequest(
                    partitions_def_name=set_name, partition_keys=stale
                )
            )
    return requests


def partition_sets_now(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """Every provider partition set's keys on ``instance``."""
    names = [SERVICE_PROVIDER, *(own.name for own in FLEET_PROVIDER_PARTITIONS.values())]
    return {name: instance.get_dynamic_partitions(name) for name in names}


def register_providers(instance: dg.DagsterInstance, fleets: Mapping[str, str]) -> None:
    """Make each provider of ``fleets`` (name → fleet) a partition of its fleet's sets on
    ``instance`` now (and take it out of another fleet's set); other names are left alone."""
    if not fleets:
        return
    apply_partition_requests(instance, partition_changes(partition_sets_now(instance), fleets))


def apply_partition_requests(
    instance: dg.DagsterInstance,
    requests: Iterable[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest],
) -> None:
    """Carry out partition requests on ``instance`` as the daemon does with a sensor's."""
    for request in requests:
        if isinstance(request, dg.DeleteDynamicPartitionsRequest):
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
        else:
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)


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
