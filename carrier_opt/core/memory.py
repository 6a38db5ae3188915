"""Memory the process freed, given back to the operating system.

Why: glibc keeps freed memory in its arenas for reuse, one arena per thread. After the CSV
reader (pandas and Arrow temporaries) and the legacy baseline (its worker threads' arenas),
that memory stays resident while the optimizer allocates its own SIMs × plans tables in the
main thread, so both count in the run's peak. At 1 M SIMs they were about 200 MB of it.
"""

from __future__ import annotations

import ctypes


def release_freed_memory() -> None:
    """Return freed heap memory to the OS (glibc's ``malloc_trim``); a few milliseconds.

    Elsewhere than glibc (macOS, musl) there is no ``malloc_trim`` and nothing to do."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):
        return
    trim(0)
