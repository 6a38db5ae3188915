"""Pushing recommended rate plans back to the carrier, safely, with an audit trail.

The legacy rule (``legacy-behaviour.md``), kept exactly in :func:`go_no_go`::

    minutes_remaining = floor((period_end − local_now) / 1 minute)
    rate              = best devices-per-minute of earlier updates, 60 when none
    minutes_needed    = min(count, 250) / rate
    Go  ⇔  minutes_remaining − minutes_needed ≥ 10

:func:`push_rate_plan_changes` applies it before **every** batch of 250 (not only once), and
also refuses to start a single ``PUT`` once fewer than 10 minutes remain, so no change reaches
the carrier inside the buffer, however slow the carrier or the retries are. A change made after
the period ends would be billed in the *next* period, where the recommendation may be wrong.

Safety properties, each backed by the ``RatePlanUpdate`` table:

* **Dry run by default.** Unless the caller passes ``enabled=True`` (the provider's
  ``allow_automatic_rate_plan_updates``, and not a customer optimization) nothing is sent: the
  changes are recorded as ``dry_run`` — what *would* change.
* **Only savings.** A change is sent only when it lowers the SIM's own cost
  (``saving_usd > 0``), as the legacy system did; the biggest savings go first, so if time
  runs out the changes left behind are the least valuable.
* **Never twice.** One row per (instance, ICCID, target plan). A re-run skips rows already
  ``sent`` and SIMs whose latest change sent for this provider already targets that plan. A row
  left ``sending`` (crash or lost answer) is checked with ``GET /devices/{iccid}`` before any
  new ``PUT``.
* **Everything recorded.** Every attempt: batch, status, HTTP status, carrier error code and
  message, when it was requested and answered. Each batch: devices per minute and success rate;
  the best rate seen feeds the next Go/No-Go.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select, update

from carrier_opt.db.models import (
    RatePlanUpdate,
    RatePlanUpdateBatch,
    RatePlanUpdateStatus,
    ServiceProvider,
)
from carrier_opt.db.types import utc_now
from carrier_opt.errors import CarrierApiError, InputError

log = logging.getLogger(__name__)

BATCH_SIZE = 250
"""Devices per batch, as the legacy system sent them."""

DEFAULT_RATE_PER_MINUTE = 60.0
"""Devices per minute assumed when no earlier update was measured."""

BUFFER_MINUTES = 10
"""Minutes before the period ends after which nothing is sent."""

_QUERY_CHUNK = 500  # ICCIDs per IN (...) list: well under every dialect's parameter limit
_STATUS = RatePlanUpdateStatus


@dataclass(frozen=True)
class Decision:
    """A Go/No-Go verdict and the numbers behind it (for the e-mail and the logs)."""

    go: bool
    devices: int
    minutes_remaining: int
    minutes_needed: float
    rate_per_minute: float
    rate_observed: bool

    @property
    def reason(self) -> str:
        """One sentence an operator can act on."""
        rate = f"{self.rate_per_minute:.1f} devices/min" + (
            "" if self.rate_observed else " (default: no earlier update measured)"
        )
        margin = self.minutes_remaining - self.minutes_needed
        verdict = "Go" if self.go else "No Go"
        return (
            f"{verdict}: {self.minutes_remaining} min left in the billing period, "
            f"{self.minutes_needed:.1f} min needed for the next {min(self.devices, BATCH_SIZE)} "
            f"of {self.devices} devices at {rate}; margin {margin:.1f} min "
            f"(at least {BUFFER_MINUTES} needed)"
        )


def go_no_go(
    now_local: datetime,
    period_end: datetime,
    device_count: int,
    best_rate_per_minute: float | None,
) -> Decision:
    """The legacy Go/No-Go rule, exactly (see the module docstring).

    Both instants must be timezone-aware (the provider's local "now" and the period end are
    then compared as instants). ``best_rate_per_minute`` ``None`` or ≤ 0 means "never measured".
    """
    for name, moment in (("now_local", now_local), ("period_end", period_end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InputError(f"{name} must be timezone-aware, got {moment!r}")
    if device_count < 0:
        raise InputError(f"device_count must not be negative, got {device_count}")
    observed = best_rate_per_minute is not None and best_rate_per_minute > 0
    rate = float(best_rate_per_minute) if observed else DEFAULT_RATE_PER_MINUTE
    minutes_remaining = math.floor((period_end - now_local) / timedelta(minutes=1))
    minutes_needed = min(device_count, BATCH_SIZE) / rate
    return Decision(
        go=minutes_remaining - minutes_needed >= BUFFER_MINUTES,
        devices=device_count,
        minutes_remaining=minutes_remaining,
        minutes_needed=minutes_needed,
        rate_per_minute=rate,
        rate_observed=observed,
    )


@dataclass(frozen=True)
class RatePlanChange:
    """Move one SIM from its current plan to the recommended one, saving ``saving_usd``."""

    iccid: str
    from_rate_plan: str | None
    to_rate_plan: str
    saving_usd: float


def saving_changes(assignments: pd.DataFrame) -> list[RatePlanChange]:
    """The changes worth sending from a report's ``assignments``: moved SIMs that save money.

    Shared-pool SIMs never move. Ordered by saving, largest first (then ICCID), so that the
    changes a deadline leaves behind are the least valuable ones.
    """
    moved = assignments[
        assignments["changed"] & ~assignments["shared_pool"] & (assignments["saving"] > 0)
    ]
    moved = moved.sort_values(["saving", "iccid"], ascending=[False, True], kind="stable")
    return [
        RatePlanChange(
            iccid=str(row.iccid),
            from_rate_plan=None if pd.isna(row.current_rate_plan) else str(row.current_rate_plan),
            to_rate_plan=str(row.recommended_rate_plan),
            saving_usd=float(row.saving),
        )
        for row in moved.itertuples(index=False)
    ]


@dataclass(frozen=True)
class BatchOutcome:
    """One batch sent: how many devices, how many succeeded, how fast."""

    batch_number: int
    devices: int
    succeeded: int
    failed: int
    devices_per_minute: float | None

    @property
    def success_rate(self) -> float:
        """Share of the batch's devices the carrier accepted."""
        return self.succeeded / self.devices if self.devices else 1.0


