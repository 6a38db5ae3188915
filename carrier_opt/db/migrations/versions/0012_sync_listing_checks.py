"""What a sync could not use, and a sync that found the carrier's listing incomplete (issue 26).

- ``SkippedCarrierRecord``: every carrier record a sync skipped (malformed, or refused per SIM),
  with its endpoint, page and index, ICCID or — when it has none — its other identifying
  fields, and the reason. Before, only a count survived the run.
- ``JasperSyncRun.full_sweep_next``: the sync's fleet cross-check found SIMs the carrier's
  listing left out; the next sync sweeps the whole window afresh instead of resuming it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carrier_opt.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "JasperSyncRun",
        sa.Column("full_sweep_next", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "SkippedCarrierRecord",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_provider_id", sa.Integer(), nullable=False),
        sa.Column("sync_run_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("record_index", sa.Integer(), nullable=True),
        sa.Column("iccid", sa.String(length=22), nullable=True),
        sa.Column("identity", sa.String(length=500), nullable=True),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", carrier_opt.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_provider_id"],
            ["ServiceProvider.id"],
            name=op.f("fk_SkippedCarrierRecord_service_provider_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sync_run_id"],
            ["JasperSyncRun.id"],
            name=op.f("fk_SkippedCarrierRecord_sync_run_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_SkippedCarrierRecord")),
    )
    op.create_index(
        "ix_SkippedCarrierRecord_provider_sync",
        "SkippedCarrierRecord",
        ["service_provider_id", "sync_run_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_SkippedCarrierRecord_provider_sync", table_name="SkippedCarrierRecord")
    op.drop_table("SkippedCarrierRecord")
    with op.batch_alter_table("JasperSyncRun") as batch_op:
        batch_op.drop_column("full_sweep_next")
