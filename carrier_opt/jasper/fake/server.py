"""A local fake Jasper server: real HTTP on loopback, a seeded synthetic fleet, fault knobs.

Used by the tests, the demo and ``carrier-opt fake-jasper``. ``FakeJasper(devices=500, seed=1)``
is a context manager that serves on a free port and exposes ``base_url`` and ``credentials``::

    with FakeJasper(devices=500, seed=1) as fake:
        client = JasperClient(fake.base_url, *fake.credentials)

It enforces the spec (Basic auth, ``modifiedSince`` rules, page size ≤ 50, JSON error bodies)
and is generous where the real API is stingy: device search records include the detail
fields. Faults are drawn from a generator seeded with ``seed``, so a given sequence of calls
meets the same faults every run. Every call is kept in ``request_log`` for tests to assert on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import hmac
import json
import logging
import random
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from carrier_opt.jasper.fake.endpoints import DeviceEdit, FakeApiError, FakeCarrier
from carrier_opt.jasper.fake.fleet import FakeDevice, build_fleet, cycle_start, rate_plans_of

log = logging.getLogger(__name__)

API_ROOT = "/rws/api/v1/"
ACCOUNT_TYPES = ("advantage", "essential")
DEFAULT_USERNAME = "fake-user"
DEFAULT_API_KEY = "fake-api-key"
_NO_AUTH_MESSAGE = "Full authentication is required to access this resource"


@dataclass(frozen=True)
class FakeFaults:
    """What can go wrong, all deterministic given the fake's seed.

    The fleet-shaping knobs (``malformed_fraction``, ``missing_usage_fraction``) are read when
    the fake is built; the others may be changed on a running fake by assigning
    ``fake.faults``.

    Per call: ``error_rate`` answers HTTP 500; ``throttle_rate`` answers "too fast", half as
    400/40000029 and half as 429 with ``Retry-After: retry_after_s``; ``latency_s`` delays
    every answer. Per search: ``duplicates_per_search`` SIMs already served on page 1 are
    modified when page 2 is asked for, so they appear on two pages. Per fleet (read when the
    fake is built): ``malformed_fraction`` of SIMs have broken records (no ICCID, a garbage
    date or a garbage usage number) and ``missing_usage_fraction`` of SIMs are left out of
    bulk usage, so a client must fall back to ``ctdUsages``. Per answer shape:
    ``usage_shape`` is the ``GET /usages`` shape served — ``usages`` (records with ``iccid``),
    ``zones`` (per-zone ``devices`` with ``deviceId``, a SIM's usage split over two zones) or
    ``unknown`` (a shape no client knows); ``ignore_page_number`` serves page 1 whatever page is
    asked (echoing the number asked), as a broken server would. ``empty_search_page`` answers
    that page of ``GET /devices`` as ``{"pageNumber": n, "lastPage": false, "devices": []}``
    (the glitch of issue 26), the first ``empty_page_answers`` times it is asked (0: always).
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after_s: int = 0
    latency_s: float = 0.0
    duplicates_per_search: int = 0
    malformed_fraction: float = 0.0
    missing_usage_fraction: float = 0.0
    usage_shape: str = "usages"
    ignore_page_number: bool = False
    empty_search_page: int | None = None
    empty_page_answers: int = 0

    def __post_init__(self) -> None:
        if self.usage_shape not in ("usages", "zones", "unknown"):
            raise ValueError("usage_shape must be usages, zones or unknown")
        rates = (self.error_rate, self.throttle_rate, self.malformed_fraction)
        if any(not 0.0 <= rate <= 1.0 for rate in (*rates, self.missing_usage_fraction)):
            raise ValueError("fault rates and fractions must be between 0 and 1")
        if self.error_rate + self.throttle_rate > 1.0:
            raise ValueError("error_rate + throttle_rate must not exceed 1")


@dataclass(frozen=True)
class LoggedRequest:
    """One call the fake answered: for tests to count calls and check what was sent."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    started_s: float
    finished_s: float

    @property
    def route(self) -> str:
        """The path below ``/rws/api/v1/``, e.g. ``devices`` or ``devices/8901.../ctdUsages``."""
        return self.path.removeprefix(API_ROOT).strip("/")


class FakeJasper:
    """The fake server; start it with ``with`` (or :meth:`start` / :meth:`stop`)."""

    def __init__(
        self,
        devices: int = 200,
        seed: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = DEFAULT_USERNAME,
        api_key: str = DEFAULT_API_KEY,
        faults: FakeFaults | None = None,
        now: datetime | None = None,
        fleet: str = "m2m",
        account_type: str = "advantage",
        refusal_status: int = 403,
        usage_growth: bool = False,
    ) -> None:
        """Build the fleet (not yet serving). ``now`` pins the fake's clock for reproducible
        dates; the server then validates ``modifiedSince`` against that clock, not the real one.
        ``fleet`` is ``m2m`` (IoT SIMs) or ``mobility`` (phones, tablets, hotspots on typed
        plans), see :func:`~carrier_opt.jasper.fake.fleet.build_fleet`.

        ``account_type`` ``essential`` refuses what Cisco's role matrix keeps from Essential
        accounts (Get Usage by Rate Plan) with ``refusal_status``: 403 by default, or 401 with
        the very body bad credentials get — the public docs do not say which a real account
        answers, so the client must tell the two apart by asking Echo. ``usage_growth`` makes
        cycle-to-date usage grow with the fake's clock (:mod:`carrier_opt.jasper.fake.growth`;
        :meth:`move_clock`, :meth:`end_of_cycle_bytes`).
        """
        if account_type not in ACCOUNT_TYPES:
            raise ValueError(f"account_type must be one of {', '.join(ACCOUNT_TYPES)}")
        if refusal_status not in (401, 403):
            raise ValueError("refusal_status must be 401 or 403")
        self.account_type = account_type
        self.refusal_status = refusal_status
        faults = faults or FakeFaults()
        self.seed = seed
        self.host = host
        self.port = port
        self._credentials = (username, api_key)
        built_at = (now or datetime.now(UTC)).replace(microsecond=0)
        self._clock_offset = built_at - datetime.now(UTC)
        sims = build_fleet(
            devices,
            seed,
            built_at,
            fleet=fleet,
            malformed_fraction=faults.malformed_fraction,
            missing_usage_fraction=faults.missing_usage_fraction,
        )
        self.fleet_type = fleet
        self.carrier = FakeCarrier(
            fleet=sims,
            seed=seed,
            clock=self.now,
            rate_plans_published=rate_plans_of(fleet),
            usage_growth=usage_growth,
        )
        self.faults = faults
        self._fault_rng = random.Random(f"faults:{seed}")
        self._empty_pages_served = 0
        self._state_lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: _FakeHttpServer | None = None
        self._thread: threading.Thread | None = None

    # --- what tests and the CLI read ----------------------------------------------------------

    @property
    def faults(self) -> FakeFaults:
        """The fault knobs; assign new ones to a running fake (fleet-shaping ones excepted)."""
        return self._faults

    @faults.setter
    def faults(self, faults: FakeFaults) -> None:
        self._faults = faults
        self.carrier.duplicates_per_search = faults.duplicates_per_search
        self.carrier.usage_shape = faults.usage_shape
        self.carrier.ignore_page_number = faults.ignore_page_number

    def now(self) -> datetime:
        """The fake's clock: the real one, shifted to read ``now`` when the fake was built."""
        return datetime.now(UTC) + self._clock_offset

    def move_clock(self, to: datetime) -> None:
        """Set the fake's clock to ``to`` (it runs on from there): a later day of the cycle,
        with ``usage_growth`` a later cycle-to-date usage."""
        self._clock_offset = to - datetime.now(UTC)

    def end_of_cycle_bytes(self, iccid: str) -> int:
        """A SIM's data over the whole current cycle, as the bill will price it (with
        ``usage_growth``; without, the fixed cycle-to-date usage)."""
        device = next(d for d in self.fleet if d.iccid == iccid)
        growth = self.carrier.growth_of(device)
        return device.ctd_data_bytes if growth is None else growth.end_of_cycle_bytes()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/rws/api/v1/`` of the running server."""
        if self._server is None:
            raise RuntimeError("the fake Jasper server is not running")
        return f"http://{self.host}:{self._server.server_address[1]}{API_ROOT}"

    @property
    def credentials(self) -> tuple[str, str]:
        """``(username, api_key)`` the fake accepts."""
        return self._credentials

    @property
    def fleet(self) -> list[FakeDevice]:
        """The SIMs the fake serves (live objects: edits show up here)."""
        return self.carrier.fleet

    @property
    def rate_plan_names(self) -> list[str]:
        """Names of the fake operator's rate plans."""
        return [plan.name for plan in self.carrier.rate_plans_published]

    @property
    def cycle_start_date(self) -> date:
        """First day of the current billing cycle (the fake bills by calendar month)."""
        return cycle_start(self.now())

    @property
    def edits(self) -> list[DeviceEdit]:
        """The ``PUT /devices/{iccid}`` calls accepted so far."""
        with self._state_lock:
            return list(self.carrier.edits)

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every call answered so far, oldest first."""
        with self._state_lock:
            return list(self._log)

    def replay(self, edits: Iterable[DeviceEdit]) -> int:
        """Carry out edits an earlier fake received (it was stopped, this one replaces it), each
        at its own moment; see :meth:`FakeCarrier.replay`. Answers how many were carried out."""
        return self.carrier.replay(edits)

    def clear_request_log(self) -> None:
        """Forget the calls so far (and the in-flight high-water mark)."""
        with self._state_lock:
            self._log.clear()
            self.max_in_flight = self._in_flight

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeJasper:
        """Listen and serve in a background thread."""
        if self._server is not None:
            return self
        server = _FakeHttpServer((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-jasper",
            daemon=True,
        )
        self._thread.start()
        log.info("fake Jasper serving %d SIMs at %s", len(self.fleet), self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeJasper:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- answering ----------------------------------------------------------------------------

    def answer(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """Status, extra headers and JSON body for one call (the HTTP handler's only hook)."""
        started = time.monotonic()
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._tracking_in_flight():
            status, extra_headers, payload = self._answer(method, parts.path, query, headers, body)
        entry = LoggedRequest(method, parts.path, query, status, started, time.monotonic())
        with self._state_lock:
            self._log.append(entry)
        return status, extra_headers, payload

    @contextmanager
    def _tracking_in_flight(self) -> Iterator[None]:
        # Counted down before the answer is written, so a client that waits for each answer
        # can never be seen overlapping itself.
        with self._state_lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._state_lock:
                self._in_flight -= 1

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        try:
            if not path.startswith(API_ROOT):
                raise FakeApiError(404, None, f"No such resource: {path}")
            self._authenticate(headers.get("Authorization"))
            if self.faults.latency_s:
                time.sleep(self.faults.latency_s)
            self._inject_fault()
            route = path.removeprefix(API_ROOT)
            self._refuse_for_account_type(method, route)
            answer = self.carrier.route(method, route, query, body)
            return 200, {}, self._emptied(method, route, answer)
        except FakeApiError as error:
            return error.status, error.headers, error.body()

    def _refuse_for_account_type(self, method: str, route: str) -> None:
        """Essential accounts may not call Get Usage by Rate Plan (the role matrix)."""
        if self.account_type != "essential" or method != "GET":
            return
        if route.strip("/").split("/")[0] != "usages":
            return
        if self.refusal_status == 401:  # indistinguishable from bad credentials, on purpose
            raise FakeApiError(401, "10000001", "Invalid credentials")
        raise FakeApiError(403, "10000024", "This API is not available for your account type")

    def _emptied(self, method: str, route: str, answer: Any) -> Any:
        """The search page ``faults.empty_search_page`` emptied but for ``lastPage: false``."""
        page = self.faults.empty_search_page
        if page is None or method != "GET" or route.strip("/") != "devices":
            return answer
        if not isinstance(answer, dict) or answer.get("pageNumber") != page:
            return answer
        with self._state_lock:
            self._empty_pages_served += 1
            served = self._empty_pages_served
        limit = self.faults.empty_page_answers
        if limit and served > limit:
            return answer
        return {"pageNumber": page, "lastPage": False, "devices": []}

    def _authenticate(self, header: str | None) -> None:
        if not header:
            raise FakeApiError(
                401, None, _NO_AUTH_MESSAGE, {"WWW-Authenticate": 'Basic realm="Jasper"'}
            )
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, _, api_key = decoded.partition(":")
        expected_user, expected_key = self._credentials
        valid = (
            scheme.lower() == "basic"
            and hmac.compare_digest(username.encode(), expected_user.encode())
            and hmac.compare_digest(api_key.encode(), expected_key.encode())
        )
        if not valid:
            raise FakeApiError(401, "10000001", "Invalid credentials")

    def _inject_fault(self) -> None:
        faults = self.faults
        if not (faults.error_rate or faults.throttle_rate):
            return
        with self._state_lock:
            draw, coin = self._fault_rng.random(), self._fault_rng.random()
        if draw < faults.error_rate:
            raise FakeApiError(500, "30000001", "Unknown server error (injected by the fake)")
        if draw < faults.error_rate + faults.throttle_rate:
            if coin < 0.5:
                raise FakeApiError(400, "40000029", "Rate Limit Exceeded")
            retry_after = {"Retry-After": str(faults.retry_after_s)}
            raise FakeApiError(429, None, "Too Many Requests", retry_after)


class _FakeHttpServer(ThreadingHTTPServer):
    """Threads per connection, and a record of open connections so that :meth:`stop` really
    stops: an idle keep-alive connection would otherwise go on being served."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.fake: FakeJasper | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (a killed sync or push, a closed test) is
        expected here, not a server error: only other errors are printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection (their handler threads then end)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Hands every call to :meth:`FakeJasper.answer` and writes its JSON (UTF-8)."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeJasper/1.0"
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK would
    # stall every answer by ~40 ms.
    disable_nagle_algorithm = True

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header by the fake's own clock (a pinned fake answers at its "now")."""
        fake: FakeJasper = self.server.fake  # type: ignore[attr-defined]
        if timestamp is None:
            return email.utils.format_datetime(fake.now(), usegmt=True)
        return super().date_time_string(timestamp)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake: FakeJasper = self.server.fake  # type: ignore[attr-defined]  # set by start()
        status, headers, payload = fake.answer(self.command, self.path, self.headers, body)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: headers (and so the Authorization) are never logged.
        log.debug("fake Jasper: " + format, *args)
