"""Sync one provider's SIMs and usage from the carrier into the database.

The flow (legacy "Jasper AWS Get Devices Queue" + ``usp_Update_Jasper_Device``), as the real
API allows it (``jasper-api.md``):

1. open the sync (:mod:`carrier_opt.db.sync_runs`): one at a time per provider, resuming a
   stopped one, from the provider's watermark — SIMs modified since the last completed sync;
2. page through ``GET /devices?modifiedSince=...`` into ``JasperDeviceStaging``, one commit per
   page. The search answers four fields per SIM (iccid, status, ratePlan, communicationPlan);
3. ``GET /devices/{iccid}`` for every SIM the search listed — new or modified since the
   watermark, so a re-sync with nothing modified makes no details call — for its activation
   date, customer, msisdn, imsi, account and modification date; staged as they come, so a
   resumed sync fetches only what is missing;
4. usage, the economical way: one paged ``GET /usages`` series per rate plan the provider's SIMs
   are on, into ``JasperUsageStaging``; then ``GET /devices/{iccid}/ctdUsages`` only for SIMs
   the bulk data missed;
5. merge staging into ``Device`` in one transaction (:mod:`carrier_opt.db.merge`), persist the
   billing period, and complete the sync: only then does the watermark move.

Steps 2–4 only touch staging, so a crash before the merge leaves ``Device`` as it was, and a
crash inside the merge rolls it back; the next sync resumes from the last page and the missing
details. Malformed carrier records are skipped and reported in :attr:`SyncReport.problems`,
never silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from carrier_opt.core.billing import BillingPeriodSpan, period_containing
from carrier_opt.core.staleness import Staleness, money_at_stake, refresh_order, staleness
from carrier_opt.core.usage import projection_factor
from carrier_opt.db.merge import MergeCounts, merge_staging
from carrier_opt.db.models import SyncStatus
from carrier_opt.db.providers import (
    ProviderSettings,
    ensure_billing_period,
    jasper_credentials,
    load_provider,
)
from carrier_opt.db.readings import provider_readings
from carrier_opt.db.skipped_records import store_skipped
from carrier_opt.db.staging import (
    DEVICE_COLUMNS,
    DEVICE_STAGING,
    USAGE_COLUMNS,
    USAGE_STAGING,
    StagingLoader,
    activated_iccids,
    clear_usage_staging,
    known_device_iccids,
    known_iccids,
    known_modified_since,
    load_rows,
    pending_details,
    rate_plans_in_use,
    sims_on_plan,
    sims_without_details,
    stage_known_sims,
    staged_iccids,
    staged_on_pages,
    staged_sim_count,
    store_details,
)
from carrier_opt.db.sync_runs import (
    SyncRun,
    begin_sync,
    finish_sync,
    record_progress,
    search_began,
)
from carrier_opt.db.types import utc_now
from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.client import ApiStats, JasperClient
from carrier_opt.jasper.payloads import Device, MalformedRecordError, PayloadProblem
from carrier_opt.jasper.transport import JasperApiError
from carrier_opt.pipeline.call_plan import CallBudget, CallBudgetSpent
from carrier_opt.pipeline.capabilities import (
    PLANS_TO_CONCLUDE,
    confirm_credentials,
    is_refusal,
    no_bulk_usage_reason,
    record_allowed,
    record_refused,
    refusal_text,
)
from carrier_opt.pipeline.carrier_rows import (
    bulk_usage_row,
    ctd_usage_row,
    detail_values,
    device_row,
    skipped_row,
)
from carrier_opt.pipeline.fleet_check import (
    IncompleteListingError,
    check_listing_shortfall,
    check_usage_against_listing,
)

log = logging.getLogger(__name__)

DETAILS_PER_COMMIT = 50
"""Device details written (and the sync's heartbeat beaten) every this many SIMs."""


@dataclass(frozen=True)
class SyncProgress:
    """Where a running sync is: ``phase`` is devices, details, usage, ctd-usage or merge;
    ``seconds`` since the phase began (for an ETA)."""

    phase: str
    done: int
    total: int | None = None
    seconds: float = 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the phase's pace so far (``None`` when it cannot be told)."""
        if not self.total or not self.done or self.seconds <= 0:
            return None
        return self.seconds / self.done * (self.total - self.done)

    def describe(self, width: int = 24) -> str:
        """``details [#########.......] 3,210/9,874 SIMs, ETA 22 min`` (no bar without a
        total): one line for a terminal or a run's log."""
        unit = {"devices": "pages", "details": "SIMs", "usage": "rate plans", "ctd-usage": "SIMs"}
        what = unit.get(self.phase, "steps")
        if not self.total:
            return f"{self.phase}: {self.done:,} {what}"
        filled = min(width, round(width * self.done / self.total))
        bar = "#" * filled + "." * (width - filled)
        eta = self.eta_s
        left = "" if eta is None else f", ETA {_duration(eta)}"
        return f"{self.phase} [{bar}] {self.done:,}/{self.total:,} {what}{left}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


ProgressCallback = Callable[[SyncProgress], None]


@dataclass
class SyncReport:
    """What a sync did: API cost, staging and merge counts, skipped records, time taken."""

    provider: str
    period_key: str
    modified_since: datetime
    api: ApiStats = field(default_factory=ApiStats)
    resumed: bool = False
    pages_read: int = 0
    devices_staged: int = 0
    details_calls: int = 0
    rate_plans_queried: int = 0
    bulk_usage_rows: int = 0
    ctd_usage_calls: int = 0
    merge: MergeCounts = field(default_factory=MergeCounts)
    skipped: list[PayloadProblem] = field(default_factory=list)
    """The skipped records themselves, stored in ``SkippedCarrierRecord`` as they come."""
    budget: int | None = None
    """The call budget (None: every call is made)."""
    usage_left_stale: int = 0
    """SIMs whose usage the budget did not refresh: they keep their last reading."""
    details_pending: int = 0
    """SIMs whose details the budget left for a later sync (``Device.details_at`` NULL)."""
    staleness: Staleness | None = None
    """How old the usage of the provider's ACTIVATED SIMs is after this sync."""
    bulk_usage_refused: bool = False
    """The account refused Get Usage by Rate Plan (an Essential account): usage read per SIM."""
    late_arrivals: int = 0
    """SIMs the usage listed that were added after the search began, staged from details."""
    warnings: list[str] = field(default_factory=list)
    """Usage read per SIM instead of in bulk, and why (an odd answer, a plan without SIMs)."""
    seconds: float = 0.0

    def skip(self, problem: PayloadProblem) -> None:
        """Keep a record the sync goes on without (stored with the sync, listed in reports)."""
        self.skipped.append(problem)

    @property
    def problems(self) -> list[str]:
        """The skipped records, one line each (for the command line, logs and metadata)."""
        return [str(problem) for problem in self.skipped]

    def summary(self) -> str:
        """One line of counts for the command line and logs."""
        merge = self.merge
        resumed = " (resumed)" if self.resumed else ""
        return (
            f"{self.provider} {self.period_key}{resumed}: {self.api.pages} pages, "
            f"{self.details_calls} device details, {self.api.calls} calls, "
            f"{self.api.retries} retries; devices {merge.inserted} inserted, "
            f"{merge.updated} updated, {merge.unchanged} unchanged; "
            f"usage for {merge.usage_rows} SIMs ({self.bulk_usage_rows} bulk, "
            f"{self.ctd_usage_calls} per-SIM); {len(self.problems)} skipped records; "
            f"{len(self.warnings)} warnings; {self.seconds:.1f} s"
        )


def sync_provider(
    engine: Engine,
    provider_name: str,
    *,
    client: JasperClient | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    holder: str = "command line",
    max_calls: int | None = None,
    refresh_by: str = "value",
) -> SyncReport:
    """Sync devices then usage of ``provider_name`` into ``Device``; answers a report.

    ``client`` defaults to one built from the provider's settings and environment credentials;
    ``since`` overrides the watermark (see :func:`~carrier_opt.db.sync_runs.watermark`);
    ``now`` (aware) is the current time, which picks the billing period. ``max_calls`` is the
    sync's call budget (:mod:`carrier_opt.pipeline.call_plan`; ``refresh_by`` ``stalest`` is the
    baseline order of per-SIM usage refreshes). Raises
    :class:`~carrier_opt.db.sync_runs.SyncBusy` while another sync of the provider runs, and
    :class:`~carrier_opt.pipeline.call_plan.CallBudgetSpent` when the budget ends the search.
    """
    started = time.monotonic()
    now = now or utc_now()
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
    period = period_containing(provider.cycle, now)
    # Within a budget, a window reaching back before the period is listed in two parts, this
    # period's modifications first (call_plan); without one, one listing as always.
    split = period.start if max_calls is not None else None
    run = begin_sync(engine, provider.id, now=now, holder=holder, since=since, period_start=split)
    own_client = client is None
    report = SyncReport(provider.name, period.key, run.modified_since, resumed=run.resumed)
    try:
        client = client or JasperClient(provider.base_url, *jasper_credentials(provider))
    except Exception as exc:
        finish_sync(engine, run, SyncStatus.FAILED, now, error=str(exc))
        raise
    stats_before = client.stats
    clock = _RunClock(now, started)
    budget = CallBudget(max_calls, client)
    report.budget = max_calls
    step = _Sync(engine, client, provider, run, report, progress or (lambda _p: None), clock)
    step.budget = budget
    usage = _Usage(engine, client, provider, period, report, step, budget, now, refresh_by)
    try:
        step.search()
        step.check_listing_shortfall()
        if max_calls is None:
            step.details()
            usage_date = usage.stage()
        else:  # usage is worth more to the decision than details (module call_plan)
            usage_date = usage.stage()
            step.details()
        step.store_skipped()
        step.notify(SyncProgress("merge", 0, 1))
        with engine.begin() as connection:
            period_id = ensure_billing_period(connection, provider.id, period)
            report.merge = merge_staging(
                connection,
                provider.id,
                merged_at=clock(),  # the sync's clock: "last usage sync" reads it
                billing_period_id=period_id,
                projection_factor=projection_factor(period, usage_date, as_of=usage_date),
            )
        step.notify(SyncProgress("merge", 1, 1))
        report.api = client.stats - stats_before
        finish_sync(engine, run, SyncStatus.COMPLETED, clock())
        report.staleness = activated_staleness(engine, provider.id, period, usage_date)
    except BaseException as exc:
        step.store_skipped()
        finish_sync(
            engine,
            run,
            SyncStatus.FAILED,
            clock(),
            error=f"{type(exc).__name__}: {exc}",
            full_sweep_next=isinstance(exc, IncompleteListingError),
        )
        if isinstance(exc, JasperApiError) and exc.status == 401:
            raise CarrierApiError(
                f"{provider.name}: the carrier refused the credentials "
                f"({exc.carrier_message or 'HTTP 401'}); "
                f"check the environment variables {provider.username_ref or 'username'} and "
                f"{provider.secret_ref}",
                status=401,
                error_code=exc.error_code,
            ) from None
        raise
    finally:
        report.api = client.stats - stats_before
        report.seconds = time.monotonic() - started
        if own_client:
            client.close()
    log.info("sync %s", report.summary())
    return report


class _RunClock:
    """The sync's ``now`` moved on by the time elapsed: heartbeats in the same time base as the
    (possibly pinned) ``now`` the sync was started with."""

    def __init__(self, now: datetime, started: float) -> None:
        self.now, self.started = now, started

    def __call__(self) -> datetime:
        return self.now + timedelta(seconds=time.monotonic() - self.started)


class _Sync:
    """The device steps of one sync: search pages, then details, each resumable."""

    def __init__(self, engine, client, provider, run: SyncRun, report, progress, clock) -> None:
        self.engine = engine
        self.client = client
        self.provider = provider
        self.run = run
        self.report = report
        self.progress = progress
        self.clock = clock
        self.phase_started = time.monotonic()
        self._carrier_clock: datetime | None = None
        self._skipped_stored = 0
        self._result = None
        self.budget: CallBudget | None = None
        self.recent_pages: int | None = None

    def notify(self, progress: SyncProgress) -> None:
        self.progress(progress)

    def search(self) -> None:
        """Stage every page of the search, one commit per page (with the run's progress); a
        resumed sync goes on after its last committed page.

        The listing is ordered by modification, so a SIM modified while (or between) pages are
        read moves to its end: it is listed twice, and the merge keeps the newer copy. The
        resumed listing starts where the stopped one was, as an uninterrupted one would go on;
        SIMs modified since the stopped sync's search began are listed again by the next sync,
        whose watermark is that moment."""
        if self.run.search_done:
            return
        self.phase_started = time.monotonic()
        run, done = self.run, self.run.pages_done
        if run.split_at is None:
            self._list(run.modified_since, None, first_page=done + 1, offset=0, last=True)
        else:  # SIMs modified this period first: their details matter to this bill
            recent = run.recent_pages
            if recent is None:
                recent = self._list(run.split_at, None, first_page=done + 1, offset=0, last=False)
                record_progress(self.engine, run, self.clock(), recent_pages=recent)
                done = recent
                self.recent_pages = recent
            if not self.budget.allows(1):
                raise self._budget_spent(done)
            first = done - recent + 1
            self._list(run.modified_since, run.split_at, first_page=first, offset=recent, last=True)
        record_progress(
            self.engine,
            self.run,
            self.clock(),
            search_done=True,
            devices_listed=self._staged_sims(),
        )

    def _list(
        self, since: datetime, till: datetime | None, *, first_page: int, offset: int, last: bool
    ) -> int:
        """Stage one listing from ``first_page``, its pages numbered after ``offset`` in
        staging and progress; answers the number of the last page staged. ``last``: no listing
        follows (the budget may end on its last page)."""
        staged_at = utc_now()
        fresh = self.run.pages_done == 0 and offset == 0
        page_number = offset + first_page - 1
        for listed, devices in self._listing(first_page, since, till):
            page_number = offset + listed
            if fresh and self._carrier_clock is not None:  # the next watermark, exactly
                record_progress(
                    self.engine, self.run, self.clock(), carrier_started_at=self._carrier_clock
                )
                fresh = False
            rows = [device_row(self.provider.id, d, page_number, staged_at) for d in devices]
            with self.engine.begin() as connection:
                load_rows(connection, DEVICE_STAGING, DEVICE_COLUMNS, rows)
                self._store_skipped(connection)  # with its page: a resumed sync skips both
            self.report.devices_staged += len(rows)
            self.report.pages_read += 1
            record_progress(self.engine, self.run, self.clock(), pages_done=page_number)
            self.notify(
                SyncProgress("devices", page_number, None, time.monotonic() - self.phase_started)
            )
            if not self.budget.allows(1) and not (last and self._result.at_last_page):
                raise self._budget_spent(page_number)
        return page_number

    def _budget_spent(self, page_number: int) -> CallBudgetSpent:
        return CallBudgetSpent(
            f"the call budget ({self.budget.describe()}) ran out after search page "
            f"{page_number}, before the listing ended: nothing merged; the next sync resumes "
            "the listing from there"
        )

    def _listing(self, start_page: int, since: datetime, till: datetime | None):
        """The search's pages from ``start_page`` (problems go to the report as they come)."""
        result = self.client.search_devices(
            since,
            till,
            account_id=self.provider.account_id,
            skip_malformed=True,
            start_page=start_page,
        )
        self._result = result
        for page in result.pages():
            self._carrier_clock = result.first_answered_at
            for problem in result.problems:
                self.report.skip(problem)
            result.problems.clear()
            yield page

    def details(self) -> None:
        """Get Device Details for every staged SIM that has none yet, in commits of
        :data:`DETAILS_PER_COMMIT` (each beats the run's heart)."""
        pending = self._details_in_order()
        total, done = len(pending), 0
        self.phase_started = time.monotonic()
        for start in range(0, total, DETAILS_PER_COMMIT):
            chunk = pending[start : start + DETAILS_PER_COMMIT]
            values = [v for v in (self._details_of(iccid) for iccid in chunk) if v is not None]
            done += len(chunk)
            self._store_details(values, done)
            self.notify(SyncProgress("details", done, total, time.monotonic() - self.phase_started))
        record_progress(self.engine, self.run, self.clock(), details_fetched=total)
        self.store_skipped()

    def _details_of(self, iccid: str) -> dict | None:
        self.report.details_calls += 1
        try:
            device = self.client.device_details(iccid)
        except MalformedRecordError as exc:
            self.report.skip(exc.problem)
            return None
        except JasperApiError as exc:
            if exc.retryable or exc.status == 401:
                raise
            self.report.skip(_problem_for(iccid, exc, ""))
            return None
        return detail_values(device, utc_now())

    def _store_details(self, values: list[dict], done: int) -> None:
        """Details and the count fetched so far in one go: an interrupted sync's row says how
        far it got (it used to say 0 until the phase ended)."""
        store_details(self.engine, self.provider.id, values)
        record_progress(self.engine, self.run, self.clock(), details_fetched=done)

    def store_skipped(self) -> None:
        """Store the skipped records not stored yet (each phase's end, and a failure's)."""
        if len(self.report.skipped) > self._skipped_stored:
            with self.engine.begin() as connection:
                self._store_skipped(connection)

    def _store_skipped(self, connection) -> None:
        fresh = self.report.skipped[self._skipped_stored :]
        store_skipped(
            connection,
            provider_id=self.provider.id,
            sync_run_id=self.run.id,
            rows=[skipped_row(problem) for problem in fresh],
            recorded_at=self.clock(),
        )
        self._skipped_stored += len(fresh)

    def check_listing_shortfall(self) -> None:
        """Stop before any details call when known SIMs modified in the window are missing
        from the listing (:func:`~carrier_opt.pipeline.fleet_check.check_listing_shortfall`)."""
        expected = known_modified_since(self.engine, self.provider.id, self.run.modified_since)
        if not expected:
            return
        listed = staged_iccids(self.engine, self.provider.id)
        listed |= {p.iccid for p in self.report.skipped if p.iccid}
        check_listing_shortfall(expected, listed, since=self.run.modified_since)

    def check_usage_against_listing(self, in_usage: set[str]) -> None:
        """SIMs the bulk usage lists that the listing never held: late arrivals are staged
        from their details; a listing that lost SIMs stops the sync (module fleet_check)."""
        known = known_iccids(self.engine, self.provider.id)
        if in_usage <= known:
            return
        found = check_usage_against_listing(
            in_usage,
            known,
            skipped=self.report.skipped,
            search_began=search_began(self.engine, self.run),
            details_of=self._device_of,
        )
        if found.late_arrivals:
            self._stage_late_arrivals(found.late_arrivals)
        for iccid in found.unmatched:
            self.report.warnings.append(
                f"usage lists SIM {iccid}, which the search sent without a usable ICCID (see "
                "the skipped records): its usage is not stored"
            )

    def _device_of(self, iccid: str) -> Device | None:
        self.report.details_calls += 1
        try:
            return self.client.device_details(iccid)
        except MalformedRecordError as exc:
            self.report.skip(exc.problem)
        except JasperApiError as exc:
            if exc.retryable or exc.status == 401:
                raise
            self.report.skip(_problem_for(iccid, exc, ""))
        return None

    def _stage_late_arrivals(self, devices: tuple[Device, ...]) -> None:
        staged_at = utc_now()
        rows = [device_row(self.provider.id, device, None, staged_at) for device in devices]
        with self.engine.begin() as connection:
            load_rows(connection, DEVICE_STAGING, DEVICE_COLUMNS, rows)
        store_details(self.engine, self.provider.id, [detail_values(d, staged_at) for d in devices])
        self.report.late_arrivals += len(devices)
        self.report.warnings.append(
            f"{len(devices)} SIM(s) added after the search began (e.g. {devices[0].iccid}) were "
            "listed by the usage: staged from their details"
        )

    def _details_in_order(self) -> list[str]:
        """The SIMs to fetch details of, in the order of the module call_plan (new SIMs, then
        listed ones, then those an earlier budget left, stalest first), cut to the budget."""
        staged = sims_without_details(self.engine, self.provider.id)
        left_before = pending_details(self.engine, self.provider.id, exclude=set(staged))
        known = known_device_iccids(self.engine, self.provider.id)
        recent_pages = self.recent_pages or self.run.recent_pages
        recent = (
            set(staged_on_pages(self.engine, self.provider.id, recent_pages))
            if recent_pages
            else set()
        )

        def rank(iccid: str) -> tuple[bool, bool]:  # this period's first, then new SIMs first
            return (iccid not in recent, iccid in known)

        wanted = sorted(staged, key=rank) + left_before
        chosen = wanted[: self.budget.take(len(wanted))]
        from_before = [iccid for iccid in chosen if iccid in set(left_before)]
        if from_before:
            stage_known_sims(self.engine, self.provider.id, from_before, utc_now())
        self.report.details_pending = len(wanted) - len(chosen)
        return chosen

    def _staged_sims(self) -> int:
        return staged_sim_count(self.engine, self.provider.id)


class _Usage:
    """The usage step: bulk pages, the fleet cross-check, then per SIM what bulk missed, in
    the order and within the budget of :mod:`carrier_opt.pipeline.call_plan`."""

    def __init__(self, engine, client, provider, period, report, step, budget, now, refresh_by):
        self.engine, self.client, self.provider = engine, client, provider
        self.period, self.report, self.step = period, report, step
        self.budget, self.now, self.refresh_by = budget, now, refresh_by

    def stage(self) -> datetime:
        """Stage the usage; answers its date (the carrier's answer time, else ``now``)."""
        covered, answered_at = _stage_bulk_usage(
            self.engine,
            self.client,
            provider=self.provider,
            period=self.period,
            report=self.report,
            notify=self.step.notify,
            now=self.now,
            budget=self.budget,
        )
        self.step.store_skipped()
        self.step.check_usage_against_listing(covered)
        usage_date = answered_at or self.now  # the carrier's clock, not this sync's
        missing = self._in_order(sorted(known_iccids(self.engine, self.provider.id) - covered))
        _stage_missing_usage(
            self.engine,
            self.client,
            provider=self.provider,
            period=self.period,
            usage_date=usage_date,
            missing=missing,
            report=self.report,
            notify=self.step.notify,
        )
        return usage_date

    def _in_order(self, missing: list[str]) -> list[str]:
        """Without a budget, all; with one, the SIMs with the most money at stake first
        (``refresh_by`` ``stalest``: oldest reading first), as many as the budget allows."""
        if self.budget.limit is None or not missing:
            return missing
        found = provider_readings(self.engine, self.provider.id, self.now, missing)
        value = money_at_stake(found.readings, self.period.seconds)
        order = refresh_order(
            value, found.readings.reading_age_s, by=self.refresh_by, active=found.readings.active
        )
        chosen = [missing[index] for index in order[: self.budget.take(len(missing))]]
        self.report.usage_left_stale = len(missing) - len(chosen)
        if self.report.usage_left_stale:
            self.report.warnings.append(
                f"the call budget ({self.budget.describe()} so far) refreshes the usage of "
                f"{len(chosen):,} of {len(missing):,} SIMs read per SIM ({self.refresh_by} "
                f"first); {self.report.usage_left_stale:,} keep their last reading"
            )
        return chosen


def activated_staleness(
    engine: Engine, provider_id: int, period: BillingPeriodSpan, as_of: datetime
) -> Staleness:
    """How old the usage of the provider's ACTIVATED SIMs is at ``as_of``."""
    found = provider_readings(engine, provider_id, as_of, activated_iccids(engine, provider_id))
    return staleness(found.readings, found.reading_times, period.seconds)


def _stage_bulk_usage(
    engine: Engine,
    client: JasperClient,
    *,
    provider: ProviderSettings,
    period: BillingPeriodSpan,
    report: SyncReport,
    notify: ProgressCallback,
    now: datetime,
    budget: CallBudget,
) -> tuple[set[str], datetime | None]:
    """Bulk usage of every rate plan in use; answers the ICCIDs it covered and the carrier's
    answer time. A plan whose answer is of no known shape, or empty while SIMs are on it, and
    SIMs listed without their usage, are left uncovered with a warning: they fall back to
    per-SIM ``ctdUsages`` — never zero usage stored silently."""
    clear_usage_staging(engine, provider.id)  # a resumed sync reads usage afresh
    reason = no_bulk_usage_reason(provider)
    if reason is not None:
        report.warnings.append(reason)
        return set(), None
    plans = rate_plans_in_use(engine, provider.id)
    report.rate_plans_queried = len(plans)
    loader = StagingLoader(engine, USAGE_STAGING, USAGE_COLUMNS)
    covered: set[str] = set()
    answered_at: datetime | None = None
    staged_at = utc_now()
    refused: list[str] = []
    for done, plan in enumerate(plans, start=1):
        if not budget.allows(1):
            report.warnings.append(
                f"the call budget ({budget.describe()}) ran out before the usage of "
                f"{len(plans) - done + 1} of {len(plans)} rate plan(s): their SIMs keep their "
                "last reading"
            )
            break
        try:
            bulk = client.usage_by_rate_plan(plan, period.first_local_day, skip_malformed=True)
        except JasperApiError as exc:
            if is_refusal(exc):
                confirm_credentials(client)  # a 401 here is the credentials: it propagates
                refused.append(plan)
                if not answered_at and len(refused) >= min(PLANS_TO_CONCLUDE, len(plans)):
                    report.warnings.append(record_refused(engine, provider, exc, len(refused), now))
                    report.bulk_usage_refused = True
                    break  # every SIM falls back to ctdUsages
                report.warnings.append(
                    f"GET /usages ratePlanName={plan!r} refused ({refusal_text(exc)}): its SIMs "
                    "are read per SIM (an operator-shared plan, which /usages refuses?)"
                )
                continue
            if exc.retryable:
                raise
            # The carrier does not know the plan (renamed, shared pool): its SIMs fall back.
            report.warnings.append(
                f"GET /usages ratePlanName={plan!r}: {exc}; its SIMs are read per SIM"
            )
            continue
        for problem in bulk.problems:
            report.skip(problem)
        answered_at = answered_at or bulk.timestamp or now
        if _bulk_usable(engine, provider.id, bulk, report):
            for usage in bulk.records():
                row = bulk_usage_row(provider.id, usage, bulk.timestamp or now, staged_at)
                loader.add(row)
                covered.add(usage.iccid)
        notify(SyncProgress("usage", done, len(plans)))
    if answered_at is not None:
        record_allowed(engine, provider, now)
    loader.flush()
    report.bulk_usage_rows = loader.loaded
    return covered, answered_at


def _bulk_usable(engine: Engine, provider_id: int, bulk, report: SyncReport) -> bool:
    """Whether a plan's bulk answer can be trusted; warnings say why not, naming the plan."""
    where = f"GET /usages ratePlanName={bulk.rate_plan!r}"
    if bulk.unknown_keys is not None:
        report.warnings.append(
            f"{where}: an answer of no known shape (keys: {', '.join(bulk.unknown_keys)}); "
            "its SIMs are read per SIM (ctdUsages)"
        )
        return False
    if (
        not bulk.usage
        and not bulk.missing_usage
        and sims_on_plan(engine, provider_id, bulk.rate_plan)
    ):
        report.warnings.append(
            f"{where}: the answer lists no SIM while SIMs are on the plan; they are read per "
            "SIM (ctdUsages)"
        )
        return False
    if bulk.missing_usage:
        report.warnings.append(
            f"{where}: {len(bulk.missing_usage)} record(s) without their data usage (e.g. "
            f"{bulk.missing_usage[0]}); those SIMs are read per SIM (ctdUsages)"
        )
    return True


def _stage_missing_usage(
    engine: Engine,
    client: JasperClient,
    *,
    provider: ProviderSettings,
    period: BillingPeriodSpan,
    usage_date: datetime,
    missing: list[str],
    report: SyncReport,
    notify: ProgressCallback,
) -> None:
    """Cycle-to-date usage, one call per SIM, for ``missing`` (the SIMs bulk usage did not
    cover, in the order a budget chose)."""
    loader = StagingLoader(engine, USAGE_STAGING, USAGE_COLUMNS)
    staged_at = utc_now()
    for done, iccid in enumerate(missing, start=1):
        report.ctd_usage_calls += 1
        try:
            usage = client.ctd_usage(iccid)
        except MalformedRecordError as exc:
            report.skip(exc.problem)
            continue
        except JasperApiError as exc:
            if exc.retryable or exc.status == 401:
                raise
            report.skip(_problem_for(iccid, exc))
            continue
        loader.add(ctd_usage_row(provider.id, usage, period.first_local_day, usage_date, staged_at))
        notify(SyncProgress("ctd-usage", done, len(missing)))
    loader.flush()


def _problem_for(iccid: str, exc: JasperApiError, route: str = "/ctdUsages") -> PayloadProblem:
    return PayloadProblem(
        endpoint=f"GET /devices/{iccid}{route}",
        page=None,
        index=None,
        field="(call)",
        value=f"HTTP {exc.status}",
        reason=exc.carrier_message or str(exc),
        iccid=iccid,
    )


__all__ = [
    "SyncProgress",
    "SyncReport",
    "sync_provider",
]
