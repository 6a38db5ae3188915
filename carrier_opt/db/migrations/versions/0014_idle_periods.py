"""How many periods without usage make a SIM idle, per provider (issue 31).

``ServiceProvider.idle_periods`` (default 3): a SIM with no data, SMS or voice in that many
consecutive stored billing periods is listed as idle, with what it costs and what
deactivating it would save. Nothing is deactivated automatically. Existing providers get 3.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ServiceProvider",
        sa.Column("idle_periods", sa.Integer(), nullable=False, server_default="3"),
    )


def downgrade() -> None:
    with op.batch_alter_table("ServiceProvider") as batch_op:
        batch_op.drop_column("idle_periods")
