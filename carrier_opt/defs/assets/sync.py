"""The carrier's data for a provider's period, kept fresh every day, and its freshness check.

* ``carrier_data`` (group ``sync``): one provider × period partition synced from the carrier
  (:mod:`carrier_opt.pipeline.period_sync`): the open period incrementally, a closed one from
  the carrier's per-cycle usage. Launched by the ``daily_sync`` schedule
  (:mod:`carrier_opt.defs.schedules`) or from the UI, e.g. a backfill of past periods when a
  provider is onboarded.
* ``sync_freshness``: warns when an active provider's last completed sync is older than
  :data:`FRESHNESS_LIMIT` — expired credentials, a carrier outage, a stopped schedule. One
  query over every provider; it runs after every sync run and on its own job
  (``check_sync_freshness``, hourly when its schedule is on).
"""

from datetime import datetime, timedelta

import dagster as dg

from carrier_opt import clock as system_clock
from carrier_opt.db.sync_runs import last_completed_syncs
from carrier_opt.defs import catalog
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.metadata import skipped_metadata
from carrier_opt.defs.partitions import launched_partition, provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource, JasperResource
from carrier_opt.defs.run_context import sync_logger
from carrier_opt.pipeline.period_sync import sync_period

GROUP = "sync"
FRESHNESS_LIMIT = timedelta(hours=36)
"""A provider whose last completed sync is older than this is stale (a day and a half: one
missed daily sync is tolerated, two are not)."""
FRESHNESS_CHECK_NAME = "sync_freshness"


def clock() -> datetime:
    """The current time (tests replace it)."""
    return system_clock.now()


@dg.asset(
    group_name=GROUP,
    partitions_def=provider_period_partitions,
    kinds=catalog.asset_kinds(catalog.JASPER),
    owners=catalog.OWNERS,
    tags=catalog.asset_tags(catalog.READS_CARRIER),
    retry_policy=dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL),
)
@operator_failures
def carrier_data(
    context: dg.AssetExecutionContext, database: DatabaseResource, jasper: JasperResource
) -> dg.MaterializeResult:
    """The provider's SIMs and the period's usage, stored from the carrier: the open period
    by an incremental sync, a closed one from the usage the carrier still keeps for it.

    Opens no optimization session and changes nothing at the carrier. A transient failure
    (carrier or network) is retried twice; carrier_opt's own errors (bad credentials, a
    period not started) fail at once with one sentence."""
    provider, period_key = launched_partition(
        context.partition_key if context.has_partition_key else None
    )
    engine = database.engine()
    with jasper.client_for(engine, provider) as client:
        outcome = sync_period(
            engine,
            provider,
            period_key,
            client=client,
            now=clock(),
            holder=f"run {context.run.run_id}",
            progress=sync_logger(context),
        )
    context.log.info(outcome.summary())
    for warning in outcome.warnings:
        context.log.warning(warning)
    if outcome.sync is not None:
        report = outcome.sync
        return dg.MaterializeResult(
            metadata={
                "kind": "open period: incremental sync",
                "devices_inserted": report.merge.inserted,
                "devices_updated": report.merge.updated,
                "devices_unchanged": report.merge.unchanged,
                "usage_sims": report.merge.usage_rows,
                "api_calls": report.api.calls,
                "api_retries": report.api.retries,
                **skipped_metadata(report),
                "usage_warnings": len(report.warnings),
                "seconds": round(report.seconds, 1),
            }
        )
    assert outcome.past is not None
    stored = outcome.past.periods[0]
    return dg.MaterializeResult(
        metadata={
            "kind": "closed period: usage by cycleStartDate",
            "usage_sims": stored.stored,
            "replaced_open_period_readings": stored.replaced,
            "kept_already_final": stored.kept,
            "sims_not_synced": stored.unknown,
            "warnings": len(outcome.past.warnings),
        }
    )


@dg.asset_check(
    asset=carrier_data,
    name=FRESHNESS_CHECK_NAME,
    blocking=False,
    description=(
        "Warns when an active provider's last completed sync is older than 36 h (or it has "
        "never synced): expired credentials, a carrier outage, a stopped daily_sync."
    ),
)
def sync_freshness(database: DatabaseResource) -> dg.AssetCheckResult:
    """Every active provider's last completed sync against `FRESHNESS_LIMIT`."""
    return freshness_result(last_completed_syncs(database.engine()), clock())


def freshness_result(last_syncs: dict[str, datetime | None], now: datetime) -> dg.AssetCheckResult:
    """The check's result for these providers' last completed syncs at ``now``."""
    stale: list[str] = []
    ages: dict[str, str] = {}
    for name, finished in last_syncs.items():
        if finished is None:
            stale.append(f"{name} (never synced)")
            ages[name] = "never"
            continue
        hours = (now - finished).total_seconds() / 3600
        ages[name] = f"{hours:.1f} h"
        if now - finished > FRESHNESS_LIMIT:
            stale.append(f"{name} (last completed sync {hours:.0f} h ago)")
    limit_h = FRESHNESS_LIMIT.total_seconds() / 3600
    description = (
        f"stale beyond {limit_h:.0f} h: {', '.join(stale)}"
        if stale
        else f"all {len(last_syncs)} active provider(s) synced within {limit_h:.0f} h"
    )
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "stale_providers": len(stale),
            "active_providers": len(last_syncs),
            "last_completed_sync_age": dg.MetadataValue.json(ages),
        },
    )


sync_assets = [carrier_data]
sync_checks = [sync_freshness]
