"""``carrier-opt session list | fail``: see the optimization sessions that block a provider's
next run, and close one by hand (see :mod:`carrier_opt.db.sessions`)."""

from __future__ import annotations

import os

import click

from carrier_opt.cli.carrier import ready_engine
from carrier_opt.cli.options import database_url_option


@click.group("session")
def session() -> None:
    """Optimization sessions: list the open ones, close one whose run is dead."""


@session.command("list")
@click.option("--provider", "provider", default=None, help="Only this provider's sessions.")
@click.option("--all", "show_all", is_flag=True, help="Closed sessions too (newest 50).")
@database_url_option
def session_list(provider: str | None, show_all: bool, database_url: str | None) -> None:
    """Open sessions (pending or running), newest first, with their Dagster run's state when
    ``DAGSTER_HOME`` names the Dagster instance that ran them."""
    from carrier_opt.db.optimization_runs import SESSION_STALE_AFTER
    from carrier_opt.db.sessions import list_sessions

    found = list_sessions(ready_engine(database_url), provider=provider, open_only=not show_all)
    if not found:
        click.echo("no open optimization session" if not show_all else "no optimization session")
        return
    states = _run_states([row.dagster_run_id for row in found if row.dagster_run_id])
    click.echo(
        f"{'session':<36}  {'provider':<20} {'period':<7} {'type':<8} {'status':<9} "
        f"{'progress':>8}  {'started (UTC)':<16}  dagster run"
    )
    for row in found:
        started = f"{row.started_at:%Y-%m-%d %H:%M}" if row.started_at else "-"
        run = "-"
        if row.dagster_run_id:
            run = f"{row.dagster_run_id} ({states.get(row.dagster_run_id, 'state unknown')})"
        click.echo(
            f"{row.session_guid:<36}  {row.provider:<20.20} {row.period_key:<7} "
            f"{row.optimization_type:<8} {row.status:<9} {row.progress_percent:>7}%  "
            f"{started:<16}  {run}"
        )
        if row.error_message and show_all:
            click.echo(f"{'':<38}{row.error_message}")
    hours = SESSION_STALE_AFTER.total_seconds() / 3600
    click.echo(
        f"an open session blocks its provider's next run until its Dagster run is over or it "
        f"is {hours:g} h old; close it now with carrier-opt session fail SESSION --reason TEXT"
    )


@session.command("fail")
@click.argument("session_guid")
@click.option("--reason", required=True, help="Why it is closed (stored on the session).")
@database_url_option
def session_fail(session_guid: str, reason: str, database_url: str | None) -> None:
    """Close open session SESSION_GUID as failed, so the provider's next run may start."""
    from carrier_opt import clock
    from carrier_opt.db.sessions import fail_session

    closed = fail_session(ready_engine(database_url), session_guid, reason=reason, now=clock.now())
    click.echo(
        f"session {closed.session_guid} ({closed.provider} {closed.period_key}) closed as "
        f"{closed.status}: {closed.error_message}"
    )


def _run_states(run_ids: list[str]) -> dict[str, str]:
    """Dagster run id → status, from the instance ``DAGSTER_HOME`` names (empty without)."""
    if not run_ids or not os.environ.get("DAGSTER_HOME"):
        return {}
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        runs = {run_id: instance.get_run_by_id(run_id) for run_id in run_ids}
    return {run_id: run.status.value for run_id, run in runs.items() if run is not None}
