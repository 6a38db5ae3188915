"""Pushes of a winning assignment to the carrier, the per-provider push lock, safe batches.

- ``RatePlanPush``: one row per push (automatic, approved or dry run) with its Go/No-Go, counts,
  the bills before, expected and read back, and the re-checks after it.
- ``RatePlanPushLock``: one row per provider while a push may write to the carrier (its
  primary key is the guard).
- ``RatePlanUpdate`` gains the push that last acted on it, a note (why not sent, how an unknown
  outcome was resolved) and the plan seen at the latest re-check.
- ``RatePlanUpdateBatch`` gains its push and the bill before, planned after and after it.

Only tables and columns are added, so SQLite needs no table rebuild; there the new foreign keys
ride inline on ``ADD COLUMN`` (as in 0005). The status vocabulary of ``RatePlanUpdate`` is
unchanged: a change that was not sent is ``skipped_no_go`` and its note says why.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carrier_opt.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=18, scale=4)


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, carrier_opt.db.types.UtcDateTime(timezone=True), nullable=nullable)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def _add_push_reference(table: str) -> None:
    name = f"fk_{table}_push_id"
    if _sqlite():
        op.execute(
            f'ALTER TABLE "{table}" ADD COLUMN push_id INTEGER '
            f'CONSTRAINT "{name}" REFERENCES "RatePlanPush" (id)'
        )
    else:
        op.add_column(table, sa.Column("push_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f(name), table, "RatePlanPush", ["push_id"], ["id"])
    op.create_index(op.f(f"ix_{table}_push_id"), table, ["push_id"], unique=False)


def upgrade() -> None:
    op.create_table(
        "RatePlanPush",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_provider_id", sa.Integer(), nullable=False),
        sa.Column("optimization_instance_id", sa.Integer(), nullable=False),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("approved_by", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        _time("started_at", nullable=False),
        _time("finished_at"),
        _count("changes"),
        _count("already_on_target"),
        _count("moved_since_sync"),
        _count("sent"),
        _count("failed"),
        _count("not_sent"),
        _count("held_back"),
        sa.Column("decision", sa.String(length=10), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("cost_before_usd", MONEY, nullable=True),
        sa.Column("bill_before_usd", MONEY, nullable=True),
        sa.Column("expected_bill_usd", MONEY, nullable=True),
        sa.Column("realized_bill_usd", MONEY, nullable=True),
        _time("read_back_at"),
        _count("checks_done"),
        _time("next_check_at"),
        sa.Column("discrepancies", sa.Integer(), nullable=True),
        _time("created_at", nullable=False),
        _time("modified_at"),
        sa.CheckConstraint(
            "mode IN ('automatic', 'approved', 'dry_run')", name=op.f("ck_RatePlanPush_mode_known")
        ),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'stopped', 'no_go', 'dry_run', 'abandoned', "
            "'failed')",
            name=op.f("ck_RatePlanPush_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["optimization_instance_id"],
            ["OptimizationInstance.id"],
            name=op.f("fk_RatePlanPush_optimization_instance_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_provider_id"],
            ["ServiceProvider.id"],
            name=op.f("fk_RatePlanPush_service_provider_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_RatePlanPush")),
    )
    op.create_index(
        op.f("ix_RatePlanPush_optimization_instance_id"),
        "RatePlanPush",
        ["optimization_instance_id"],
        unique=False,
    )
    op.create_index(
        "ix_RatePlanPush_service_provider_id_status",
        "RatePlanPush",
        ["service_provider_id", "status"],
        unique=False,
    )
    op.create_table(
        "RatePlanPushLock",
        sa.Column("service_provider_id", sa.Integer(), nullable=False),
        sa.Column("push_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _time("acquired_at", nullable=False),
        _time("heartbeat_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["push_id"],
            ["RatePlanPush.id"],
            name=op.f("fk_RatePlanPushLock_push_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_provider_id"],
            ["ServiceProvider.id"],
            name=op.f("fk_RatePlanPushLock_service_provider_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_provider_id", name=op.f("pk_RatePlanPushLock")),
    )
    _add_push_reference("RatePlanUpdate")
    op.add_column("RatePlanUpdate", sa.Column("note", sa.Text(), nullable=True))
    op.add_column(
        "RatePlanUpdate",
        sa.Column("verified_rate_plan_code", sa.String(length=255), nullable=True),
    )
    op.add_column("RatePlanUpdate", _time("verified_at"))
    _add_push_reference("RatePlanUpdateBatch")
    for column in ("bill_before_usd", "planned_bill_after_usd", "bill_after_usd"):
        op.add_column("RatePlanUpdateBatch", sa.Column(column, MONEY, nullable=True))


def _drop_push_reference(batch_op, table: str) -> None:
    batch_op.drop_index(op.f(f"ix_{table}_push_id"))
    if not _sqlite():
        batch_op.drop_constraint(op.f(f"fk_{table}_push_id"), type_="foreignkey")
    batch_op.drop_column("push_id")


def downgrade() -> None:
    with op.batch_alter_table("RatePlanUpdateBatch") as batch_op:
        for column in ("bill_after_usd", "planned_bill_after_usd", "bill_before_usd"):
            batch_op.drop_column(column)
        _drop_push_reference(batch_op, "RatePlanUpdateBatch")
    with op.batch_alter_table("RatePlanUpdate") as batch_op:
        for column in ("verified_at", "verified_rate_plan_code", "note"):
            batch_op.drop_column(column)
        _drop_push_reference(batch_op, "RatePlanUpdate")
    op.drop_table("RatePlanPushLock")
    op.drop_index("ix_RatePlanPush_service_provider_id_status", table_name="RatePlanPush")
    op.drop_index(op.f("ix_RatePlanPush_optimization_instance_id"), table_name="RatePlanPush")
    op.drop_table("RatePlanPush")
