"""``carrier-opt provider list | show | set``: read and change a provider's settings.

``provider add`` (in :mod:`carrier_opt.cli.carrier`) takes every setting once; ``set``
changes any of them later, with the same checks, in one transaction.
"""

from __future__ import annotations

import click

from carrier_opt.cli.carrier import provider, ready_engine
from carrier_opt.cli.options import database_url_option


@provider.command("list")
@database_url_option
def provider_list(database_url: str | None) -> None:
    """List the providers: fleet, active, automatic updates, billing cycle, last sync and its
    outcome, last session."""
    from carrier_opt.db.provider_settings import list_providers

    found = list_providers(ready_engine(database_url))
    if not found:
        click.echo("no service provider yet: add one with carrier-opt provider add NAME ...")
        return
    click.echo(
        f"{'name':<24} {'fleet':<9} {'active':<6} {'auto':<4} {'cycle end':<24} "
        f"{'last sync':<30} last session"
    )
    for p in found:
        after = " after" if p.billing_cycle_end_rule == "after_end_day" else ""
        cycle = (
            f"day {p.billing_cycle_end_day}{after} {p.billing_cycle_end_hour:02d}:00 {p.time_zone}"
        )
        automatic = "yes" if p.automatic_updates else "no"
        click.echo(
            f"{p.name:<24} {p.fleet:<9} {'yes' if p.active else 'no':<6} {automatic:<4} "
            f"{cycle:<24} {p.last_sync or '-':<30} {p.last_session or '-'}"
        )


@provider.command("show")
@click.argument("name")
@database_url_option
def provider_show(name: str, database_url: str | None) -> None:
    """Every setting of provider NAME, its recipients and its last session and push."""
    from carrier_opt.db.provider_settings import provider_overview
    from carrier_opt.db.providers import load_provider
    from carrier_opt.db.recipients import notification_recipients

    engine = ready_engine(database_url)
    overview = provider_overview(engine, name)
    for label, value in overview.lines():
        click.echo(f"{label + ':':<28} {value}")
    with engine.connect() as connection:
        recipients = notification_recipients(connection, load_provider(connection, name).id)
    for kind in ("to", "cc", "bcc"):
        click.echo(
            f"{'recipients ' + kind + ':':<28} {', '.join(getattr(recipients, kind)) or '-'}"
        )


@provider.command("set")
@click.argument("name")
@click.option("--jasper-url", default=None, help="New base URL, e.g. https://host/rws/api/v1/.")
@click.option("--billing-cycle-end-day", type=click.IntRange(1, 31), default=None)
@click.option("--billing-cycle-end-hour", type=click.IntRange(0, 23), default=None)
@click.option(
    "--billing-cycle-end-rule",
    type=click.Choice(["at_end_hour", "after_end_day"]),
    default=None,
    help="at_end_hour: the end day at the end hour (legacy); after_end_day: the midnight "
    "after the end day plus the end hour (see provider add --help).",
)
@click.option("--timezone", "time_zone", default=None, help="IANA zone, e.g. America/Chicago.")
@click.option("--username-env", default=None, help="Variable holding the Jasper username.")
@click.option("--api-key-env", default=None, help="Variable holding the Jasper API key.")
@click.option("--optimization-start-hour", type=click.IntRange(0, 23), default=None)
@click.option("--no-optimization-start-hour", is_flag=True, help="Clear the last-day start hour.")
@click.option(
    "--daily-sync-hour",
    type=click.IntRange(0, 23),
    default=None,
    help="Local hour at which the daily_sync schedule syncs the provider.",
)
@click.option("--account-id", default=None, help="Jasper account id to restrict searches to.")
@click.option("--no-account-id", is_flag=True, help="Search every account of the credentials.")
@click.option("--fleet", type=click.Choice(["m2m", "mobility"]), default=None)
@click.option(
    "--automatic-updates/--no-automatic-updates",
    default=None,
    help="Push the winner to the carrier after each run (otherwise a dry run to approve).",
)
@click.option(
    "--bulk-usage/--no-bulk-usage",
    default=None,
    help="Read usage per rate plan (GET /usages) or, off, per SIM only (ctdUsages).",
)
@click.option(
    "--account-type",
    type=click.Choice(["auto", "advantage", "essential"]),
    default=None,
    help="What the carrier account may call (Cisco's role matrix): essential never asks Get "
    "Usage by Rate Plan; auto (the default) finds out from the carrier, and forgets what it "
    "found so the next sync asks again.",
)
@click.option(
    "--proration/--no-proration",
    "uses_proration",
    default=None,
    help="Bill SIMs activated mid-period for their days only (the legacy per-provider "
    "setting; on by default). Mobility and customer runs never prorate.",
)
@click.option("--max-rate-plans-per-group", type=click.IntRange(1, 1000), default=None)
@click.option(
    "--idle-periods",
    type=click.IntRange(1, 24),
    default=None,
    help="Consecutive periods without data, SMS or voice after which a SIM is listed as idle "
    "(default 3; nothing is deactivated automatically).",
)
@click.option("--active/--inactive", default=None, help="Whether the sensor runs it at all.")
@click.option("--to", "to", default=None, help="Comma-separated To: addresses (replaces).")
@click.option("--cc", default=None, help="Comma-separated Cc: addresses (replaces).")
@click.option("--bcc", default=None, help="Comma-separated Bcc: addresses (replaces).")
@database_url_option
def provider_set(name: str, database_url: str | None, to, cc, bcc, **settings) -> None:
    """Change settings of provider NAME (only those given); recipients are replaced per kind."""
    from carrier_opt.db.provider_settings import ProviderChanges, apply_changes
    from carrier_opt.db.providers import load_provider
    from carrier_opt.db.recipients import (
        notification_recipients,
        parse_address_list,
        set_notification_recipients,
    )
    from carrier_opt.errors import InputError

    changes = ProviderChanges(
        clear_optimization_start_hour=settings.pop("no_optimization_start_hour"),
        clear_account_id=settings.pop("no_account_id"),
        **settings,
    )
    lists = {"to": to, "cc": cc, "bcc": bcc}
    if not changes and all(value is None for value in lists.values()):
        raise InputError("nothing to change: give at least one setting (see --help)")
    parsed = {}
    for kind, text in lists.items():  # every check before any write
        valid, invalid = parse_address_list(text)
        if invalid:
            raise InputError(f"--{kind}: not e-mail addresses: {', '.join(invalid)}")
        parsed[kind] = valid
    with ready_engine(database_url).begin() as connection:  # one transaction for everything
        if changes:
            apply_changes(connection, name, changes)
        if any(value is not None for value in lists.values()):
            provider_id = load_provider(connection, name).id
            kept = notification_recipients(connection, provider_id)
            set_notification_recipients(
                connection,
                provider_id,
                **{
                    kind: parsed[kind] if lists[kind] is not None else getattr(kept, kind)
                    for kind in lists
                },
            )
    click.echo(f"{name}: updated")
    click.get_current_context().invoke(provider_show, name=name, database_url=database_url)
