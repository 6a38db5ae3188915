"""Commands that talk to the carrier and prepare optimizations from what it said.

``provider add``, ``sync``, ``rate-plans load``, ``optimization-groups load``,
``customer-plans load|assign`` and ``instance export``; registered on the main ``carrier-opt``
group with ``cli.add_command(...)``. Every command takes ``--database-url``
(default ``$CARRIER_OPT_DATABASE_URL``) and raises :class:`~carrier_opt.errors.CarrierOptError`
for anything the user must fix; the main group turns those into one line.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carrier_opt.cli.account_probe import probe_carrier_account
from carrier_opt.cli.options import database_url_option
from carrier_opt.errors import CarrierOptError, DatabaseError, InputError
from carrier_opt.jasper.client import DEFAULT_CALLS_PER_SECOND

if TYPE_CHECKING:  # heavy imports stay out of the command line's start-up
    from sqlalchemy import Engine

    from carrier_opt.pipeline.sync import ProgressCallback, SyncProgress

MAX_PROBLEMS_SHOWN = 5


def ready_engine(database_url: str | None) -> Engine:
    """An engine on a reachable database whose schema is at the newest revision."""
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import check_connection, display_url, make_engine

    engine = make_engine(database_url)
    check_connection(engine)
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        raise DatabaseError(
            f"{display_url(engine.url)} is at schema revision {current or '(empty)'}, "
            f"not {head}: run carrier-opt db upgrade"
        )
    return engine


# --- provider --------------------------------------------------------------------------------


@click.group("provider")
def provider() -> None:
    """Register the carrier accounts (service providers) to optimize."""


@provider.command("add")
@click.argument("name")
@click.option("--jasper-url", required=True, help="Base URL, e.g. https://host/rws/api/v1/.")
@click.option(
    "--billing-cycle-end-day",
    required=True,
    type=click.IntRange(1, 31),
    help="Day of the month the billing cycle ends (31: the month's last day). With the "
    "default end rule the cycle ends on this day AT the end hour, local time, as in the "
    "legacy system: day 18, hour 23 ends on the 18th at 23:00.",
)
@click.option("--timezone", "time_zone", required=True, help="IANA zone, e.g. America/Chicago.")
@click.option(
    "--billing-cycle-end-hour",
    default=0,
    show_default=True,
    type=click.IntRange(0, 23),
    help="Local hour of the end day at which the cycle ends (legacy rule); with "
    "--billing-cycle-end-rule after_end_day, hours after the midnight that follows the end day.",
)
@click.option(
    "--billing-cycle-end-rule",
    type=click.Choice(["at_end_hour", "after_end_day"]),
    default="at_end_hour",
    show_default=True,
    help="at_end_hour: the cycle ends on the end day at the end hour (the legacy system's "
    "rule); after_end_day: at the midnight after the end day plus the end hour (day 31, hour "
    "0: calendar months, which the legacy rule cannot express).",
)
@click.option(
    "--username-env",
    default="JASPER_USERNAME",
    show_default=True,
    help="Environment variable holding the Jasper username (read at run time).",
)
@click.option(
    "--api-key-env",
    default="JASPER_API_KEY",
    show_default=True,
    help="Environment variable holding the Jasper API key (read at run time).",
)
@click.option(
    "--optimization-start-hour",
    type=click.IntRange(0, 23),
    default=None,
    help="Local hour from which the last day of the cycle runs hourly.",
)
@click.option(
    "--daily-sync-hour",
    type=click.IntRange(0, 23),
    default=2,
    show_default=True,
    help="Local hour at which the daily_sync schedule syncs the provider's SIMs and usage.",
)
@click.option("--account-id", default=None, help="Jasper account id to restrict searches to.")
@click.option(
    "--fleet",
    type=click.Choice(["m2m", "mobility"]),
    default="m2m",
    show_default=True,
    help="m2m: IoT SIMs optimized per communication group; mobility: phones and tablets "
    "optimized per optimization group.",
)
@click.option(
    "--backfill-periods",
    default=2,
    show_default=True,
    type=click.IntRange(0, 24),
    help="Onboarding: sync the provider at once, then store the usage of this many previous "
    "billing periods (Get Usage by Rate Plan by cycleStartDate), so they can be backfilled "
    "right away. 0: no carrier call now (the daily sync or a run syncs it later).",
)
@click.option(
    "--probe-account/--no-probe-account",
    default=None,
    help="Ask the carrier which functions the account may call (Get Usage by Rate Plan, which "
    "Essential accounts lack) and store it (provider show): at most 4 read-only calls. "
    "Default: whenever add contacts the carrier (--backfill-periods above 0).",
)
@database_url_option
def provider_add(
    name: str,
    jasper_url: str,
    billing_cycle_end_day: int,
    time_zone: str,
    billing_cycle_end_hour: int,
    billing_cycle_end_rule: str,
    username_env: str,
    api_key_env: str,
    optimization_start_hour: int | None,
    daily_sync_hour: int,
    account_id: str | None,
    fleet: str,
    backfill_periods: int,
    probe_account: bool | None,
    database_url: str | None,
) -> None:
    """Add service provider NAME; only the credentials' variable names are stored. Then, unless
    --backfill-periods 0, what its account may call, its first sync and the usage of its
    previous billing periods."""
    from carrier_opt.db.providers import add_provider

    engine = ready_engine(database_url)
    provider_id = add_provider(
        engine,
        name,
        jasper_url=jasper_url,
        billing_cycle_end_day=billing_cycle_end_day,
        billing_cycle_end_hour=billing_cycle_end_hour,
        billing_cycle_end_rule=billing_cycle_end_rule,
        time_zone=time_zone,
        username_env=username_env,
        api_key_env=api_key_env,
        optimization_start_hour=optimization_start_hour,
        account_id=account_id,
        fleet=fleet,
        daily_sync_hour=daily_sync_hour,
    )
    click.echo(
        f"added {fleet} service provider {name} (id {provider_id}); credentials are read from "
        f"${username_env} and ${api_key_env}"
    )
    click.echo(_register_partition(name, fleet))
    probe = backfill_periods > 0 if probe_account is None else probe_account
    if probe:
        probe_carrier_account(engine, name)  # before the first sync: it plans for the account
    if backfill_periods:
        _onboard(engine, name, backfill_periods)


def _onboard(engine: Engine, name: str, past_periods: int) -> None:
    """The new provider's first sync and its past periods' usage. The provider stays added
    when the carrier cannot be reached (credentials not set yet, say): a warning says how to
    do it later (the exit status stays 0: what was asked for first, the provider, is
    stored)."""
    try:
        _sync_and_report(engine, name, None, DEFAULT_CALLS_PER_SECOND, past_periods)
    except CarrierOptError as exc:
        _end_progress_line()
        click.echo(
            f"warning: {name} is added, but its first sync and the usage of its "
            f"{past_periods} previous period(s) could not be stored: {exc}\n"
            f"  when the carrier can be reached: carrier-opt sync {name} --past-periods "
            f"{past_periods}",
            err=True,
        )


def _register_partition(name: str, fleet: str) -> str:
    """Make the provider a Dagster partition (of every provider and of its ``fleet``'s jobs)
    right away when a Dagster instance is configured (``DAGSTER_HOME``); otherwise the
    billing-window sensor adds it on its next tick."""
    import os

    if not os.environ.get("DAGSTER_HOME"):
        return "the billing-window sensor adds it to Dagster's partitions on its next tick"
    import dagster as dg

    from carrier_opt.defs.partitions import register_providers

    with dg.DagsterInstance.get() as instance:
        register_providers(instance, {name: fleet})
    return f"added {name} to the Dagster partitions of {os.environ['DAGSTER_HOME']}"


# --- sync ------------------------------------------------------------------------------------


@click.command("sync")
@click.argument("name")
@click.option(
    "--since",
    default=None,
    metavar="ISO8601",
    help="Fetch SIMs modified since then (default: incremental, at most a year back).",
)
@click.option(
    "--calls-per-second",
    default=DEFAULT_CALLS_PER_SECOND,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Cap on carrier API calls per second (Cisco asks for at most 5).",
)
@click.option(
    "--past-periods",
    default=0,
    show_default=True,
    type=click.IntRange(0, 24),
    help="Then store the usage of this many previous billing periods, read from the carrier "
    "by cycleStartDate (onboarding: those periods can then be backfilled). A past period "
    "cannot know the plans SIMs were on: the plan the carrier reports the usage under is used.",
)
@click.option(
    "--max-calls",
    default=None,
    type=click.IntRange(min=1),
    help="The sync's call budget: search pages first, then usage (most money at stake first), "
    "then details; what does not fit keeps its last reading or waits for a later sync.",
)
@database_url_option
def sync(
    name: str,
    since: str | None,
    calls_per_second: float,
    past_periods: int,
    max_calls: int | None,
    database_url: str | None,
) -> None:
    """Sync provider NAME's SIMs, then their usage, from the carrier into the database."""
    _sync_and_report(
        ready_engine(database_url),
        name,
        _parse_since(since),
        calls_per_second,
        past_periods,
        max_calls=max_calls,
    )


def _sync_and_report(
    engine: Engine,
    name: str,
    modified_since: datetime | None,
    calls_per_second: float,
    past_periods: int,
    *,
    max_calls: int | None = None,
) -> None:
    """A sync of ``name`` then, if asked, its past periods' usage, reported on the terminal."""
    from carrier_opt.db.providers import jasper_credentials, load_provider
    from carrier_opt.jasper.client import JasperClient
    from carrier_opt.pipeline.past_usage import fetch_past_usage
    from carrier_opt.pipeline.sync import sync_provider

    with engine.connect() as connection:
        settings = load_provider(connection, name)
    client = JasperClient(
        settings.base_url, *jasper_credentials(settings), calls_per_second=calls_per_second
    )
    with client:
        report = sync_provider(
            engine,
            name,
            client=client,
            since=modified_since,
            progress=_progress_printer(),
            max_calls=max_calls,
        )
        past = fetch_past_usage(engine, name, past_periods, client=client) if past_periods else None
    _end_progress_line()
    if report.problems:
        click.echo(f"skipped {len(report.problems)} malformed carrier record(s):", err=True)
        for line in report.problems[:MAX_PROBLEMS_SHOWN]:
            click.echo(f"  {line}", err=True)
        if len(report.problems) > MAX_PROBLEMS_SHOWN:
            click.echo(f"  ... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more", err=True)
        click.echo(
            "  (all are stored with the sync, table SkippedCarrierRecord, and listed in the "
            "next report's 'Skipped carrier records' sheet)",
            err=True,
        )
    for warning in report.warnings + (past.warnings if past else []):
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.summary())
    if report.staleness is not None:
        click.echo(f"usage age: {report.staleness.line()}")
    if report.details_pending:
        click.echo(
            f"details still to fetch: {report.details_pending:,} SIMs (later syncs fetch them, "
            "stalest first)"
        )
    for line in past.lines() if past else []:
        click.echo(line)


