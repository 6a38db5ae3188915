"""The Jasper (Cisco IoT Control Center) REST client this project needs, and nothing more.

Polite by construction: every call goes through the account's :class:`AccountGate` (one call in
flight, at most ``calls_per_second``), retryable answers are retried with jittered exponential
backoff bounded in attempts and time, and what a sync costs is counted in :class:`ApiStats`.
The API key lives only in the session's Basic auth: it is never logged, never in an exception
and never in ``repr(client)``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.auth import HTTPBasicAuth
from tenacity import (
    RetryCallState,
    Retrying,
    stop_after_attempt,
    stop_before_delay,
)

from carrier_opt.errors import ConfigurationError, InputError
from carrier_opt.jasper.paging import (
    GLITCH_ATTEMPTS,
    MAX_PAGES,
    IncompletePageError,
    PagedResult,
    PageGuard,
    PagingError,
    last_page,
)
from carrier_opt.jasper.payloads import (
    CtdUsage,
    Device,
    MalformedRecordError,
    PayloadProblem,
    RatePlan,
    RatePlanUsage,
    RecordPlace,
    parse_ctd_usage,
    parse_device,
    parse_rate_plan,
)
from carrier_opt.jasper.throttle import gate_for
from carrier_opt.jasper.transport import (
    JasperApiError,
    RetryPolicy,
    answer_date,
    error_from_exception,
    error_from_response,
    parse_json_body,
)
from carrier_opt.jasper.usage_shapes import BulkUsage, UsagePage, parse_usage_page

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 50
DEFAULT_CALLS_PER_SECOND = 5.0

# Snake-case names whose carrier spelling is not plain camelCase.
_EDIT_FIELD_NAMES = {"device_id": "deviceID", "modem_id": "modemID"}


@dataclass(frozen=True)
class ApiStats:
    """What the client has cost the carrier so far: HTTP calls, of which retries, and pages.

    ``throttled`` counts answers that said "too fast" (429 or 400/40000029). Subtract two
    snapshots to get the cost of one sync.
    """

    calls: int = 0
    retries: int = 0
    pages: int = 0
    throttled: int = 0

    def __sub__(self, other: ApiStats) -> ApiStats:
        return ApiStats(
            calls=self.calls - other.calls,
            retries=self.retries - other.retries,
            pages=self.pages - other.pages,
            throttled=self.throttled - other.throttled,
        )

    def __str__(self) -> str:
        return (
            f"{self.pages} pages, {self.calls} calls, {self.retries} retries"
            f" ({self.throttled} throttled)"
        )


class _StatsCounter:
    """Thread-safe counters behind :attr:`JasperClient.stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"calls": 0, "retries": 0, "pages": 0, "throttled": 0}

    def add(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> ApiStats:
        with self._lock:
            return ApiStats(**self._counts)


class JasperClient:
    """A client of one Jasper account: Basic auth with the username and the API key.

    ``base_url`` is e.g. ``https://api.example.com/rws/api/v1/``. ``calls_per_second`` defaults
    to Cisco's 5; tests against the local fake may raise it. ``page_size`` is at most 50.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        api_key: str,
        *,
        calls_per_second: float = DEFAULT_CALLS_PER_SECOND,
        retry_policy: RetryPolicy | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        page_size: int = MAX_PAGE_SIZE,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = _normalise_base_url(base_url)
        if not username or not api_key:
            raise ConfigurationError("the Jasper username and API key must both be set")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigurationError(f"Jasper page size must be 1..{MAX_PAGE_SIZE}: {page_size}")
        if calls_per_second <= 0:
            raise ConfigurationError(f"calls_per_second must be positive: {calls_per_second}")
        self.username = username
        self.calls_per_second = calls_per_second
        self.retry_policy = retry_policy or RetryPolicy()
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.page_size = page_size
        self._auth = HTTPBasicAuth(username, api_key)
        self._session = session or requests.Session()
        self._session.headers.update({"Accept": "application/json"})
        self._gate = gate_for(self.base_url, username)
        self._stats = _StatsCounter()

    def __repr__(self) -> str:
        return f"JasperClient(base_url={self.base_url!r}, username={self.username!r})"

    def __enter__(self) -> JasperClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    @property
    def stats(self) -> ApiStats:
        """A snapshot of calls, retries, pages and throttled answers so far."""
        return self._stats.snapshot()

    # --- endpoints ---------------------------------------------------------------------------

    def echo(self, text: str) -> str:
        """Send ``text`` to ``/echo`` and answer what came back: a cheap connectivity check."""
        body = self._call("GET", f"echo/{quote(text, safe='')}")
        return str(body.get("context", "")) if isinstance(body, dict) else ""

    def search_devices(
        self,
        modified_since: datetime,
        modified_till: datetime | None = None,
        status: str | None = None,
        account_id: str | None = None,
        *,
        skip_malformed: bool = False,
        start_page: int = 1,
    ) -> PagedResult[Device]:
        """Every SIM modified in the window, page by page, oldest modification first.

        The real API answers four fields per SIM (iccid, status, ratePlan, communicationPlan):
        the rest needs :meth:`device_details`. A device modified while paging may come twice:
        pass the result through :func:`~carrier_opt.jasper.payloads.deduplicate_devices`.
        With ``skip_malformed`` bad records land in ``result.problems`` instead of raising;
        ``start_page`` resumes a listing.
        """
        params: dict[str, str] = {"modifiedSince": _iso_timestamp(modified_since, "modified_since")}
        if modified_till is not None:
            params["modifiedTill"] = _iso_timestamp(modified_till, "modified_till")
        if status:
            params["status"] = status
        if account_id:
            params["accountId"] = str(account_id)
        return self._paged(
            "devices", params, "devices", parse_device, skip_malformed, start_page=start_page
        )

    def device_details(self, iccid: str) -> Device:
        """All the carrier knows about one SIM (one call: avoid per SIM in a sync)."""
        path = f"devices/{_iccid_path(iccid)}"
        return parse_device(self._call("GET", path), RecordPlace(f"GET /{path}"))

    def ctd_usage(self, iccid: str) -> CtdUsage:
        """Cycle-to-date usage of one SIM: the slow fallback for SIMs missing from bulk usage."""
        path = f"devices/{_iccid_path(iccid)}/ctdUsages"
        return parse_ctd_usage(self._call("GET", path), RecordPlace(f"GET /{path}"))

    def usage_by_rate_plan(
        self, rate_plan_name: str, cycle_start_date: date, *, skip_malformed: bool = False
    ) -> BulkUsage:
        """Usage of every SIM on one rate plan in the cycle starting ``cycle_start_date``,
        over every page, whatever known shape the carrier answers in (see
        :mod:`~carrier_opt.jasper.usage_shapes`). An unknown shape or records without their
        usage are reported on the result, never read as zero. Strict unless
        ``skip_malformed``: the first malformed record raises."""
        if not rate_plan_name:
            raise InputError("usage_by_rate_plan needs a rate plan name")
        params = {"ratePlanName": rate_plan_name, "cycleStartDate": cycle_start_date.isoformat()}
        bulk = BulkUsage(rate_plan_name, cycle_start_date)
        guard = PageGuard("GET /usages")
        for page_number in range(1, MAX_PAGES + 1):
            page_params = {
                **params,
                "pageSize": str(self.page_size),
                "pageNumber": str(page_number),
            }
            page, done = self._usage_page(page_params, page_number, guard, bulk)
            if page.problems and not skip_malformed:
                raise MalformedRecordError(page.problems[0])
            bulk.add(page)
            if done:
                return bulk
        raise PagingError(f"GET /usages ratePlanName={rate_plan_name!r}: the server never ended")

    def _usage_page(
        self, page_params: dict[str, str], page_number: int, guard: PageGuard, bulk: BulkUsage
    ) -> tuple[UsagePage, bool]:
        """One ``/usages`` page and whether it is the last; an empty page that is not the last
        is asked again (:data:`GLITCH_ATTEMPTS` in all), then fails the listing."""
        for attempt in range(1, GLITCH_ATTEMPTS + 1):
            body, answered_at = self._call("GET", "usages", params=page_params, with_date=True)
            self._stats.add("pages")
            page = parse_usage_page(body, "GET /usages", page_number)
            guard.check(page_number, body, sorted(page.usage) + page.missing_usage)
            bulk.timestamp = bulk.timestamp or answered_at
            try:
                records = len(page.usage) + len(page.missing_usage)
                done = page.shape is None or last_page(
                    body, records, self.page_size, endpoint="GET /usages", page_number=page_number
                )
            except IncompletePageError as exc:
                if attempt == GLITCH_ATTEMPTS:
                    raise IncompletePageError(f"{exc} (asked {attempt} times)") from None
                log.warning("%s; asking again", exc)
                continue
            return page, done
        raise AssertionError("unreachable")

    def rate_plans(
        self, account_id: str | None = None, *, skip_malformed: bool = False
    ) -> PagedResult[RatePlan]:
        """The published rate plans (names only are reliable; prices live in our own table)."""
        params = {"accountId": str(account_id)} if account_id else {}
        return self._paged("rateplans", params, "ratePlans", parse_rate_plan, skip_malformed)

    def edit_device(self, iccid: str, **fields: Any) -> str:
        """Change a SIM (``rate_plan=``, ``status=``, ``effective_date=``...); answers its ICCID.

        Snake-case names are sent in the carrier's spelling (``rate_plan`` → ``ratePlan``,
        ``device_id`` → ``deviceID``); dates are sent as ISO 8601 with offset. Retried like
        any call: a PUT of the same fields is idempotent, so a retry after a lost answer is safe.
        """
        if not fields:
            raise InputError(f"edit_device({iccid}) needs at least one field to change")
        body = {_carrier_field_name(name): _json_value(value) for name, value in fields.items()}
        answer = self._call("PUT", f"devices/{_iccid_path(iccid)}", json_body=body)
        return str(answer.get("iccid") or iccid) if isinstance(answer, dict) else iccid

    def raw_get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """One GET below the base URL, answered as decoded JSON (for ``jasper check``, which
        compares raw answers with the project's schemas); polite and retried like any call."""
        return self._call("GET", path.lstrip("/"), params=params)

    # --- plumbing ----------------------------------------------------------------------------

    def _paged(
        self,
        path: str,
        params: Mapping[str, str],
        records_key: str,
        parse: Callable[[Any, RecordPlace], Any],
        skip_malformed: bool,
        start_page: int = 1,
    ) -> PagedResult[Any]:
        def fetch_page(page_number: int) -> Any:
            page_params = {
                **params,
                "pageSize": str(self.page_size),
                "pageNumber": str(page_number),
            }
            body, answered_at = self._call("GET", path, params=page_params, with_date=True)
            self._stats.add("pages")
            if result.first_answered_at is None:
                result.first_answered_at = answered_at
            return body

        result = PagedResult(
            endpoint=f"GET /{path}",
            records_key=records_key,
            page_size=self.page_size,
            fetch_page=fetch_page,
            parse=parse,
            skip_malformed=skip_malformed,
            start_page=start_page,
        )
        return result

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        with_date: bool = False,
    ) -> Any:
        """One logical call: attempts through the gate, retried per the policy. Answers the
        decoded body, or (body, the answer's ``Date``) with ``with_date``."""
        policy = self.retry_policy
        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_total_s),
            wait=policy.backoff_s,
            retry=_worth_another_attempt,
            before_sleep=functools.partial(self._before_retry, f"{method} /{path}"),
            reraise=True,
        )
        try:
            body, answered_at = retrying(self._attempt, method, path, params, json_body)
            return (body, answered_at) if with_date else body
        except JasperApiError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            exc.attempts = attempts
            budget = policy.max_total_s
            if exc.retryable and exc.retry_after_s and exc.retry_after_s > budget:
                exc.args = (
                    f"{exc.args[0]} (the carrier asked to wait {exc.retry_after_s:.0f} s, "
                    f"beyond this call's time budget of {budget:.0f} s)",
                )
            elif attempts > 1:
                exc.args = (f"{exc.args[0]} (gave up after {attempts} attempts)",)
            raise

    def _attempt(
        self, method: str, path: str, params: Mapping[str, str] | None, json_body: Any
    ) -> Any:
        what = f"Jasper {method} /{path}"
        with self._gate.call(self.calls_per_second):
            self._stats.add("calls")
            log.debug("%s %s", what, dict(params or {}))
            try:
                response = self._session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json_body,
                    auth=self._auth,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                raise error_from_exception(exc, what) from None
        if response.status_code >= 400:
            error = error_from_response(response, what)
            if error.throttled:
                self._stats.add("throttled")
            raise error
        return parse_json_body(response, what), answer_date(response)

    def _before_retry(self, what: str, retry_state: RetryCallState) -> None:
        self._stats.add("retries")
        error = retry_state.outcome.exception() if retry_state.outcome else None
        sleep_s = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.warning(
            "%s (attempt %d of at most %d); retrying in %.2f s",
            error or what,
            retry_state.attempt_number,
            self.retry_policy.max_attempts,
            sleep_s,
        )


def _worth_another_attempt(state: RetryCallState) -> bool:
    """Retry what Cisco says to retry; an answer that is not JSON (an HTML error page behind
    a 200, a proxy's login page) once only — a second one is not a glitch."""
    error = state.outcome.exception() if state.outcome is not None else None
    if not isinstance(error, JasperApiError):
        return False
    if error.retryable:
        return True
    return error.not_json and state.attempt_number < 2


def _normalise_base_url(base_url: str) -> str:
    parts = urlsplit(base_url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "the Jasper base URL must look like https://host/rws/api/v1/, "
            f"not {base_url.split('@')[-1]!r}"
        )
    if parts.username or parts.password:
        # Credentials in the URL would end up in logs and messages: refuse without echoing them.
        raise ConfigurationError(
            "the Jasper base URL must not contain credentials; pass username and API key"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        log.warning("Jasper base URL %s is plain HTTP: the API key travels unencrypted", base_url)
    return base_url if base_url.endswith("/") else base_url + "/"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _iso_timestamp(moment: datetime, name: str) -> str:
    if moment.tzinfo is None:
        raise InputError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _iccid_path(iccid: str) -> str:
    if not iccid or not str(iccid).strip():
        raise InputError("an ICCID is required")
    return quote(str(iccid).strip(), safe="")


def _carrier_field_name(name: str) -> str:
    if name in _EDIT_FIELD_NAMES:
        return _EDIT_FIELD_NAMES[name]
    return re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), name)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso_timestamp(value, "effective date")
    if isinstance(value, date):
        return value.isoformat()
    return value


__all__ = [
    "ApiStats",
    "CtdUsage",
    "Device",
    "JasperApiError",
    "JasperClient",
    "MalformedRecordError",
    "PagedResult",
    "PayloadProblem",
    "RatePlan",
    "RatePlanUsage",
    "RetryPolicy",
]