@dataclass
class UpdateOutcome:
    """What :func:`push_rate_plan_changes` did (counts per status, batches, decisions)."""

    enabled: bool
    decision: Decision | None = None
    dry_run: int = 0
    sent: int = 0
    failed: int = 0
    skipped_no_go: int = 0
    already_sent: int = 0
    not_saving: int = 0
    batches: list[BatchOutcome] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    @property
    def stopped_by_no_go(self) -> bool:
        """True when the buffer stopped the updates before every change was tried."""
        return self.skipped_no_go > 0

    @property
    def success_rate(self) -> float | None:
        """Accepted / attempted over this run (``None`` when nothing was attempted)."""
        attempted = self.sent + self.failed
        return self.sent / attempted if attempted else None

    @property
    def best_devices_per_minute(self) -> float | None:
        """The fastest batch of this run."""
        rates = [b.devices_per_minute for b in self.batches if b.devices_per_minute]
        return max(rates) if rates else None


class _Carrier(Protocol):
    """What this module needs of :class:`~carrier_opt.jasper.client.JasperClient`."""

    def edit_device(self, iccid: str, **fields: object) -> str: ...  # pragma: no cover

    def device_details(self, iccid: str) -> object: ...  # pragma: no cover


def automatic_updates_allowed(connection: Connection, provider_id: int) -> bool:
    """The provider's ``allow_automatic_rate_plan_updates`` flag (off by default)."""
    allowed = connection.scalar(
        select(ServiceProvider.allow_automatic_rate_plan_updates).where(
            ServiceProvider.id == provider_id
        )
    )
    if allowed is None:
        raise InputError(f"no service provider with id {provider_id}")
    return bool(allowed)


def best_observed_rate(connection: Connection, provider_id: int) -> float | None:
    """The best devices-per-minute of any earlier batch sent for the provider (or ``None``)."""
    rate = connection.scalar(
        select(func.max(RatePlanUpdateBatch.devices_per_minute)).where(
            RatePlanUpdateBatch.service_provider_id == provider_id
        )
    )
    return None if rate is None else float(rate)