def _parse_since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            f"--since {raw!r} is not ISO 8601, e.g. 2026-03-01T00:00:00+00:00"
        ) from None
    if moment.tzinfo is None:
        raise InputError(f"--since {raw!r} needs a UTC offset, e.g. 2026-03-01T00:00:00+00:00")
    return moment.astimezone(UTC)


def _progress_printer() -> ProgressCallback | None:
    """A callback drawing one updating progress line on a terminal's stderr (else None)."""
    if not sys.stderr.isatty():
        return None

    def show(progress: SyncProgress) -> None:
        click.echo(f"\r{progress.describe()}\033[K", err=True, nl=False)

    return show


def _end_progress_line() -> None:
    if sys.stderr.isatty():
        click.echo("\r\033[K", err=True, nl=False)


# --- rate plans ------------------------------------------------------------------------------


@click.group("rate-plans")
def rate_plans() -> None:
    """Carrier rate-plan prices and the plans each communication plan allows."""


@rate_plans.command("load")
@click.argument("provider_name", metavar="PROVIDER")
@click.option(
    "--rate-plans",
    "rate_plans_csv",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="rate_plans.csv of the optimizer contract.",
)
@click.option(
    "--comm-plans",
    "comm_plans_csv",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="comm_plan_rate_plans.csv of the optimizer contract.",
)
@database_url_option
def rate_plans_load(
    provider_name: str, rate_plans_csv: Path, comm_plans_csv: Path, database_url: str | None
) -> None:
    """Validate and load PROVIDER's rate plans and allowed pairs (nothing written on error)."""
    from carrier_opt.db.loads.rate_plans import load_rate_plans

    loaded = load_rate_plans(
        ready_engine(database_url), provider_name, rate_plans_csv, comm_plans_csv
    )
    click.echo(
        f"{provider_name}: {loaded.rate_plans_inserted} rate plans added, "
        f"{loaded.rate_plans_updated} updated, {loaded.pairs} allowed pairs, "
        f"{loaded.communication_plans_added} new communication plans"
    )


