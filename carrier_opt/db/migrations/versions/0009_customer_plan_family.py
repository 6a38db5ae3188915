"""Customer plan families: the legacy ``RatePlanCode`` shared by several customer plans.

``JasperCustomerRatePlan.plan_family`` (nullable): the legacy customer optimization moves a SIM
only among plans with its plan's rate-plan code and pooling flag. Our ``rate_plan_code`` names
one plan, so the shared code gets its own column; stored plans get none (they form one family,
which keeps what a customer run could do before).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "JasperCustomerRatePlan", sa.Column("plan_family", sa.String(length=255), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("JasperCustomerRatePlan") as batch_op:
        batch_op.drop_column("plan_family")
