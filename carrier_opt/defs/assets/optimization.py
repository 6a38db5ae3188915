"""The optimization of one provider's billing period, as a chain of partitioned assets.

Read top to bottom, this is the data flow: carrier API → staging → ``Device`` (staged_devices)
→ usage projected for the period (device_usage) → communication groups (comm_groups) → queues
(rate_plan_permutations) → each queue's priced assignment (queue_results) → the winner
(winning_assignments). State lives in the legacy tables; a run finds its session by run id.
"""

import functools
from datetime import datetime, timedelta

import dagster as dg
import pandas as pd

from carrier_opt import clock as system_clock
from carrier_opt.core.billing import BillingPeriodSpan, period_for_key
from carrier_opt.core.legacy import legacy_baseline, legacy_queues
from carrier_opt.core.money import cost_figures
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.run import default_legacy_sequences
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.export import instance_tables, require_stored_usage
from carrier_opt.db.models import RunStatus
from carrier_opt.db.providers import load_provider
from carrier_opt.db.sync_runs import CompletedSync, last_completed_sync
from carrier_opt.defs.assets.instance_solver import CURRENT, price_queues, queue_sequences
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.partitions import (
    launched_partition,
    provider_period_partitions,
)
from carrier_opt.defs.resources import DatabaseResource, JasperResource, PlatformProgress
from carrier_opt.defs.tags import HOURLY_TRIGGER, TRIGGER_TAG
from carrier_opt.errors import CarrierOptError, InputError
from carrier_opt.pipeline.solved import m2m_instance, plan_limit
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt.settings import sync_reuse_window

GROUP = "optimization"


class OptimizerConfig(dg.Config):
    """Run settings of the optimization step (editable in the launchpad)."""

    time_limit_s: float = 60.0
    """Seconds the optimizer may spend after the legacy baseline (bound, search, proof)."""


def clock() -> datetime:
    """The current time (tests replace it to run a period as if it were then)."""
    return system_clock.now()


def run_ended(instance: dg.DagsterInstance):
    """For sessions: how a Dagster run ended (its status name), or None while it runs or when
    this instance does not know it."""

    def ended(run_id: str) -> str | None:
        run = instance.get_run_by_id(run_id)
        return run.status.value if run is not None and run.is_finished else None

    return ended


def close_session_unless_pushed(
    context: dg.AssetExecutionContext,
    engine,
    ids: runs.RunIds,
    push_asset: str,
    progress: PlatformProgress,
) -> bool:
    """Close the session now (progress 100 %) when this run does not go on to ``push_asset``
    (a partial materialization); answers whether the session stays open for the push."""
    key = dg.AssetKey(push_asset)
    selection = context.run.asset_selection
    pushes = key in context.job_def.asset_layer.selected_asset_keys and (
        selection is None or key in selection
    )
    if not pushes:
        runs.finish_session(engine, ids, RunStatus.COMPLETED)
        runs.set_progress(engine, ids, 100)
        progress.report(ids.session_guid, 100, "results ready (no push in this run)")
        context.log.info("this run does not push (%s is not selected): session closed", push_asset)
    return pushes


