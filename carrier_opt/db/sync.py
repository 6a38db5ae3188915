"""Sync one provider's SIMs and usage from the carrier into the database.

The flow (legacy "Jasper AWS Get Devices Queue" + ``usp_Update_Jasper_Device``):

1. clear the provider's staging rows;
2. page through ``GET /devices?modifiedSince=...`` into ``JasperDeviceStaging``;
3. usage, the economical way: one paged ``GET /usages`` series per rate plan the provider's SIMs
   are on, into ``JasperUsageStaging``; then ``GET /devices/{iccid}/ctdUsages`` only for SIMs
   the bulk data missed;
4. merge staging into ``Device`` in one transaction (:mod:`carrier_opt.db.merge`) and persist
   the billing period.

Steps 1–3 only touch staging, so a crash before the merge leaves ``Device`` as it was, and a
crash inside the merge rolls it back; running the sync again starts over from step 1 and
converges to the same state. Malformed carrier records are skipped and reported in
:attr:`SyncReport.problems`, never silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import CompoundSelect, Connection, Engine, func, select, union

from carrier_opt.core.billing import BillingPeriodSpan, period_containing
from carrier_opt.core.usage import projection_factor
from carrier_opt.db.merge import DEVICE, MergeCounts, merge_staging
from carrier_opt.db.providers import (
    ProviderSettings,
    ensure_billing_period,
    jasper_credentials,
    load_provider,
)
from carrier_opt.db.staging import (
    DEVICE_COLUMNS,
    DEVICE_STAGING,
    USAGE_COLUMNS,
    USAGE_STAGING,
    StagingLoader,
    bulk_usage_row,
    clear_staging,
    ctd_usage_row,
    device_row,
)
from carrier_opt.db.types import utc_now
from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.client import ApiStats, JasperClient
from carrier_opt.jasper.payloads import MalformedRecordError, PayloadProblem
from carrier_opt.jasper.transport import JasperApiError

log = logging.getLogger(__name__)

MAX_MODIFIED_SINCE_AGE = timedelta(days=364)
"""The API refuses ``modifiedSince`` more than a year old; a day of margin."""

LEGACY_WINDOW = timedelta(days=31 + 1)
"""The legacy sync asked for SIMs modified in the last month and a day."""

INCREMENTAL_OVERLAP = timedelta(days=1)
"""Incremental syncs re-read a day before the newest known modification (clock skew)."""


@dataclass(frozen=True)
class SyncProgress:
    """Where a running sync is: ``phase`` is devices, usage, ctd-usage or merge."""

    phase: str
    done: int
    total: int | None = None


ProgressCallback = Callable[[SyncProgress], None]


@dataclass
class SyncReport:
    """What a sync did: API cost, staging and merge counts, skipped records, time taken."""

    provider: str
    period_key: str
    modified_since: datetime
    api: ApiStats = field(default_factory=ApiStats)
    devices_staged: int = 0
    rate_plans_queried: int = 0
    bulk_usage_rows: int = 0
    ctd_usage_calls: int = 0
    merge: MergeCounts = field(default_factory=MergeCounts)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line of counts for the command line and logs."""
        merge = self.merge
        return (
            f"{self.provider} {self.period_key}: {self.api.pages} pages, {self.api.calls} calls, "
            f"{self.api.retries} retries; devices {merge.inserted} inserted, "
            f"{merge.updated} updated, {merge.unchanged} unchanged; "
            f"usage for {merge.usage_rows} SIMs ({self.bulk_usage_rows} bulk, "
            f"{self.ctd_usage_calls} per-SIM); {len(self.problems)} skipped records; "
            f"{self.seconds:.1f} s"
        )


