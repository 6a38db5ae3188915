"""One provider's carrier data for one billing period, whatever the period's age.

What the ``daily_sync`` schedule (and a launch of ``sync_carrier_data`` from the UI) runs:

* the **open** period: an incremental sync (SIMs modified since the last one, then the
  period's cycle-to-date usage), stored in ``Device`` and ``DeviceUsagePeriod`` — every day,
  so every period has its usage whether or not an optimization ran in it;
* a **closed** period: its usage as the carrier still reports it by ``cycleStartDate``
  (onboarding, or a period whose syncs were missed) — see :mod:`carrier_opt.db.past_usage`
  for what a past period cannot know;
* a period that has **not started**: refused.

It also answers how an optimization run gets its period's usage (:func:`usage_for_run`):
stored usage for a closed period, a recent sync reused, or a sync of its own.

Plain Python: the Dagster assets call :func:`sync_period` and :func:`usage_for_run` and shape
their metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from carrier_opt.core.billing import (
    BillingPeriodSpan,
    period_containing,
    period_for_key,
    periods_between,
)
from carrier_opt.core.go_no_go import calls_before_deadline
from carrier_opt.core.staleness import Staleness
from carrier_opt.db.export import require_stored_usage
from carrier_opt.db.providers import ProviderSettings, load_provider
from carrier_opt.db.sync_runs import CompletedSync, last_completed_sync
from carrier_opt.errors import CarrierOptError, InputError
from carrier_opt.jasper.client import DEFAULT_CALLS_PER_SECOND, JasperClient
from carrier_opt.pipeline.call_plan import CallBudgetSpent
from carrier_opt.pipeline.past_usage import MAX_PAST_PERIODS, PastUsageReport, store_periods_usage
from carrier_opt.pipeline.session import PeriodRun
from carrier_opt.pipeline.sync import (
    ProgressCallback,
    SyncReport,
    activated_staleness,
    sync_provider,
)
from carrier_opt.settings import sync_reuse_window

SYNC_JOB = "sync_carrier_data"
"""The Dagster job that stores one provider's period (what a run without usage asks for)."""


@dataclass(frozen=True)
class PeriodSync:
    """What one period's sync did: a sync of the open period or a past period's usage."""

    period: BillingPeriodSpan
    sync: SyncReport | None = None
    past: PastUsageReport | None = None

    @property
    def warnings(self) -> list[str]:
        return (self.sync.warnings if self.sync else []) + (self.past.warnings if self.past else [])

    def summary(self) -> str:
        if self.sync is not None:
            return self.sync.summary()
        assert self.past is not None
        return "; ".join(self.past.lines()) or f"{self.period.key}: no usage stored"


def sync_period(
    engine: Engine,
    provider_name: str,
    period_key: str,
    *,
    client: JasperClient,
    now: datetime,
    holder: str,
    progress: ProgressCallback | None = None,
) -> PeriodSync:
    """Sync ``provider_name``'s ``period_key`` at ``now`` (see the module docstring)."""
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
    period = period_for_key(provider.cycle, period_key)
    if now < period.start:
        current = period_containing(provider.cycle, now).key
        raise InputError(
            f"billing period {period_key} of {provider.name} has not started: the carrier has "
            f"no usage for it yet (the current period is {current})"
        )
    if now < period.end:
        report = sync_provider(
            engine, provider.name, client=client, now=now, holder=holder, progress=progress
        )
        return PeriodSync(period, sync=report)
    past = store_periods_usage(engine, provider.name, [period], client=client, now=now)
    if not past.periods:
        raise InputError(
            f"{provider.name} {period_key}: the carrier answered no usage for this closed "
            f"period ({'; '.join(past.warnings) or 'no rate plan answered'})"
        )
    return PeriodSync(period, past=past)


@dataclass(frozen=True)
class RunUsage:
    """How an optimization run got its period's usage: ``how`` is ``closed period`` (stored
    usage), ``recent sync reused`` or ``synced`` (then ``sync`` is the sync's report)."""

    how: str
    stored_sims: int = 0
    reused: CompletedSync | None = None
    age_hours: float | None = None
    sync: SyncReport | None = None
    staleness: Staleness | None = None
    """How old the readings behind the decision are (an open period's run only)."""