def _partition(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(provider, period) of the run, or one line saying what is wrong with its launch."""
    return launched_partition(context.partition_key if context.has_partition_key else None)


def _fail_session_on_error(engine, run_id: str, error: BaseException) -> None:
    """Mark the run's session failed so it does not block the next run (legacy view)."""
    try:
        ids = runs.run_ids_for(engine, run_id)
    except CarrierOptError:
        return
    runs.finish(engine, ids, RunStatus.FAILED, error=f"{type(error).__name__}: {error}")


def _guarded(fn):
    """Run an asset body; on failure close the run's session as failed, then re-raise."""

    @functools.wraps(fn)
    def wrapper(context: dg.AssetExecutionContext, database: DatabaseResource, *args, **kwargs):
        try:
            return fn(context, database, *args, **kwargs)
        except Exception as exc:
            _fail_session_on_error(database.engine(), context.run.run_id, exc)
            raise

    return wrapper


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, kinds={"jasper"})
@_guarded
@operator_failures
def staged_devices(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    jasper: JasperResource,
    progress: PlatformProgress,
) -> dg.MaterializeResult:
    """SIMs and usage synced from the carrier into staging, then merged into ``Device``.

    Opens the run's optimization session (refused while another runs). A closed period is
    not synced — the carrier has no cycle-to-date usage for it — and uses stored usage.
    """
    provider, period_key = _partition(context)
    engine, now = database.engine(), clock()
    ids = runs.start_session(
        engine, provider, period_key, run_id=context.run.run_id, now=now,
        run_ended=run_ended(context.instance),
    )  # fmt: skip
    progress.report(ids.session_guid, 0, "session started")
    with engine.connect() as connection:
        period = period_for_key(load_provider(connection, provider).cycle, period_key)
    if now >= period.end:
        # The carrier only reports cycle-to-date usage: a backfill of a closed period runs on
        # what the period's syncs stored, and fails here, plainly, when nothing was stored.
        stored = require_stored_usage(engine, provider, period_key)
        context.log.info(
            "period %s is closed: using the usage stored for it (%d SIMs)", period_key, stored
        )
        progress.report(ids.session_guid, 30, "closed period: stored usage")
        return dg.MaterializeResult(
            metadata={"synced": False, "reason": "closed period", "stored_sims": stored}
        )
    if now < period.start:
        raise CarrierOptError(f"billing period {period_key} of {provider} has not started yet")
    fresh = reusable_sync(engine, provider, period, now, context.run.tags.get(TRIGGER_TAG))
    stored = _stored_usage(engine, provider, period_key) if fresh is not None else 0
    if fresh is not None and stored > 0:
        age_h = (now - fresh.finished_at).total_seconds() / 3600
        context.log.info(
            "reusing %s's sync that completed %.1f h ago (%s): not syncing again "
            "(CARRIER_OPT_SYNC_REUSE_HOURS)", provider, age_h, fresh.finished_at.isoformat(),
        )  # fmt: skip
        runs.set_progress(engine, ids, 30)
        progress.report(ids.session_guid, 30, "recent sync reused")
        return dg.MaterializeResult(
            metadata={
                "synced": False,
                "reason": "recent sync reused",
                "last_sync_completed": fresh.finished_at.isoformat(),
                "last_sync_age_hours": round(age_h, 2),
                "stored_sims": stored,
            }
        )
    progress.report(ids.session_guid, 20, "device sync started")
    runs.set_progress(engine, ids, 20)
    with jasper.client_for(engine, provider) as client:
        report = sync_provider(
            engine, provider, client=client, now=now, holder=f"run {context.run.run_id}",
            progress=sync_logger(context),
        )  # fmt: skip
    runs.set_progress(engine, ids, 30)
    progress.report(ids.session_guid, 30, "devices synchronized")
    context.log.info(report.summary())
    for warning in report.warnings:
        context.log.warning(warning)
    merge = report.merge
    return dg.MaterializeResult(
        metadata={
            "synced": True,
            "devices_inserted": merge.inserted,
            "devices_updated": merge.updated,
            "devices_unchanged": merge.unchanged,
            "resumed": report.resumed,
            "search_pages": report.pages_read,
            "device_details_calls": report.details_calls,
            "api_calls": report.api.calls,
            "api_retries": report.api.retries,
            "skipped_records": len(report.problems),
            "usage_warnings": len(report.warnings),
            "seconds": round(report.seconds, 1),
        }
    )


