"""Alembic environment: migrations run on a connection handed in by ``carrier_opt.db.migrate``.

Online runs receive ``config.attributes["connection"]``; offline runs (``carrier-opt db ddl``)
receive only ``config.attributes["dialect_name"]`` and print SQL for that dialect.
"""

from __future__ import annotations

from alembic import context

from carrier_opt.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit the DDL for one dialect without a database (for DBAs and the sql/ folder)."""
    context.configure(
        dialect_name=config.attributes["dialect_name"],
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations on the connection the caller opened (and commits)."""
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