def push_rate_plan_changes(
    engine: Engine,
    client: _Carrier,
    provider_id: int,
    optimization_instance_id: int,
    changes: Iterable[RatePlanChange],
    *,
    period_end: datetime,
    enabled: bool,
    now: Callable[[], datetime] = utc_now,
    batch_size: int = BATCH_SIZE,
) -> UpdateOutcome:
    """Send the saving changes in batches under the Go/No-Go rule, or record a dry run.

    ``now`` is a clock (aware datetimes), read before every batch and every ``PUT``.
    Each device's row is committed as ``sending`` before its ``PUT`` and updated with the
    outcome right after, so a crash loses at most the knowledge of one answer (which the next
    run checks with the carrier). A carrier error on one SIM is recorded and the run goes on;
    an authentication failure (HTTP 401) stops it, since every further call would fail too.
    """
    if not 1 <= batch_size <= BATCH_SIZE:
        raise InputError(f"batch_size must be 1..{BATCH_SIZE}, got {batch_size}")
    outcome = UpdateOutcome(enabled=enabled)
    wanted = _saving_only(changes, outcome)
    with engine.begin() as connection:
        rows = _existing_rows(connection, optimization_instance_id)
        outcome.already_sent, todo = _not_yet_sent(connection, provider_id, wanted, rows)
        rate = best_observed_rate(connection, provider_id)
    outcome.decision = go_no_go(now(), period_end, len(todo), rate)
    if not enabled:
        _record_dry_run(engine, provider_id, optimization_instance_id, todo, rows, now())
        outcome.dry_run = len(todo)
        log.info("rate-plan updates disabled: %d changes recorded as dry run", len(todo))
        return outcome
    _Sender(engine, client, provider_id, optimization_instance_id, rows, now, outcome).send_all(
        todo, period_end, batch_size
    )
    return outcome


def _saving_only(changes: Iterable[RatePlanChange], outcome: UpdateOutcome) -> list[RatePlanChange]:
    """Keep changes that save money and really change the plan (one per SIM), largest first."""
    kept: dict[str, RatePlanChange] = {}
    for change in changes:
        if change.saving_usd <= 0 or change.from_rate_plan == change.to_rate_plan:
            outcome.not_saving += 1
            continue
        if change.iccid in kept:
            raise InputError(f"two rate-plan changes for SIM {change.iccid!r}")
        kept[change.iccid] = change
    # Biggest savings first: what a deadline leaves behind is then the least valuable.
    return sorted(kept.values(), key=lambda change: -change.saving_usd)


def _existing_rows(connection: Connection, instance_id: int) -> dict[tuple[str, str], dict]:
    """This instance's audit rows by (ICCID, target plan)."""
    table = RatePlanUpdate.__table__
    result = connection.execute(
        select(
            table.c.id, table.c.iccid, table.c.to_rate_plan_code, table.c.status, table.c.attempts
        ).where(table.c.optimization_instance_id == instance_id)
    )
    return {(row.iccid, row.to_rate_plan_code): dict(row._mapping) for row in result}


def _not_yet_sent(
    connection: Connection,
    provider_id: int,
    changes: Sequence[RatePlanChange],
    rows: dict[tuple[str, str], dict],
) -> tuple[int, list[RatePlanChange]]:
    """(how many are already done, the changes still to send) — never the same change twice."""
    latest_target = _latest_sent_targets(connection, provider_id, [c.iccid for c in changes])
    todo = []
    for change in changes:
        row = rows.get((change.iccid, change.to_rate_plan))
        if (row and row["status"] == _STATUS.SENT) or (
            latest_target.get(change.iccid) == change.to_rate_plan
        ):
            continue
        todo.append(change)
    return len(changes) - len(todo), todo


def _latest_sent_targets(
    connection: Connection, provider_id: int, iccids: Sequence[str]
) -> dict[str, str]:
    """For each SIM, the target plan of the latest change the carrier accepted (any instance).

    Catches a stale recommendation: a later instance of the same period, computed before the
    next sync saw the change, would otherwise send it again.
    """
    table = RatePlanUpdate.__table__
    latest: dict[str, str] = {}
    for chunk in _chunks(iccids, _QUERY_CHUNK):
        result = connection.execute(
            select(table.c.iccid, table.c.to_rate_plan_code)
            .where(
                table.c.service_provider_id == provider_id,
                table.c.status == _STATUS.SENT,
                table.c.iccid.in_(chunk),
            )
            .order_by(table.c.completed_at, table.c.id)
        )
        for row in result:  # later rows overwrite earlier ones
            latest[row.iccid] = row.to_rate_plan_code
    return latest


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _record_dry_run(
    engine: Engine,
    provider_id: int,
    instance_id: int,
    changes: Sequence[RatePlanChange],
    rows: dict[tuple[str, str], dict],
    moment: datetime,
) -> None:
    """Write what would be sent, one row per change (re-runs update the same rows)."""
    with engine.begin() as connection:
        for change in changes:
            if _outcome_unknown(rows, change):
                continue  # keep the trace of a PUT whose answer never came
            _upsert(
                connection,
                provider_id,
                instance_id,
                change,
                rows,
                status=_STATUS.DRY_RUN,
                requested_at=None,
                completed_at=moment,
            )


