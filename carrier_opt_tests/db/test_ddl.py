"""The committed DDL in sql/ is what the migrations produce, and it builds a working schema."""

from pathlib import Path

import pytest

from carrier_opt.db import migrate
from carrier_opt.db.models import Base
from carrier_opt.db.views import SESSION_RUNNING_VIEW

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@pytest.mark.parametrize("dialect", migrate.DIALECTS)
def test_committed_ddl_has_not_drifted(dialect):
    committed = (SQL_DIR / f"{dialect}.sql").read_text(encoding="utf-8")
    assert committed == migrate.ddl(dialect), (
        f"sql/{dialect}.sql is stale: run `make ddl` and commit the result"
    )


def test_sql_server_ddl_speaks_sql_server():
    script = migrate.ddl("mssql")
    assert "DATETIMEOFFSET" in script
    assert "NUMERIC(18, 4)" in script
    assert "\nGO\n" in script  # batch separators for sqlcmd / SSMS
    assert f"CREATE VIEW [{SESSION_RUNNING_VIEW}]" in script
    for table in Base.metadata.tables:
        assert f"CREATE TABLE [{table}]" in script


def test_committed_ddl_builds_an_upgradable_database(engine):
    """A DBA who applies sql/<dialect>.sql gets the same schema `db upgrade` would build."""
    script = (SQL_DIR / f"{engine.dialect.name}.sql").read_text(encoding="utf-8")
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            raw.driver_connection.executescript(script)
        else:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute(script)
    finally:
        raw.close()
    assert set(migrate.table_names(engine)) == set(Base.metadata.tables) | {"alembic_version"}
    assert migrate.view_names(engine) == [SESSION_RUNNING_VIEW]
    before, after = migrate.upgrade(engine)
    assert before == after == migrate.head_revision()
