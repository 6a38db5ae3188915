"""Walking the carrier's numbered pages and parsing their records, one bad record at a time.

A sync over thousands of SIMs should not die because the carrier sent one record with a
garbage date, nor should it hide that record. :class:`PagedResult` lets the caller choose:
strict (the default) raises :class:`MalformedRecordError` at the first bad record; with
``skip_malformed=True`` the record is skipped, logged and kept in ``problems`` for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar

from carrier_opt.errors import CarrierApiError
from carrier_opt.jasper.payloads import (
    MalformedRecordError,
    PayloadProblem,
    RecordPlace,
    parse_flag,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PAGES = 100_000
"""A guard against a server that never says ``lastPage`` (50 × 100,000 = 5 million records)."""

GLITCH_ATTEMPTS = 3
"""A page answered empty (or without its records) while not the last is asked this many times
in all before the listing fails: the carrier's glitch may pass, a shorter fleet never may."""

FetchPage = Callable[[int], Any]
"""Fetch page ``n`` (from 1) and answer its decoded JSON body."""

ParseRecord = Callable[[Any, RecordPlace], T]


class PagedResult(Generic[T]):
    """Every record of every page of one listing, parsed lazily as the caller iterates.

    Iterate it once. ``problems`` (the skipped records) and ``pages_read`` are complete when
    the iteration has finished.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        records_key: str,
        page_size: int,
        fetch_page: FetchPage,
        parse: ParseRecord[T],
        skip_malformed: bool = False,
        start_page: int = 1,
    ) -> None:
        if start_page < 1:
            raise ValueError(f"pages are numbered from 1, not {start_page}")
        self.endpoint = endpoint
        self.start_page = start_page
        self.first_answered_at: datetime | None = None
        """The carrier's clock (``Date``) when it answered the first page read."""
        self.skip_malformed = skip_malformed
        self.problems: list[PayloadProblem] = []
        self.pages_read = 0
        self.at_last_page = False
        """Whether the page last yielded was the listing's last (a caller counting its calls
        knows whether another page will be asked)."""
        self._records_key = records_key
        self._page_size = page_size
        self._fetch_page = fetch_page
        self._parse = parse
        self._started = False
        self._guard = PageGuard(endpoint)

    def __iter__(self) -> Iterator[T]:
        return (record for _, records in self.pages() for record in records)

    def pages(self) -> Iterator[tuple[int, list[T]]]:
        """(page number, its parsed records) page by page, from ``start_page``: for callers
        that commit what they got page by page (and so can resume after the last one)."""
        if self._started:
            raise RuntimeError(f"{self.endpoint}: a paged result can be iterated only once")
        self._started = True
        return self._pages()

    def _pages(self) -> Iterator[tuple[int, list[T]]]:
        for page_number in range(self.start_page, MAX_PAGES + 1):
            records, last_page = self._read_page(page_number)
            parsed = []
            for index, raw in enumerate(records):
                place = RecordPlace(self.endpoint, page_number, index)
                record = self._parse_or_skip(raw, place)
                if record is not None:
                    parsed.append(record)
            self.at_last_page = last_page
            yield page_number, parsed
            if last_page:
                return
        raise MalformedRecordError(
            PayloadProblem(
                self.endpoint, MAX_PAGES, None, "lastPage", "false", "the server never ended"
            )
        )

    def _read_page(self, page_number: int) -> tuple[list[Any], bool]:
        for attempt in range(1, GLITCH_ATTEMPTS + 1):
            try:
                return self._read_page_once(page_number)
            except IncompletePageError as exc:
                if attempt == GLITCH_ATTEMPTS:
                    raise IncompletePageError(f"{exc} (asked {attempt} times)") from None
                log.warning("%s; asking again (%d of %d)", exc, attempt + 1, GLITCH_ATTEMPTS)
        raise AssertionError("unreachable")

    def _read_page_once(self, page_number: int) -> tuple[list[Any], bool]:
        body = self._fetch_page(page_number)
        self.pages_read += 1
        place = RecordPlace(self.endpoint, page_number, None)
        records = body.get(self._records_key) if isinstance(body, dict) else None
        if records is None and isinstance(body, dict):
            if parse_flag_or_none(body.get("lastPage")) is not True:
                # An empty body or {"lastPage": false, "message": "try later"}: a glitch, not
                # the end of the listing. Stopping here would silently shorten the fleet.
                raise IncompletePageError(
                    f"{self.endpoint} page {page_number}: the answer has no "
                    f"{self._records_key!r} and does not say it is the last page (keys: "
                    f"{sorted(body) or 'none'}); the listing is incomplete, try again later"
                )
            records = []  # an empty last page may leave the key out
        if not isinstance(records, list):
            # A page we cannot read is never skipped: its records would vanish unreported.
            raise MalformedRecordError(
                PayloadProblem(
                    place.endpoint,
                    page_number,
                    None,
                    self._records_key,
                    repr(type(records).__name__),
                    "expected a list of records",
                )
            )
        self._guard.check(page_number, body, [_identity(r) for r in records])
        return records, last_page(
            body, len(records), self._page_size, endpoint=self.endpoint, page_number=page_number
        )

    def _parse_or_skip(self, raw: Any, place: RecordPlace) -> T | None:
        try:
            return self._parse(raw, place)
        except MalformedRecordError as exc:
            if not self.skip_malformed:
                raise
            self.problems.append(exc.problem)
            log.warning("skipped %s", exc.problem)
            return None


