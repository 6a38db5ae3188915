"""``carrier-opt push NAME --billing-period YYYY-MM --approved-by NAME``: push an approved
dry run from the command line, under the rules of an automatic push (the same function the
``approved_rate_plan_push`` asset calls)."""

from __future__ import annotations

import getpass
import re

import click

from carrier_opt.cli.carrier import ready_engine
from carrier_opt.cli.options import database_url_option

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@click.command("push")
@click.argument("name")
@click.option("--billing-period", required=True, metavar="YYYY-MM", help="The period to push.")
@click.option(
    "--approved-by", required=True, help="Who read the dry run and approves it (recorded)."
)
@database_url_option
def push(name: str, billing_period: str, approved_by: str, database_url: str | None) -> None:
    """Push the latest optimization of NAME's BILLING_PERIOD to the carrier, as approved.

    Only what the carrier does not already show is sent, in batches that never raise the
    bill, after one Go/No-Go; the report is stored again with the realized saving and the push
    mail goes to the provider's recipients (notifier settings as for Dagster runs)."""
    from carrier_opt import clock
    from carrier_opt.defs.assets.approval import deliver_approved_push
    from carrier_opt.defs.resources import resources_for
    from carrier_opt.errors import InputError

    if not PERIOD.match(billing_period):
        raise InputError(f"--billing-period must look like 2026-11, not {billing_period!r}")
    resources = resources_for()
    approved, uris = deliver_approved_push(
        ready_engine(database_url),
        jasper=resources["jasper"],
        notifier=resources["notifier"],
        result_store=resources["result_store"],
        provider=name,
        period_key=billing_period,
        approved_by=approved_by,
        now=lambda: clock.now(),
        holder=f"command line ({getpass.getuser()})",
    )
    click.echo(f"{name} {billing_period}, session {approved.session_guid}:")
    for label, outcome in approved.outcomes.items():
        click.echo(f"  {label}: {outcome.summary()}")
        for problem in outcome.problems:
            click.echo(f"    warning: {problem}")
    for uri in uris:
        click.echo(f"  report: {uri}")
    locked = [label for label, outcome in approved.outcomes.items() if outcome.locked]
    if locked:
        raise click.ClickException(
            f"not pushed: another push of {name} is running ({', '.join(locked)}); "
            "run this command again once it has ended"
        )
