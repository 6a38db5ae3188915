"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: a fresh database is created for the test session (and dropped after it); each test
gets its own schema inside it. Where PostgreSQL cannot be reached the PostgreSQL variants are
skipped with the reason — except under ``CI=true``, where that is a failure.

Parallel runs (pytest-xdist, ``make test``): each worker is a test session of its own, so it
creates its own PostgreSQL database (named after the worker and unique, so that two suites run
at once on one machine never meet), and gets its own ``DAGSTER_HOME`` and ``CARRIER_OPT_HOME``
(:func:`worker_homes`). The closing "PostgreSQL tests ran" line is counted in the controller from
the reports the workers send (:func:`pytest_runtest_logreport`), so it is printed once.
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
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
"""The pytest-xdist worker this process is (``gw0``, ``gw1``, …), or empty when serial."""
PG_USED = "carrier_opt_postgresql"
"""A test's user property: it ran against the PostgreSQL server (sent with its reports, which
pytest-xdist carries from the workers to the controller)."""
PG_SKIPPED = "carrier_opt_postgresql_skipped"
"""A test's user property: why its PostgreSQL variant was skipped."""
_pg_passed: list[str] = []
_pg_skip_reasons: set[str] = set()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a database created for this test session; dropped afterwards."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    # One per session, so one per xdist worker; unique, as other suites may run beside this one.
    name = f"carrier_opt_test_{WORKER or 'main'}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any connection problem: skip locally, fail in CI
        admin.dispose()
        reason = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
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
    try:
        server_url = request.getfixturevalue("postgres_server_url")
    except pytest.skip.Exception as skipped:
        request.node.user_properties.append((PG_SKIPPED, str(skipped.msg)))
        raise
    request.node.user_properties.append((PG_USED, True))
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


@pytest.fixture(scope="session")
def postgresql_schema_script() -> str:
    """The migrations as one PostgreSQL script, rendered once per session by Alembic's offline
    mode (what ``carrier-opt db ddl`` prints), without its BEGIN/COMMIT: a PostgreSQL test
    runs it as one batch instead of the migrations one by one (measured 0.45–0.5 s against
    1.0 s on a loaded machine, in each of some 320 tests). ``db/test_schema.py`` still runs the
    migrations themselves on both backends."""
    script = migrate.ddl("postgresql")
    lines = [line for line in script.splitlines() if line.strip() not in ("BEGIN;", "COMMIT;")]
    return "\n".join(lines)


@pytest.fixture
def migrated_engine(engine: Engine, request: pytest.FixtureRequest) -> Engine:
    """An engine on a database upgraded to the newest schema."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        engine.dispose()  # nothing stays connected to the file being replaced
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), database)
        return engine
    if engine.dialect.name == "postgresql":
        script = request.getfixturevalue("postgresql_schema_script")
        with engine.begin() as connection:
            connection.exec_driver_sql(script)
        assert migrate.current_revision(engine) == migrate.head_revision()
        return engine
    migrate.upgrade(engine)
    return engine


SLOW_PATHS = ("ui/", "deploy/", "reliability/", "defs/", "benchmarks/", "test_demo.py")
"""Where the slow tests live: Dagster runs end to end, real daemons and webservers, killed
processes, the optimizer under time limits. ``make test-fast`` leaves them out."""


LONGEST_FIRST = ("ui/", "deploy/", "test_demo.py", "reliability/", "benchmarks/", "defs/")
"""Under pytest-xdist the tests are handed out in collection order, so the longest (real
daemons, webservers and processes: minutes each) are collected first, in this order, and the
rest fill the workers around them; otherwise the end-to-end tests, collected last, would run
alone at the end."""
END_TO_END = ("ui/test_ui_after_demo.py", "deploy/test_concurrent_backfill.py")
"""The longest of all (a real daemon, many runs: 5 to 20 minutes each on 2 busy cores). Each is
followed by one other test in the order handed out: `make test`'s ``--maxschedchunk 1`` gives
every worker two tests to start with, so each worker starts on one of these, not one worker on
all of them."""


def _relative(item: pytest.Item) -> str:
    return Path(str(item.path)).relative_to(Path(__file__).parent).as_posix()


def _longest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """:data:`LONGEST_FIRST` order (stable), the :data:`END_TO_END` tests spaced out."""

    def rank(item: pytest.Item) -> int:
        relative = _relative(item)
        starts = [relative.startswith(prefix) for prefix in LONGEST_FIRST]
        return starts.index(True) if any(starts) else len(LONGEST_FIRST)

    ordered = sorted(items, key=rank)
    longest = [item for item in ordered if _relative(item).startswith(END_TO_END)]
    rest = [item for item in ordered if not _relative(item).startswith(END_TO_END)]
    spaced = []
    for index, item in enumerate(longest):
        spaced.append(item)
        spaced.extend(rest[index : index + 1])
    return spaced + rest[len(longest) :]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests under :data:`SLOW_PATHS` ``slow`` (``pytest -m "not slow"``); in an
    xdist worker, hand out the longest first (:func:`_longest_first`; every worker sorts
    alike, as xdist requires)."""
    for item in items:
        if _relative(item).startswith(SLOW_PATHS) or item.get_closest_marker("optimizer_time"):
            item.add_marker(pytest.mark.slow)
    if WORKER:
        items[:] = _longest_first(items)


@pytest.fixture(scope="session", autouse=True)
def worker_homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This session's (so this xdist worker's) own ``DAGSTER_HOME`` and ``CARRIER_OPT_HOME``:
    nothing a test leaves in either (a Dagster instance, the default SQLite database, reports)
    is seen by another worker, by another suite running at the same time, or by `make demo`'s
    and `make ui`'s ``.carrier_opt`` (which `make` exports). Tests that need a Dagster
    instance still make their own, and those that need none unset ``DAGSTER_HOME``."""
    folder = tmp_path_factory.mktemp(f"homes_{WORKER or 'main'}")
    dagster_home = folder / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(dagster_home))
        patch.setenv("CARRIER_OPT_HOME", str(folder / "carrier_opt_home"))
        yield folder


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count tests that passed against the PostgreSQL server, for the closing summary. Under
    xdist the controller gets every worker's reports here, with their user properties."""
    properties = dict(report.user_properties)
    if report.when == "call" and report.passed and properties.get(PG_USED):
        _pg_passed.append(report.nodeid)
    if PG_SKIPPED in properties:
        _pg_skip_reasons.add(properties[PG_SKIPPED])


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say plainly whether the PostgreSQL tests ran (CI checks for this line); once, from the
    controller under xdist."""
    if hasattr(config, "workerinput"):
        return
    if _pg_passed:
        server = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        terminalreporter.write_line(
            f"PostgreSQL tests ran: {len(_pg_passed)} passed against {server}"
        )
    for reason in sorted(_pg_skip_reasons):
        terminalreporter.write_line(f"PostgreSQL tests SKIPPED: {reason}", yellow=True)
