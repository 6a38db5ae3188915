"""Schema migrations (Alembic) driven from Python, for the CLI, Dagster and tests.

The Alembic scripts ship inside the package, so an installed ``carrier-opt`` can create or
upgrade a database without a checkout or an ``alembic.ini``.
"""

from __future__ import annotations

import io
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, inspect

from carrier_opt.db.engine import check_connection, display_url, first_line
from carrier_opt.errors import DatabaseError, InputError

SCRIPT_LOCATION = "carrier_opt.db:migrations"
Dialect = Literal["mssql", "postgresql", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("mssql", "postgresql", "sqlite")


def alembic_config(output: io.StringIO | None = None) -> Config:
    """An Alembic config pointing at the packaged migration scripts."""
    config = Config(output_buffer=output)
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this version of carrier_opt."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found in the package"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at; None for an empty (never migrated) database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Create or upgrade the schema in one transaction; returns (before, after) revisions.

    Running it on an up-to-date database changes nothing.
    """
    check_connection(engine)
    before = current_revision(engine)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except CommandError as exc:
        raise InputError(f"cannot upgrade to {revision!r}: {exc}") from None
    except Exception as exc:
        raise DatabaseError(
            f"migration of {display_url(engine.url)} failed: {first_line(exc)}"
        ) from exc
    return before, current_revision(engine)


def new_revision(engine: Engine, message: str) -> str:
    """Write a new migration script comparing the models with a database at head.

    For developers in a checkout: the script lands in ``carrier_opt/db/migrations/versions``
    and must be reviewed (Alembic cannot see renames, view changes or data moves).
    """
    if current_revision(engine) != head_revision():
        raise DatabaseError("upgrade the database to head first: carrier-opt db upgrade")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        script = command.revision(config, message=message, autogenerate=True)
    return script.path  # type: ignore[union-attr]


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` ("base" removes every carrier_opt table)."""
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    except CommandError as exc:
        raise InputError(f"cannot downgrade to {revision!r}: {exc}") from None


def ddl(dialect: Dialect, from_revision: str | None = None) -> str:
    """The SQL script that takes a ``dialect`` database to the newest schema.

    From an empty database by default, or from ``from_revision`` (an upgrade script for a
    database a DBA maintains). It keeps Alembic's version table up to date, so such a database
    can also be upgraded later with ``carrier-opt db upgrade``.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
    output = io.StringIO()
    config = alembic_config(output)
    config.attributes["dialect_name"] = dialect
    target = f"{from_revision}:head" if from_revision else "head"
    try:
        command.upgrade(config, target, sql=True)
    except CommandError as exc:
        raise InputError(f"cannot write DDL from revision {from_revision!r}: {exc}") from None
    return output.getvalue()


def table_names(engine: Engine) -> list[str]:
    """Names of the tables in the database, sorted (views excluded)."""
    return sorted(inspect(engine).get_table_names())


def view_names(engine: Engine) -> list[str]:
    """Names of the views in the database, sorted."""
    return sorted(inspect(engine).get_view_names())
