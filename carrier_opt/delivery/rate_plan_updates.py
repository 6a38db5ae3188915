"""Pushing a winning assignment to the carrier so that the bill can only go down.

The whole change set, not a filtered one: every SIM whose recommended plan differs from the plan
the carrier shows *now* (a SIM's own saving is a report column, never a filter: with pooled
plans a SIM can cost more alone and still belong to the cheapest assignment). One push:

1. **Lock.** One push per provider at a time (:mod:`carrier_opt.delivery.push_lock`). Whatever
   a dead push left (changes ``sending``, a batch never closed) is settled first by asking the
   carrier, and the dead push is marked ``abandoned``.
2. **Re-read.** The carrier's plans are read again (Search Devices since the run's sync). SIMs
   already on their target are skipped; "already sent" means the carrier shows it, never that
   an audit row exists. The carrier's actual state is priced: if the winner no longer beats it
   (SIMs moved since the sync), it is a No-Go naming the SIMs that moved.
3. **Go/No-Go once**, for the whole set, by the legacy rule (:mod:`.go_no_go`).
4. **Safe batches.** At most 250 changes per batch, chosen by
   :func:`~carrier_opt.core.push_batches.next_batch` from the carrier's actual state so that the
   bill after every batch is at or below the bill before the push; what no safe batch can carry
   is held back, with the reason. Each batch's bills are recorded.
5. **Honest stops** at batch boundaries: the deadline (the next batch would not end before the
   buffer), carrier errors (5xx, throttling or no answer after the client's retries), or the
   lock taken over. Every change not sent is recorded with why.
6. **Read back** and price what the carrier shows afterwards: the realized bill goes beside
   the expected one. Re-checks later (:func:`verify_push`) compare the carrier with the targets.

A dry run does steps 1–4 without a single PUT and records what would be sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select

from carrier_opt.core.go_no_go import (
    BATCH_SIZE,
    BUFFER_MINUTES,
    Decision,
    go_no_go,
    next_batch_fits,
)
from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import device_breakdown, total_cost
from carrier_opt.core.push_batches import (
    COST_TOLERANCE_USD,
    held_back_reason,
    next_batch,
    plan_push,
)
from carrier_opt.db.models import (
    RatePlanPushMode,
    RatePlanPushStatus,
    RatePlanUpdateStatus,
    ServiceProvider,
)
from carrier_opt.db.push_history import PUSH_REFUSED
from carrier_opt.delivery import push_audit as audit
from carrier_opt.delivery import push_lock
from carrier_opt.delivery.carrier_plans import plans_changed_since
from carrier_opt.delivery.push_audit import Change
from carrier_opt.delivery.push_outcome import BatchOutcome, PushOutcome, PushRequest, PushSettings
from carrier_opt.delivery.push_recovery import settle_dead_pushes
from carrier_opt.errors import CarrierApiError, InputError

log = logging.getLogger(__name__)

_STATUS = RatePlanUpdateStatus
_UNKNOWN = -1  # a plan index for "not a priced plan"
MIN_GAIN_USD = 0.005
"""A push must lower the bill by at least half a cent; otherwise nothing is worth sending."""

__all__ = [
    "BATCH_SIZE",
    "BUFFER_MINUTES",
    "Change",
    "Decision",
    "PushOutcome",
    "PushRequest",
    "PushSettings",
    "go_no_go",
    "push_winner",
]


def automatic_updates_allowed(connection, provider_id: int) -> bool:
    """The provider's ``allow_automatic_rate_plan_updates`` flag (off by default)."""
    allowed = connection.scalar(
        select(ServiceProvider.allow_automatic_rate_plan_updates).where(
            ServiceProvider.id == provider_id
        )
    )
    if allowed is None:
        raise InputError(f"no service provider with id {provider_id}")
    return bool(allowed)