# --- optimization groups and customer plans --------------------------------------------------

_CSV_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group("optimization-groups")
def optimization_groups() -> None:
    """Mobility optimization groups: communication plans, rate-plan types, plan limit."""


@optimization_groups.command("load")
@click.argument("provider_name", metavar="PROVIDER")
@click.argument("groups_csv", metavar="FILE", type=_CSV_FILE)
@database_url_option
def optimization_groups_load(
    provider_name: str, groups_csv: Path, database_url: str | None
) -> None:
    """Validate and load PROVIDER's optimization_groups.csv (nothing written on error)."""
    from carrier_opt.db.loads.optimization_groups import load_optimization_groups

    loaded = load_optimization_groups(ready_engine(database_url), provider_name, groups_csv)
    click.echo(
        f"{provider_name}: {loaded.inserted} optimization groups added, {loaded.updated} "
        f"updated, {loaded.deactivated} deactivated"
    )


@click.group("customer-plans")
def customer_plans() -> None:
    """The agent's customer rate plans and pools, and which SIM is on which plan."""


@customer_plans.command("load")
@click.argument("provider_name", metavar="PROVIDER")
@click.argument("plans_csv", metavar="FILE", type=_CSV_FILE)
@database_url_option
def customer_plans_load(provider_name: str, plans_csv: Path, database_url: str | None) -> None:
    """Validate and load PROVIDER's customer_rate_plans.csv (nothing written on error)."""
    from carrier_opt.db.loads.customer_plans import load_customer_rate_plans

    loaded = load_customer_rate_plans(ready_engine(database_url), provider_name, plans_csv)
    click.echo(
        f"{provider_name}: {loaded.plans_inserted} customer rate plans added, "
        f"{loaded.plans_updated} updated, {loaded.pools_inserted} new pools, "
        f"{loaded.customers_added} new pool customers"
    )


