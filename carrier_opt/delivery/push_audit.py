"""The push's paper trail: one ``RatePlanPush`` row per push, one ``RatePlanUpdate`` row per
change of an instance, one ``RatePlanUpdateBatch`` row per batch.

Every write is its own short transaction, committed before the carrier is called: a change is
``sending`` (committed) before its PUT and ``sent`` or ``failed`` right after, so a crash leaves
at most one row per push whose outcome is unknown, and :func:`unresolved` finds it for the next
push to settle by reading the carrier.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, insert, select, update

from carrier_opt.db.models import (
    RatePlanPush,
    RatePlanPushStatus,
    RatePlanUpdate,
    RatePlanUpdateBatch,
    RatePlanUpdateStatus,
)
from carrier_opt.db.types import utc_now

_PUSH = RatePlanPush.__table__
_UPDATE = RatePlanUpdate.__table__
_BATCH = RatePlanUpdateBatch.__table__
_STATUS = RatePlanUpdateStatus
_QUERY_CHUNK = 500  # ICCIDs per IN (...) list: well under every dialect's parameter limit


@dataclass(frozen=True)
class Change:
    """One SIM to move: from the plan the carrier shows to the recommended one."""

    iccid: str
    from_rate_plan: str | None
    to_rate_plan: str
    saving_usd: float | None = None
    """The SIM's own saving (a report column: never a filter, pools make it misleading)."""


def money(value: float | None) -> Decimal | None:
    """A float in USD as the database's NUMERIC(18, 4)."""
    return None if value is None else Decimal(str(round(float(value), 4)))


def insert_push(connection: Connection, **values: object) -> int:
    """Insert a push row (status ``running`` unless given) in the caller's transaction."""
    values.setdefault("status", RatePlanPushStatus.RUNNING.value)
    moment = values.get("started_at") or utc_now()
    counts = ("changes", "already_on_target", "moved_since_sync", "sent", "failed", "not_sent")
    defaults = dict.fromkeys((*counts, "held_back", "checks_done"), 0)
    row = insert(_PUSH).values(**{**defaults, "created_at": moment, **values})
    return int(connection.execute(row).inserted_primary_key[0])


def open_push(engine: Engine, **values: object) -> int:
    """:func:`insert_push` in a transaction of its own; answers the id."""
    with engine.begin() as connection:
        return insert_push(connection, **values)


def update_push(engine: Engine, push_id: int, **values: object) -> None:
    """Change the push row (money given as floats is stored as NUMERIC)."""
    for name in ("cost_before_usd", "bill_before_usd", "expected_bill_usd", "realized_bill_usd"):
        if name in values:
            values[name] = money(values[name])  # type: ignore[arg-type]
    with engine.begin() as connection:
        connection.execute(
            update(_PUSH).where(_PUSH.c.id == push_id).values(**values, modified_at=utc_now())
        )


def push_row(engine: Engine, push_id: int) -> dict:
    """The push row as a dict."""
    with engine.connect() as connection:
        return dict(connection.execute(select(_PUSH).where(_PUSH.c.id == push_id)).one()._mapping)


def instance_rows(connection: Connection, instance_id: int) -> dict[tuple[str, str], dict]:
    """The instance's change rows by (ICCID, target plan)."""
    result = connection.execute(
        select(
            _UPDATE.c.id,
            _UPDATE.c.iccid,
            _UPDATE.c.to_rate_plan_code,
            _UPDATE.c.status,
            _UPDATE.c.attempts,
        ).where(_UPDATE.c.optimization_instance_id == instance_id)
    )
    return {(row.iccid, row.to_rate_plan_code): dict(row._mapping) for row in result}


