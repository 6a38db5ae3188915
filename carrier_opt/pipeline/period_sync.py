"""One provider's carrier data for one billing period, whatever the period's age.

What the ``daily_sync`` schedule (and a launch of ``sync_carrier_data`` from the UI) runs:

* the **open** period: an incremental sync (SIMs modified since the last one, then the
  period's cycle-to-date usage), stored in ``Device`` and ``DeviceUsagePeriod`` — every day,
  so every period has its usage whether or not an optimization ran in it;
* a **closed** period: its usage as the carrier still reports it by ``cycleStartDate``
  (onboarding, or a period whose syncs were missed) — see :mod:`carrier_opt.db.past_usage`
  for what a past period cannot know;
* a period that has **not started**: refused.

Plain Python: the Dagster asset calls :func:`sync_period` and shapes its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from carrier_opt.core.billing import BillingPeriodSpan, period_containing, period_for_key
from carrier_opt.db.providers import load_provider
from carrier_opt.errors import InputError
from carrier_opt.jasper.client import JasperClient
from carrier_opt.pipeline.past_usage import PastUsageReport, store_periods_usage
from carrier_opt.pipeline.sync import ProgressCallback, SyncReport, sync_provider


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