def _outcome_unknown(rows: dict[tuple[str, str], dict], change: RatePlanChange) -> bool:
    """True when an earlier PUT of this change may or may not have reached the carrier."""
    row = rows.get((change.iccid, change.to_rate_plan))
    return row is not None and row["status"] == _STATUS.SENDING


def _upsert(
    connection: Connection,
    provider_id: int,
    instance_id: int,
    change: RatePlanChange,
    rows: dict[tuple[str, str], dict],
    **values: object,
) -> int:
    """Insert the change's audit row or update it; keeps ``rows`` in step; answers the id."""
    table = RatePlanUpdate.__table__
    key = (change.iccid, change.to_rate_plan)
    row = rows.get(key)
    if row is not None:
        connection.execute(
            update(table).where(table.c.id == row["id"]).values(**values, modified_at=utc_now())
        )
        row.update({k: v for k, v in values.items() if k in ("status", "attempts")})
        return int(row["id"])
    attempts = values.pop("attempts", 0)
    row_id = connection.execute(
        insert(table).values(
            service_provider_id=provider_id,
            optimization_instance_id=instance_id,
            iccid=change.iccid,
            from_rate_plan_code=change.from_rate_plan,
            to_rate_plan_code=change.to_rate_plan,
            saving_usd=Decimal(str(round(change.saving_usd, 4))),
            attempts=attempts,
            created_at=utc_now(),
            **values,
        )
    ).inserted_primary_key[0]
    rows[key] = {"id": row_id, "status": values.get("status"), "attempts": attempts}
    return int(row_id)