class ChangeRows:
    """Upserts of one instance's change rows, keyed by (ICCID, target plan)."""

    def __init__(self, engine: Engine, provider_id: int, instance_id: int, push_id: int) -> None:
        self.engine = engine
        self.provider_id = provider_id
        self.instance_id = instance_id
        self.push_id = push_id
        with engine.connect() as connection:
            self.rows = instance_rows(connection, instance_id)

    def record(self, changes: Iterable[Change], **values: object) -> None:
        """One status (and note) for many changes, in one transaction."""
        with self.engine.begin() as connection:
            for change in changes:
                self._upsert(connection, change, **values)

    def mark(self, change: Change, **values: object) -> int:
        """One change's row, committed at once; answers its id."""
        with self.engine.begin() as connection:
            return self._upsert(connection, change, **values)

    def attempts(self, change: Change) -> int:
        row = self.rows.get((change.iccid, change.to_rate_plan))
        return int(row["attempts"]) if row else 0

    def _upsert(self, connection: Connection, change: Change, **values: object) -> int:
        key = (change.iccid, change.to_rate_plan)
        row = self.rows.get(key)
        values = {"push_id": self.push_id, **values}
        if row is not None:
            connection.execute(
                update(_UPDATE)
                .where(_UPDATE.c.id == row["id"])
                .values(from_rate_plan_code=change.from_rate_plan, **values, modified_at=utc_now())
            )
            row.update({k: v for k, v in values.items() if k in ("status", "attempts")})
            return int(row["id"])
        attempts = int(values.pop("attempts", 0))  # type: ignore[arg-type]
        row_id = connection.execute(
            insert(_UPDATE).values(
                service_provider_id=self.provider_id,
                optimization_instance_id=self.instance_id,
                iccid=change.iccid,
                from_rate_plan_code=change.from_rate_plan,
                to_rate_plan_code=change.to_rate_plan,
                saving_usd=money(change.saving_usd),
                attempts=attempts,
                created_at=utc_now(),
                **values,
            )
        ).inserted_primary_key[0]
        self.rows[key] = {"id": row_id, "status": values.get("status"), "attempts": attempts}
        return int(row_id)


def open_batch(
    engine: Engine,
    *,
    provider_id: int,
    instance_id: int,
    push_id: int,
    devices: int,
    started_at: datetime,
    bill_before_usd: float,
    planned_bill_after_usd: float,
) -> tuple[int, int]:
    """Insert a batch row (numbered after the instance's last); answers (id, number)."""
    with engine.begin() as connection:
        number = (
            connection.scalar(
                select(func.max(_BATCH.c.batch_number)).where(
                    _BATCH.c.optimization_instance_id == instance_id
                )
            )
            or 0
        ) + 1
        batch_id = connection.execute(
            insert(_BATCH).values(
                service_provider_id=provider_id,
                optimization_instance_id=instance_id,
                push_id=push_id,
                batch_number=number,
                devices=devices,
                succeeded=0,
                failed=0,
                started_at=started_at,
                bill_before_usd=money(bill_before_usd),
                planned_bill_after_usd=money(planned_bill_after_usd),
                created_at=utc_now(),
            )
        ).inserted_primary_key[0]
    return int(batch_id), int(number)


def close_batch(
    engine: Engine,
    batch_id: int,
    *,
    tried: int,
    succeeded: int,
    failed: int,
    finished_at: datetime,
    devices_per_minute: float | None,
    bill_after_usd: float | None,
) -> None:
    """Write what the batch did."""
    with engine.begin() as connection:
        connection.execute(
            update(_BATCH)
            .where(_BATCH.c.id == batch_id)
            .values(
                devices=tried,
                succeeded=succeeded,
                failed=failed,
                finished_at=finished_at,
                devices_per_minute=devices_per_minute,
                success_rate=succeeded / tried if tried else None,
                bill_after_usd=money(bill_after_usd),
                modified_at=utc_now(),
            )
        )


def best_observed_rate(connection: Connection, provider_id: int) -> float | None:
    """The best devices-per-minute of any earlier batch sent for the provider (or ``None``)."""
    rate = connection.scalar(
        select(func.max(_BATCH.c.devices_per_minute)).where(
            _BATCH.c.service_provider_id == provider_id
        )
    )
    return None if rate is None else float(rate)


@dataclass(frozen=True)
class Unresolved:
    """What dead pushes of a provider left behind."""

    sending: list[dict]
    """Change rows whose PUT may or may not have reached the carrier."""
    open_batches: list[dict]
    """Batch rows never closed."""
    dead_pushes: list[int]
    """Push rows still ``running`` (their process is gone: we hold the lock)."""


