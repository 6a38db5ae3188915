"""Get Usage by Rate Plan (``GET /usages``): every answer shape known, parsed against a schema.

Cisco does not fully publish the record fields. Public client code shows two shapes
(``jasper-api.md``):

* ``usages``: ``{"usages": [{"iccid", "dataUsage", "smsUsage", "voiceUsage"}]}``;
* ``zones``: ``{"zones": [{"zone", "devices": [{"deviceId", "usage": {"dataUsage",
  "smsMOUsage", "smsMTUsage", "voiceMOUsage", "voiceMTUsage"}}]}]}`` — a SIM's usage is the
  sum over its zones.

Nothing here ever turns into zero usage silently. An answer of neither shape is *unknown* (the
keys seen are kept for the warning); a record without its data usage is listed apart. The
sync then falls back to per-SIM ``ctdUsages`` for those SIMs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from carrier_opt.jasper.payloads import (
    PayloadProblem,
    RatePlanUsage,
    parse_count,
    parse_iccid,
    parse_jasper_datetime,
)

SHAPES = ("usages", "zones")
_TIMESTAMP_KEYS = ("timestamp", "timeStamp")


@dataclass
class UsagePage:
    """One page of ``GET /usages`` as parsed: its shape, records and what was wrong."""

    shape: str | None
    """``usages``, ``zones``, or ``None`` when the answer is of no known shape."""
    keys: list[str]
    """The answer's top-level keys (named in the warning of an unknown shape)."""
    usage: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """ICCID → (data bytes, SMS, voice seconds), summed over the page's zones."""
    missing_usage: list[str] = field(default_factory=list)
    """ICCIDs listed without their data usage."""
    problems: list[PayloadProblem] = field(default_factory=list)
    timestamp: datetime | None = None
    """The carrier's own answer time, when the answer carries one."""


@dataclass
class BulkUsage:
    """A rate plan's usage over every page of ``GET /usages``."""

    rate_plan: str
    cycle_start_date: date
    shapes: set[str] = field(default_factory=set)
    unknown_keys: list[str] | None = None
    """Set when a page was of no known shape: the plan's usage cannot be trusted."""
    usage: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    missing_usage: list[str] = field(default_factory=list)
    problems: list[PayloadProblem] = field(default_factory=list)
    timestamp: datetime | None = None
    pages: int = 0

    def add(self, page: UsagePage) -> None:
        """Fold one page in (zones of one SIM on several pages add up)."""
        self.pages += 1
        self.problems.extend(page.problems)
        if page.shape is None:
            self.unknown_keys = page.keys
            return
        self.shapes.add(page.shape)
        for iccid, (data, sms, voice) in page.usage.items():
            old = self.usage.get(iccid, (0, 0, 0))
            self.usage[iccid] = (old[0] + data, old[1] + sms, old[2] + voice)
        self.missing_usage.extend(page.missing_usage)
        self.timestamp = self.timestamp or page.timestamp

    def __iter__(self):
        return iter(self.records())

    def records(self) -> list[RatePlanUsage]:
        """One :class:`RatePlanUsage` per SIM with usage."""
        return [
            RatePlanUsage(iccid, self.rate_plan, self.cycle_start_date, data, sms, voice)
            for iccid, (data, sms, voice) in self.usage.items()
        ]


def parse_usage_page(body: Any, endpoint: str, page_number: int) -> UsagePage:
    """One answer of ``GET /usages`` against the known shapes (see the module docstring)."""
    if not isinstance(body, Mapping):
        return UsagePage(None, [f"({type(body).__name__})"])
    keys = sorted(str(key) for key in body)
    page = UsagePage(None, keys, timestamp=_timestamp(body))
    if isinstance(body.get("usages"), list):
        page.shape = "usages"
        for index, record in enumerate(body["usages"]):
            _flat_record(page, record, endpoint, page_number, index)
    elif isinstance(body.get("zones"), list):
        page.shape = "zones"
        for zone in body["zones"]:
            devices = zone.get("devices") if isinstance(zone, Mapping) else None
            for index, record in enumerate(devices if isinstance(devices, list) else []):
                _zone_record(page, record, endpoint, page_number, index)
    elif not any(key in body for key in SHAPES) and body.get("lastPage") and not _payload(body):
        page.shape = "usages"  # an empty last page that leaves its records key out
    return page


def _flat_record(page: UsagePage, record: Any, endpoint: str, number: int, index: int) -> None:
    iccid = _iccid(page, record, "iccid", endpoint, number, index)
    if iccid is None:
        return
    if record.get("dataUsage") is None:
        page.missing_usage.append(iccid)
        return
    values = _counts(
        page, record, ("dataUsage",), ("smsUsage",), ("voiceUsage",), iccid, endpoint, number, index
    )
    if values is not None:
        _add(page, iccid, values)


def _zone_record(page: UsagePage, record: Any, endpoint: str, number: int, index: int) -> None:
    iccid = _iccid(page, record, "deviceId", endpoint, number, index)
    if iccid is None:
        return
    usage = record.get("usage")
    if not isinstance(usage, Mapping) or usage.get("dataUsage") is None:
        page.missing_usage.append(iccid)
        return
    values = _counts(
        page,
        usage,
        ("dataUsage",),
        ("smsMOUsage", "smsMTUsage"),
        ("voiceMOUsage", "voiceMTUsage"),
        iccid,
        endpoint,
        number,
        index,
    )
    if values is not None:
        _add(page, iccid, values)


def _iccid(page: UsagePage, record: Any, key: str, endpoint, number, index) -> str | None:
    raw = record.get(key) if isinstance(record, Mapping) else None
    try:
        return parse_iccid(raw)
    except ValueError as exc:
        page.problems.append(PayloadProblem(endpoint, number, index, key, repr(raw), str(exc)))
        return None


def _counts(
    page: UsagePage, record, data_keys, sms_keys, voice_keys, iccid, endpoint, number, index
) -> tuple[int, int, int] | None:
    totals = []
    for keys in (data_keys, sms_keys, voice_keys):
        total = 0
        for key in keys:
            try:
                total += parse_count(record.get(key)) or 0
            except ValueError as exc:
                page.problems.append(
                    PayloadProblem(
                        endpoint, number, index, key, repr(record.get(key)), str(exc), iccid
                    )
                )
                return None
        totals.append(total)
    return totals[0], totals[1], totals[2]


def _add(page: UsagePage, iccid: str, values: tuple[int, int, int]) -> None:
    old = page.usage.get(iccid, (0, 0, 0))
    page.usage[iccid] = (old[0] + values[0], old[1] + values[1], old[2] + values[2])


def _timestamp(body: Mapping) -> datetime | None:
    for key in _TIMESTAMP_KEYS:
        raw = body.get(key)
        if raw:
            try:
                return parse_jasper_datetime(raw)
            except ValueError:
                return None
    return None


def _payload(body: Mapping) -> bool:
    """True when the answer holds anything beside paging and echo fields."""
    ignored = {"pageNumber", "lastPage", "ratePlanName", "cycleStartDate", *_TIMESTAMP_KEYS}
    return any(key not in ignored for key in body)
