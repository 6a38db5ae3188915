"""What every CSV reader of the project (the instance loader, the database loads) says about a
file that is not UTF-8: one line naming the first bad line and byte, never a codec traceback."""

from __future__ import annotations

import os


def first_undecodable_line(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(line number, first bad byte) of the first line of ``path`` that is not UTF-8.

    ``(1, 0)`` when every line decodes (the caller's decoder failed on something else)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, raw[exc.start]
    return 1, 0


def not_utf8_message(byte: int) -> str:
    """The problem text for a file whose first undecodable byte is ``byte``."""
    return f"is not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8 (CSV UTF-8)"
