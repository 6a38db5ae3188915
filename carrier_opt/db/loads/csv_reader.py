"""The one CSV reader of every load (rate plans, customer plans, optimization groups).

A file is read whole before anything is written: each problem becomes one line
``file:row:column: what is wrong`` (``row`` counts the header as line 1, as in
:mod:`carrier_opt.core.instance`) in :class:`Problems`, and one :class:`InputError` carries
them all. A file that is not UTF-8 or not CSV is one problem naming its first bad line, never a
traceback.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from carrier_opt.core.text_files import first_undecodable_line, not_utf8_message
from carrier_opt.errors import InputError

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_MAX_CODE_CHARS = 255


class Problems:
    """Problem lines collected while reading, in file order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: Path, row: int | str, column: str, message: str) -> None:
        """Record ``file:row:column: message``."""
        self.lines.append(f"{path.name}:{row}:{column}: {message}")

    def raise_any(self) -> None:
        """Raise one :class:`InputError` listing every problem, if there is any."""
        if self.lines:
            raise InputError(
                f"{len(self.lines)} problem(s), nothing loaded:\n" + "\n".join(self.lines)
            )


def csv_rows(
    path: Path, columns: tuple[str, ...], problems: Problems
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, row)`` of a CSV file whose header has ``columns`` (a problem otherwise).

    A file that is not UTF-8 or not CSV (a field over the csv module's limit, e.g. a huge file
    with no line breaks) is one problem naming its first bad line, never a traceback."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        problems.add(path, "-", "-", f"cannot read the file: {exc.strerror}")
        return
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [column for column in columns if column not in header]
            if missing:
                problems.add(path, 1, ",".join(missing), "missing column(s)")
                return
            reader.fieldnames = header
            for row in reader:
                if not any((value or "").strip() for value in row.values()):
                    continue  # blank line
                yield reader.line_num, row
        except UnicodeDecodeError:
            line, byte = first_undecodable_line(path)
            problems.add(path, line, "-", not_utf8_message(byte))
        except csv.Error as exc:
            problems.add(path, max(reader.line_num, 1), "-", f"not a readable CSV file: {exc}")


def read_code(path: Path, line: int, column: str, row: dict, problems: Problems) -> str | None:
    """A required, trimmed text cell of at most 255 characters."""
    value = (row.get(column) or "").strip()
    if not value:
        problems.add(path, line, column, "is empty")
        return None
    if len(value) > _MAX_CODE_CHARS:
        problems.add(path, line, column, f"longer than {_MAX_CODE_CHARS} characters")
        return None
    return value


def read_flag(path: Path, line: int, column: str, row: dict, problems: Problems) -> bool | None:
    """A true/false cell (``true``/``false``, ``yes``/``no``, ``1``/``0``, ...)."""
    raw = (row.get(column) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    problems.add(path, line, column, f"{raw!r} is not true or false")
    return None


def read_optional_text(
    path: Path, line: int, column: str, row: dict, problems: Problems, max_chars: int
) -> str | None:
    """An optional, trimmed text cell (missing column or empty cell: ``None``)."""
    value = (row.get(column) or "").strip()
    if not value:
        return None
    if len(value) > max_chars:
        problems.add(path, line, column, f"longer than {max_chars} characters")
        return None
    return value
