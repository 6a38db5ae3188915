"""What each carrier account may call, and which SIMs still lack their details (issue 27).

``Device.details_at``: when Get Device Details last filled the SIM (NULL: still to fetch; a
sync within a call budget merges SIMs with the search's fields first). Existing SIMs take the
time of the sync that last wrote them. ``JasperSyncRun.split_at`` and ``recent_pages``: a
listing split at the period start, the SIMs modified since then first.

``ServiceProvider.account_type`` (``auto``, ``advantage`` or ``essential``: the operator's
word, ``provider set --account-type``), and what was found out about Get Usage by Rate Plan,
which Cisco's role matrix gives Advantage accounts only: ``usage_by_rate_plan`` (``allowed``,
``refused`` or unknown), when and how (``capabilities_seen_at``, ``capabilities_note``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carrier_opt.db.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    op.add_column(
        "ServiceProvider",
        sa.Column("account_type", sa.String(length=20), nullable=False, server_default="auto"),
    )
    op.add_column(
        "ServiceProvider", sa.Column("usage_by_rate_plan", sa.String(length=10), nullable=True)
    )
    op.add_column(
        "ServiceProvider",
        sa.Column(
            "capabilities_seen_at", carrier_opt.db.types.UtcDateTime(timezone=True), nullable=True
        ),
    )
    op.add_column(
        "ServiceProvider", sa.Column("capabilities_note", sa.String(length=500), nullable=True)
    )
    op.add_column(
        "Device",
        sa.Column("details_at", carrier_opt.db.types.UtcDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "JasperSyncRun",
        sa.Column("split_at", carrier_opt.db.types.UtcDateTime(timezone=True), nullable=True),
    )
    op.add_column("JasperSyncRun", sa.Column("recent_pages", sa.Integer(), nullable=True))
    # SIMs synced before: their details were fetched by the sync that last wrote them.
    op.execute('UPDATE "Device" SET details_at = COALESCE(last_synced_at, created_at)')
    if not _sqlite():  # SQLite cannot add a constraint to a table; the model's DDL has it
        op.create_check_constraint(
            op.f("ck_ServiceProvider_account_type_known"),
            "ServiceProvider",
            "account_type IN ('auto', 'advantage', 'essential')",
        )


def downgrade() -> None:
    with op.batch_alter_table("JasperSyncRun") as batch_op:
        batch_op.drop_column("recent_pages")
        batch_op.drop_column("split_at")
    with op.batch_alter_table("Device") as batch_op:
        batch_op.drop_column("details_at")
    with op.batch_alter_table("ServiceProvider") as batch_op:
        if not _sqlite():
            batch_op.drop_constraint(op.f("ck_ServiceProvider_account_type_known"), type_="check")
        for column in (
            "capabilities_note",
            "capabilities_seen_at",
            "usage_by_rate_plan",
            "account_type",
        ):
            batch_op.drop_column(column)