def unresolved(engine: Engine, provider_id: int, own_push_id: int) -> Unresolved:
    """Everything earlier pushes of the provider left open (call it holding the lock)."""
    with engine.connect() as connection:
        sending = connection.execute(
            select(
                _UPDATE.c.id,
                _UPDATE.c.iccid,
                _UPDATE.c.to_rate_plan_code,
                _UPDATE.c.push_id,
                _UPDATE.c.optimization_instance_id,
                _UPDATE.c.batch_number,
            )
            .where(
                _UPDATE.c.service_provider_id == provider_id,
                _UPDATE.c.status == _STATUS.SENDING.value,
            )
            .order_by(_UPDATE.c.id)
        ).all()
        batches = connection.execute(
            select(
                _BATCH.c.id,
                _BATCH.c.push_id,
                _BATCH.c.batch_number,
                _BATCH.c.optimization_instance_id,
                _BATCH.c.started_at,
            ).where(
                _BATCH.c.service_provider_id == provider_id,
                _BATCH.c.finished_at.is_(None),
                (_BATCH.c.push_id.is_(None)) | (_BATCH.c.push_id != own_push_id),
            )
        ).all()
        pushes = connection.scalars(
            select(_PUSH.c.id).where(
                _PUSH.c.service_provider_id == provider_id,
                _PUSH.c.status == RatePlanPushStatus.RUNNING.value,
                _PUSH.c.id != own_push_id,
            )
        ).all()
    return Unresolved(
        [dict(r._mapping) for r in sending], [dict(r._mapping) for r in batches], list(pushes)
    )


def settle_change(engine: Engine, row_id: int, status: str, note: str, moment: datetime) -> None:
    """Resolve one change row whose outcome was unknown."""
    with engine.begin() as connection:
        connection.execute(
            update(_UPDATE)
            .where(_UPDATE.c.id == row_id)
            .values(status=status, note=note, completed_at=moment, modified_at=utc_now())
        )


def settle_batch(engine: Engine, batch: dict, moment: datetime) -> None:
    """Close a batch a dead push left open, counting its changes from their rows."""
    with engine.begin() as connection:
        query = select(_UPDATE.c.status, func.count()).where(
            _UPDATE.c.optimization_instance_id == batch["optimization_instance_id"],
            _UPDATE.c.batch_number == batch["batch_number"],
            _UPDATE.c.status.in_([_STATUS.SENT.value, _STATUS.FAILED.value]),
        )
        if batch["push_id"] is not None:
            query = query.where(_UPDATE.c.push_id == batch["push_id"])
        counts = dict(connection.execute(query.group_by(_UPDATE.c.status)).all())
        sent, failed = counts.get(_STATUS.SENT.value, 0), counts.get(_STATUS.FAILED.value, 0)
        tried = sent + failed
        connection.execute(
            update(_BATCH)
            .where(_BATCH.c.id == batch["id"])
            .values(
                devices=tried,
                succeeded=sent,
                failed=failed,
                finished_at=moment,
                success_rate=sent / tried if tried else None,
                modified_at=utc_now(),
            )
        )


def settle_push(engine: Engine, push_id: int, note: str, moment: datetime) -> None:
    """Mark a dead push abandoned, its counts recomputed from its change rows."""
    with engine.begin() as connection:
        counts = dict(
            connection.execute(
                select(_UPDATE.c.status, func.count())
                .where(_UPDATE.c.push_id == push_id)
                .group_by(_UPDATE.c.status)
            ).all()
        )
        connection.execute(
            update(_PUSH)
            .where(_PUSH.c.id == push_id)
            .values(
                status=RatePlanPushStatus.ABANDONED.value,
                finished_at=moment,
                stop_reason=note,
                sent=counts.get(_STATUS.SENT.value, 0),
                failed=counts.get(_STATUS.FAILED.value, 0),
                modified_at=utc_now(),
            )
        )


def chunks(items: Sequence[str], size: int = _QUERY_CHUNK) -> Iterator[Sequence[str]]:
    """Slices of at most ``size`` items (for IN lists)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