@customer_plans.command("assign")
@click.argument("provider_name", metavar="PROVIDER")
@click.argument("sims_csv", metavar="FILE", type=_CSV_FILE)
@database_url_option
def customer_plans_assign(provider_name: str, sims_csv: Path, database_url: str | None) -> None:
    """Put PROVIDER's SIMs listed in customer_sims.csv on their customer plan (all or nothing)."""
    from carrier_opt.db.loads.customer_plans import assign_customer_rate_plans

    done = assign_customer_rate_plans(ready_engine(database_url), provider_name, sims_csv)
    click.echo(
        f"{provider_name}: {done.assigned} SIMs assigned, {done.cleared} cleared, "
        f"{done.unchanged} unchanged"
    )


# --- instance --------------------------------------------------------------------------------


@click.group("instance")
def instance() -> None:
    """Optimization instances built from the database."""


@instance.command("export")
@click.argument("name")
@click.option("--billing-period", required=True, metavar="YYYY-MM", help="The period's key.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Instance folder to write (replaced whole if it exists).",
)
@click.option(
    "--optimization-group",
    metavar="GROUP",
    help="Mobility provider: only this optimization group's instance (as the mobility run "
    "solves it).",
)
@click.option(
    "--customer",
    metavar="CUSTOMER",
    help="Customer optimization: this customer's instance (its SIMs on customer plans, other "
    "customers' shared-pool SIMs locked).",
)
@database_url_option
def instance_export(
    name: str,
    billing_period: str,
    out_dir: Path,
    optimization_group: str | None,
    customer: str | None,
    database_url: str | None,
) -> None:
    """Write provider NAME's billing period as an instance folder for carrier-opt optimize."""
    from carrier_opt.db.export import export_instance

    if optimization_group and customer:
        raise InputError("give --optimization-group or --customer, not both")
    engine = ready_engine(database_url)
    if optimization_group or customer:
        _export_part(engine, name, billing_period, out_dir, optimization_group, customer)
        return
    summary = export_instance(engine, name, billing_period, out_dir)
    click.echo(
        f"wrote {summary.folder}: {summary.devices} SIMs ({summary.locked} locked), "
        f"{summary.rate_plans} rate plans, {summary.pairs} allowed pairs for "
        f"{summary.period.key} ({summary.period.start.isoformat()} to "
        f"{summary.period.end.isoformat()})"
    )


def _export_part(
    engine, name: str, period: str, out_dir: Path, group: str | None, customer: str | None
) -> None:
    """``instance export`` of one mobility group or one customer."""
    if group:
        from carrier_opt.db.mobility import export_group_instance

        tables = export_group_instance(engine, name, period, group, out_dir)
        what = f"optimization group {group}"
    else:
        from carrier_opt.db.customer_optimization import export_customer_instance

        tables = export_customer_instance(engine, name, period, str(customer), out_dir)
        what = f"customer {customer}"
    locked = int(tables.devices["locked"].astype(str).str.lower().eq("true").sum())
    click.echo(
        f"wrote {out_dir}: {what}, {len(tables.devices)} SIMs ({locked} locked), "
        f"{len(tables.rate_plans)} rate plans, {len(tables.comm_plan_rate_plans)} allowed pairs "
        f"for {period}"
    )
