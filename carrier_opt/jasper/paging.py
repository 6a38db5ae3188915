"""Walking the carrier's numbered pages and parsing their records, one bad record at a time.

A sync over thousands of SIMs should not die because the carrier sent one record with a
garbage date, nor should it hide that record. :class:`PagedResult` lets the caller choose:
strict (the default) raises :class:`MalformedRecordError` at the first bad record; with
``skip_malformed=True`` the record is skipped, logged and kept in ``problems`` for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

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
    ) -> None:
        self.endpoint = endpoint
        self.skip_malformed = skip_malformed
        self.problems: list[PayloadProblem] = []
        self.pages_read = 0
        self._records_key = records_key
        self._page_size = page_size
        self._fetch_page = fetch_page
        self._parse = parse
        self._started = False

    def __iter__(self) -> Iterator[T]:
        if self._started:
            raise RuntimeError(f"{self.endpoint}: a paged result can be iterated only once")
        self._started = True
        return self._records()

    def _records(self) -> Iterator[T]:
        for page_number in range(1, MAX_PAGES + 1):
            records, last_page = self._read_page(page_number)
            for index, raw in enumerate(records):
                place = RecordPlace(self.endpoint, page_number, index)
                parsed = self._parse_or_skip(raw, place)
                if parsed is not None:
                    yield parsed
            if last_page:
                return
        raise MalformedRecordError(
            PayloadProblem(
                self.endpoint, MAX_PAGES, None, "lastPage", "false", "the server never ended"
            )
        )

    def _read_page(self, page_number: int) -> tuple[list[Any], bool]:
        body = self._fetch_page(page_number)
        self.pages_read += 1
        place = RecordPlace(self.endpoint, page_number, None)
        records = body.get(self._records_key) if isinstance(body, dict) else None
        if records is None and isinstance(body, dict):
            records = []  # an empty listing may leave the key out
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
        try:
            last_page = parse_flag(body.get("lastPage"))
        except ValueError:
            last_page = None
        if last_page is None:  # be liberal: a short or empty page is the last one
            last_page = len(records) < self._page_size
        return records, last_page or not records

    def _parse_or_skip(self, raw: Any, place: RecordPlace) -> T | None:
        try:
            return self._parse(raw, place)
        except MalformedRecordError as exc:
            if not self.skip_malformed:
                raise
            self.problems.append(exc.problem)
            log.warning("skipped %s", exc.problem)
            return None