class PagingError(CarrierApiError):
    """The carrier's paging went wrong: a page that repeats, another page than the one asked,
    an answer that is neither a page nor the end. The listing cannot be trusted."""


class IncompletePageError(PagingError):
    """A page that lists nothing (or has no records at all) yet says it is not the last: the
    carrier's glitch. Asked again a few times, then the listing fails; never read as its end."""


class PageGuard:
    """Checks each page of one listing: the number it echoes is the number asked, and it is
    not the previous page again (a server that ignores ``pageNumber`` would otherwise be read
    until :data:`MAX_PAGES`, every record a duplicate)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._previous: list[Any] | None = None

    def check(self, page_number: int, body: Any, identities: list[Any]) -> None:
        """Raise :class:`PagingError` when page ``page_number`` is not what was asked."""
        echoed = body.get("pageNumber") if isinstance(body, dict) else None
        if echoed not in (None, "") and str(echoed).strip() != str(page_number):
            raise PagingError(
                f"{self.endpoint}: page {page_number} was asked, page {echoed} answered; the "
                "server does not honour pageNumber"
            )
        if page_number > 1 and identities and identities == self._previous:
            raise PagingError(
                f"{self.endpoint}: page {page_number} repeats page {page_number - 1} "
                f"({len(identities)} identical records); the server does not page"
            )
        self._previous = identities


def parse_flag_or_none(raw: Any) -> bool | None:
    """A boolean flag of the carrier's, or ``None`` when absent or unreadable."""
    try:
        return parse_flag(raw)
    except ValueError:
        return None


def last_page(body: Any, records: int, page_size: int, *, endpoint: str, page_number: int) -> bool:
    """Is this the listing's last page? Its ``lastPage`` when readable; else a short page.

    A page with no record that says ``lastPage: false`` is not an end but a fault
    (:class:`IncompletePageError`): read as the end, it would silently cut the listing short
    and every SIM after it would vanish from the fleet (issue 26)."""
    flag = parse_flag_or_none(body.get("lastPage")) if isinstance(body, dict) else None
    if flag is None:  # be liberal: a short or empty page is the last one
        return records < page_size
    if not flag and records == 0:
        raise IncompletePageError(
            f"{endpoint} page {page_number}: an empty page that says it is not the last "
            "(lastPage false); the listing is incomplete, try again later"
        )
    return flag


def _identity(record: Any) -> Any:
    """What tells two records apart when comparing pages (the ICCID, else the record)."""
    if isinstance(record, dict):
        return record.get("iccid") or record.get("deviceId") or repr(sorted(record.items()))[:200]
    return repr(record)[:200]
