"""The daily sync's local hour per provider.

``ServiceProvider.daily_sync_hour_local`` (default 2): the ``daily_sync`` schedule syncs each
active provider once a day at this hour of its own zone, so usage is stored for every period
whether or not an optimization ran. Existing providers get 02:00.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ServiceProvider",
        sa.Column("daily_sync_hour_local", sa.Integer(), nullable=False, server_default="2"),
    )


def downgrade() -> None:
    with op.batch_alter_table("ServiceProvider") as batch_op:
        batch_op.drop_column("daily_sync_hour_local")
