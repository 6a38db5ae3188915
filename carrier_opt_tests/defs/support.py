"""Running partitions of the real assets in tests: one helper for every kind's tests."""

from typing import Any

import dagster as dg

from carrier_opt.defs.partitions import SERVICE_PROVIDER
from carrier_opt.defs.resources import DatabaseResource, JasperResource, PlatformProgress

FAKE_CALLS_PER_SECOND = 500.0
"""The client's rate against the local fake (production keeps Jasper's 5 calls/s)."""


def materialize_partition(
    database_url: str,
    assets: list,
    key: dg.MultiPartitionKey,
    *,
    provider: str = "acme",
    instance: dg.DagsterInstance | None = None,
    run_config: dict | None = None,
    progress: PlatformProgress | None = None,
    **resources: Any,
) -> dg.ExecuteInProcessResult:
    """``assets`` materialized for partition ``key`` as one run (failures are returned, not
    raised), on ``instance`` or a throwaway one where ``provider`` is a partition. The database,
    carrier and progress resources are given; ``resources`` adds the others (result store,
    notifier)."""
    if instance is not None:
        return _materialize(
            database_url, assets, key, provider, instance, run_config, progress, resources
        )
    with dg.instance_for_test() as own:
        return _materialize(
            database_url, assets, key, provider, own, run_config, progress, resources
        )


def _materialize(database_url, assets, key, provider, instance, run_config, progress, resources):
    """The run itself (``instance_for_test`` stays in the caller: it sets ``DAGSTER_HOME`` in the
    process environment, which threads running partitions at once must not race on)."""
    if not instance.has_dynamic_partition(SERVICE_PROVIDER, provider):
        instance.add_dynamic_partitions(SERVICE_PROVIDER, [provider])
    return dg.materialize(
        assets,
        partition_key=key,
        instance=instance,
        resources={
            "database": DatabaseResource(database_url=database_url),
            "jasper": JasperResource(calls_per_second=FAKE_CALLS_PER_SECOND),
            "progress": progress or PlatformProgress(),
            **resources,
        },
        run_config=run_config,
        raise_on_error=False,
    )


def time_limit(asset: dg.AssetsDefinition, assets: list, seconds: float = 5) -> dict | None:
    """Run config giving ``asset`` (when it is among ``assets``) an optimizer time limit."""
    if not any(a is asset for a in assets):
        return None
    return {"ops": {asset.key.path[-1]: {"config": {"time_limit_s": seconds}}}}
