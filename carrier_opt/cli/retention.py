"""``carrier-opt retention``: delete (or archive, then delete) old periods' device-level
results, keeping every total (see :mod:`carrier_opt.db.retention`)."""

from __future__ import annotations

from pathlib import Path

import click

from carrier_opt.cli.carrier import ready_engine
from carrier_opt.cli.options import database_url_option


@click.command("retention")
@click.option(
    "--keep-periods",
    default=3,
    show_default=True,
    type=int,
    help="Newest billing periods per provider whose results stay whole (at least 1).",
)
@click.option("--provider", default=None, help="Only this provider (default: every one).")
@click.option(
    "--archive",
    "archive_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="First write the rows there, one gzipped CSV per provider, period, table and run "
    "(DIR/<provider>/<period>/<table>.<UTC stamp>.csv.gz); an earlier archive is never replaced.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
@database_url_option
def retention(
    keep_periods: int,
    provider: str | None,
    archive_dir: Path | None,
    dry_run: bool,
    database_url: str | None,
) -> None:
    """Delete the per-SIM, per-queue results of closed periods older than the newest
    --keep-periods of each provider. Sessions, instances and queues (with their totals), the
    push audit, reports and usage history are kept."""
    from carrier_opt import clock
    from carrier_opt.db.retention import apply_retention

    report = apply_retention(
        ready_engine(database_url),
        keep_periods,
        now=clock.now(),
        provider=provider,
        archive_dir=archive_dir,
        dry_run=dry_run,
    )
    for line in report.lines():
        click.echo(line)
