"""Settling what a dead push left behind, by asking the carrier.

A push commits each change as ``sending`` before its PUT, so a process killed mid-batch leaves
at most one change per push whose outcome is unknown, a batch never closed and a push still
``running``. The next push of the provider (it holds the lock, so those pushes are dead) asks
the carrier about each unknown change — Get Device Details: does it show the target? — marks
it ``sent`` or ``failed`` with a note, closes the batch with counts taken from its rows, and
marks the dead push ``abandoned``. Nothing is sent before that: a change must never go twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine

from carrier_opt.db.models import RatePlanUpdateStatus
from carrier_opt.delivery import push_audit as audit
from carrier_opt.delivery.carrier_plans import CarrierReader, plan_of
from carrier_opt.errors import CarrierApiError

log = logging.getLogger(__name__)

_STATUS = RatePlanUpdateStatus


def settle_dead_pushes(
    engine: Engine, client: CarrierReader, provider_id: int, push_id: int, moment: datetime
) -> int:
    """Resolve what dead pushes of the provider left (call it holding the provider's push
    lock); answers how many changes of unknown outcome were settled."""
    left = audit.unresolved(engine, provider_id, push_id)
    for row in left.sending:
        status, note = _carrier_verdict(client, row)
        audit.settle_change(engine, row["id"], status, note, moment)
    for batch in left.open_batches:
        audit.settle_batch(engine, batch, moment)
    for dead in left.dead_pushes:
        audit.settle_push(engine, dead, f"its process stopped; settled by push {push_id}", moment)
    if left.sending or left.open_batches or left.dead_pushes:
        log.warning(
            "settled after a crash: %d change(s) of unknown outcome, %d open batch(es), "
            "%d dead push(es)",
            len(left.sending),
            len(left.open_batches),
            len(left.dead_pushes),
        )
    return len(left.sending)


def _carrier_verdict(client: CarrierReader, row: dict) -> tuple[str, str]:
    """(status, note) of a change whose PUT may or may not have reached the carrier."""
    try:
        shown = plan_of(client, row["iccid"])
    except CarrierApiError as error:
        if error.status == 404:  # the carrier no longer knows the SIM: nothing was applied
            return _STATUS.FAILED.value, "outcome unknown after a crash: unknown to the carrier"
        raise CarrierApiError(
            f"cannot tell whether an earlier PUT of SIM {row['iccid']} reached the carrier "
            f"({error}); nothing is sent until it can be read"
        ) from error
    if shown == row["to_rate_plan_code"]:
        return _STATUS.SENT.value, "outcome unknown after a crash: the carrier shows the target"
    return _STATUS.FAILED.value, f"outcome unknown after a crash: the carrier shows {shown!r}"