def push_winner(
    engine,
    client,
    request: PushRequest,
    *,
    now: Callable[[], datetime],
    settings: PushSettings | None = None,
) -> PushOutcome:
    """Push (or dry-run) ``request``'s winner under every rule of the module docstring.

    ``client`` is the carrier (a :class:`~carrier_opt.jasper.client.JasperClient`); a dry run
    may pass ``None`` and then works from the synced state. ``now`` is the clock (aware),
    read before every batch. When another push of the provider holds the lock, nothing is
    sent and the outcome says so (``locked``; its row: status ``failed``, decision
    ``refused``). A 401 from the carrier is raised after it is recorded.
    """
    settings = settings or PushSettings()
    if client is None and request.mode is not RatePlanPushMode.DRY_RUN:
        raise InputError("only a dry run can do without the carrier")
    if request.target.shape != (request.instance.n_devices,):
        raise InputError("the winner must give one plan per SIM of the instance")
    values = dict(
        service_provider_id=request.provider_id,
        optimization_instance_id=request.instance_id,
        dagster_run_id=request.run_id,
        mode=request.mode.value,
        approved_by=request.approved_by,
        started_at=now(),
        cost_before_usd=audit.money(request.cost_before_usd),
    )
    try:
        push_id, _ = push_lock.acquire(
            engine,
            request.provider_id,
            request.holder,
            open_push=lambda connection: audit.insert_push(connection, **values),
            now=now,
            stale_after=settings.stale_after,
            wait_s=settings.lock_wait_s,
        )
    except push_lock.PushLocked as error:  # recorded, never running: nothing was done
        push_id = audit.open_push(
            engine,
            **values,
            status=RatePlanPushStatus.FAILED.value,
            decision=PUSH_REFUSED,  # never "the latest push" of a report (db.push_history)
            finished_at=now(),
            stop_reason=str(error),
        )
        log.warning("rate-plan push %d not started: %s", push_id, error)
        return PushOutcome(
            push_id,
            request.mode,
            status=RatePlanPushStatus.FAILED,
            locked=True,
            stop_reason=str(error),
            cost_before_usd=request.cost_before_usd,
        )
    outcome = PushOutcome(push_id, request.mode, cost_before_usd=request.cost_before_usd)
    try:
        _Push(engine, client, request, settings, now, outcome).run()
    except BaseException as error:
        if outcome.status is RatePlanPushStatus.RUNNING:
            _finish(
                engine,
                outcome,
                RatePlanPushStatus.FAILED,
                now(),
                stop_reason=f"{type(error).__name__}: {error}",
            )
        raise
    finally:
        push_lock.release(engine, request.provider_id, push_id)
    log.info("rate-plan %s", outcome.summary())
    return outcome


