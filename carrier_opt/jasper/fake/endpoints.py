"""What the fake Jasper answers to each call, with no HTTP in sight (see ``fake.py`` for that).

Follows ``jasper-api.md``, including its error codes, and is generous where the real API is
stingy: device search records carry the detail fields (``imsi``, ``msisdn``, ``imei``,
``accountId``, ``customer``, ``dateActivated``, ``dateAdded``, ``dateUpdated``, ...), so that a
sync needs no per-SIM details call. Error codes the spec does not give come from public Jasper
client code: ``10000023`` malformed JSON, ``10000028`` invalid request (unknown parameter, bad
value), ``20000001`` unknown ICCID (404), ``30000001`` unknown server error (500).

Paging: a search takes a snapshot of the matching SIMs when page 1 is asked for; SIMs modified
after that are appended to the end of the listing, so a SIM modified while a client pages
through appears on two pages (as the spec warns) and no SIM is skipped.
"""

from __future__ import annotations

import calendar
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from carrier_opt.jasper.fake.fleet import (
    RATE_PLANS,
    SIM_STATUSES,
    FakeDevice,
    FakeRatePlan,
    cycle_start,
    past_cycle_factor,
)
from carrier_opt.jasper.fake.growth import UsageGrowth, growth_for

MAX_PAGE_SIZE = 50
MAX_EFFECTIVE_DAYS_AHEAD = 180
ONE_YEAR = timedelta(days=365)
GARBAGE_DATE = "31/02/2024 25:61"
GARBAGE_NUMBER = "1.2 MB"

_CUSTOM_FIELDS = (
    *(f"accountCustom{n}" for n in range(1, 11)),
    *(f"operatorCustom{n}" for n in range(1, 6)),
    *(f"customerCustom{n}" for n in range(1, 6)),
)
"""The custom fields the public spec lets a search filter on and a PUT set."""
_SEARCH_PARAMS = {
    "modifiedSince",
    "modifiedTill",
    "accountId",
    "status",
    "pageSize",
    "pageNumber",
    *_CUSTOM_FIELDS,
}
_USAGE_PARAMS = {
    "ratePlanName",
    "cycleStartDate",
    "usageType",
    "ratePlanVersion",
    "pageNumber",
    "pageSize",
}
_RATE_PLAN_PARAMS = {"accountId", "pageSize", "pageNumber"}
_EDITABLE = {
    "status": "status",
    "ratePlan": "rate_plan",
    "communicationPlan": "communication_plan",
    "customer": "customer",
    "deviceID": "device_id",
    "modemID": "modem_id",
    "overageLimitOverride": "overage_limit_override",
}
"""The public ``DeviceEditModel``'s fields kept as attributes; its custom fields and
``ipv4Address``/``ipv6Address`` are kept in the SIM's ``extra``."""
_EDITABLE_EXTRA = (*_CUSTOM_FIELDS, "ipv4Address", "ipv6Address")
_USAGE_TYPES = {"DATA": "dataUsage", "SMS": "smsUsage", "VOICE": "voiceUsage"}
_SNAPSHOTS_KEPT = 64