def reusable_sync(
    engine, provider: str, period: BillingPeriodSpan, now: datetime, trigger: str | None
) -> CompletedSync | None:
    """The provider's last completed sync when this run may use it instead of syncing: it
    searched inside the period, it is younger than ``CARRIER_OPT_SYNC_REUSE_HOURS`` (default
    6 h, e.g. that night's ``daily_sync``), and the run is not one of the last day's hourly
    runs, which exist to read the freshest usage. The run then also needs usage stored for
    the period, or it syncs after all."""
    window = sync_reuse_window()
    if trigger == HOURLY_TRIGGER or window <= timedelta(0):
        return None
    with engine.connect() as connection:
        last = last_completed_sync(connection, load_provider(connection, provider).id)
    if last is None or not period.start <= last.search_started_at < period.end:
        return None
    if not timedelta(0) <= now - last.finished_at <= window:
        return None  # too old, or stamped by another clock than this run's
    return last


def _stored_usage(engine, provider: str, period_key: str) -> int:
    """SIMs with usage stored for the period (0 when none): a reused sync must have left some."""
    try:
        return require_stored_usage(engine, provider, period_key)
    except InputError:
        return 0


def sync_logger(context: dg.AssetExecutionContext):
    """Sync progress in the run's log: every 20 search pages, every 10 % of the details."""
    shown: dict[str, int] = {}

    def log(progress) -> None:
        step = max(1, (progress.total or 0) // 10) if progress.total else 20
        if progress.done - shown.get(progress.phase, -step) >= step or (
            progress.total and progress.done == progress.total
        ):
            shown[progress.phase] = progress.done
            context.log.info("sync: %s", progress.describe())

    return log


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[staged_devices])
@_guarded
@operator_failures
def device_usage(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """The period's billable SIMs with usage projected to the period end and proration."""
    provider, period_key = _partition(context)
    tables = instance_tables(database.engine(), provider, period_key)
    devices = tables.devices
    runs.update_instance(
        database.engine(), runs.run_ids_for(database.engine(), context.run.run_id),
        device_count=len(devices),
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "devices": len(devices),
            "usage_mb_cycle_to_date": round(float(devices["ctd_usage_mb"].sum()), 1),
            "usage_mb_projected": round(float(devices["usage_mb"].sum()), 1),
            "prorated_devices": int((devices["proration"] < 1).sum()),
            "period_start": tables.period.start.isoformat(),
            "period_end": tables.period.end.isoformat(),
        }
    )


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[device_usage])
@_guarded
@operator_failures
def comm_groups(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """Communication plans grouped by identical allowed rate plans; over-limit groups skipped
    with a warning (their SIMs keep their plans but still count in their pools)."""
    provider, period_key = _partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    with engine.connect() as connection:
        fleet = load_provider(connection, provider).fleet
    if fleet != "m2m":
        raise InputError(
            f"{provider} is a {fleet} fleet: it is optimized per optimization group by "
            "optimize_mobility_period, not per communication group"
        )
    tables = instance_tables(engine, provider, period_key)
    groups = runs.comm_groups(tables.comm_plan_rate_plans, plan_limit(engine, provider))
    runs.write_comm_groups(engine, ids, groups)
    for group in groups:
        if group.skipped_reason:
            context.log.warning("%s skipped: %s", group.name, group.skipped_reason)
    table = "\n".join(
        f"| {g.name} | {len(g.communication_plans)} | {len(g.rate_plans)} | "
        f"{g.skipped_reason or 'optimized'} |"
        for g in groups
    )
    return dg.MaterializeResult(
        metadata={
            "groups": len(groups),
            "skipped_groups": sum(1 for g in groups if g.skipped_reason),
            "groups_table": dg.MetadataValue.md(
                "| group | comm plans | rate plans | status |\n|---|---|---|---|\n" + table
            ),
        }
    )


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[comm_groups])
@_guarded
@operator_failures
def rate_plan_permutations(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """The queues tried for the period, each with its rate-plan sequence: the current
    assignment, every legacy strategy (base assignment, then rate-plan sequences × {no
    grouping, by communication plan} × {largest, smallest first}) and the optimizer."""
    provider, period_key = _partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    instance, _, _ = m2m_instance(engine, provider, instance_tables(engine, provider, period_key))
    legacy = legacy_queues(instance, default_legacy_sequences(instance.n_devices))
    queues = queue_sequences(instance, legacy)
    runs.create_queues(engine, ids, queues)
    runs.set_progress(engine, ids, 40)
    progress.report(ids.session_guid, 40, "queues created")
    return dg.MaterializeResult(
        metadata={
            "queues": len(queues),
            "legacy_queues": len(legacy),
            "plans": instance.n_plans,
        },
    )


@dg.asset(
    group_name=GROUP, partitions_def=provider_period_partitions, deps=[rate_plan_permutations]
)
@_guarded
@operator_failures
def queue_results(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    progress: PlatformProgress,
    config: OptimizerConfig,
) -> dg.MaterializeResult:
    """Each queue's assignment priced SIM by SIM; the optimizer's lower bound and gap."""
    provider, period_key = _partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    tables = instance_tables(engine, provider, period_key)
    instance, _, _ = m2m_instance(engine, provider, tables)
    legacy = legacy_baseline(instance, max_sequences=default_legacy_sequences(instance.n_devices))
    result = optimize(instance, time_limit_s=config.time_limit_s, starts=[legacy.assignment])
    costs, _ = price_queues(
        engine, ids, instance, legacy, result,
        lambda queue_id, assignment: runs.write_queue_result(
            engine, ids, queue_id, instance, assignment
        ),
    )  # fmt: skip
    runs.update_instance(
        engine, ids, lower_bound=result.bound.value, legacy_cost=legacy.cost,
        cost_before=costs[CURRENT], proven_optimal=result.proven_optimal,
    )  # fmt: skip
    runs.set_progress(engine, ids, 50)
    progress.report(ids.session_guid, 50, "optimization calculated")
    return dg.MaterializeResult(
        metadata={
            "lower_bound": round(result.bound.value, 2),
            "gap_pct": round(100 * result.gap, 4),
            "proven_optimal": result.proven_optimal,
            "optimizer_seconds": round(result.seconds, 1),
            "queue_costs": dg.MetadataValue.md(
                "| queue | cost (USD) |\n|---|---:|\n"
                + "\n".join(f"| {name} | {cost:,.2f} |" for name, cost in costs.items())
            ),
        }
    )


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[queue_results])
@_guarded
@operator_failures
def winning_assignments(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """The cheapest queue wins; losers' device results are deleted; the instance completes.

    The session stays open until the push (``rate_plan_updates``) has ended, so no second run
    of the provider starts while changes may still be reaching the carrier."""
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    strategy, cost = runs.choose_winner(engine, ids)
    winners = runs.winning_assignment(engine, ids)
    figures = runs.instance_figures(engine, ids)
    before = figures["cost_before"]
    runs.finish_instance(engine, ids, RunStatus.COMPLETED, cost_after=cost)
    close_session_unless_pushed(context, engine, ids, "rate_plan_updates", progress)
    changed = winners[winners["rate_plan_code"] != winners["current_rate_plan_code"]]
    bound = figures["lower_bound"]
    return dg.MaterializeResult(
        metadata={
            "devices": len(winners),
            "winning_queue": strategy,
            **cost_figures(before, cost, figures["legacy_cost"], bound),
            "devices_changing_plan": len(changed),
            "session_guid": ids.session_guid,
            "changes_by_plan": dg.MetadataValue.md(_changes_table(changed)),
        }
    )


def _changes_table(changed: pd.DataFrame) -> str:
    if changed.empty:
        return "No SIM changes plan."
    moves = changed.groupby(["current_rate_plan_code", "rate_plan_code"]).size()
    moves = moves.sort_values(ascending=False).head(15)
    lines = [f"| {a} | {b} | {n} |" for (a, b), n in moves.items()]
    return "| from | to | SIMs |\n|---|---|---:|\n" + "\n".join(lines)


optimization_assets = [
    staged_devices,
    device_usage,
    comm_groups,
    rate_plan_permutations,
    queue_results,
    winning_assignments,
]
