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

from carrier_opt.core.billing import BillingPeriodSpan, period_containing, period_for_key
from carrier_opt.db.export import require_stored_usage
from carrier_opt.db.providers import load_provider
from carrier_opt.db.sync_runs import CompletedSync, last_completed_sync
from carrier_opt.errors import CarrierOptError, InputError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.pipeline.past_usage import PastUsageReport, store_periods_usage
from carrier_opt.pipeline.session import PeriodRun
from carrier_opt.pipeline.sync import ProgressCallback, SyncReport, sync_provider
from carrier_opt.settings import sync_reuse_window


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


def usage_for_run(
    run: PeriodRun,
    *,
    always_sync: bool,
    client_for: Callable[[], JasperClient],
    holder: str,
    sync_progress: ProgressCallback | None = None,
) -> RunUsage:
    """The period's usage for ``run`` (whose session is open), at its ``now``.

    A closed period is not synced — the carrier has no cycle-to-date usage for it — and runs
    on what the period's syncs stored (failing plainly when nothing was). An open period reuses
    a recent sync (:func:`reusable_sync`) unless ``always_sync`` (the last day's hourly runs),
    else syncs, with a client from ``client_for`` (closed here)."""
    engine, provider_name, period_key = run.engine, run.provider, run.period_key
    now, progress, log = run.now(), run.progress, run.log
    with engine.connect() as connection:
        period = period_for_key(load_provider(connection, provider_name).cycle, period_key)
    if now >= period.end:
        stored = require_stored_usage(engine, provider_name, period_key)
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
        return RunUsage("recent sync reused", stored_sims=stored, reused=fresh, age_hours=age_h)
    progress.milestone(20, "device sync started")
    client = client_for()
    try:
        report = sync_provider(
            engine, provider_name, client=client, now=now, holder=holder, progress=sync_progress
        )
    finally:
        client.close()
    progress.milestone(30, "devices synchronized")
    log.info(report.summary())
    for warning in report.warnings:
        log.warning(warning)
    return RunUsage("synced", sync=report)


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
