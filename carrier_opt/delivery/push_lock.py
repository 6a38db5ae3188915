"""One push per provider at a time, guarded by the database.

A carrier account takes one rate-plan push at a time: two pushes of one provider (two runs of
one partition, a run and an approved dry run from the command line) would race over the same
SIMs. The guard is a row of ``RatePlanPushLock`` whose primary key is the provider: taking the
lock is an ``INSERT`` that the database refuses while another push holds it — never a check
followed by an insert.

A holder is presumed dead, and its lock taken over with a compare-and-swap on its push id (and
a log line), when

* its process is gone: same host, and its pid no longer exists (a ``kill -9``, a crashed run);
* or its heartbeat, renewed at every batch boundary and every few PUTs, is older than
  ``stale_after`` (a holder on another machine that stopped answering).

A holder that finds its lock gone stops at the next boundary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from carrier_opt.db.models import RatePlanPushLock
from carrier_opt.db.push_history import REFUSAL_PREFIX
from carrier_opt.errors import CarrierOptError
from carrier_opt.processes import process_gone, this_process

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER = timedelta(minutes=10)
"""A holder silent this long is presumed dead (a batch of 250 takes under 5 min at 1/s)."""

_LOCK = RatePlanPushLock.__table__


class PushLocked(CarrierOptError):
    """Another push of the provider is running."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a provider's push lock, since when, last heard of when."""

    push_id: int
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        """For messages: which push, run or process, and how fresh."""
        return (
            f"push {self.push_id} by {self.holder} (pid {self.pid} on {self.host}) since "
            f"{self.acquired_at:%Y-%m-%d %H:%M} UTC, last heartbeat "
            f"{self.heartbeat_at:%H:%M:%S} UTC"
        )

    def process_gone(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        return process_gone(self.host, self.pid)


def current_holder(engine: Engine, provider_id: int) -> LockHolder | None:
    """The push holding the provider's lock, if any."""
    with engine.connect() as connection:
        row = connection.execute(
            select(
                _LOCK.c.push_id,
                _LOCK.c.holder,
                _LOCK.c.host,
                _LOCK.c.pid,
                _LOCK.c.acquired_at,
                _LOCK.c.heartbeat_at,
            ).where(_LOCK.c.service_provider_id == provider_id)
        ).first()
    return None if row is None else LockHolder(*row)


OpenPush = Callable[[Connection], int]
"""Inserts the new push's row on the lock's own connection; answers its id."""


def acquire(
    engine: Engine,
    provider_id: int,
    holder: str,
    *,
    open_push: OpenPush,
    now: Callable[[], datetime],
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    wait_s: float = 0.0,
    poll_s: float = 1.0,
) -> tuple[int, LockHolder | None]:
    """Take the provider's lock for a new push, waiting up to ``wait_s`` for a live holder.

    The push row (``open_push``) and the lock are written in one transaction, so a push row
    marked running always holds, or held, the lock: a push that never got it leaves no
    running row for the next holder to mistake for a dead one. Answers (the new push's id,
    the dead holder taken over or ``None``). Raises :class:`PushLocked` naming the holder when
    it stays busy.
    """
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        push_id = _try_insert(engine, provider_id, holder, now(), open_push)
        if push_id is not None:
            return push_id, None
        current = current_holder(engine, provider_id)
        if current is None:
            continue  # released between our insert and our read: try again
        stale = now() - current.heartbeat_at > stale_after
        if stale or current.process_gone():
            push_id = _take_over(engine, provider_id, current, holder, now(), open_push)
            if push_id is not None:
                why = "silent too long" if stale else "its process is gone"
                log.warning(
                    "rate-plan push lock of provider %s taken over (%s): %s",
                    provider_id,
                    why,
                    current.describe(),
                )
                return push_id, current
            continue
        if time.monotonic() >= deadline:
            raise PushLocked(
                f"{REFUSAL_PREFIX} ({current.describe()}); "
                "this one sends nothing. Run it again once that push has ended: it skips "
                "every SIM the carrier already shows on its target"
            )
        time.sleep(poll_s)


def heartbeat(engine: Engine, provider_id: int, push_id: int, moment: datetime) -> bool:
    """Renew the lock; ``False`` when ``push_id`` no longer holds it (stop at once)."""
    with engine.begin() as connection:
        result = connection.execute(
            update(_LOCK)
            .where(_LOCK.c.service_provider_id == provider_id, _LOCK.c.push_id == push_id)
            .values(heartbeat_at=moment)
        )
    return result.rowcount == 1


def release(engine: Engine, provider_id: int, push_id: int) -> None:
    """Give the lock back (a no-op when it was taken over meanwhile)."""
    with engine.begin() as connection:
        connection.execute(
            delete(_LOCK).where(
                _LOCK.c.service_provider_id == provider_id, _LOCK.c.push_id == push_id
            )
        )


def _me() -> dict[str, object]:
    host, pid = this_process()
    return {"host": host, "pid": pid}


def _try_insert(
    engine: Engine, provider_id: int, holder: str, moment, open_push: OpenPush
) -> int | None:
    try:
        with engine.begin() as connection:
            push_id = open_push(connection)
            connection.execute(
                insert(_LOCK).values(
                    service_provider_id=provider_id,
                    push_id=push_id,
                    holder=holder[:255],
                    acquired_at=moment,
                    heartbeat_at=moment,
                    **_me(),
                )
            )
    except IntegrityError:
        return None  # held: the push row was rolled back with the lock row
    return push_id


class _Lost(Exception):
    """Another contender replaced the dead holder first (rolls the push row back)."""


def _take_over(
    engine: Engine, provider_id: int, dead: LockHolder, holder: str, moment, open_push: OpenPush
) -> int | None:
    """Compare-and-swap on the dead holder's push id: one contender wins."""
    try:
        with engine.begin() as connection:
            push_id = open_push(connection)
            result = connection.execute(
                update(_LOCK)
                .where(_LOCK.c.service_provider_id == provider_id, _LOCK.c.push_id == dead.push_id)
                .values(
                    push_id=push_id,
                    holder=holder[:255],
                    acquired_at=moment,
                    heartbeat_at=moment,
                    **_me(),
                )
            )
            if result.rowcount != 1:
                raise _Lost
    except _Lost:
        return None
    return push_id