class FakeApiError(Exception):
    """An error answer of the fake: HTTP status plus the carrier's error body."""

    def __init__(
        self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        """The JSON error body the spec describes."""
        body = {"errorMessage": self.message}
        if self.code:
            body = {"errorCode": self.code, **body}
        return body


def invalid_request(message: str) -> FakeApiError:
    """400 / 10000028, Jasper's answer to a parameter it does not accept."""
    return FakeApiError(400, "10000028", f"Invalid request: {message}")


@dataclass(frozen=True)
class DeviceEdit:
    """A ``PUT /devices/{iccid}`` the fake received, as sent (carrier field names)."""

    iccid: str
    fields: dict[str, Any]
    received_at: datetime
    effective_at: datetime | None = None
    """When a scheduled edit takes effect (``effectiveDate`` in the future); None: at once."""


@dataclass
class _Snapshot:
    iccids: list[str]
    seq_mark: int
    touched: bool = False


@dataclass
class FakeCarrier:
    """The fake operator's state (fleet, edits, search snapshots) and its endpoint logic.

    ``duplicates_per_search`` SIMs already served on page 1 are modified when page 2 of a
    search is asked for, so that they come again at the end of the listing. ``rate_plans`` are
    the operator's published plans (those of an M2M or a mobility fleet).
    """

    fleet: list[FakeDevice]
    seed: int
    duplicates_per_search: int = 0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    edits: list[DeviceEdit] = field(default_factory=list)
    rate_plans_published: tuple[FakeRatePlan, ...] = RATE_PLANS
    usage_shape: str = "usages"
    ignore_page_number: bool = False
    usage_growth: bool = False
    """Cycle-to-date usage grows with the fake's clock, SIM by SIM (:mod:`.growth`)."""
    scheduled: list[DeviceEdit] = field(default_factory=list)
    """Edits with a future ``effectiveDate``, waiting for it."""

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._by_iccid = {device.iccid: device for device in self.fleet}
        self._seq = max((device.modification_seq for device in self.fleet), default=0)
        self._snapshots: OrderedDict[tuple, _Snapshot] = OrderedDict()
        self._growth: dict[tuple[str, date], UsageGrowth] = {}

    def route(self, method: str, route: str, query: Mapping[str, str], body: bytes) -> Any:
        """Answer one call; ``route`` is the path below ``/rws/api/v1/``. Raises FakeApiError."""
        parts = [unquote(part) for part in route.split("/") if part]
        with self._lock:
            self.apply_due_edits()
            if method == "GET" and len(parts) == 2 and parts[0] == "echo":
                return {"context": parts[1]}
            if method == "GET" and parts == ["devices"]:
                return self.search_devices(query)
            if method == "GET" and len(parts) == 2 and parts[0] == "devices":
                return self.device_details(parts[1], query)
            if method == "GET" and len(parts) == 3 and parts[::2] == ["devices", "ctdUsages"]:
                return self.ctd_usage(parts[1], query)
            if method == "PUT" and len(parts) == 2 and parts[0] == "devices":
                return self.edit_device(parts[1], body)
            if method == "GET" and parts == ["usages"]:
                return self.usages(query)
            if method == "GET" and parts == ["rateplans"]:
                return self.rate_plans(query)
        raise FakeApiError(404, None, f"No such resource: {method} /{route}")

    # --- search -------------------------------------------------------------------------------

    def search_devices(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /devices``: the spec's validation, snapshot paging, oldest modification first."""
        _reject_unknown(query, _SEARCH_PARAMS)
        since, till = self._search_window(query)
        page_size, page_number = _paging(query)
        status, account = query.get("status"), query.get("accountId")
        if status and status not in SIM_STATUSES:
            raise invalid_request(f"unknown status {status!r}")

        custom = tuple(sorted((name, query[name]) for name in _CUSTOM_FIELDS if name in query))

        def matches(device: FakeDevice) -> bool:
            return (
                since <= device.date_updated
                and (till is None or device.date_updated <= till)
                and (not status or device.status == status)
                and (not account or device.account_id == account)
                and all(device.extra.get(name) == value for name, value in custom)
            )

        key = (since, till, status, account, page_size, custom)
        snapshot = self._snapshots.get(key)
        if page_number == 1 or snapshot is None:
            ordered = sorted(filter(matches, self.fleet), key=_modification_order)
            snapshot = _Snapshot([device.iccid for device in ordered], self._seq)
            self._snapshots[key] = snapshot
            while len(self._snapshots) > _SNAPSHOTS_KEPT:
                self._snapshots.popitem(last=False)
        if page_number >= 2 and not snapshot.touched:
            snapshot.touched = True
            self._touch_served(snapshot.iccids[:page_size])
        late = sorted(
            (d for d in self.fleet if d.modification_seq > snapshot.seq_mark and matches(d)),
            key=_modification_order,
        )
        listing = [self._by_iccid[iccid] for iccid in snapshot.iccids] + late
        page, last_page = _page_of(listing, page_size, self._served_page(page_number))
        return {
            "pageNumber": page_number,
            "lastPage": last_page,
            "devices": [search_record(device) for device in page],
        }

    def _search_window(self, query: Mapping[str, str]) -> tuple[datetime, datetime | None]:
        raw_since = query.get("modifiedSince")
        if not raw_since:
            raise FakeApiError(400, "10000003", "ModifiedSince is required")
        since = _parse_query_time(raw_since, "modifiedSince")
        now = self.clock()
        if since > now:
            raise FakeApiError(400, "10002119", "ModifiedSince cannot be a future date")
        if since < now - ONE_YEAR:
            raise FakeApiError(400, "10000045", "ModifiedSince cannot be more than one year old")
        raw_till = query.get("modifiedTill")
        till = _parse_query_time(raw_till, "modifiedTill") if raw_till else None
        if till is not None and till < since:
            raise invalid_request("modifiedTill is before modifiedSince")
        return since, till

    def _touch_served(self, iccids: list[str]) -> None:
        """Modify SIMs a client has already seen, as an operator editing during a sync would."""
        count = min(self.duplicates_per_search, len(iccids))
        for iccid in sorted(iccids)[:: max(1, len(iccids) // max(count, 1))][:count]:
            device = self._by_iccid[iccid]
            self._mark_modified(device)
            device.sim_notes = f"modified while paging at {format_jasper_date(self.clock())}"

    def _mark_modified(self, device: FakeDevice) -> None:
        self._seq += 1
        device.modification_seq = self._seq
        device.date_updated = max(self.clock(), device.date_updated)

    # --- single SIM ---------------------------------------------------------------------------

    def device_details(self, iccid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /devices/{iccid}``: every field of the spec (custom fields null)."""
        _reject_unknown(query, set())
        device = self._device(iccid)
        record = device_record(device)
        record.update(
            {
                "fixedIPAddress": None,
                "fixedIpv6Address": None,
                "simNotes": device.sim_notes,
                "deviceID": device.device_id,
                "modemID": device.modem_id,
                "globalSimType": "",
                "eid": None,
                "simProfileId": None,
            }
        )
        record.update({name: device.extra.get(name) for name in _CUSTOM_FIELDS})
        record["fixedIPAddress"] = device.extra.get("ipv4Address")
        record["fixedIpv6Address"] = device.extra.get("ipv6Address")
        return record

    def ctd_usage(self, iccid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /devices/{iccid}/ctdUsages``: this cycle so far, data in bytes."""
        _reject_unknown(query, set())
        device = self._device(iccid)
        record: dict[str, Any] = {
            "iccid": device.iccid,
            "imsi": device.imsi,
            "msisdn": device.msisdn,
            "imei": device.imei,
            "status": device.status,
            "ratePlan": device.rate_plan,
            "communicationPlan": device.communication_plan,
            "ctdDataUsage": self.ctd_data_bytes(device),
            "ctdSMSUsage": device.ctd_sms,
            "ctdVoiceUsage": device.ctd_voice_s,
            "ctdSessionCount": device.ctd_sessions,
            "overageLimitReached": device.overage_limit_reached,
            "overageLimitOverride": device.overage_limit_override,
        }
        return _break(record, device, number_field="ctdDataUsage")

    def edit_device(self, iccid: str, body: bytes) -> dict[str, Any]:
        """``PUT /devices/{iccid}``: validate, record, apply at once (there is no scheduler)."""
        device = self._device(iccid)
        try:
            fields = json.loads(body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            raise FakeApiError(
                400, "10000023", "The JSON in the request is not well formed"
            ) from None
        if not isinstance(fields, dict) or not set(fields) - {"effectiveDate"}:
            raise invalid_request("the body needs at least one field to change")
        unknown = set(fields) - set(_EDITABLE) - set(_EDITABLE_EXTRA) - {"effectiveDate"}
        if unknown:
            raise invalid_request(f"unrecognized fields {sorted(unknown)}")
        self._validate_edit(fields)
        now = self.clock()
        when = _effective_at(fields)
        scheduled = when is not None and when > now
        edit = DeviceEdit(device.iccid, dict(fields), now, when if scheduled else None)
        self.edits.append(edit)
        if scheduled:  # the real API schedules it: the SIM keeps its plan until then
            self.scheduled.append(edit)
        else:
            self._apply(device, fields)
        return {"iccid": device.iccid}

    def _apply(self, device: FakeDevice, fields: Mapping[str, Any]) -> None:
        for carrier_name, attribute in _EDITABLE.items():
            if carrier_name in fields:
                setattr(device, attribute, fields[carrier_name])
        for carrier_name in _EDITABLE_EXTRA:
            if carrier_name in fields:
                device.extra[carrier_name] = fields[carrier_name]
        self._mark_modified(device)

    def replay(self, edits: Iterable[DeviceEdit]) -> int:
        """Carry out edits an earlier carrier received, as they were: each SIM changed and
        modified at the edit's ``received_at`` (so a search since then lists it), in order.
        They are not added to ``edits`` (no call made them). Answers how many were carried out;
        edits of SIMs this fleet does not have are skipped."""
        applied = 0
        with self._lock:
            for edit in edits:
                device = self._by_iccid.get(edit.iccid)
                if device is None:
                    continue
                before = device.date_updated
                self._apply(device, edit.fields)
                device.date_updated = max(edit.received_at, before)
                applied += 1
        return applied

    def apply_due_edits(self) -> None:
        """Carry out the scheduled edits whose time has come (before answering any call)."""
        now = self.clock()
        due = [edit for edit in self.scheduled if edit.effective_at and edit.effective_at <= now]
        for edit in sorted(due, key=lambda e: e.effective_at):
            self.scheduled.remove(edit)
            self._apply(self._by_iccid[edit.iccid], edit.fields)

    def _validate_edit(self, fields: Mapping[str, Any]) -> None:
        if "status" in fields and fields["status"] not in SIM_STATUSES:
            raise invalid_request(f"unknown status {fields['status']!r}")
        if "ratePlan" in fields and fields["ratePlan"] not in self._plan_names():
            raise invalid_request(f"unknown rate plan {fields['ratePlan']!r}")
        if fields.get("effectiveDate"):
            when = _parse_query_time(str(fields["effectiveDate"]), "effectiveDate")
            if when > self.clock() + timedelta(days=MAX_EFFECTIVE_DAYS_AHEAD):
                raise invalid_request("effectiveDate is more than 180 days ahead")

    def _plan_names(self) -> set[str]:
        return {plan.name for plan in self.rate_plans_published}

    def _device(self, iccid: str) -> FakeDevice:
        device = self._by_iccid.get(iccid)
        if device is None:
            raise FakeApiError(404, "20000001", "Resource not found - Invalid ICCID")
        return device

    # --- bulk usage and rate plans ------------------------------------------------------------

    def usages(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /usages``: usage of every SIM on one rate plan in one cycle, paged by ICCID."""
        _reject_unknown(query, _USAGE_PARAMS)
        plan = query.get("ratePlanName")
        if not plan:
            raise invalid_request("ratePlanName is required")
        if plan not in self._plan_names():
            raise invalid_request(f"unknown ratePlanName {plan!r}")
        cycle = self._cycle(query.get("cycleStartDate"))
        version = query.get("ratePlanVersion")
        if version is not None and not version.isdigit():
            raise invalid_request("ratePlanVersion must be a whole number")
        usage_type = query.get("usageType")
        if usage_type and usage_type not in _USAGE_TYPES:
            raise invalid_request("usageType must be DATA, SMS or VOICE")
        page_size, page_number = _paging(query)
        on_plan = sorted(
            (d for d in self.fleet if d.rate_plan == plan and d.in_bulk_usage),
            key=lambda d: d.iccid,
        )
        page, last_page = _page_of(on_plan, page_size, self._served_page(page_number))
        records = [self._usage_record(device, cycle, usage_type) for device in page]
        if self.usage_shape == "zones":
            return {
                "ratePlanName": plan,
                "cycleStartDate": cycle.isoformat(),
                "pageNumber": page_number,
                "lastPage": last_page,
                "zones": _zones(records),
            }
        if self.usage_shape == "unknown":
            return {"pageNumber": page_number, "lastPage": last_page, "usageRecords": records}
        return {"pageNumber": page_number, "lastPage": last_page, "usages": records}

    def ctd_data_bytes(self, device: FakeDevice) -> int:
        """The SIM's data this cycle so far: as built, or grown to the fake's clock."""
        growth = self.growth_of(device)
        return device.ctd_data_bytes if growth is None else growth.bytes_at(self.clock())

    def growth_of(self, device: FakeDevice) -> UsageGrowth | None:
        """The SIM's growth over the current cycle (None: growth off, or not ACTIVATED)."""
        if not self.usage_growth or device.status != "ACTIVATED":
            return None
        cycle = cycle_start(self.clock())
        key = (device.iccid, cycle)
        growth = self._growth.get(key)
        if growth is None:
            start = datetime.combine(cycle, datetime.min.time(), tzinfo=UTC)
            days = calendar.monthrange(cycle.year, cycle.month)[1]
            begins = max(start, device.date_activated or start)
            monthly = device.monthly_data_bytes
            growth = growth_for(self.seed, device.iccid, monthly, cycle, days, begins)
            self._growth[key] = growth
        return growth

    def _served_page(self, asked: int) -> int:
        """The page actually served: page 1 whatever is asked when ``ignore_page_number``."""
        return 1 if self.ignore_page_number else asked

    def _cycle(self, raw: str | None) -> date:
        current = cycle_start(self.clock())
        if not raw:
            return current
        try:
            cycle = date.fromisoformat(raw)
        except ValueError:
            raise invalid_request("cycleStartDate must look like yyyy-MM-dd") from None
        if cycle > current:
            raise invalid_request("cycleStartDate cannot be in the future")
        return cycle

    def _usage_record(self, device: FakeDevice, cycle: date, usage_type: str | None) -> dict:
        if cycle == cycle_start(self.clock()):
            values = (self.ctd_data_bytes(device), device.ctd_sms, device.ctd_voice_s)
        else:
            factor = past_cycle_factor(self.seed, device.iccid, cycle)
            active = device.date_activated is not None and device.date_activated.date() < cycle
            monthly = (device.monthly_data_bytes, device.monthly_sms, device.monthly_voice_s)
            values = tuple(round(value * factor) if active else 0 for value in monthly)
        record: dict[str, Any] = {"iccid": device.iccid}
        for (kind, name), value in zip(_USAGE_TYPES.items(), values, strict=True):
            if not usage_type or usage_type == kind:
                record[name] = value
        return _break(record, device, number_field="dataUsage")

    def rate_plans(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /rateplans``: the published plans, names and ids (no prices)."""
        _reject_unknown(query, _RATE_PLAN_PARAMS)
        page_size, page_number = _paging(query)
        page, last_page = _page_of(list(self.rate_plans_published), page_size, page_number)
        return {
            "operatorName": "Fake Operator",
            "operatorId": 4242,
            "timeStamp": format_jasper_date(self.clock()),
            "pageNumber": page_number,
            "lastPage": last_page,
            "ratePlans": [
                {
                    "name": plan.name,
                    "id": plan.plan_id,
                    "status": "PUBLISHED",
                    "type": plan.plan_type,
                    "version": "1",
                }
                for plan in page
            ],
        }


def format_jasper_date(moment: datetime | None) -> str | None:
    """The spec's date text, ``2016-06-29 00:21:33.339+0000``."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _zones(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat usage records as the zones shape: each SIM's usage split over two zones (80 % at
    home, the rest roaming), SMS and voice split into mobile-originated and -terminated."""
    zones: dict[str, list[dict[str, Any]]] = {"Home": [], "Roaming": []}
    for record in records:
        data = record.get("dataUsage")
        numeric = isinstance(data, int)
        home = (data * 4) // 5 if numeric else data
        for zone, share in (("Home", home), ("Roaming", data - home if numeric else 0)):
            if zone == "Roaming" and not numeric:
                continue
            usage = {"dataUsage": share}
            for name, (mo, mt) in (
                ("smsUsage", ("smsMOUsage", "smsMTUsage")),
                ("voiceUsage", ("voiceMOUsage", "voiceMTUsage")),
            ):
                value = record.get(name) if zone == "Home" else 0
                if isinstance(value, int):
                    usage[mo], usage[mt] = value - value // 2, value // 2
            device = {"usage": usage}
            if "iccid" in record:
                device["deviceId"] = record["iccid"]
            zones[zone].append(device)
    return [{"zone": zone, "devices": devices} for zone, devices in zones.items() if devices]


def search_record(device: FakeDevice) -> dict[str, Any]:
    """A search record as the real API answers it: four fields, nothing else."""
    record = {
        "iccid": device.iccid,
        "status": device.status,
        "ratePlan": device.rate_plan,
        "communicationPlan": device.communication_plan,
    }
    return _break(record, device)


def device_record(device: FakeDevice) -> dict[str, Any]:
    """The detail fields every ``GET /devices/{iccid}`` answer starts from."""
    record = {
        "iccid": device.iccid,
        "status": device.status,
        "ratePlan": device.rate_plan,
        "communicationPlan": device.communication_plan,
        "imsi": device.imsi,
        "msisdn": device.msisdn,
        "imei": device.imei,
        "customer": device.customer,
        "endConsumerId": device.end_consumer_id,
        "accountId": device.account_id,
        "dateActivated": format_jasper_date(device.date_activated),
        "dateAdded": format_jasper_date(device.date_added),
        "dateUpdated": format_jasper_date(device.date_updated),
        "dateShipped": format_jasper_date(device.date_shipped),
    }
    return _break(record, device, date_field="dateUpdated")


def _break(
    record: dict[str, Any],
    device: FakeDevice,
    *,
    date_field: str | None = None,
    number_field: str | None = None,
) -> dict[str, Any]:
    """Apply the SIM's malformation (if any) to one of its records."""
    if device.malformation == "missing_iccid":
        record.pop("iccid", None)
    elif device.malformation == "garbage_date" and date_field in record:
        record[date_field] = GARBAGE_DATE
    elif device.malformation == "garbage_number" and number_field in record:
        record[number_field] = GARBAGE_NUMBER
    return record


def _modification_order(device: FakeDevice) -> tuple[datetime, int]:
    return device.date_updated, device.modification_seq


def _reject_unknown(query: Mapping[str, str], allowed: set[str]) -> None:
    unknown = set(query) - allowed
    if unknown:
        raise invalid_request(f"unrecognized parameters {sorted(unknown)}")


def _paging(query: Mapping[str, str]) -> tuple[int, int]:
    try:
        page_size = int(query.get("pageSize") or MAX_PAGE_SIZE)
        page_number = int(query.get("pageNumber") or 1)
    except ValueError:
        raise invalid_request("pageSize and pageNumber must be whole numbers") from None
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise invalid_request(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
    if page_number < 1:
        raise invalid_request("pageNumber starts at 1")
    return page_size, page_number


def _page_of(items: list, page_size: int, page_number: int) -> tuple[list, bool]:
    start = (page_number - 1) * page_size
    return items[start : start + page_size], start + page_size >= len(items)


def _parse_query_time(raw: str, name: str) -> datetime:
    """ISO 8601 *with* an offset, as the spec demands (a lost ``+`` shows up here)."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise invalid_request(
            f"{name} must be ISO 8601 with offset, e.g. 2016-04-18T17:31:34+00:00"
        ) from None
    if parsed.tzinfo is None:
        raise invalid_request(f"{name} needs a UTC offset, e.g. 2016-04-18T17:31:34+00:00")
    return parsed.astimezone(UTC)


def _effective_at(fields: Mapping[str, Any]) -> datetime | None:
    raw = fields.get("effectiveDate")
    return _parse_query_time(str(raw), "effectiveDate") if raw else None
