"""How one HTTP answer of the carrier becomes data or a :class:`JasperApiError`, and which errors
are worth another attempt.

Kept apart from the client so that the rules (what is retryable, how an ISO-8859-1 error body is
read, how ``Retry-After`` is honoured) can be read and tested on their own.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from tenacity import RetryCallState

from carrier_opt.errors import CarrierApiError

THROTTLED_ERROR_CODE = "40000029"
"""Jasper's "Rate Limit Exceeded", answered with HTTP 400 — retryable despite the 4xx."""

_MAX_SNIPPET_CHARS = 200


class JasperApiError(CarrierApiError):
    """A final error from the Jasper API (or from reaching it).

    ``status`` is the HTTP status (``None`` when no answer arrived), ``error_code`` and
    ``carrier_message`` are the carrier's ``errorCode`` and ``errorMessage``, ``attempts`` how
    many calls were made before giving up. Never carries credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        carrier_message: str | None = None,
        retry_after_s: float | None = None,
        attempts: int = 1,
        not_json: bool = False,
    ) -> None:
        super().__init__(message, status=status, error_code=error_code)
        self.carrier_message = carrier_message
        self.retry_after_s = retry_after_s
        self.attempts = attempts
        self.not_json = not_json
        """A success status whose body is not JSON (retried once, then final)."""

    @property
    def retryable(self) -> bool:
        """True for answers Cisco says to retry: 5xx, 429, 400 with 40000029; and no answer."""
        if self.status is None:
            return True
        if self.status >= 500 or self.status == 429:
            return True
        return self.status == 400 and self.error_code == THROTTLED_ERROR_CODE

    @property
    def throttled(self) -> bool:
        """True when the carrier said we call too fast."""
        return self.status == 429 or (
            self.status == 400 and self.error_code == THROTTLED_ERROR_CODE
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to insist on retryable errors: bounded in attempts *and* in total time.

    The backoff before attempt ``n + 1`` is drawn from ``[b/2, b]`` with
    ``b = min(max_backoff_s, initial_backoff_s · 2^(n-1))`` ("equal jitter"), raised to the
    server's ``Retry-After`` when it sends one: the carrier's word is honoured in full, up to
    the call's time budget ``max_total_s`` — no attempt starts if its wait would end after it.
    """

    max_attempts: int = 6
    max_total_s: float = 120.0
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_total_s, self.initial_backoff_s, self.max_backoff_s) < 0:
            raise ValueError("retry times must not be negative")

    def backoff_s(self, retry_state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt (a tenacity ``wait`` callable)."""
        ceiling = min(
            self.max_backoff_s, self.initial_backoff_s * 2 ** (retry_state.attempt_number - 1)
        )
        wait_s = ceiling / 2 + random.uniform(0, ceiling / 2)
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, JasperApiError) and error.retry_after_s:
            wait_s = max(wait_s, error.retry_after_s)
        return wait_s


def decode_body_text(content: bytes, content_type: str | None) -> str:
    """Body bytes as text: the declared charset, else UTF-8, else ISO-8859-1 (never fails).

    Some Jasper servers send error bodies in ISO-8859-1 without saying so.
    """
    declared = _declared_charset(content_type)
    for encoding in (declared, "utf-8"):
        if not encoding:
            continue
        try:
            return content.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return content.decode("iso-8859-1")


def _declared_charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


def parse_json_body(response: requests.Response, what: str) -> Any:
    """The JSON of a successful answer, or a final :class:`JasperApiError` saying what came."""
    text = decode_body_text(response.content, response.headers.get("Content-Type"))
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        raise JasperApiError(
            f"{what}: HTTP {response.status_code} but the body is not JSON "
            f"({response.headers.get('Content-Type') or 'no content type'}): {_snippet(text)!r}"
            " — a proxy or an error page answered instead of the API",
            status=response.status_code,
            not_json=True,
        ) from None


def answer_date(response: requests.Response) -> datetime | None:
    """The carrier's clock when it answered (the ``Date`` header), aware; ``None`` if absent."""
    raw = response.headers.get("Date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def error_from_response(response: requests.Response, what: str) -> JasperApiError:
    """A :class:`JasperApiError` from an error answer: status, errorCode, errorMessage."""
    text = decode_body_text(response.content, response.headers.get("Content-Type"))
    error_code: str | None = None
    carrier_message: str | None = None
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        raw_code = body.get("errorCode")
        error_code = str(raw_code) if raw_code not in (None, "") else None
        raw_message = body.get("errorMessage")
        carrier_message = str(raw_message) if raw_message not in (None, "") else None
    elif text.strip():
        carrier_message = _snippet(text)
    described = f"{what}: HTTP {response.status_code}"
    if error_code:
        described += f" errorCode {error_code}"
    described += f": {carrier_message or response.reason or 'no message'}"
    return JasperApiError(
        described,
        status=response.status_code,
        error_code=error_code,
        carrier_message=carrier_message,
        retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
    )


def parse_retry_after(raw: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); ``None`` if absent."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_exception(exc: requests.RequestException, what: str) -> JasperApiError:
    """A retryable :class:`JasperApiError` for a call that got no answer (refused, timed out)."""
    kind = "timed out" if isinstance(exc, requests.Timeout) else "could not reach the server"
    return JasperApiError(f"{what}: {kind} ({type(exc).__name__}: {_snippet(str(exc))})")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SNIPPET_CHARS else text[: _MAX_SNIPPET_CHARS - 3] + "..."
