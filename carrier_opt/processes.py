"""Is the process that holds a lock still alive? (Pushes and syncs record host and pid.)

On the same host the answer is certain: a pid that no longer exists, or a zombie (killed, not
yet reaped by its parent), is dead. On another host nothing can be told from here, and the
holder's heartbeat decides.
"""

from __future__ import annotations

import os
import socket


def this_process() -> tuple[str, int]:
    """(host name, pid) of the current process, as locks record them."""
    return socket.gethostname()[:255], os.getpid()


def process_gone(host: str, pid: int) -> bool:
    """True when ``pid`` ran on this host and no longer exists (or is a zombie)."""
    if host != socket.gethostname()[:255] or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
