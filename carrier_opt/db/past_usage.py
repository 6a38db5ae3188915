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

A period that a sync stored while it was open has readings taken *before its end*, projected
to it by the optimizer. The past answer is the final usage the carrier bills, so it replaces
them: such a row takes the carrier's final figures and plan (what settlement prices as the
bill, :mod:`carrier_opt.pipeline.settlement`) and is dated at the period's end, keeping what
the sync saw then of the SIM's status, communication plan, MSISDN and activation date (closer
to the period than today's ``Device``). A row already dated at or after the end (final) is
kept as it is, so reading a closed period again changes nothing. SIMs without a row are added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update

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
    replaced: int  # SIMs whose row a sync of the open period wrote: now the final figures
    kept: int  # SIMs whose row was already final (read at or after the end): left as it was
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
    """Store ``usage`` (per ICCID), the final usage of the closed ``period``, in
    ``DeviceUsagePeriod``, in one transaction.

    The period is closed, so usage is complete: it is dated at the period's end and not
    projected. A SIM without a row for the period gets one; a row read before the end (a sync
    of the open period) takes the final figures; a row already final is kept (see the module
    docstring).
    """
    with engine.begin() as connection:
        period_id = ensure_billing_period(connection, provider_id, period)
        known = _provider_sims(connection, provider_id)
        stored = _period_readings(connection, period_id)
        added: list[dict] = []
        replaced: list[dict] = []
        kept = 0
        for iccid, record in sorted(usage.items()):
            sim = known.get(iccid)
            if sim is None:
                continue
            row = stored.get(sim.id)
            if row is None:
                added.append(_new_row(sim, period_id, period, record, recorded_at))
            elif row.usage_date is None or row.usage_date < period.end:
                figures = _final_figures(period, record)
                replaced.append(
                    {f"final_{name}": value for name, value in figures.items()}
                    | {"row_id": row.id, "final_recorded_at": recorded_at}
                )
            else:
                kept += 1
        if added:
            connection.execute(insert(USAGE_PERIOD), added)
        if replaced:
            connection.execute(_REPLACE_READING, replaced)
    unknown = sum(1 for iccid in usage if iccid not in known)
    return PastPeriodStored(period.key, len(added), len(replaced), kept, unknown)


def _provider_sims(connection: Connection, provider_id: int) -> dict[str, Row]:
    """The provider's SIMs in ``Device`` by ICCID (what a new row copies from)."""
    rows = connection.execute(
        select(
            DEVICE.c.id,
            DEVICE.c.iccid,
            DEVICE.c.status,
            DEVICE.c.communication_plan,
            DEVICE.c.msisdn,
            DEVICE.c.date_activated,
        ).where(DEVICE.c.service_provider_id == provider_id)
    )
    return {row.iccid: row for row in rows}


def _period_readings(connection: Connection, period_id: int) -> dict[int, Row]:
    """The period's stored rows by device id, with when each was read (``usage_date``)."""
    rows = connection.execute(
        select(USAGE_PERIOD.c.id, USAGE_PERIOD.c.device_id, USAGE_PERIOD.c.usage_date).where(
            USAGE_PERIOD.c.billing_period_id == period_id
        )
    )
    return {row.device_id: row for row in rows}


_FINAL_FIGURES = (
    "carrier_rate_plan_code",
    "ctd_data_usage_bytes",
    "usage_mb",
    "projected_usage_mb",
    "ctd_sms_usage",
    "ctd_voice_usage_seconds",
    "usage_date",
)

# One statement executed for many rows: the early reading ``row_id`` takes the final figures
# (parameters prefixed: SQLAlchemy reserves a column's own name in an UPDATE's SET clause).
_REPLACE_READING = (
    update(USAGE_PERIOD)
    .where(USAGE_PERIOD.c.id == bindparam("row_id"))
    .values({name: bindparam(f"final_{name}") for name in (*_FINAL_FIGURES, "recorded_at")})
)


def _final_figures(period: BillingPeriodSpan, record: PastSimUsage) -> dict:
    """What the carrier's answer for the closed period says of one SIM: its plan, its usage
    (complete, so its projection is itself) and the moment it is final, the period's end."""
    usage_mb = record.data_bytes / BYTES_PER_MB
    return {
        "carrier_rate_plan_code": record.rate_plan,
        "ctd_data_usage_bytes": record.data_bytes,
        "usage_mb": usage_mb,
        "projected_usage_mb": usage_mb,
        "ctd_sms_usage": record.sms_count,
        "ctd_voice_usage_seconds": record.voice_seconds,
        "usage_date": period.end,
    }


def _new_row(
    sim: Row, period_id: int, period: BillingPeriodSpan, record: PastSimUsage, recorded_at: datetime
) -> dict:
    """A row for a SIM the period has none for: the final figures, and today's status,
    communication plan, MSISDN and activation date from ``Device`` (a past answer has none)."""
    return {
        "device_id": sim.id,
        "billing_period_id": period_id,
        "status": sim.status,
        "communication_plan": sim.communication_plan,
        "msisdn": sim.msisdn,
        "date_activated": sim.date_activated,
        **_final_figures(period, record),
        "recorded_at": recorded_at,
    }
