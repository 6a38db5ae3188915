"""``carrier-opt jasper check``: a doctor for a real account, read-only, a handful of calls.

Before the first sync of a new account an operator wants to know whether the answers look
like what the project expects. :func:`check_account` makes five read-only calls — echo, one
search page, one SIM's details, its cycle-to-date usage, one page of its plan's bulk usage —
and compares each answer with the project's own schema of that endpoint (``jasper-api.md``):
which expected fields came, which are missing, which keys are unknown to us. Credentials are
never printed or recorded.

``record_dir`` saves the raw answers as JSON fixtures with every ICCID, MSISDN and IMSI
replaced by a stable hash of the same shape (so references between answers still line up),
for :class:`~carrier_opt.jasper.fake.replay.ReplayJasper` to serve back in tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from carrier_opt.errors import CarrierApiError

SEARCH_FIELDS = frozenset({"iccid", "status", "ratePlan", "communicationPlan"})
DETAIL_FIELDS = frozenset(
    {
        "iccid",
        "imsi",
        "msisdn",
        "imei",
        "status",
        "ratePlan",
        "communicationPlan",
        "customer",
        "endConsumerId",
        "dateActivated",
        "dateAdded",
        "dateUpdated",
        "dateShipped",
        "accountId",
        "fixedIPAddress",
        "fixedIpv6Address",
        "simNotes",
        "deviceID",
        "modemID",
        "globalSimType",
        "eid",
        "simProfileId",
        *(f"accountCustom{n}" for n in range(1, 11)),
        *(f"operatorCustom{n}" for n in range(1, 6)),
        *(f"customerCustom{n}" for n in range(1, 6)),
    }
)
CTD_FIELDS = frozenset(
    {
        "iccid",
        "imsi",
        "msisdn",
        "imei",
        "status",
        "ratePlan",
        "communicationPlan",
        "ctdDataUsage",
        "ctdSMSUsage",
        "ctdVoiceUsage",
        "ctdSessionCount",
        "overageLimitReached",
        "overageLimitOverride",
    }
)
PAGE_FIELDS = frozenset({"pageNumber", "lastPage"})
USAGE_RECORD_FIELDS = frozenset({"iccid", "dataUsage", "smsUsage", "voiceUsage"})
ZONE_DEVICE_FIELDS = frozenset({"deviceId", "usage"})

SCHEMAS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # endpoint: (fields required, fields known)
    "echo": (frozenset({"context"}), frozenset({"context"})),
    "search": (PAGE_FIELDS | {"devices"}, PAGE_FIELDS | {"devices"}),
    "search record": (SEARCH_FIELDS, SEARCH_FIELDS),
    "details": (
        frozenset({"iccid", "status", "ratePlan", "dateActivated", "dateUpdated"}),
        DETAIL_FIELDS,
    ),
    "ctdUsages": (frozenset({"iccid", "ctdDataUsage"}), CTD_FIELDS),
    "usages": (
        PAGE_FIELDS,
        PAGE_FIELDS
        | {"usages", "zones", "ratePlanName", "cycleStartDate", "timestamp", "timeStamp"},
    ),
    "usages record": (frozenset({"iccid", "dataUsage"}), USAGE_RECORD_FIELDS),
    "usages zone device": (ZONE_DEVICE_FIELDS, ZONE_DEVICE_FIELDS),
}

REDACTED_KEYS = ("iccid", "deviceId", "msisdn", "imsi")


@dataclass
class Check:
    """One call of the doctor and how its answer compares with the schema."""

    name: str
    call: str
    ok: bool = False
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    note: str = ""
    usage_by_rate_plan: str | None = None
    """For the ``usages`` call: ``allowed``, or ``refused`` when the account may not call it
    (the role matrix keeps it from Essential accounts) while Echo works."""

    def line(self) -> str:
        """One line for the terminal (never a credential)."""
        if self.note.startswith("skipped"):
            verdict = "skip"
        else:
            verdict = "ok  " if self.ok and not self.missing else "FAIL" if not self.ok else "warn"
        parts = [f"{verdict} {self.name:<12} {self.call}"]
        if self.matched:
            parts.append(f"matched {len(self.matched)}: {', '.join(self.matched)}")
        parts.append(f"missing: {', '.join(self.missing) or 'none'}")
        parts.append(f"unknown keys: {', '.join(self.unknown) or 'none'}")
        if self.note:
            parts.append(self.note)
        return " | ".join(parts)


def check_account(client, *, now: datetime, record_dir: Path | None = None) -> list[Check]:
    """The five read-only calls (see the module docstring), each checked; later calls need a
    SIM from the search and are skipped (with the reason) when it found none."""
    recorder = _Recorder(record_dir)
    checks = [_echo(client, recorder)]
    search, device = _search(client, now, recorder)
    checks.append(search)
    if device is None:
        for name in ("details", "ctdUsages", "usages"):
            checks.append(Check(name, "-", note="skipped: the search listed no SIM"))
        return checks
    details = _one(
        client, recorder, "details", f"GET /devices/{device['iccid']}", f"devices/{device['iccid']}"
    )
    checks.append(details)
    checks.append(
        _one(
            client,
            recorder,
            "ctdUsages",
            f"GET /devices/{device['iccid']}/ctdUsages",
            f"devices/{device['iccid']}/ctdUsages",
        )
    )
    checks.append(_usages(client, recorder, device.get("ratePlan"), echo_ok=checks[0].ok))
    recorder.finish()
    return checks


def _echo(client, recorder: _Recorder) -> Check:
    check = Check("echo", "GET /echo/carrier-opt")
    body = _call(client, check, "echo/carrier-opt")
    if body is not None:
        recorder.save("echo", "echo/carrier-opt", {}, body)
        _compare(check, body, "echo")
    return check


def _search(client, now: datetime, recorder: _Recorder) -> tuple[Check, dict | None]:
    since = (now - timedelta(days=364)).isoformat(timespec="seconds")  # the API's oldest
    params = {"modifiedSince": since, "pageSize": "50", "pageNumber": "1"}
    check = Check("search", "GET /devices (one page, modified in the last year)")
    body = _call(client, check, "devices", params)
    if body is None:
        return check, None
    recorder.save("search", "devices", params, body)
    _compare(check, body, "search")
    records = body.get("devices") if isinstance(body, Mapping) else None
    first = records[0] if isinstance(records, list) and records else None
    if isinstance(first, Mapping):
        record = Check("", "")
        _compare(record, first, "search record")
        check.missing += [f"devices[].{name}" for name in record.missing]
        check.unknown += [f"devices[].{name}" for name in record.unknown]
        extra = sorted(set(first) - SEARCH_FIELDS)
        if extra:
            check.note = f"the search answered more than the four published fields: {extra}"
    return check, dict(first) if isinstance(first, Mapping) else None


def _one(client, recorder: _Recorder, name: str, call: str, path: str) -> Check:
    check = Check(name, call)
    body = _call(client, check, path)
    if body is not None:
        recorder.save(name, path, {}, body)
        _compare(check, body, name)
    return check


def _usages(client, recorder: _Recorder, plan: str | None, *, echo_ok: bool) -> Check:
    check = Check("usages", f"GET /usages?ratePlanName={plan} (one page)")
    if not plan:
        check.note = "skipped: the SIM has no rate plan"
        return check
    params = {"ratePlanName": plan, "pageSize": "50", "pageNumber": "1"}
    try:
        body = client.raw_get("usages", params)
    except CarrierApiError as error:
        if echo_ok and error.status in (401, 403):
            check.ok, check.usage_by_rate_plan = True, "refused"
            check.note = (
                f"refused (HTTP {error.status}) while Echo works: the account may not call Get "
                "Usage by Rate Plan (an Essential account in Cisco's role matrix); syncs read "
                "usage per SIM (ctdUsages), one call each"
            )
        else:
            check.note = f"the call failed: {error}"
        return check
    check.ok, check.usage_by_rate_plan = True, "allowed"
    recorder.save("usages", "usages", params, body)
    _compare(check, body, "usages")
    if isinstance(body.get("usages"), list) and body["usages"]:
        _records(check, body["usages"][0], "usages record", "usages[]")
    elif isinstance(body.get("zones"), list) and body["zones"]:
        devices = body["zones"][0].get("devices") if isinstance(body["zones"][0], Mapping) else None
        if isinstance(devices, list) and devices:
            _records(check, devices[0], "usages zone device", "zones[].devices[]")
    else:
        check.note = "no record of a known shape (usages or zones): the sync would read per SIM"
        check.ok = check.ok and "usages" in body
    return check


def _records(check: Check, record: Any, schema: str, prefix: str) -> None:
    if not isinstance(record, Mapping):
        return
    inner = Check("", "")
    _compare(inner, record, schema)
    check.missing += [f"{prefix}.{name}" for name in inner.missing]
    check.unknown += [f"{prefix}.{name}" for name in inner.unknown]


def _call(client, check: Check, path: str, params: Mapping[str, str] | None = None):
    try:
        body = client.raw_get(path, params)
    except CarrierApiError as error:
        check.note = f"the call failed: {error}"
        return None
    check.ok = True
    return body


def _compare(check: Check, body: Any, schema: str) -> None:
    required, known = SCHEMAS[schema]
    if not isinstance(body, Mapping):
        check.ok = False
        check.note = f"expected a JSON object, got {type(body).__name__}"
        return
    check.matched = sorted(set(body) & known)
    check.missing = sorted(required - set(body))
    check.unknown = sorted(set(body) - known)


class _Recorder:
    """Writes each answer (redacted) and a manifest of which call it answers."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.entries: list[dict[str, Any]] = []
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def save(self, name: str, path: str, params: Mapping[str, str], body: Any) -> None:
        if self.folder is None:
            return
        file_name = f"{name}.json"
        (self.folder / file_name).write_text(json.dumps(redact(body), indent=2) + "\n")
        self.entries.append(
            {"name": name, "path": _redact_path(path), "params": dict(params), "file": file_name}
        )

    def finish(self) -> None:
        if self.folder is not None:
            manifest = {"recorded": self.entries, "redacted": list(REDACTED_KEYS)}
            (self.folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def redact(value: Any) -> Any:
    """``value`` with every ICCID, MSISDN and IMSI replaced by a stable digit hash."""
    if isinstance(value, Mapping):
        return {
            key: pseudonym(item) if key in REDACTED_KEYS and item else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def pseudonym(value: Any) -> str:
    """A digit string of the same length, the same for the same input (ICCIDs keep ``89``)."""
    text = str(value)
    digits = str(int(hashlib.sha256(text.encode()).hexdigest(), 16))
    length = max(len(text), 4)
    fake = (digits * (length // len(digits) + 1))[:length]
    return "89" + fake[2:] if text.startswith("89") else fake


def _redact_path(path: str) -> str:
    parts = path.split("/")
    if len(parts) >= 2 and parts[0] == "devices":
        parts[1] = pseudonym(parts[1])
    return "/".join(parts)
