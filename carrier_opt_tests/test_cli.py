"""The carrier-opt command line: db upgrade / ddl / current, and errors as one line."""

import os
import subprocess
import sys

from click.testing import CliRunner

from carrier_opt.cli import cli
from carrier_opt.db import migrate


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_db_upgrade_creates_then_leaves_the_database_alone(database_url):
    first = run("db", "upgrade", "--database-url", database_url)
    assert first.exit_code == 0, first.output
    assert f"upgraded from (empty) to {migrate.head_revision()}" in first.output
    second = run("db", "upgrade", "--database-url", database_url)
    assert second.exit_code == 0, second.output
    assert "nothing to do" in second.output
    current = run("db", "current", "--database-url", database_url)
    assert f"current: {migrate.head_revision()}" in current.output


def test_database_url_comes_from_the_environment(tmp_path):
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    result = run("db", "upgrade", env={"CARRIER_OPT_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env.db").exists()
    tables = run("db", "tables", env={"CARRIER_OPT_DATABASE_URL": url}).output.splitlines()
    assert "Device" in tables
    assert "vwOptimizationSessionRunning (view)" in tables


def test_db_ddl_prints_sql_server_ddl():
    result = run("db", "ddl", "--dialect", "mssql")
    assert result.exit_code == 0
    assert "CREATE TABLE [Device]" in result.output
    assert "DATETIMEOFFSET" in result.output


def test_db_ddl_from_an_unknown_revision_is_one_line():
    result = CliRunner().invoke(
        cli, ["db", "ddl", "--dialect", "sqlite", "--from-revision", "nope"]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot write DDL from revision 'nope'")


def test_bad_database_url_is_one_clear_line_not_a_traceback():
    """Through the real console script, as a user would meet it."""
    for url in ("nonsense", "postgresql://someone:pw@127.0.0.1:1/x", "mysterydb://x"):
        completed = subprocess.run(
            [sys.executable, "-m", "carrier_opt", "db", "upgrade", "--database-url", url],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ},
        )
        assert completed.returncode == 1
        lines = completed.stderr.strip().splitlines()
        assert len(lines) == 1, completed.stderr
        assert lines[0].startswith("Error: ")
        assert "Traceback" not in completed.stderr
        assert ":pw@" not in completed.stderr
