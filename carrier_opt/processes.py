"""Processes: is the one that holds a lock still alive? (Pushes and syncs record host and
pid.) And the child processes the benchmarks and end-to-end tests start (a daemon, a
webserver), stopped with their own children.

On the same host the answer is certain: a pid that no longer exists, or a zombie (killed, not
yet reaped by its parent), is dead. On another host nothing can be told from here, and the
holder's heartbeat decides.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def child_process(
    args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path
) -> Iterator[subprocess.Popen]:
    """``args`` run in ``cwd`` in a process group of their own, output to ``log``; on leaving,
    the whole group is stopped (TERM, then KILL after 30 s), so a daemon's code servers and run
    workers do not outlive it."""
    with log.open("wb") as out:
        child = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                os.killpg(child.pid, 15)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, 9)
                    child.wait()
