"""What each carrier account may call (issue 27).

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
    if not _sqlite():  # SQLite cannot add a constraint to a table; the model's DDL has it
        op.create_check_constraint(
            op.f("ck_ServiceProvider_account_type_known"),
            "ServiceProvider",
            "account_type IN ('auto', 'advantage', 'essential')",
        )


def downgrade() -> None:
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
