"""Syncs as the real API allows: a watermark per provider, resumable staging, one at a time.

- ``JasperSyncRun``: one row per sync (status, the ``modifiedSince`` it ran from, when its
  search started — the next watermark —, pages and details done, the process holding it). A
  unique index on the provider over the rows still ``running`` (a filtered index on SQLite,
  PostgreSQL and SQL Server) lets only one sync of a provider run at a time.
- ``JasperDeviceStaging.details_at``: when Get Device Details filled a staged SIM's fields (the
  search returns only iccid, status, ratePlan and communicationPlan).
- ``ServiceProvider.bulk_usage`` (on): read usage per rate plan; off, per SIM only.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carrier_opt.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING_ONLY = sa.text("status = 'running'")


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, carrier_opt.db.types.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "JasperSyncRun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_provider_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _time("modified_since", nullable=False),
        _time("search_started_at", nullable=False),
        sa.Column("resumed_from", sa.Integer(), nullable=True),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _time("started_at", nullable=False),
        _time("heartbeat_at", nullable=False),
        _time("finished_at"),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("search_done", sa.Boolean(), nullable=False),
        sa.Column("devices_listed", sa.Integer(), nullable=False),
        sa.Column("details_fetched", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _time("created_at", nullable=False),
        _time("modified_at"),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'failed', 'abandoned')",
            name=op.f("ck_JasperSyncRun_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["resumed_from"], ["JasperSyncRun.id"], name=op.f("fk_JasperSyncRun_resumed_from")
        ),
        sa.ForeignKeyConstraint(
            ["service_provider_id"],
            ["ServiceProvider.id"],
            name=op.f("fk_JasperSyncRun_service_provider_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_JasperSyncRun")),
    )
    op.create_index(
        "ix_JasperSyncRun_one_running",
        "JasperSyncRun",
        ["service_provider_id"],
        unique=True,
        sqlite_where=RUNNING_ONLY,
        postgresql_where=RUNNING_ONLY,
        mssql_where=RUNNING_ONLY,
    )
    op.create_index(
        "ix_JasperSyncRun_service_provider_id_status",
        "JasperSyncRun",
        ["service_provider_id", "status"],
        unique=False,
    )
    op.add_column("JasperDeviceStaging", _time("details_at"))
    op.add_column(
        "ServiceProvider",
        sa.Column("bulk_usage", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("ServiceProvider") as batch_op:
        batch_op.drop_column("bulk_usage", mssql_drop_default=True)
    with op.batch_alter_table("JasperDeviceStaging") as batch_op:
        batch_op.drop_column("details_at")
    op.drop_index("ix_JasperSyncRun_service_provider_id_status", table_name="JasperSyncRun")
    op.drop_index("ix_JasperSyncRun_one_running", table_name="JasperSyncRun")
    op.drop_table("JasperSyncRun")
