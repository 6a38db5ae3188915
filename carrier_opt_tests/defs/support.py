"""Running partitions of the real assets in tests: one helper for every kind's tests."""

from datetime import timedelta
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import Engine, select

from carrier_opt.db.models import Device
from carrier_opt.db.providers import load_provider
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


def register_for(instance: dg.DagsterInstance, assets, provider: str) -> None:
    """Make ``provider`` a partition of every provider set the ``assets`` are partitioned by
    (the M2M chain's, the mobility chain's, every provider's), as ``provider add`` does."""
    for asset in assets:
        partitions = getattr(asset, "partitions_def", None)
        for dimension in getattr(partitions, "partitions_defs", ()):
            dynamic = dimension.partitions_def
            if isinstance(dynamic, dg.DynamicPartitionsDefinition) and not (
                instance.has_dynamic_partition(dynamic.name, provider)
            ):
                instance.add_dynamic_partitions(dynamic.name, [provider])


def _materialize(database_url, assets, key, provider, instance, run_config, progress, resources):
    """The run itself (``instance_for_test`` stays in the caller: it sets ``DAGSTER_HOME`` in the
    process environment, which threads running partitions at once must not race on)."""
    register_for(instance, assets, provider)
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


USAGE_HEADERS = ("Cycle-to-date usage (MB)", "Usage read at (local)", "Projected usage (MB)")


def assert_usage_shown_as_stored(engine: Engine, provider: str, lines: list[dict]) -> int:
    """Every workbook line (dicts by header) of a SIM the database knows shows its cycle-to-date
    usage and the moment it was read as ``Device`` stores them (``usage_mb``, ``usage_date`` in
    the provider's zone), and its projected usage in a column of its own: never below the
    cycle-to-date usage, above it for some SIM. Answers how many lines were checked."""
    ctd, read_at, projected = USAGE_HEADERS
    with engine.connect() as connection:
        settings = load_provider(connection, provider)
        stored = {
            row.iccid: row
            for row in connection.execute(
                select(Device.iccid, Device.usage_mb, Device.usage_date).where(
                    Device.service_provider_id == settings.id
                )
            )
        }
    zone = settings.cycle.zone
    checked = [line for line in lines if line["ICCID"] in stored]
    assert checked
    for line in checked:
        device = stored[line["ICCID"]]
        assert line[ctd] == pytest.approx(device.usage_mb or 0.0, abs=1e-6), line["ICCID"]
        local = device.usage_date.astimezone(zone).replace(tzinfo=None)
        assert abs(line[read_at] - local) < timedelta(seconds=1), line["ICCID"]
        assert line[projected] >= line[ctd] - 1e-6, line["ICCID"]
    assert any(line[projected] > line[ctd] + 1e-3 for line in checked)
    return len(checked)
