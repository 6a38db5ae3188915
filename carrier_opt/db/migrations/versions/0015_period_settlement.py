"""Settlements of closed periods, stored (issue 31).

- ``PeriodSettlement``: one row per provider × billing period, the figures of the period's
  latest settlement (cost before, at the close, optimized, the optimum on the stored usage,
  final or provisional); settling again replaces it. The savings trend's *settled* column
  reads ``cost_actual``.
- ``PeriodSettlementPool``: per rate pool, the usage projected and the usage stored.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carrier_opt.db.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(precision=18, scale=4)


def upgrade() -> None:
    op.create_table(
        "PeriodSettlement",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("service_provider_id", sa.Integer(), nullable=False),
        sa.Column("billing_period_id", sa.Integer(), nullable=False),
        sa.Column("optimization_session_id", sa.Integer(), nullable=False),
        sa.Column("is_final", sa.Boolean(), nullable=False),
        sa.Column("readings_before_end", sa.Integer(), nullable=False),
        sa.Column("sims", sa.Integer(), nullable=False),
        sa.Column("pushed_sims", sa.Integer(), nullable=False),
        sa.Column("cost_before", MONEY, nullable=False),
        sa.Column("cost_actual", MONEY, nullable=False),
        sa.Column("cost_optimized", MONEY, nullable=False),
        sa.Column("cost_optimum", MONEY, nullable=False),
        sa.Column("optimum_stop_reason", sa.String(length=100), nullable=False),
        sa.Column("projected_mb", sa.Float(), nullable=False),
        sa.Column("final_mb", sa.Float(), nullable=False),
        sa.Column("settled_at", carrier_opt.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["billing_period_id"],
            ["BillingPeriod.id"],
            name=op.f("fk_PeriodSettlement_billing_period_id"),
        ),
        sa.ForeignKeyConstraint(
            ["optimization_session_id"],
            ["OptimizationSession.id"],
            name=op.f("fk_PeriodSettlement_optimization_session_id"),
        ),
        sa.ForeignKeyConstraint(
            ["service_provider_id"],
            ["ServiceProvider.id"],
            name=op.f("fk_PeriodSettlement_service_provider_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_PeriodSettlement")),
        sa.UniqueConstraint(
            "service_provider_id",
            "billing_period_id",
            name=op.f("uq_PeriodSettlement_service_provider_id_billing_period_id"),
        ),
    )
    op.create_table(
        "PeriodSettlementPool",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("settlement_id", BIG_ID, nullable=False),
        sa.Column("pool", sa.String(length=255), nullable=False),
        sa.Column("projected_mb", sa.Float(), nullable=False),
        sa.Column("final_mb", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["PeriodSettlement.id"],
            name=op.f("fk_PeriodSettlementPool_settlement_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_PeriodSettlementPool")),
    )
    op.create_index(
        op.f("ix_PeriodSettlementPool_settlement_id"),
        "PeriodSettlementPool",
        ["settlement_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_PeriodSettlementPool_settlement_id"), table_name="PeriodSettlementPool")
    op.drop_table("PeriodSettlementPool")
    op.drop_table("PeriodSettlement")
