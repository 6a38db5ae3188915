"""``carrier-opt session list | fail``: an operator sees the session that blocks a provider and
clears it without SQL (issue 14: a crashed run must not block its provider for good)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from carrier_opt.cli import cli
from carrier_opt.db.models import OptimizationInstance, OptimizationSession
from carrier_opt.db.optimization_runs import SessionRefused, start_session
from carrier_opt_tests.db.customer_support import add_test_provider

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def run(database_url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--database-url", database_url])


@pytest.fixture
def stuck(migrated_engine, monkeypatch):
    """A session of 'acme' left running by a run that died (its Dagster run is unknown here)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    add_test_provider(migrated_engine, "acme")
    ids = start_session(migrated_engine, "acme", "2026-03", run_id="dead-run", now=NOW)
    with pytest.raises(SessionRefused, match="still running"):
        start_session(migrated_engine, "acme", "2026-03", run_id="next-run", now=NOW)
    return ids


@pytest.mark.reliability
def test_list_shows_the_open_session_and_fail_lets_the_next_run_start(
    stuck, migrated_engine, database_url
):
    listed = run(database_url, "session", "list")
    assert listed.exit_code == 0, listed.output
    [line] = [line for line in listed.output.splitlines() if stuck.session_guid in line]
    assert "acme" in line and "2026-03" in line and "running" in line and "dead-run" in line
    assert "carrier-opt session fail" in listed.output

    failed = run(database_url, "session", "fail", stuck.session_guid, "--reason", "run killed")
    assert failed.exit_code == 0, failed.output
    assert "closed as failed: closed by an operator: run killed" in failed.output
    with migrated_engine.connect() as connection:
        session = connection.execute(
            select(OptimizationSession).where(OptimizationSession.id == stuck.session_id)
        ).one()
        instance = connection.execute(
            select(OptimizationInstance.status).where(OptimizationInstance.id == stuck.instance_id)
        ).scalar_one()
    assert session.status == "failed" and session.completed_at is not None
    assert instance == "failed"
    assert "no open optimization session" in run(database_url, "session", "list").output
    closed = run(database_url, "session", "list", "--all", "--provider", "acme").output
    assert stuck.session_guid in closed and "closed by an operator: run killed" in closed
    start_session(migrated_engine, "acme", "2026-03", run_id="next-run", now=NOW)


@pytest.mark.parametrize(
    ("guid", "reason", "message"),
    [
        ("no-such-session", "x", "no optimization session 'no-such-session'"),
        (None, "  ", "say why the session is closed"),
    ],
)
def test_fail_refuses_an_unknown_session_or_no_reason(stuck, database_url, guid, reason, message):
    result = run(database_url, "session", "fail", guid or stuck.session_guid, "--reason", reason)
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_fail_never_rewrites_a_closed_session(stuck, database_url):
    assert run(database_url, "session", "fail", stuck.session_guid, "--reason", "a").exit_code == 0
    again = run(database_url, "session", "fail", stuck.session_guid, "--reason", "b")
    assert again.exit_code != 0 and "is already failed; nothing to close" in again.output


@pytest.mark.reliability
def test_two_runs_starting_at_once_give_one_session_and_one_clear_refusal(migrated_engine):
    """The guard is the provider's row, locked by the first start: the second start waits for
    it, then sees the open session (issue 14: not a check then an insert)."""
    import threading

    add_test_provider(migrated_engine, "acme")
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def start(run_id: str) -> None:
        barrier.wait()
        try:
            outcomes.append(
                start_session(migrated_engine, "acme", "2026-03", run_id=run_id, now=NOW)
            )
        except SessionRefused as refused:
            outcomes.append(refused)

    threads = [threading.Thread(target=start, args=(f"run-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = [o for o in outcomes if isinstance(o, SessionRefused)]
    assert len(outcomes) == 4 and len(refused) == 3
    assert all("is still running" in str(r) for r in refused)
    with migrated_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(OptimizationSession)) == 1
