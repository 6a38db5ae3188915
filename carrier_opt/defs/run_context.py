"""What every partitioned optimization asset asks of its Dagster run: the partition it was
launched for, its session (also in a re-execution), its progress, and closing the session when
the run fails or stops short of the push. Shared by the M2M, mobility and customer assets."""

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime

import dagster as dg
from sqlalchemy import Engine

from carrier_opt import clock as system_clock
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import OptimizationType
from carrier_opt.defs import catalog
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.partitions import (
    launched_partition,
    m2m_period_partitions,
    mobility_period_partitions,
    provider_period_partitions,
)
from carrier_opt.defs.resources import DatabaseResource, PlatformProgress
from carrier_opt.defs.tags import HOURLY_TRIGGER, TRIGGER_TAG
from carrier_opt.errors import CarrierOptError
from carrier_opt.pipeline.session import PeriodRun, RunProgress, fail_session_of_run


def clock() -> datetime:
    """The current time of every optimization run. Callers look it up here at each use
    (``run_context.clock()``), so a test replaces it once to run a period as if it were then."""
    return system_clock.now()


class OptimizerConfig(dg.Config):
    """Run settings of the optimization step (editable in the launchpad)."""

    time_limit_s: float = 60.0
    """Seconds the optimizer may spend at most after the legacy baseline (bound, search,
    proof)."""

    gap_target_pct: float = 0.001
    """The search stops as soon as its answer is proven within this many percent of the
    optimum (``carrier-opt optimize --gap-target``); the run's metadata says `stopped_by`."""


def run_partition(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(provider, period) of the run, or one line saying what is wrong with its launch."""
    return launched_partition(context.partition_key if context.has_partition_key else None)


def run_ended(instance: dg.DagsterInstance):
    """For sessions: how a Dagster run ended (its status name), or None while it runs or when
    this instance does not know it."""

    def ended(run_id: str) -> str | None:
        run = instance.get_run_by_id(run_id)
        return run.status.value if run is not None and run.is_finished else None

    return ended


def run_ids(context: dg.AssetExecutionContext, engine: Engine) -> runs.RunIds:
    """The run's session, or — in a re-execution of failed steps — the original run's."""
    try:
        return runs.run_ids_for(engine, context.run.run_id)
    except CarrierOptError:
        root = context.run.root_run_id
        if not root or root == context.run.run_id:
            raise
        return runs.run_ids_for(engine, root)


def run_progress(engine: Engine, ids: runs.RunIds, platform: PlatformProgress) -> RunProgress:
    """The run's milestones, on its session and on the platform."""
    return RunProgress(engine, ids, platform)


def period_run(
    context: dg.AssetExecutionContext, engine: Engine, platform: PlatformProgress
) -> PeriodRun:
    """The run's partition, session (the run's own), milestones, clock and log, for the
    pipeline's steps."""
    provider, period_key = run_partition(context)
    ids = runs.run_ids_for(engine, context.run.run_id)
    return PeriodRun(
        engine,
        run_progress(engine, ids, platform),
        provider,
        period_key,
        lambda: clock(),
        context.log,
    )


def open_period_run(
    context: dg.AssetExecutionContext,
    engine: Engine,
    platform: PlatformProgress,
    kind: OptimizationType | None = None,
) -> PeriodRun:
    """Open the run's optimization session of ``kind`` (default: the provider's fleet, M2M or
    mobility), refused while another run of the provider is still going; at 0 %. The run's
    ``now`` stays the moment it opened."""
    provider, period_key = run_partition(context)
    now = clock()
    ids = runs.start_session(
        engine,
        provider,
        period_key,
        run_id=context.run.run_id,
        now=now,
        optimization_type=kind,
        run_ended=run_ended(context.instance),
    )
    progress = run_progress(engine, ids, platform)
    progress.milestone(0, "session started")
    return PeriodRun(engine, progress, provider, period_key, lambda: now, context.log)


def close_session_unless_pushed(
    context: dg.AssetExecutionContext, progress: RunProgress, push_asset: str
) -> bool:
    """Close the session now (progress 100 %) when this run does not go on to ``push_asset``
    (a partial materialization); answers whether the session stays open for the push."""
    key = dg.AssetKey(push_asset)
    selection = context.run.asset_selection
    pushes = key in context.job_def.asset_layer.selected_asset_keys and (
        selection is None or key in selection
    )
    if not pushes:
        progress.close("results ready (no push in this run)")
        context.log.info("this run does not push (%s is not selected): session closed", push_asset)
    return pushes


PARTITIONS_OF_GROUP: Mapping[str, dg.PartitionsDefinition] = {
    "m2m": m2m_period_partitions,
    "mobility": mobility_period_partitions,
    "insights": m2m_period_partitions,
}
"""The partitions of a fleet's chain: its own fleet's providers × period (the job offers only
partitions it can run); other groups (customer) serve every provider."""


def period_asset(
    group: str,
    *,
    deps: Sequence[object] = (),
    kinds: Sequence[str] = (),
    carrier: str = catalog.NO_CARRIER,
    fails_session: bool = False,
):
    """A step of a kind's chain: an asset partitioned by provider × billing period whose own
    errors fail it with one sentence (:func:`operator_failures`); with ``fails_session``, a
    failure also closes the run's session as failed (the steps before the push), so it does
    not block the provider's next run.

    Its owners, kinds (``kinds``: the systems it touches besides Python and the database) and
    its tag for how it treats the ``carrier`` are the catalog's (:mod:`carrier_opt.defs.
    catalog`). Its docstring is its description in the Dagster UI, which reads markdown: code
    in single backticks there, not reST's double ones. Its partitions are its group's
    (:data:`PARTITIONS_OF_GROUP`)."""

    def decorate(fn):
        body = operator_failures(fn)
        if fails_session:
            body = guarded(body)
        return dg.asset(
            group_name=group,
            partitions_def=PARTITIONS_OF_GROUP.get(group, provider_period_partitions),
            deps=list(deps),
            kinds=catalog.asset_kinds(*kinds),
            owners=catalog.OWNERS,
            tags=catalog.asset_tags(carrier),
        )(body)

    return decorate


def guarded(fn):
    """Run an asset body; on failure close the run's session as failed, then re-raise."""

    @functools.wraps(fn)
    def wrapper(context: dg.AssetExecutionContext, database: DatabaseResource, *args, **kwargs):
        try:
            return fn(context, database, *args, **kwargs)
        except Exception as exc:
            fail_session_of_run(database.engine(), context.run.run_id, exc)
            raise

    return wrapper


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
