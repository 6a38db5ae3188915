"""The optimization of one provider's billing period, as a chain of partitioned assets.

Read top to bottom, this is the data flow: carrier API → staging → ``Device`` (staged_devices)
→ usage projected for the period (device_usage) → communication groups (comm_groups) → queues
(rate_plan_permutations) → each queue's priced assignment (queue_results) → the winner
(winning_assignments). State lives in the legacy tables; a run finds its session by run id.
"""

from collections.abc import Mapping
from datetime import datetime

import dagster as dg
import pandas as pd

from carrier_opt import clock as system_clock
from carrier_opt.core.comm_groups import comm_groups as group_communication_plans
from carrier_opt.core.legacy import legacy_baseline, legacy_queues
from carrier_opt.core.money import cost_figures
from carrier_opt.core.optimizer import optimize
from carrier_opt.core.run import default_legacy_sequences
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.export import instance_tables
from carrier_opt.db.models import RunStatus
from carrier_opt.db.providers import load_provider
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.metadata import staged_metadata
from carrier_opt.defs.partitions import (
    provider_period_partitions,
)
from carrier_opt.defs.resources import DatabaseResource, JasperResource, PlatformProgress
from carrier_opt.defs.run_context import (
    OptimizerConfig,
    close_session_unless_pushed,
    guarded,
    run_ended,
    run_partition,
    run_progress,
)
from carrier_opt.defs.tags import HOURLY_TRIGGER, TRIGGER_TAG
from carrier_opt.errors import InputError
from carrier_opt.pipeline.period_sync import usage_for_run
from carrier_opt.pipeline.solve import CURRENT, price_queues, queue_sequences
from carrier_opt.pipeline.solved import m2m_instance, plan_limit

GROUP = "optimization"


def clock() -> datetime:
    """The current time (tests replace it to run a period as if it were then)."""
    return system_clock.now()


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, kinds={"jasper"})
@guarded
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
    provider, period_key = run_partition(context)
    engine, now = database.engine(), clock()
    ids = runs.start_session(
        engine, provider, period_key, run_id=context.run.run_id, now=now,
        run_ended=run_ended(context.instance),
    )  # fmt: skip
    run_progress(engine, ids, progress).milestone(0, "session started")
    usage = usage_for_run(
        engine, provider, period_key, now=now, always_sync=always_syncs(context.run.tags),
        client_for=lambda: jasper.client_for(engine, provider),
        holder=f"run {context.run.run_id}", progress=run_progress(engine, ids, progress),
        sync_progress=sync_logger(context), log=context.log,
    )  # fmt: skip
    return dg.MaterializeResult(metadata=staged_metadata(usage))


def always_syncs(tags: Mapping[str, str]) -> bool:
    """Whether the run must sync even after a recent sync: the last day's hourly runs exist
    to read the freshest usage."""
    return tags.get(TRIGGER_TAG) == HOURLY_TRIGGER


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
@guarded
@operator_failures
def device_usage(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """The period's billable SIMs with usage projected to the period end and proration."""
    provider, period_key = run_partition(context)
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
@guarded
@operator_failures
def comm_groups(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """Communication plans grouped by identical allowed rate plans; over-limit groups skipped
    with a warning (their SIMs keep their plans but still count in their pools)."""
    provider, period_key = run_partition(context)
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
    groups = group_communication_plans(tables.comm_plan_rate_plans, plan_limit(engine, provider))
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
@guarded
@operator_failures
def rate_plan_permutations(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """The queues tried for the period, each with its rate-plan sequence: the current
    assignment, every legacy strategy (base assignment, then rate-plan sequences × {no
    grouping, by communication plan} × {largest, smallest first}) and the optimizer."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    instance, _, _ = m2m_instance(engine, provider, instance_tables(engine, provider, period_key))
    legacy = legacy_queues(instance, default_legacy_sequences(instance.n_devices))
    queues = queue_sequences(instance, legacy)
    runs.create_queues(engine, ids, queues)
    run_progress(engine, ids, progress).milestone(40, "queues created")
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
@guarded
@operator_failures
def queue_results(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    progress: PlatformProgress,
    config: OptimizerConfig,
) -> dg.MaterializeResult:
    """Each queue's assignment priced SIM by SIM; the optimizer's lower bound and gap."""
    provider, period_key = run_partition(context)
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
    run_progress(engine, ids, progress).milestone(50, "optimization calculated")
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
@guarded
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
    close_session_unless_pushed(context, run_progress(engine, ids, progress), "rate_plan_updates")
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
