"""Carrier records (:mod:`carrier_opt.jasper.payloads`) as staging rows.

The one place where the carrier's parsed answers meet the staging tables' columns: the
database layer knows tables, not the carrier's records, so the sync translates here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from carrier_opt.jasper.payloads import CtdUsage, Device, PayloadProblem, RatePlanUsage

Row = tuple[Any, ...]


def detail_values(device: Device, fetched_at: datetime) -> dict[str, Any]:
    """What Get Device Details adds to a staged SIM (every field the search lacks, and the
    fresher search fields), keyed by staging column, with ``iccid`` and ``details_at``."""
    return {
        "iccid": device.iccid,
        "imsi": _cut(device.imsi, 20),
        "msisdn": _cut(device.msisdn, 20),
        "imei": _cut(device.imei, 20),
        "status": _cut(device.status, 30),
        "communication_plan": _cut(device.communication_plan, 255),
        "carrier_rate_plan_code": _cut(device.rate_plan, 255),
        "account_id": _cut(device.account_id, 50),
        "customer": _cut(device.customer, 255),
        "date_activated": device.date_activated,
        "date_added": device.date_added,
        "date_updated": device.date_updated,
        "details_at": fetched_at,
    }


def device_row(
    provider_id: int, device: Device, page_number: int | None, staged_at: datetime
) -> Row:
    """A ``JasperDeviceStaging`` row (in :data:`DEVICE_COLUMNS` order) from a parsed record."""
    return (
        provider_id,
        page_number,
        staged_at,
        device.iccid,
        _cut(device.imsi, 20),
        _cut(device.msisdn, 20),
        _cut(device.imei, 20),
        _cut(device.status, 30),
        _cut(device.communication_plan, 255),
        _cut(device.rate_plan, 255),
        _cut(device.account_id, 50),
        _cut(device.customer, 255),
        device.date_activated,
        device.date_added,
        device.date_updated,
    )


def bulk_usage_row(
    provider_id: int, usage: RatePlanUsage, usage_date: datetime, staged_at: datetime
) -> Row:
    """A ``JasperUsageStaging`` row from one SIM of a rate plan's bulk usage."""
    return (
        provider_id,
        usage.iccid,
        _cut(usage.rate_plan, 255),
        usage.cycle_start_date,
        usage.data_bytes or 0,
        usage.sms_count or 0,
        usage.voice_seconds or 0,
        "bulk",
        usage_date,
        staged_at,
    )


def ctd_usage_row(
    provider_id: int,
    usage: CtdUsage,
    cycle_start_date: date,
    usage_date: datetime,
    staged_at: datetime,
) -> Row:
    """A ``JasperUsageStaging`` row from one SIM's cycle-to-date usage (the fallback)."""
    return (
        provider_id,
        usage.iccid,
        _cut(usage.rate_plan, 255),
        cycle_start_date,
        usage.ctd_data_bytes or 0,
        usage.ctd_sms_count or 0,
        usage.ctd_voice_seconds or 0,
        "ctd",
        usage_date,
        staged_at,
    )


def _cut(text: str | None, length: int) -> str | None:
    """Carrier text trimmed to the column's width (an over-long value must not fail a sync)."""
    return text if text is None or len(text) <= length else text[:length]


def skipped_row(problem: PayloadProblem) -> dict[str, Any]:
    """A ``SkippedCarrierRecord`` row's carrier fields from a skipped record's problem."""
    return {
        "endpoint": problem.endpoint,
        "page": problem.page,
        "record_index": problem.index,
        "iccid": _cut(problem.iccid, 22),
        "identity": problem.identity,
        "field": problem.field,
        "value": problem.value,
        "reason": problem.reason,
    }