def usage_for_run(
    run: PeriodRun,
    *,
    always_sync: bool,
    client_for: Callable[[], JasperClient],
    holder: str,
    sync_progress: ProgressCallback | None = None,
    max_calls: int | None = None,
) -> RunUsage:
    """The period's usage for ``run`` (whose session is open), at its ``now``.

    A closed period is not synced — the carrier has no cycle-to-date usage for it — and runs
    on what was stored for it (when nothing was, failing with the sync to run first,
    :func:`missing_usage_message`). An open period reuses a recent sync
    (:func:`reusable_sync`) unless ``always_sync`` (the last day's hourly runs), else syncs,
    with a client from ``client_for`` (closed here)."""
    engine, provider_name, period_key = run.engine, run.provider, run.period_key
    now, progress, log = run.now(), run.progress, run.log
    with engine.connect() as connection:
        cycle = load_provider(connection, provider_name).cycle
    period = period_for_key(cycle, period_key)
    if now >= period.end:
        stored = stored_usage(engine, provider_name, period_key)
        if not stored:
            current = period_containing(cycle, now).key
            raise InputError(missing_usage_message(provider_name, period_key, current))
        log.info("period %s is closed: using the usage stored for it (%d SIMs)", period_key, stored)
        progress.milestone(30, "closed period: stored usage")
        return RunUsage("closed period", stored_sims=stored)
    if now < period.start:
        raise CarrierOptError(f"billing period {period_key} of {provider_name} has not started yet")
    fresh = None if always_sync else reusable_sync(engine, provider_name, period, now)
    stored = stored_usage(engine, provider_name, period_key) if fresh is not None else 0
    if fresh is not None and stored > 0:
        age_h = (now - fresh.finished_at).total_seconds() / 3600
        log.info(
            "reusing %s's sync that completed %.1f h ago (%s): not syncing again "
            "(CARRIER_OPT_SYNC_REUSE_HOURS)",
            provider_name,
            age_h,
            fresh.finished_at.isoformat(),
        )
        progress.milestone(30, "recent sync reused")
        return RunUsage(
            "recent sync reused",
            stored_sims=stored,
            reused=fresh,
            age_hours=age_h,
            staleness=_staleness(engine, provider_name, period, now),
        )
    progress.milestone(20, "device sync started")
    client = client_for()
    try:
        report = sync_provider(
            engine,
            provider_name,
            client=client,
            now=now,
            holder=holder,
            progress=sync_progress,
            max_calls=_run_budget(max_calls, always_sync, now, period),
        )
    except CallBudgetSpent as spent:
        stored = stored_usage(engine, provider_name, period_key)
        if not stored:
            raise
        log.warning("%s; the run decides on the usage stored before (%d SIMs)", spent, stored)
        progress.milestone(30, "call budget spent: stored usage")
        return RunUsage(
            "stored usage (call budget spent)",
            stored_sims=stored,
            staleness=_staleness(engine, provider_name, period, now),
        )
    finally:
        client.close()
    progress.milestone(30, "devices synchronized")
    log.info(report.summary())
    for warning in report.warnings:
        log.warning(warning)
    figures = _staleness(engine, provider_name, period, now)
    log.info("usage age: %s", figures.line())
    return RunUsage("synced", sync=report, staleness=figures)


def _staleness(engine: Engine, provider: str, period: BillingPeriodSpan, now: datetime):
    """The decision's staleness figures at ``now`` (module :mod:`carrier_opt.core.staleness`)."""
    with engine.connect() as connection:
        provider_id = load_provider(connection, provider).id
    return activated_staleness(engine, provider_id, period, now)


def _run_budget(
    max_calls: int | None, always_sync: bool, now: datetime, period: BillingPeriodSpan
) -> int | None:
    """A run's call budget: the one given, else for a last-day hourly run (``always_sync``)
    what fits before its decision is due (:func:`calls_before_deadline`), else none."""
    if max_calls is not None or not always_sync:
        return max_calls
    return calls_before_deadline(now, period.end, DEFAULT_CALLS_PER_SECOND)


def reusable_sync(
    engine: Engine, provider: str, period: BillingPeriodSpan, now: datetime
) -> CompletedSync | None:
    """The provider's last completed sync when a run may use it instead of syncing: it
    searched inside the period and it is younger than ``CARRIER_OPT_SYNC_REUSE_HOURS``
    (default 6 h, e.g. that night's ``daily_sync``). The run then also needs usage stored for
    the period, or it syncs after all. (The last day's hourly runs never reuse: they exist to
    read the freshest usage.)"""
    window = sync_reuse_window()
    if window <= timedelta(0):
        return None
    with engine.connect() as connection:
        last = last_completed_sync(connection, load_provider(connection, provider).id)
    if last is None or not period.start <= last.search_started_at < period.end:
        return None
    if not timedelta(0) <= now - last.finished_at <= window:
        return None  # too old, or stamped by another clock than this run's
    return last


def stored_usage(engine: Engine, provider: str, period_key: str) -> int:
    """SIMs with usage stored for the period (0 when none): a reused sync must have left some."""
    try:
        return require_stored_usage(engine, provider, period_key)
    except InputError:
        return 0


def usage_problem(
    engine: Engine,
    provider: ProviderSettings,
    period: BillingPeriodSpan,
    now: datetime,
    *,
    syncs_open_period: bool,
) -> str | None:
    """Why an optimization run of ``provider``'s started ``period`` cannot get its usage at
    ``now`` (one line), or None. A run that syncs the open period itself
    (``syncs_open_period``: M2M, mobility) needs stored usage for a closed period only; one
    that runs on stored usage (customer) needs it for any period."""
    if syncs_open_period and now < period.end:
        return None
    if stored_usage(engine, provider.name, period.key):
        return None
    current = period_containing(provider.cycle, now).key
    return missing_usage_message(provider.name, period.key, current)


def missing_usage_message(provider: str, period_key: str, current_key: str) -> str:
    """What to do when no usage is stored for ``provider``'s ``period_key`` (the period
    ``current_key`` is open): sync it first. A closed period's usage can still be stored —
    the carrier reports past cycles by their start date — by ``sync_carrier_data`` for that
    partition or by the command line's ``--past-periods`` (N periods back from the open one)."""
    back = periods_between(period_key, current_key)
    if back <= 0:
        return (
            f"{provider} has no usage stored for billing period {period_key}: run {SYNC_JOB} "
            f"for {period_key}|{provider} (or carrier-opt sync {provider}) first"
        )
    command = (
        f" (or carrier-opt sync {provider} --past-periods {back})"
        if back <= MAX_PAST_PERIODS
        else ""
    )
    return (
        f"{provider} has no usage stored for billing period {period_key}, which is closed: run "
        f"{SYNC_JOB} for {period_key}|{provider}{command} first (the carrier still reports a "
        "closed period's usage by its cycle start date)"
    )
