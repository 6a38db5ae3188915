"""Usage of closed billing periods, stored from the carrier's per-cycle answers.

A sync stores the *current* period's usage (``DeviceUsagePeriod``); a period whose window was
missed, or that ended before the provider was added, has none, and its backfill fails with
"no usage stored". The carrier keeps a few past cycles, though: Get Usage by Rate Plan takes a
``cycleStartDate``. :func:`store_past_usage` writes what such answers say into
``DeviceUsagePeriod``, so that the period can be optimized (backfilled) like any other.

What a past answer cannot say, and what is stored instead:

- the plan a SIM was on: the rate plan under which the carrier reports the usage (a SIM
  reported under two plans takes the one with more data, and the usage of both);
- its status and communication plan then: today's, from ``Device``;
- SIMs the carrier no longer lists, or that were never synced: left out (counted).

A period that a sync stored while it was open keeps every row it has: only SIMs without a row
for the period are added, so nothing stored is overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select

from carrier_opt.core.billing import BillingPeriodSpan
from carrier_opt.core.usage import BYTES_PER_MB
from carrier_opt.db.merge import DEVICE, USAGE_PERIOD
from carrier_opt.db.providers import ensure_billing_period


@dataclass(frozen=True)
class PastSimUsage:
    """One SIM's usage in one closed cycle, as the carrier reports it."""

    iccid: str
    rate_plan: str
    data_bytes: int
    sms_count: int
    voice_seconds: int


@dataclass(frozen=True)
class PastPeriodStored:
    """What :func:`store_past_usage` did for one period."""

    period_key: str
    stored: int  # SIMs given a row for the period
    kept: int  # SIMs that already had one (a sync of the open period): left as they were
    unknown: int  # ICCIDs the carrier reported that are not in Device


def combine_plans(records: Iterable[PastSimUsage]) -> dict[str, PastSimUsage]:
    """One record per SIM: a SIM reported under several plans keeps the usage of all and the
    plan with the most data (ties: the first plan by name, so the result is reproducible)."""
    combined: dict[str, PastSimUsage] = {}
    for record in sorted(records, key=lambda r: (r.iccid, -r.data_bytes, r.rate_plan)):
        seen = combined.get(record.iccid)
        if seen is None:
            combined[record.iccid] = record
            continue
        combined[record.iccid] = PastSimUsage(
            record.iccid,
            seen.rate_plan,
            seen.data_bytes + record.data_bytes,
            seen.sms_count + record.sms_count,
            seen.voice_seconds + record.voice_seconds,
        )
    return combined


def store_past_usage(
    engine: Engine,
    provider_id: int,
    period: BillingPeriodSpan,
    usage: Mapping[str, PastSimUsage],
    recorded_at: datetime,
) -> PastPeriodStored:
    """Add ``usage`` (per ICCID) to ``DeviceUsagePeriod`` for ``period``, in one transaction.

    The period is closed, so usage is complete: it is dated at the period's end and not
    projected. SIMs that already have a row for the period keep it.
    """
    device = DEVICE
    with engine.begin() as connection:
        period_id = ensure_billing_period(connection, provider_id, period)
        known = {
            row.iccid: row
            for row in connection.execute(
                select(
                    device.c.id,
                    device.c.iccid,
                    device.c.status,
                    device.c.communication_plan,
                    device.c.msisdn,
                    device.c.date_activated,
                ).where(device.c.service_provider_id == provider_id)
            )
        }
        already = set(
            connection.scalars(
                select(USAGE_PERIOD.c.device_id).where(
                    USAGE_PERIOD.c.billing_period_id == period_id
                )
            )
        )
        rows = []
        for iccid, record in sorted(usage.items()):
            sim = known.get(iccid)
            if sim is None or sim.id in already:
                continue
            usage_mb = record.data_bytes / BYTES_PER_MB
            rows.append(
                {
                    "device_id": sim.id,
                    "billing_period_id": period_id,
                    "status": sim.status,
                    "communication_plan": sim.communication_plan,
                    "carrier_rate_plan_code": record.rate_plan,
                    "msisdn": sim.msisdn,
                    "date_activated": sim.date_activated,
                    "ctd_data_usage_bytes": record.data_bytes,
                    "usage_mb": usage_mb,
                    "projected_usage_mb": usage_mb,
                    "ctd_sms_usage": record.sms_count,
                    "ctd_voice_usage_seconds": record.voice_seconds,
                    "usage_date": period.end,
                    "recorded_at": recorded_at,
                }
            )
        if rows:
            connection.execute(insert(USAGE_PERIOD), rows)
    unknown = sum(1 for iccid in usage if iccid not in known)
    kept = sum(1 for iccid in usage if iccid in known and known[iccid].id in already)
    return PastPeriodStored(period.key, len(rows), kept, unknown)
