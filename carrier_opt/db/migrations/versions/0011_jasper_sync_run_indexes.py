"""Indexes for the sync queries at many providers (issue 17, docs/benchmarks.md).

``EXPLAIN ANALYZE`` at 100 providers × 24 periods (``carrier-opt bench database``) showed the
last completed sync found by walking the primary key backwards past other providers' syncs,
and the freshness check reading every sync. ``(service_provider_id, status, finished_at)``
answers both from the index's end; ``(service_provider_id, id)`` the latest sync of a provider
(resume). They replace ``(service_provider_id, status)``, which both cover.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_JasperSyncRun_provider_status_finished",
        "JasperSyncRun",
        ["service_provider_id", "status", "finished_at"],
    )
    op.create_index("ix_JasperSyncRun_provider_id", "JasperSyncRun", ["service_provider_id", "id"])
    op.drop_index("ix_JasperSyncRun_service_provider_id_status", table_name="JasperSyncRun")


def downgrade() -> None:
    op.create_index(
        "ix_JasperSyncRun_service_provider_id_status",
        "JasperSyncRun",
        ["service_provider_id", "status"],
    )
    op.drop_index("ix_JasperSyncRun_provider_id", table_name="JasperSyncRun")
    op.drop_index("ix_JasperSyncRun_provider_status_finished", table_name="JasperSyncRun")
