"""The legacy system's rules users migrate with, and the carrier's clock for the watermark.

- ``JasperSyncRun.carrier_started_at``: when a sync's search began by the carrier's clock (its
  first page's ``Date``), the next sync's watermark once the sync completes.
- ``ServiceProvider.uses_proration`` (on, today's behaviour): the legacy per-provider setting;
  off, SIMs activated mid-period are billed for the whole period.
- ``ServiceProvider.billing_cycle_end_rule``: new providers read ``(end day, end hour)`` the
  legacy way, *at* the end hour of the end day. Stored providers were read as the midnight
  after the end day plus the end hour; their cycle end must not move, so an end day up to 27
  becomes the next day under the legacy rule (the same instant in every month), and end days
  28–31 (which cannot be written that way in every month) keep the old rule, ``after_end_day``.
- ``JasperCustomerRatePlan.auto_change_rate_plan`` (on): the legacy ``AutoChangeRatePlan``; off,
  the customer optimization prices the plan's SIMs but never moves them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carrier_opt.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PROVIDER = sa.table(
    "ServiceProvider",
    sa.column("billing_cycle_end_day", sa.Integer()),
    sa.column("billing_cycle_end_rule", sa.String()),
)
"""The two columns the data steps read and write (as they are at this revision)."""


def upgrade() -> None:
    op.add_column(
        "JasperSyncRun",
        sa.Column(
            "carrier_started_at", carrier_opt.db.types.UtcDateTime(timezone=True), nullable=True
        ),
    )
    op.add_column(
        "ServiceProvider",
        sa.Column("uses_proration", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "ServiceProvider",
        sa.Column(
            "billing_cycle_end_rule",
            sa.String(length=20),
            server_default="at_end_hour",
            nullable=False,
        ),
    )
    # Order matters: mark the month-end days first, then move the others to the legacy rule.
    op.execute(
        PROVIDER.update()
        .where(PROVIDER.c.billing_cycle_end_day >= 28)
        .values(billing_cycle_end_rule="after_end_day")
    )
    op.execute(
        PROVIDER.update()
        .where(
            PROVIDER.c.billing_cycle_end_day <= 27,
            PROVIDER.c.billing_cycle_end_rule == "at_end_hour",
        )
        .values(billing_cycle_end_day=PROVIDER.c.billing_cycle_end_day + 1)
    )
    op.add_column(
        "JasperCustomerRatePlan",
        sa.Column("auto_change_rate_plan", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    # Back to "the midnight after the end day": the legacy-rule day moves back by one (a
    # provider added with end day 1 under the legacy rule has no such form: it keeps day 1).
    op.execute(
        PROVIDER.update()
        .where(
            PROVIDER.c.billing_cycle_end_rule == "at_end_hour",
            PROVIDER.c.billing_cycle_end_day >= 2,
        )
        .values(billing_cycle_end_day=PROVIDER.c.billing_cycle_end_day - 1)
    )
    with op.batch_alter_table("ServiceProvider") as batch_op:
        batch_op.drop_column("billing_cycle_end_rule", mssql_drop_default=True)
    with op.batch_alter_table("JasperCustomerRatePlan") as batch_op:
        batch_op.drop_column("auto_change_rate_plan", mssql_drop_default=True)
    with op.batch_alter_table("ServiceProvider") as batch_op:
        batch_op.drop_column("uses_proration", mssql_drop_default=True)
    with op.batch_alter_table("JasperSyncRun") as batch_op:
        batch_op.drop_column("carrier_started_at")