def sync_provider(
    engine: Engine,
    provider_name: str,
    *,
    client: JasperClient | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Sync devices then usage of ``provider_name`` into ``Device``; answers a report.

    ``client`` defaults to one built from the provider's settings and environment credentials;
    ``since`` to an incremental window (see :func:`default_modified_since`); ``now`` (aware) to
    the current time, which picks the billing period.
    """
    started = time.monotonic()
    now = now or utc_now()
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
        since = since or default_modified_since(connection, provider.id, now)
    period = period_containing(provider.cycle, now)
    own_client = client is None
    client = client or JasperClient(provider.base_url, *jasper_credentials(provider))
    report = SyncReport(provider.name, period.key, since)
    stats_before = client.stats
    notify = progress or (lambda _progress: None)
    try:
        clear_staging(engine, provider.id)
        report.devices_staged = _stage_devices(engine, client, provider, since, report, notify)
        usage_date = now  # the sync's own clock: a pinned "now" dates its usage too
        covered = _stage_bulk_usage(engine, client, provider, period, usage_date, report, notify)
        _stage_missing_usage(engine, client, provider, period, usage_date, covered, report, notify)
        notify(SyncProgress("merge", 0, 1))
        with engine.begin() as connection:
            period_id = ensure_billing_period(connection, provider.id, period)
            report.merge = merge_staging(
                connection,
                provider.id,
                merged_at=utc_now(),
                billing_period_id=period_id,
                projection_factor=projection_factor(period, usage_date, as_of=usage_date),
            )
        notify(SyncProgress("merge", 1, 1))
    except JasperApiError as exc:
        if exc.status == 401:
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


def default_modified_since(connection: Connection, provider_id: int, now: datetime) -> datetime:
    """Where an incremental device search starts.

    The earlier of the legacy window (a month and a day) and a day before the newest
    modification already known, never older than the API allows (a year). A provider with no
    SIMs yet gets the whole year.
    """
    oldest_allowed = now - MAX_MODIFIED_SINCE_AGE
    newest_known = connection.scalar(
        select(func.max(DEVICE.c.date_updated)).where(DEVICE.c.service_provider_id == provider_id)
    )
    if newest_known is None:
        return oldest_allowed
    return max(oldest_allowed, min(newest_known - INCREMENTAL_OVERLAP, now - LEGACY_WINDOW))


def _stage_devices(
    engine: Engine,
    client: JasperClient,
    provider: ProviderSettings,
    since: datetime,
    report: SyncReport,
    notify: ProgressCallback,
) -> int:
    loader = StagingLoader(engine, DEVICE_STAGING, DEVICE_COLUMNS)
    result = client.search_devices(since, account_id=provider.account_id, skip_malformed=True)
    staged_at = utc_now()
    pages_seen = 0
    for device in result:
        loader.add(device_row(provider.id, device, result.pages_read, staged_at))
        if result.pages_read != pages_seen:
            pages_seen = result.pages_read
            notify(SyncProgress("devices", pages_seen))
    loader.flush()
    report.problems.extend(str(problem) for problem in result.problems)
    return loader.loaded


def _stage_bulk_usage(
    engine: Engine,
    client: JasperClient,
    provider: ProviderSettings,
    period: BillingPeriodSpan,
    usage_date: datetime,
    report: SyncReport,
    notify: ProgressCallback,
) -> set[str]:
    """Bulk usage of every rate plan in use; answers the ICCIDs it covered."""
    plans = _rate_plans_in_use(engine, provider.id)
    report.rate_plans_queried = len(plans)
    loader = StagingLoader(engine, USAGE_STAGING, USAGE_COLUMNS)
    covered: set[str] = set()
    staged_at = utc_now()
    for done, plan in enumerate(plans, start=1):
        try:
            result = client.usage_by_rate_plan(plan, period.first_local_day, skip_malformed=True)
            for usage in result:
                loader.add(bulk_usage_row(provider.id, usage, usage_date, staged_at))
                covered.add(usage.iccid)
        except JasperApiError as exc:
            if exc.retryable or exc.status == 401:
                raise
            # The carrier does not know the plan (renamed, shared pool): its SIMs fall back.
            report.problems.append(f"GET /usages ratePlanName={plan!r}: {exc}")
            continue
        report.problems.extend(str(problem) for problem in result.problems)
        notify(SyncProgress("usage", done, len(plans)))
    loader.flush()
    report.bulk_usage_rows = loader.loaded
    return covered


def _stage_missing_usage(
    engine: Engine,
    client: JasperClient,
    provider: ProviderSettings,
    period: BillingPeriodSpan,
    usage_date: datetime,
    covered: set[str],
    report: SyncReport,
    notify: ProgressCallback,
) -> None:
    """Cycle-to-date usage, one call per SIM, for the SIMs bulk usage did not cover."""
    missing = sorted(_known_iccids(engine, provider.id) - covered)
    loader = StagingLoader(engine, USAGE_STAGING, USAGE_COLUMNS)
    staged_at = utc_now()
    for done, iccid in enumerate(missing, start=1):
        report.ctd_usage_calls += 1
        try:
            usage = client.ctd_usage(iccid)
        except MalformedRecordError as exc:
            report.problems.append(str(exc.problem))
            continue
        except JasperApiError as exc:
            if exc.retryable or exc.status == 401:
                raise
            report.problems.append(str(_problem_for(iccid, exc)))
            continue
        loader.add(ctd_usage_row(provider.id, usage, period.first_local_day, usage_date, staged_at))
        notify(SyncProgress("ctd-usage", done, len(missing)))
    loader.flush()


def _rate_plans_in_use(engine: Engine, provider_id: int) -> list[str]:
    """Rate plans of the staged SIMs and of the SIMs already known (sorted, no NULLs)."""
    staged = select(DEVICE_STAGING.c.carrier_rate_plan_code.label("code")).where(
        DEVICE_STAGING.c.service_provider_id == provider_id
    )
    known = select(DEVICE.c.carrier_rate_plan_code.label("code")).where(
        DEVICE.c.service_provider_id == provider_id
    )
    return sorted(_non_null(engine, union(staged, known)))


def _known_iccids(engine: Engine, provider_id: int) -> set[str]:
    """ICCIDs of the staged SIMs and of the SIMs already known."""
    staged = select(DEVICE_STAGING.c.iccid.label("code")).where(
        DEVICE_STAGING.c.service_provider_id == provider_id
    )
    known = select(DEVICE.c.iccid.label("code")).where(DEVICE.c.service_provider_id == provider_id)
    return set(_non_null(engine, union(staged, known)))


def _non_null(engine: Engine, query: CompoundSelect) -> Iterable[str]:
    with engine.connect() as connection:
        return [value for (value,) in connection.execute(query) if value]


def _problem_for(iccid: str, exc: JasperApiError) -> PayloadProblem:
    return PayloadProblem(
        endpoint=f"GET /devices/{iccid}/ctdUsages",
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
    "default_modified_since",
    "sync_provider",
]
