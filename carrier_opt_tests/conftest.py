"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: a fresh database is created for the test session (and dropped after it); each test
gets its own schema inside it. Where PostgreSQL cannot be reached the PostgreSQL variants are
skipped with the reason — except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from carrier_opt.db import migrate
from carrier_opt.db.engine import make_engine

PG_ADMIN_URL = os.environ.get(
    "CARRIER_OPT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")
_pg_used: set[str] = set()
_pg_passed: list[str] = []
_pg_skip_reasons: set[str] = set()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a database created for this test session; dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"carrier_opt_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any connection problem: skip locally, fail in CI
        admin.dispose()
        reason = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        _pg_skip_reasons.add(reason)
        pytest.skip(reason)
    url = make_url(PG_ADMIN_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'carrier_opt.db'}"
        return
    server_url = request.getfixturevalue("postgres_server_url")
    _pg_used.add(request.node.nodeid)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database of each backend."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file upgraded to the newest schema once per test session: each SQLite test
    starts from a copy (the migrations themselves are tested on a fresh database by
    ``db/test_schema.py``, on both backends)."""
    path = tmp_path_factory.mktemp("schema") / "migrated.db"
    template = make_engine(f"sqlite:///{path}")
    migrate.upgrade(template)
    template.dispose()
    return path


@pytest.fixture
def migrated_engine(engine: Engine, request: pytest.FixtureRequest) -> Engine:
    """An engine on a database upgraded to the newest schema."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        engine.dispose()  # nothing stays connected to the file being replaced
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), database)
        return engine
    migrate.upgrade(engine)
    return engine


SLOW_PATHS = ("ui/", "deploy/", "reliability/", "defs/", "benchmarks/", "test_demo.py")
"""Where the slow tests live: Dagster runs end to end, real daemons and webservers, killed
processes, the optimizer under time limits. ``make test-fast`` leaves them out."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests under :data:`SLOW_PATHS` ``slow`` (``pytest -m "not slow"``)."""
    root = Path(__file__).parent
    for item in items:
        relative = Path(str(item.path)).relative_to(root).as_posix()
        if relative.startswith(SLOW_PATHS) or item.get_closest_marker("optimizer_time"):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count tests that passed against the PostgreSQL server, for the closing summary."""
    if report.when == "call" and report.passed and report.nodeid in _pg_used:
        _pg_passed.append(report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say plainly whether the PostgreSQL tests ran (CI checks for this line)."""
    if _pg_passed:
        server = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        terminalreporter.write_line(
            f"PostgreSQL tests ran: {len(_pg_passed)} passed against {server}"
        )
    for reason in sorted(_pg_skip_reasons):
        terminalreporter.write_line(f"PostgreSQL tests SKIPPED: {reason}", yellow=True)