class _Push:
    """One push, holding the lock: settle, re-read, decide, send, read back."""

    def __init__(self, engine, client, request: PushRequest, settings, now, outcome) -> None:
        self.engine = engine
        self.client = client
        self.request = request
        self.settings = settings
        self.now = now
        self.outcome = outcome
        self.instance = request.instance
        self.target = np.asarray(request.target, dtype=np.int64)
        self.started_at = now()

    # --- the steps ---------------------------------------------------------------------------

    def run(self) -> None:
        if self.client is not None:
            self.outcome.resolved_after_crash = settle_dead_pushes(
                self.engine, self.client, self.request.provider_id, self.outcome.push_id, self.now()
            )
        self.rows = audit.ChangeRows(
            self.engine, self.request.provider_id, self.request.instance_id, self.outcome.push_id
        )
        state = self._carrier_state()
        if state is None:
            return
        movable, pricing_state = state
        goal = pricing_state.copy()
        goal[movable] = self.target[movable]
        bill_before = total_cost(self.instance, pricing_state)
        expected = total_cost(self.instance, goal)
        outcome = self.outcome
        outcome.changes = int(movable.size)
        outcome.bill_before_usd, outcome.expected_bill_usd = bill_before, expected
        audit.update_push(
            self.engine,
            outcome.push_id,
            changes=outcome.changes,
            already_on_target=outcome.already_on_target,
            moved_since_sync=len(outcome.moved_since_sync),
            bill_before_usd=bill_before,
            expected_bill_usd=expected,
        )
        changes = self._changes(movable, pricing_state, goal)
        if changes and expected > bill_before - MIN_GAIN_USD:
            self._nothing_to_gain(changes, bill_before, expected)
            return
        with self.engine.connect() as connection:
            rate = audit.best_observed_rate(connection, self.request.provider_id)
        outcome.decision = go_no_go(self.now(), self.request.period_end, len(changes), rate)
        audit.update_push(
            self.engine,
            outcome.push_id,
            decision="go" if outcome.decision.go else "no_go",
            decision_reason=outcome.decision.reason,
        )
        if self.request.mode is RatePlanPushMode.DRY_RUN:
            self._dry_run(changes, pricing_state, movable)
        elif not changes:
            self._read_back(pricing_state)
            _finish(self.engine, outcome, RatePlanPushStatus.COMPLETED, self.now())
        elif not outcome.decision.go:
            outcome.not_sent = len(changes)
            self._not_sent(changes.values(), f"not sent: {outcome.decision.reason}")
            _finish(
                self.engine,
                outcome,
                RatePlanPushStatus.NO_GO,
                self.now(),
                stop_reason=outcome.decision.reason,
            )
        else:
            self._send(changes, pricing_state, movable, bill_before, rate)

    def _carrier_state(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(SIMs to move, the plan per SIM to price the carrier's state with), or None when the
        carrier could not be read (the push is then recorded as a No-Go)."""
        instance = self.instance
        synced = np.asarray(instance.current_plan, dtype=np.int64)
        actual = synced.copy()
        unreadable: set[str] = set()
        # A period that has ended takes no change any more (Go/No-Go says so): no calls.
        if self.client is not None and self.now() < self.request.period_end:
            try:
                read = plans_changed_since(self.client, self.request.synced_at, self.now())
            except CarrierApiError as error:
                if self.request.mode is RatePlanPushMode.DRY_RUN:
                    self.outcome.problems.append(f"carrier not re-read ({error}): synced plans")
                else:
                    reason = f"could not read the carrier's plans before pushing: {error}"
                    _finish(
                        self.engine,
                        self.outcome,
                        RatePlanPushStatus.NO_GO,
                        self.now(),
                        stop_reason=reason,
                    )
                    return None
            else:
                self.outcome.problems.extend(read.problems)
                unreadable = read.unreadable
                index = {code: i for i, code in enumerate(instance.plan_codes.tolist())}
                position = {iccid: i for i, iccid in enumerate(instance.iccids.tolist())}
                for iccid, plan in read.plans.items():
                    if iccid in position:
                        actual[position[iccid]] = index.get(plan, _UNKNOWN)
        moved = np.flatnonzero(actual != synced)
        self.outcome.moved_since_sync = instance.iccids[moved].astype(str).tolist()
        self.outcome.already_on_target = int(
            np.count_nonzero((synced != self.target) & (actual == self.target))
        )
        blocked = actual < 0
        if unreadable:
            blocked |= np.isin(instance.iccids.astype(str), list(unreadable))
        wanted = actual != self.target
        movable = np.flatnonzero(wanted & ~blocked)
        left_out = np.flatnonzero(wanted & blocked)
        if left_out.size:
            self.outcome.problems.append(
                f"{left_out.size} SIM(s) left out of the push: the carrier shows a plan without "
                f"a price or an unreadable record (e.g. {instance.iccids[left_out[0]]})"
            )
        # SIMs on unpriced plans are priced on their target in every state we compare, so
        # they cannot tip a comparison either way.
        pricing_state = np.where(actual < 0, self.target, actual)
        return movable, pricing_state

    def _changes(
        self, movable: np.ndarray, state: np.ndarray, goal: np.ndarray
    ) -> dict[int, Change]:
        """The change of each movable SIM, with its own saving as a report column."""
        codes = self.instance.plan_codes
        own = _own_costs(self.instance, state) - _own_costs(self.instance, goal)
        return {
            int(i): Change(
                str(self.instance.iccids[i]),
                str(codes[state[i]]),
                str(codes[self.target[i]]),
                float(own[i]),
            )
            for i in movable.tolist()
        }

    def _nothing_to_gain(self, changes: dict[int, Change], before: float, after: float):
        """No-Go: the winner does not beat what the carrier shows (SIMs moved since the sync,
        or an earlier push already reached as good a state): changing plans would gain nothing
        or raise the bill."""
        moved = self.outcome.moved_since_sync
        if after > before + COST_TOLERANCE_USD:
            reason = (
                f"the winner no longer beats the carrier's state: {len(moved)} SIM(s) moved "
                f"since the sync (e.g. {', '.join(moved[:5]) or 'none'}); pushing would take "
                f"the bill from ${before:,.2f} to ${after:,.2f}. Re-run the optimization on "
                "fresh data"
            )
        else:
            reason = (
                f"nothing to gain: the carrier's state already costs ${before:,.2f}, the winner "
                f"${after:,.2f} ({len(moved)} SIM(s) moved since the sync); plans are not "
                "shuffled for nothing"
            )
        self.outcome.not_sent = len(changes)
        self._not_sent(changes.values(), f"not sent: {reason}")
        _finish(self.engine, self.outcome, RatePlanPushStatus.NO_GO, self.now(), stop_reason=reason)

    def _dry_run(self, changes: dict[int, Change], state: np.ndarray, movable: np.ndarray):
        preview = plan_push(
            self.instance, state, self.target, devices=movable, limit=self.settings.batch_limit
        )
        held = set(preview.held_back.tolist())
        self.rows.record(
            [c for i, c in changes.items() if i not in held],
            status=_STATUS.DRY_RUN.value,
            note=None,
            requested_at=None,
            completed_at=self.now(),
        )
        outcome = self.outcome
        outcome.dry_run = len(changes) - len(held)
        outcome.planned_batches = len(preview.batches)
        if held:
            outcome.held_back, outcome.held_back_reason = len(held), preview.held_back_reason
            self._not_sent(
                [changes[i] for i in sorted(held)], f"held back: {preview.held_back_reason}"
            )
        _finish(
            self.engine,
            outcome,
            RatePlanPushStatus.DRY_RUN,
            self.now(),
            stop_reason=outcome.held_back_reason,
        )

    def _send(self, changes, state, movable, bill_before, rate) -> None:
        outcome, request, limit = self.outcome, self.request, self.settings.batch_limit
        remaining = movable.copy()
        state = state.copy()
        stop = None
        while remaining.size:
            if not push_lock.heartbeat(
                self.engine, request.provider_id, outcome.push_id, self.now()
            ):
                stop = "the push lock was taken over by another push"
                break
            fits = next_batch_fits(
                self.now(),
                request.period_end,
                min(limit, remaining.size),
                outcome.best_devices_per_minute or rate,
            )
            if not fits.go:
                stop = f"deadline: {fits.reason}"
                break
            batch = next_batch(
                self.instance, state, self.target, remaining, baseline_usd=bill_before, limit=limit
            )
            if batch is None:
                outcome.held_back = int(remaining.size)
                outcome.held_back_reason = held_back_reason(
                    self.instance, state, self.target, remaining, bill_before, limit
                )
                self._not_sent(
                    [changes[i] for i in remaining.tolist()],
                    f"held back: {outcome.held_back_reason}",
                )
                remaining = remaining[:0]
                break
            trouble = self._send_batch(batch, changes, state)
            remaining = np.setdiff1d(remaining, batch.devices, assume_unique=True)
            if trouble:
                stop = f"carrier errors: {trouble}"
                break
        if remaining.size:
            outcome.not_sent = int(remaining.size)
            self._not_sent([changes[i] for i in remaining.tolist()], f"not sent: {stop}")
        self._read_back(state)
        stopped = stop or outcome.held_back
        status = RatePlanPushStatus.STOPPED if stopped else RatePlanPushStatus.COMPLETED
        _finish(
            self.engine,
            outcome,
            status,
            self.now(),
            stop_reason=stop or outcome.held_back_reason,
            next_check_at=self.now() + self.settings.check_interval if outcome.sent else None,
        )

    def _send_batch(self, batch, changes: dict[int, Change], state: np.ndarray) -> str | None:
        """Send one batch; ``state`` learns what the carrier accepted. Answers a description
        of carrier-side trouble (5xx, throttling, no answer) that should stop the push."""
        outcome, request = self.outcome, self.request
        started = self.now()
        batch_id, number = audit.open_batch(
            self.engine,
            provider_id=request.provider_id,
            instance_id=request.instance_id,
            push_id=outcome.push_id,
            devices=len(batch.devices),
            started_at=started,
            bill_before_usd=batch.bill_before_usd,
            planned_bill_after_usd=batch.bill_after_usd,
        )
        ok = failed = 0
        trouble: str | None = None
        try:
            for count, device in enumerate(batch.devices.tolist(), start=1):
                error = self._send_one(number, changes[device])
                if error is None:
                    ok += 1
                    state[device] = self.target[device]
                else:
                    failed += 1
                    if _carrier_trouble(error):
                        trouble = trouble or str(error)
                if count % self.settings.heartbeat_every == 0:
                    push_lock.heartbeat(
                        self.engine, request.provider_id, outcome.push_id, self.now()
                    )
        finally:
            finished = self.now()
            minutes = (finished - started) / timedelta(minutes=1)
            tried = ok + failed
            rate = tried / minutes if tried and minutes > 0 else None
            after = total_cost(self.instance, state)
            audit.close_batch(
                self.engine,
                batch_id,
                tried=tried,
                succeeded=ok,
                failed=failed,
                finished_at=finished,
                devices_per_minute=rate,
                bill_after_usd=after,
            )
            outcome.batches.append(
                BatchOutcome(
                    number,
                    tried,
                    ok,
                    failed,
                    rate,
                    batch.bill_before_usd,
                    batch.bill_after_usd,
                    after,
                )
            )
            log.info(
                "rate-plan batch %d: %d of %d accepted; bill $%.2f -> $%.2f (planned $%.2f)",
                number,
                ok,
                tried,
                batch.bill_before_usd,
                after,
                batch.bill_after_usd,
            )
        return trouble

    def _send_one(self, batch_number: int, change: Change) -> CarrierApiError | None:
        """Mark ``sending`` (committed), PUT, record; answers the carrier's error, if any.
        A 401 is recorded, then raised: every further call would fail too."""
        self.rows.mark(
            change,
            status=_STATUS.SENDING.value,
            batch_number=batch_number,
            attempts=self.rows.attempts(change) + 1,
            requested_at=self.now(),
            completed_at=None,
            http_status=None,
            carrier_error_code=None,
            carrier_error_message=None,
            note=None,
        )
        try:
            self.client.edit_device(change.iccid, rate_plan=change.to_rate_plan)
        except CarrierApiError as error:
            self.rows.mark(
                change,
                status=_STATUS.FAILED.value,
                completed_at=self.now(),
                http_status=error.status,
                carrier_error_code=error.error_code,
                carrier_error_message=getattr(error, "carrier_message", None) or str(error),
            )
            self.outcome.failed += 1
            if error.status == 401:
                raise
            return error
        self.rows.mark(change, status=_STATUS.SENT.value, completed_at=self.now())
        self.outcome.sent += 1
        return None

    def _not_sent(self, changes, note: str) -> None:
        self.rows.record(
            changes, status=_STATUS.SKIPPED_NO_GO.value, note=note[:4000], completed_at=self.now()
        )

    def _read_back(self, believed: np.ndarray) -> None:
        """Price what the carrier shows after the push (SIMs changed since it started)."""
        try:
            read = plans_changed_since(self.client, self.started_at, self.now())
        except CarrierApiError as error:
            self.outcome.problems.append(f"read-back failed: {error}")
            return
        shown = believed.copy()
        index = {code: i for i, code in enumerate(self.instance.plan_codes.tolist())}
        position = {iccid: i for i, iccid in enumerate(self.instance.iccids.tolist())}
        for iccid, plan in read.plans.items():
            device = position.get(iccid)
            if device is not None and plan in index:
                shown[device] = index[plan]
        self.outcome.realized_bill_usd = total_cost(self.instance, shown)
        audit.update_push(
            self.engine,
            self.outcome.push_id,
            realized_bill_usd=self.outcome.realized_bill_usd,
            read_back_at=self.now(),
        )


def _finish(engine, outcome: PushOutcome, status: RatePlanPushStatus, moment, **values) -> None:
    outcome.status = status
    if values.get("stop_reason"):
        outcome.stop_reason = outcome.stop_reason or values["stop_reason"]
    audit.update_push(
        engine,
        outcome.push_id,
        status=status.value,
        finished_at=moment,
        sent=outcome.sent,
        failed=outcome.failed,
        not_sent=outcome.not_sent,
        held_back=outcome.held_back,
        **values,
    )


def _carrier_trouble(error: CarrierApiError) -> bool:
    """Errors of the carrier rather than of one SIM's change: no answer, 5xx, throttling
    (still failing after the client's retries). They stop the push at the batch boundary."""
    status = error.status
    return status is None or status >= 500 or status == 429 or getattr(error, "throttled", False)


def _own_costs(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    return device_breakdown(instance, assignment)["cost_usd"].to_numpy(dtype=float)
