"""What the Jasper API answers, parsed into small frozen records with snake_case fields.

Parsing is liberal in what it accepts (the spec's ``2016-06-29 00:21:33.339+0000`` dates as
well as ISO 8601 with ``T`` and ``+00:00`` or ``Z``; numbers as JSON numbers or digit strings;
empty strings and nulls as ``None``) and strict about what it cannot make sense of: a record
without an ICCID, a date that is not a date or a count that is not a whole number raises
:class:`MalformedRecordError`, whose :class:`PayloadProblem` names the endpoint, page, record
index and field so that an operator can find the record at the carrier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NoReturn

from carrier_opt.errors import CarrierApiError

_MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class PayloadProblem:
    """One record the carrier sent that could not be parsed, and where to find it.

    ``page`` and ``index`` (0-based position in the page's list) are ``None`` for answers that
    are a single record (device details, cycle-to-date usage).
    """

    endpoint: str
    page: int | None
    index: int | None
    field: str
    value: str
    reason: str
    iccid: str | None = None
    identity: str | None = None
    """A record without a usable ICCID is told by its other fields (``status=ACTIVATED
    ratePlan=...``), so the SIM it describes can still be found at the carrier."""

    def __str__(self) -> str:
        where = self.endpoint
        if self.page is not None:
            where += f" page {self.page}"
        if self.index is not None:
            where += f" record {self.index}"
        if self.iccid:
            where += f" (iccid {self.iccid})"
        elif self.identity:
            where += f" ({self.identity})"
        return f"{where}: field {self.field!r} = {self.value}: {self.reason}"


class MalformedRecordError(CarrierApiError):
    """The carrier answered a record this project cannot parse; ``problem`` says where."""

    def __init__(self, problem: PayloadProblem) -> None:
        super().__init__(f"malformed carrier record: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class Device:
    """A SIM as the device search or device details describe it.

    Only ``iccid`` is guaranteed; the search answer of the real API carries little more than
    status and plans, while details (and this project's generous fake) carry the rest.
    """

    iccid: str
    status: str | None = None
    rate_plan: str | None = None
    communication_plan: str | None = None
    imsi: str | None = None
    msisdn: str | None = None
    imei: str | None = None
    customer: str | None = None
    end_consumer_id: str | None = None
    account_id: str | None = None
    date_activated: datetime | None = None
    date_added: datetime | None = None
    date_updated: datetime | None = None
    date_shipped: datetime | None = None
    device_id: str | None = None
    modem_id: str | None = None
    sim_notes: str | None = None
    fixed_ip_address: str | None = None
    global_sim_type: str | None = None
    eid: str | None = None


@dataclass(frozen=True)
class CtdUsage:
    """Cycle-to-date usage of one SIM (``GET /devices/{iccid}/ctdUsages``)."""

    iccid: str
    status: str | None = None
    rate_plan: str | None = None
    communication_plan: str | None = None
    imsi: str | None = None
    msisdn: str | None = None
    imei: str | None = None
    ctd_data_bytes: int | None = None
    ctd_sms_count: int | None = None
    ctd_voice_seconds: int | None = None
    ctd_session_count: int | None = None
    overage_limit_reached: bool | None = None
    overage_limit_override: str | None = None


@dataclass(frozen=True)
class RatePlanUsage:
    """One SIM's usage in one billing cycle, from the bulk ``GET /usages`` of its rate plan."""

    iccid: str
    rate_plan: str
    cycle_start_date: date
    data_bytes: int | None = None
    sms_count: int | None = None
    voice_seconds: int | None = None


@dataclass(frozen=True)
class RatePlan:
    """A published rate plan as ``GET /rateplans`` lists it (prices live in our own table)."""

    name: str
    rate_plan_id: str | None = None
    status: str | None = None
    plan_type: str | None = None
    version: str | None = None
    account_id: str | None = None


# --- field parsers: each returns the parsed value or raises ValueError with a reason ---------

_NO_COLON_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_jasper_datetime(raw: Any) -> datetime | None:
    """An aware UTC datetime from the carrier's date text; ``None`` for null or empty.

    Accepts ``2016-06-29 00:21:33.339+0000`` (the spec), ISO 8601 with ``T``, ``Z`` or
    ``+00:00`` offsets and a bare date. Text without an offset is taken as UTC, the carrier's
    own zone for these fields.
    """
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError("expected a date text")
    text = raw.strip()
    if not text:
        return None
    normalised = _NO_COLON_OFFSET.sub(r"\1:\2", text) if len(text) > 10 else text
    try:
        parsed = datetime.fromisoformat(normalised)
    except ValueError:
        raise ValueError("not a date like 2016-06-29 00:21:33.339+0000") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_count(raw: Any) -> int | None:
    """A non-negative whole number (bytes, messages, seconds); ``None`` for null or empty."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    else:
        raise ValueError("expected a whole number")
    if value < 0:
        raise ValueError("expected a non-negative number")
    return value


def parse_text(raw: Any) -> str | None:
    """A text field; numbers become text (``accountId`` arrives either way); empty → ``None``."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError("expected text")
    text = str(raw).strip()
    return text or None


def parse_flag(raw: Any) -> bool | None:
    """A boolean sent as JSON ``true``/``false`` or the text ``"true"``/``"false"``."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ValueError("expected true or false")


def parse_iccid(raw: Any) -> str:
    """The ICCID, required: 18 to 22 digits (some carriers append a hex ``F`` filler)."""
    text = parse_text(raw)
    if text is None:
        raise ValueError("the ICCID is missing")
    if not re.fullmatch(r"\d{18,22}[Ff]?", text):
        raise ValueError("not an ICCID (18 to 22 digits)")
    return text


# --- record parsers ------------------------------------------------------------------------

FieldSpec = tuple[str, str, Callable[[Any], Any]]
"""(carrier field name, our attribute name, parser)."""

_DEVICE_FIELDS: tuple[FieldSpec, ...] = (
    ("status", "status", parse_text),
    ("ratePlan", "rate_plan", parse_text),
    ("communicationPlan", "communication_plan", parse_text),
    ("imsi", "imsi", parse_text),
    ("msisdn", "msisdn", parse_text),
    ("imei", "imei", parse_text),
    ("customer", "customer", parse_text),
    ("endConsumerId", "end_consumer_id", parse_text),
    ("accountId", "account_id", parse_text),
    ("dateActivated", "date_activated", parse_jasper_datetime),
    ("dateAdded", "date_added", parse_jasper_datetime),
    ("dateUpdated", "date_updated", parse_jasper_datetime),
    ("dateShipped", "date_shipped", parse_jasper_datetime),
    ("deviceID", "device_id", parse_text),
    ("modemID", "modem_id", parse_text),
    ("simNotes", "sim_notes", parse_text),
    ("fixedIPAddress", "fixed_ip_address", parse_text),
    ("globalSimType", "global_sim_type", parse_text),
    ("eid", "eid", parse_text),
)

_CTD_FIELDS: tuple[FieldSpec, ...] = (
    ("status", "status", parse_text),
    ("ratePlan", "rate_plan", parse_text),
    ("communicationPlan", "communication_plan", parse_text),
    ("imsi", "imsi", parse_text),
    ("msisdn", "msisdn", parse_text),
    ("imei", "imei", parse_text),
    ("ctdDataUsage", "ctd_data_bytes", parse_count),
    ("ctdSMSUsage", "ctd_sms_count", parse_count),
    ("ctdVoiceUsage", "ctd_voice_seconds", parse_count),
    ("ctdSessionCount", "ctd_session_count", parse_count),
    ("overageLimitReached", "overage_limit_reached", parse_flag),
    ("overageLimitOverride", "overage_limit_override", parse_text),
)

_USAGE_FIELDS: tuple[FieldSpec, ...] = (
    ("dataUsage", "data_bytes", parse_count),
    ("smsUsage", "sms_count", parse_count),
    ("voiceUsage", "voice_seconds", parse_count),
)

_RATE_PLAN_FIELDS: tuple[FieldSpec, ...] = (
    ("id", "rate_plan_id", parse_text),
    ("status", "status", parse_text),
    ("type", "plan_type", parse_text),
    ("version", "version", parse_text),
    ("accountId", "account_id", parse_text),
)


@dataclass(frozen=True)
class RecordPlace:
    """Where a record sits in the carrier's answer, for :class:`PayloadProblem` messages."""

    endpoint: str
    page: int | None = None
    index: int | None = None


def _describe(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _fail(
    place: RecordPlace,
    field: str,
    raw: Any,
    reason: str,
    iccid: str | None,
    identity: str | None = None,
) -> NoReturn:
    problem = PayloadProblem(
        endpoint=place.endpoint,
        page=place.page,
        index=place.index,
        field=field,
        value=_describe(raw),
        reason=reason,
        iccid=iccid,
        identity=identity,
    )
    raise MalformedRecordError(problem)


IDENTIFYING_FIELDS = (
    "status",
    "ratePlan",
    "communicationPlan",
    "imsi",
    "msisdn",
    "imei",
    "deviceID",
    "deviceId",
    "accountId",
)
"""What tells a SIM apart when its ICCID is missing or broken, in the carrier's spelling."""


def record_identity(record: Mapping[str, Any]) -> str | None:
    """``status=ACTIVATED ratePlan=P1 imsi=...``: the record's identifying fields present."""
    parts = [
        f"{name}={_describe(record[name])[:60]}"
        for name in IDENTIFYING_FIELDS
        if record.get(name) not in (None, "")
    ]
    return " ".join(parts)[:500] or None


def _parse_fields(
    record: Mapping[str, Any], fields: Iterable[FieldSpec], place: RecordPlace, iccid: str | None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for carrier_name, attribute, parse in fields:
        raw = record.get(carrier_name)
        try:
            values[attribute] = parse(raw)
        except ValueError as exc:
            _fail(place, carrier_name, raw, str(exc), iccid)
    return values


def _require_record(record: Any, place: RecordPlace) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        _fail(place, "(record)", record, "expected a JSON object", None)
    return record


def _require_iccid(record: Mapping[str, Any], place: RecordPlace) -> str:
    raw = record.get("iccid")
    try:
        return parse_iccid(raw)
    except ValueError as exc:
        _fail(place, "iccid", raw, str(exc), None, record_identity(record))


def parse_device(record: Any, place: RecordPlace) -> Device:
    """A :class:`Device` from a search or details record, or :class:`MalformedRecordError`."""
    record = _require_record(record, place)
    iccid = _require_iccid(record, place)
    return Device(iccid=iccid, **_parse_fields(record, _DEVICE_FIELDS, place, iccid))


def parse_ctd_usage(record: Any, place: RecordPlace) -> CtdUsage:
    """A :class:`CtdUsage` from ``/devices/{iccid}/ctdUsages``, or :class:`MalformedRecordError`."""
    record = _require_record(record, place)
    iccid = _require_iccid(record, place)
    return CtdUsage(iccid=iccid, **_parse_fields(record, _CTD_FIELDS, place, iccid))


def parse_rate_plan_usage(
    record: Any, place: RecordPlace, *, rate_plan: str, cycle_start_date: date
) -> RatePlanUsage:
    """A :class:`RatePlanUsage` from a ``/usages`` record; plan and cycle come from the query."""
    record = _require_record(record, place)
    iccid = _require_iccid(record, place)
    values = _parse_fields(record, _USAGE_FIELDS, place, iccid)
    return RatePlanUsage(
        iccid=iccid, rate_plan=rate_plan, cycle_start_date=cycle_start_date, **values
    )


def parse_rate_plan(record: Any, place: RecordPlace) -> RatePlan:
    """A :class:`RatePlan` from ``/rateplans``; its name is the one required field."""
    record = _require_record(record, place)
    raw_name = record.get("name")
    try:
        name = parse_text(raw_name)
    except ValueError as exc:
        _fail(place, "name", raw_name, str(exc), None)
    if name is None:
        _fail(place, "name", raw_name, "the rate plan name is missing", None)
    return RatePlan(name=name, **_parse_fields(record, _RATE_PLAN_FIELDS, place, None))


def deduplicate_devices(devices: Iterable[Device]) -> list[Device]:
    """One record per ICCID, keeping the latest, in first-seen order.

    A device modified while the search pages through the fleet shows up on two pages (spec);
    the later copy is the newer one unless ``date_updated`` says otherwise.
    """
    latest: dict[str, Device] = {}
    for device in devices:
        previous = latest.get(device.iccid)
        if previous is None or not _is_older(device, previous):
            latest[device.iccid] = device
    return list(latest.values())


def _is_older(candidate: Device, current: Device) -> bool:
    if candidate.date_updated is None or current.date_updated is None:
        return False
    return candidate.date_updated < current.date_updated