class _Sender:
    """One run of sends for an instance: batches, per-device audit rows, batch statistics."""

    def __init__(
        self,
        engine: Engine,
        client: _Carrier,
        provider_id: int,
        instance_id: int,
        rows: dict[tuple[str, str], dict],
        now: Callable[[], datetime],
        outcome: UpdateOutcome,
    ) -> None:
        self.engine = engine
        self.client = client
        self.provider_id = provider_id
        self.instance_id = instance_id
        self.rows = rows
        self.now = now
        self.outcome = outcome

    def send_all(
        self, changes: Sequence[RatePlanChange], period_end: datetime, batch_size: int
    ) -> None:
        """Batches while Go/No-Go says Go; whatever is left is recorded ``skipped_no_go``."""
        with self.engine.connect() as connection:
            batch_number = (
                connection.scalar(
                    select(func.max(RatePlanUpdateBatch.batch_number)).where(
                        RatePlanUpdateBatch.optimization_instance_id == self.instance_id
                    )
                )
                or 0
            )
        position = 0
        while position < len(changes):
            with self.engine.connect() as connection:
                rate = best_observed_rate(connection, self.provider_id)
            remaining = len(changes) - position
            decision = go_no_go(self.now(), period_end, remaining, rate)
            self.outcome.decisions.append(decision)
            if not decision.go:
                log.warning("rate-plan updates stopped: %s", decision.reason)
                break
            batch_number += 1
            batch = changes[position : position + batch_size]
            done = self._send_batch(batch_number, batch, period_end)
            position += done
            if done < len(batch):  # the buffer was reached inside the batch
                break
        self._skip(changes[position:])

    def _send_batch(
        self, batch_number: int, batch: Sequence[RatePlanChange], period_end: datetime
    ) -> int:
        """Send one batch; answers how many of its changes were tried (all, unless the buffer
        was reached part-way)."""
        started = self.now()
        table = RatePlanUpdateBatch.__table__
        with self.engine.begin() as connection:
            batch_id = connection.execute(
                insert(table).values(
                    service_provider_id=self.provider_id,
                    optimization_instance_id=self.instance_id,
                    batch_number=batch_number,
                    devices=len(batch),
                    succeeded=0,
                    failed=0,
                    started_at=started,
                    created_at=utc_now(),
                )
            ).inserted_primary_key[0]
        succeeded = failed = tried = 0
        try:
            for change in batch:
                if _inside_buffer(self.now(), period_end):
                    log.warning(
                        "rate-plan updates stopped: %d minutes buffer reached", BUFFER_MINUTES
                    )
                    break
                tried += 1
                if self._send_one(batch_number, change):
                    succeeded += 1
                else:
                    failed += 1
        finally:
            self._close_batch(batch_id, batch_number, started, tried, succeeded, failed)
        return tried

    def _send_one(self, batch_number: int, change: RatePlanChange) -> bool:
        """Mark ``sending`` (committed), check an earlier unknown outcome, PUT, record."""
        key = (change.iccid, change.to_rate_plan)
        row = self.rows.get(key)
        was_unknown = _outcome_unknown(self.rows, change)
        attempts = (row["attempts"] if row else 0) + 1
        with self.engine.begin() as connection:
            row_id = _upsert(
                connection,
                self.provider_id,
                self.instance_id,
                change,
                self.rows,
                status=_STATUS.SENDING,
                batch_number=batch_number,
                attempts=attempts,
                requested_at=self.now(),
                completed_at=None,
                http_status=None,
                carrier_error_code=None,
                carrier_error_message=None,
            )
        try:
            if not (was_unknown and self._already_on_target(change)):
                self.client.edit_device(change.iccid, rate_plan=change.to_rate_plan)
        except CarrierApiError as error:
            self._finish(row_id, key, _STATUS.FAILED, error)
            self.outcome.failed += 1
            if error.status == 401:
                raise
            return False
        self._finish(row_id, key, _STATUS.SENT, None)
        self.outcome.sent += 1
        return True

    def _already_on_target(self, change: RatePlanChange) -> bool:
        """After an unknown outcome: does the carrier already show the target plan?"""
        try:
            device = self.client.device_details(change.iccid)
        except CarrierApiError:
            return False  # cannot tell: send again (the same PUT is idempotent)
        return getattr(device, "rate_plan", None) == change.to_rate_plan

    def _finish(
        self, row_id: int, key: tuple[str, str], status: str, error: CarrierApiError | None
    ) -> None:
        values: dict[str, object] = {"status": status, "completed_at": self.now()}
        if error is not None:
            values.update(
                http_status=error.status,
                carrier_error_code=error.error_code,
                carrier_error_message=getattr(error, "carrier_message", None) or str(error),
            )
        table = RatePlanUpdate.__table__
        with self.engine.begin() as connection:
            connection.execute(
                update(table).where(table.c.id == row_id).values(**values, modified_at=utc_now())
            )
        self.rows[key]["status"] = status

    def _close_batch(
        self, batch_id: int, number: int, started: datetime, tried: int, ok: int, failed: int
    ) -> None:
        finished = self.now()
        minutes = (finished - started) / timedelta(minutes=1)
        rate = tried / minutes if tried and minutes > 0 else None
        table = RatePlanUpdateBatch.__table__
        with self.engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.id == batch_id)
                .values(
                    devices=tried,
                    succeeded=ok,
                    failed=failed,
                    finished_at=finished,
                    devices_per_minute=rate,
                    success_rate=ok / tried if tried else None,
                    modified_at=utc_now(),
                )
            )
        self.outcome.batches.append(BatchOutcome(number, tried, ok, failed, rate))
        log.info(
            "rate-plan batch %d: %d of %d accepted (%s devices/min)",
            number,
            ok,
            tried,
            "n/a" if rate is None else f"{rate:.1f}",
        )

    def _skip(self, changes: Sequence[RatePlanChange]) -> None:
        """Record the changes the buffer kept from being sent."""
        if not changes:
            return
        moment = self.now()
        with self.engine.begin() as connection:
            for change in changes:
                if _outcome_unknown(self.rows, change):
                    continue  # the next run asks the carrier before sending again
                _upsert(
                    connection,
                    self.provider_id,
                    self.instance_id,
                    change,
                    self.rows,
                    status=_STATUS.SKIPPED_NO_GO,
                    completed_at=moment,
                )
        self.outcome.skipped_no_go += len(changes)


def _inside_buffer(moment: datetime, period_end: datetime) -> bool:
    """True once fewer than :data:`BUFFER_MINUTES` whole minutes are left."""
    return math.floor((period_end - moment) / timedelta(minutes=1)) < BUFFER_MINUTES
