"""Read the usage of a provider's past billing periods from the carrier and store it.

Onboarding and the demo use it so that closed periods can be backfilled at once: the carrier
answers Get Usage by Rate Plan (``GET /usages``) for past cycles by ``cycleStartDate``, within
what it keeps (Cisco documents the current and a few previous cycles; older ones answer with
an error, reported as a warning). See :mod:`carrier_opt.db.past_usage` for what a past period
can and cannot know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, union

from carrier_opt.core.billing import BillingPeriodSpan, period_containing
from carrier_opt.db.merge import DEVICE, RATE_PLAN
from carrier_opt.db.past_usage import (
    PastPeriodStored,
    PastSimUsage,
    combine_plans,
    store_past_usage,
)
from carrier_opt.db.providers import ProviderSettings, jasper_credentials, load_provider
from carrier_opt.db.types import utc_now
from carrier_opt.errors import InputError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.transport import JasperApiError
from carrier_opt.pipeline.capabilities import (
    PLANS_TO_CONCLUDE,
    confirm_credentials,
    is_refusal,
    record_refused,
)

log = logging.getLogger(__name__)

MAX_PAST_PERIODS = 24
"""More than two years back no carrier keeps usage; a larger number is a typo."""


@dataclass
class PastUsageReport:
    """What one fetch of past periods stored, per period, and what it could not."""

    provider: str
    periods: list[PastPeriodStored] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per period, for the command line and the logs."""
        return [
            f"{self.provider} {stored.period_key}: usage of {stored.stored:,} SIMs stored, "
            f"{stored.replaced:,} read while the period was open replaced by their final "
            f"usage ({stored.kept:,} already final, kept; {stored.unknown:,} SIMs not synced, "
            "left out)"
            for stored in self.periods
        ]


def past_periods(provider: ProviderSettings, count: int, now: datetime) -> list[BillingPeriodSpan]:
    """The ``count`` periods before the one containing ``now``, newest first."""
    if not 0 <= count <= MAX_PAST_PERIODS:
        raise InputError(f"past periods must be 0..{MAX_PAST_PERIODS}, got {count}")
    spans = []
    period = period_containing(provider.cycle, now)
    for _ in range(count):
        period = period_containing(provider.cycle, period.start - timedelta(microseconds=1))
        spans.append(period)
    return spans


def fetch_past_usage(
    engine: Engine,
    provider_name: str,
    count: int,
    *,
    client: JasperClient | None = None,
    now: datetime | None = None,
) -> PastUsageReport:
    """Store the usage of ``provider_name``'s ``count`` previous periods (the SIMs must have
    been synced: usage is stored for SIMs ``Device`` knows). Each period is stored in one
    transaction; a period the carrier answers nothing for is skipped with a warning."""
    now = now or utc_now()
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
    spans = past_periods(provider, count, now)
    return store_periods_usage(engine, provider_name, spans, client=client, now=now)


def store_periods_usage(
    engine: Engine,
    provider_name: str,
    spans: list[BillingPeriodSpan],
    *,
    client: JasperClient | None = None,
    now: datetime | None = None,
) -> PastUsageReport:
    """Store the usage of ``provider_name``'s closed periods ``spans`` as the carrier reports
    it by ``cycleStartDate`` (see :func:`fetch_past_usage`)."""
    now = now or utc_now()
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
        plans = _rate_plans(connection, provider.id)
    report = PastUsageReport(provider.name)
    if not spans:
        return report
    if not provider.may_read_usage_by_rate_plan:
        report.warnings.append(_cannot_read_past(provider.capabilities_note or "Essential"))
        return report
    if not plans:
        raise InputError(
            f"{provider.name} has no synced SIMs and no rate plans: run carrier-opt sync "
            f"{provider.name} first (past usage is stored for the SIMs a sync knows)"
        )
    own_client = client is None
    client = client or JasperClient(provider.base_url, *jasper_credentials(provider))
    try:
        for span in spans:
            try:
                records = _period_usage(client, plans, span, report)
            except JasperApiError as exc:
                if not is_refusal(exc):
                    raise
                confirm_credentials(client)  # a 401 here is the credentials: it propagates
                note = record_refused(engine, provider, exc, 1, now)
                report.warnings.append(_cannot_read_past(note))
                break
            if records is None:
                continue
            stored = store_past_usage(engine, provider.id, span, combine_plans(records), now)
            report.periods.append(stored)
            log.info("%s", report.lines()[-1])
    finally:
        if own_client:
            client.close()
    return report


def _cannot_read_past(why: str) -> str:
    return (
        f"past cycles cannot be read: the account may not call Get Usage by Rate Plan ({why}); "
        "on such an account a period's usage is only what a sync stored while it was open"
    )


def _rate_plans(connection, provider_id: int) -> list[str]:
    """The provider's priced plans and the plans its SIMs are on (usage is asked per plan)."""
    priced = select(RATE_PLAN.c.rate_plan_code.label("code")).where(
        RATE_PLAN.c.service_provider_id == provider_id
    )
    in_use = select(DEVICE.c.carrier_rate_plan_code.label("code")).where(
        DEVICE.c.service_provider_id == provider_id
    )
    return sorted({code for (code,) in connection.execute(union(priced, in_use)) if code})


def _period_usage(
    client: JasperClient, plans: list[str], span: BillingPeriodSpan, report: PastUsageReport
) -> list[PastSimUsage] | None:
    """Every plan's usage in ``span``; None when the carrier answered for no plan."""
    records: list[PastSimUsage] = []
    answered = refused = 0
    for plan in plans:
        where = f"GET /usages ratePlanName={plan!r} cycleStartDate={span.first_local_day}"
        try:
            bulk = client.usage_by_rate_plan(plan, span.first_local_day, skip_malformed=True)
        except JasperApiError as exc:
            refused += is_refusal(exc)
            if exc.retryable or (answered == 0 and refused >= min(PLANS_TO_CONCLUDE, len(plans))):
                raise  # refusals of the first plans are the account's (store_periods_usage)
            report.warnings.append(f"{where}: {exc}")
            continue
        if bulk.unknown_keys is not None:
            keys = ", ".join(bulk.unknown_keys)
            report.warnings.append(f"{where}: an answer of no known shape (keys: {keys})")
            continue
        answered += 1
        if bulk.missing_usage:
            report.warnings.append(
                f"{where}: {len(bulk.missing_usage)} record(s) without their data usage (e.g. "
                f"{bulk.missing_usage[0]}) left out"
            )
        for iccid, (data, sms, voice) in bulk.usage.items():
            records.append(PastSimUsage(iccid, plan, data or 0, sms or 0, voice or 0))
    if answered == 0:
        report.warnings.append(
            f"{span.key}: the carrier answered no usage for any of {len(plans)} rate plan(s); "
            "nothing stored (older than the carrier keeps?)"
        )
        return None
    return records
