"""Mobility and customer optimization: provider fleet, group membership, customer results.

- ``ServiceProvider.fleet``: ``m2m`` (default, every existing provider) or ``mobility``.
- ``OptimizationGroup.communication_plans``: the communication plans whose SIMs belong to the
  mobility group.
- ``OptimizationInstance.optimization_group_id``: mobility runs one instance per group;
  ``OptimizationInstance.proven_optimal``: the optimizer's MILP closed the gap (reports say so).
- ``OptimizationDeviceResult`` / ``OptimizationMobilityDeviceResult`` gain the current and
  assigned *customer* rate plan: customer optimization re-prices SIMs on the agent's plans.

Only columns are added, so SQLite needs no table rebuild (and the offline DDL stays plain
``ALTER TABLE``). SQLite cannot add a CHECK to an existing table: there the fleet value is
checked by the code that writes providers; its foreign keys ride inline on ``ADD COLUMN``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESULT_TABLES = ("OptimizationDeviceResult", "OptimizationMobilityDeviceResult")


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def _add_reference(table: str, column: str, target: str, *, indexed: bool) -> None:
    name = f"fk_{table}_{column}"
    if _sqlite():
        # SQLite cannot ALTER constraints, but its ADD COLUMN takes an inline REFERENCES.
        op.execute(
            f'ALTER TABLE "{table}" ADD COLUMN {column} INTEGER '
            f'CONSTRAINT "{name}" REFERENCES "{target}" (id)'
        )
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(op.f(name), table, target, [column], ["id"])
    if indexed:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def upgrade() -> None:
    op.add_column(
        "ServiceProvider",
        sa.Column("fleet", sa.String(length=20), server_default="m2m", nullable=False),
    )
    if not _sqlite():
        op.create_check_constraint(
            op.f("ck_ServiceProvider_fleet_known"),
            "ServiceProvider",
            "fleet IN ('m2m', 'mobility')",
        )
    op.add_column(
        "OptimizationGroup", sa.Column("communication_plans", sa.String(length=2000), nullable=True)
    )
    _add_reference(
        "OptimizationInstance", "optimization_group_id", "OptimizationGroup", indexed=True
    )
    op.add_column("OptimizationInstance", sa.Column("proven_optimal", sa.Boolean(), nullable=True))
    for table in RESULT_TABLES:
        _add_reference(
            table, "current_customer_rate_plan_id", "JasperCustomerRatePlan", indexed=False
        )
        _add_reference(
            table, "assigned_customer_rate_plan_id", "JasperCustomerRatePlan", indexed=True
        )


def _drop_reference(batch_op, table: str, column: str, *, indexed: bool) -> None:
    if indexed:
        batch_op.drop_index(op.f(f"ix_{table}_{column}"))
    if not _sqlite():
        batch_op.drop_constraint(op.f(f"fk_{table}_{column}"), type_="foreignkey")
    batch_op.drop_column(column)


def downgrade() -> None:
    # SQLite cannot drop a column in place everywhere: batch mode rebuilds the table. Its final
    # rename would trip over the view that reads OptimizationInstance unless the legacy rename
    # rule (no view check) is on for the duration.
    if _sqlite():
        op.execute("PRAGMA legacy_alter_table = ON")
    for table in RESULT_TABLES:
        with op.batch_alter_table(table) as batch_op:
            _drop_reference(batch_op, table, "assigned_customer_rate_plan_id", indexed=True)
            _drop_reference(batch_op, table, "current_customer_rate_plan_id", indexed=False)
    with op.batch_alter_table("OptimizationInstance") as batch_op:
        batch_op.drop_column("proven_optimal")
        _drop_reference(batch_op, "OptimizationInstance", "optimization_group_id", indexed=True)
    with op.batch_alter_table("OptimizationGroup") as batch_op:
        batch_op.drop_column("communication_plans")
    with op.batch_alter_table("ServiceProvider") as batch_op:
        if not _sqlite():
            batch_op.drop_constraint(op.f("ck_ServiceProvider_fleet_known"), type_="check")
        batch_op.drop_column("fleet", mssql_drop_default=True)
    if _sqlite():
        op.execute("PRAGMA legacy_alter_table = OFF")
