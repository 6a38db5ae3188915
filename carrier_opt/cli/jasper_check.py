"""``carrier-opt jasper check NAME [--record DIR]``: the account doctor from the command line
(:mod:`carrier_opt.jasper.doctor`): five read-only calls, each answer checked against the
project's schema; never prints a credential."""

from __future__ import annotations

from pathlib import Path

import click

from carrier_opt.cli.carrier import ready_engine
from carrier_opt.cli.options import database_url_option


@click.group("jasper")
def jasper() -> None:
    """Look at a provider's carrier account before syncing it."""


@jasper.command("check")
@click.argument("name")
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Save the answers (ICCIDs, MSISDNs and IMSIs hashed) into this folder, for "
    "`carrier-opt fake-jasper --replay`.",
)
@database_url_option
def jasper_check(name: str, record_dir: Path | None, database_url: str | None) -> None:
    """Five read-only calls to NAME's carrier (echo, one search page, one SIM's details, its
    cycle-to-date usage, one page of its plan's usage), each compared with the schema the
    project expects: what matched, what is missing, which keys are unknown."""
    from carrier_opt import clock
    from carrier_opt.db.providers import jasper_credentials, load_provider
    from carrier_opt.jasper.client import JasperClient
    from carrier_opt.jasper.doctor import check_account

    engine = ready_engine(database_url)
    with engine.connect() as connection:
        provider = load_provider(connection, name)
    with JasperClient(provider.base_url, *jasper_credentials(provider)) as client:
        checks = check_account(client, now=clock.now(), record_dir=record_dir)
    click.echo(f"{name} at {provider.base_url} (credentials from ${provider.secret_ref}):")
    for check in checks:
        click.echo("  " + check.line())
    _store_capability(engine, provider.id, checks, clock.now())
    if record_dir is not None:
        click.echo(f"answers recorded (redacted) under {record_dir}")
    failed = [check.name for check in checks if not check.ok and "skipped" not in check.note]
    if failed:
        raise click.ClickException(f"{len(failed)} call(s) failed: {', '.join(failed)}")


def _store_capability(engine, provider_id: int, checks, now) -> None:
    """What the ``usages`` call found out about Get Usage by Rate Plan, for the next syncs and
    ``provider show``."""
    from carrier_opt.db.models import Capability
    from carrier_opt.db.providers import record_usage_by_rate_plan

    for check in checks:
        if check.usage_by_rate_plan is None:
            continue
        note = f"carrier-opt jasper check, {now:%Y-%m-%d %H:%M} UTC: {check.note or 'answered'}"
        record_usage_by_rate_plan(
            engine, provider_id, Capability(check.usage_by_rate_plan), note, now
        )
        click.echo(f"recorded: Get Usage by Rate Plan {check.usage_by_rate_plan} (provider show)")
