"""The ``carrier-opt`` command line.

Every error carrier_opt raises on purpose (:class:`CarrierOptError`) becomes one line on
standard error and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import click

from carrier_opt.cli.options import database_url_option, gap_target_option, time_limit_option
from carrier_opt.errors import CarrierOptError


class FriendlyGroup(click.Group):
    """A click group that turns carrier_opt errors into one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CarrierOptError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=FriendlyGroup)
@click.version_option(package_name="carrier-opt")
def cli() -> None:
    """carrier-opt: optimize IoT/M2M SIM rate plans with Dagster."""


@cli.group(cls=FriendlyGroup)
def db() -> None:
    """Create, upgrade and describe the database schema."""


@db.command("upgrade")
@database_url_option
def db_upgrade(database_url: str | None) -> None:
    """Create the schema in an empty database or upgrade it to the newest revision."""
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import display_url, make_engine

    engine = make_engine(database_url)
    before, after = migrate.upgrade(engine)
    where = display_url(engine.url)
    if before == after:
        click.echo(f"{where}: already at revision {after}, nothing to do")
    else:
        click.echo(f"{where}: upgraded from {before or '(empty)'} to {after}")


@db.command("current")
@database_url_option
def db_current(database_url: str | None) -> None:
    """Print the database's schema revision and the newest one this version ships."""
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import check_connection, make_engine

    engine = make_engine(database_url)
    check_connection(engine)
    current = migrate.current_revision(engine)
    click.echo(f"current: {current or '(empty database)'}  head: {migrate.head_revision()}")


@db.command("tables")
@database_url_option
def db_tables(database_url: str | None) -> None:
    """List the tables and views in the database."""
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import check_connection, make_engine

    engine = make_engine(database_url)
    check_connection(engine)
    for name in migrate.table_names(engine):
        click.echo(name)
    for name in migrate.view_names(engine):
        click.echo(f"{name} (view)")


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the schema change does.")
@database_url_option
def db_revision(message: str, database_url: str | None) -> None:
    """Write a migration for model changes (developers; review the script it writes)."""
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import make_engine

    click.echo(f"wrote {migrate.new_revision(make_engine(database_url), message)}")


@db.command("ddl")
@click.option(
    "--dialect",
    type=click.Choice(["mssql", "postgresql", "sqlite"]),
    required=True,
    help="SQL dialect of the script.",
)
@click.option(
    "--from-revision",
    default=None,
    metavar="REV",
    help="Print only the upgrade from this revision (default: from an empty database).",
)
def db_ddl(dialect: str, from_revision: str | None) -> None:
    """Print the SQL that creates or upgrades the schema (for a DBA to review and apply)."""
    from carrier_opt.db import migrate

    click.echo(migrate.ddl(dialect, from_revision), nl=False)  # type: ignore[arg-type]


@cli.command("optimize")
@click.argument(
    "instance_dir", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path)
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Assignments CSV to write (iccid, rate_plan_code, current_rate_plan_code).",
)
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="JSON summary: costs, lower bound, gap, legacy cost, devices, seconds, ...",
)
@time_limit_option(
    "Seconds the optimizer may spend at most (the legacy baseline is computed beside it, "
    "and waited for if it takes longer)."
)
@gap_target_option(
    "Stop as soon as the answer is proven within this many percent of the optimum "
    "((cost - proven lower bound) / proven lower bound x 100); 0: search until optimal or "
    "the time limit."
)
@click.option(
    "--legacy-sequences",
    type=click.IntRange(min=0),
    default=None,
    help="Rate-plan sequences the legacy baseline tries (default: 200, fewer above 20 k "
    "SIMs; 0: base assignment only).",
)
@click.option(
    "--strategy",
    type=click.Choice(["optimizer", "legacy"]),
    default="optimizer",
    show_default=True,
    help="Whose assignment to write: the optimizer's, or the legacy strategies' (to reproduce "
    "the old system's answer).",
)
def optimize_command(
    instance_dir: pathlib.Path,
    out: pathlib.Path,
    summary_path: pathlib.Path | None,
    time_limit: float,
    gap_target: float,
    legacy_sequences: int | None,
    strategy: str,
) -> None:
    """Optimize an instance folder (optimizer contract) and write the assignment."""
    from carrier_opt.core.instance import InstanceInputError
    from carrier_opt.core.run import run_optimization

    try:
        outcome = run_optimization(
            instance_dir,
            out,
            summary_path,
            time_limit_s=time_limit,
            gap_target_pct=gap_target,
            legacy_sequences=legacy_sequences,
            strategy=strategy,
            progress=_progress_bar(),
        )
    except InstanceInputError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(2) from None
    for plan in outcome.instance.dropped_plans:
        click.echo(
            f"warning: rate_plans.csv: plan {plan.rate_plan_code!r} is not offered: "
            f"{plan.reason} (the contract leaves such plans out; `rate-plans load` refuses them)",
            err=True,
        )
    click.echo(outcome.headline())


def _progress_bar():
    """A progress callback drawing a bar on a terminal's stderr; None when not a terminal."""
    if not sys.stderr.isatty():
        return None
    bar = click.progressbar(length=1000, label="optimizing", file=sys.stderr)
    bar.__enter__()
    state = {"shown": 0}

    def update(stage: str, fraction: float) -> None:
        target = int(1000 * fraction)
        bar.label = stage
        if target > state["shown"]:
            bar.update(target - state["shown"])
            state["shown"] = target
        if stage == "done":
            bar.__exit__(None, None, None)

    return update


@cli.group(cls=FriendlyGroup)
def bench() -> None:
    """Benchmarks that print tables (see docs/benchmarks.md)."""


@bench.command("optimizer", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_optimizer(args: tuple[str, ...]) -> None:
    """Optimizer speed, memory and quality on generated fleets and reference instances."""
    from carrier_opt.bench.optimizer import main as run_benchmark

    run_benchmark(list(args))


@bench.command("sync-calls", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_sync_calls(args: tuple[str, ...]) -> None:
    """Carrier calls of a first sync and re-syncs against the fake (docs/benchmarks.md)."""
    from carrier_opt.bench.sync_calls import main as run_benchmark

    run_benchmark(list(args))


@bench.command("call-budget", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_call_budget(args: tuple[str, ...]) -> None:
    """What a budget of carrier calls buys the decision, priced on true end-of-period usage."""
    from carrier_opt.bench.call_budget import main as run_benchmark

    run_benchmark(list(args))


@bench.command("sensor", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_sensor(args: tuple[str, ...]) -> None:
    """One tick of the billing-window sensor and of daily_sync at 1,000 providers."""
    from carrier_opt.bench.sensor_ticks import main as run_benchmark

    run_benchmark(list(args))


@bench.command("database", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_database(args: tuple[str, ...]) -> None:
    """The hot queries' plans at 100 providers x 24 periods (PostgreSQL, EXPLAIN ANALYZE)."""
    from carrier_opt.bench.database_plans import main as run_benchmark

    run_benchmark(list(args))


@bench.command("runs", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_runs(args: tuple[str, ...]) -> None:
    """Partition runs and a backfill through a real daemon: where each run's time goes."""
    from carrier_opt.bench.runs import main as run_benchmark

    run_benchmark(list(args))


@bench.command("faults", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_faults(args: tuple[str, ...]) -> None:
    """Syncs against a faulty fake carrier, crashed at bad moments (docs/reliability.md)."""
    from carrier_opt.bench.faults import main as run_benchmark

    run_benchmark(list(args))


@cli.command("demo")
@database_url_option
def demo(database_url: str | None) -> None:
    """What `make demo` runs: the three optimization jobs against local fake carriers."""
    from carrier_opt.demo import run_demo

    for line in run_demo(database_url):
        click.echo(line)


@cli.command("demo-carriers")
@click.option("--devices", default=20_000, show_default=True, help="SIMs of the M2M carrier.")
@click.option(
    "--mobility-devices", default=5_000, show_default=True, help="SIMs of the mobility carrier."
)
@database_url_option
def demo_carriers(devices: int, mobility_devices: int, database_url: str | None) -> None:
    """Serve the demo's fake carriers on their fixed ports until interrupted.

    `make ui` runs it beside the webserver and the daemon once `make demo` has run, so that
    runs launched from the UI reach the demo providers' carriers (ports 8941 and 8942, or
    CARRIER_OPT_DEMO_PORTS=M2M,MOBILITY). Each carrier first replays the rate-plan changes
    pushed to it (read from the database), so it shows what was pushed before it restarted."""
    from carrier_opt.db.engine import make_engine
    from carrier_opt.demo import serve_demo_carriers

    engine = make_engine(database_url)
    lines = serve_demo_carriers(devices=devices, mobility_devices=mobility_devices, engine=engine)
    try:
        for line in lines:
            click.echo(line, nl=True)
            sys.stdout.flush()
    except KeyboardInterrupt:
        click.echo("demo carriers stopped")


def _register_subsystem_commands() -> None:
    """Commands that live beside the system they drive (kept out of this module's imports)."""
    from carrier_opt.cli.carrier import (
        customer_plans,
        instance,
        optimization_groups,
        provider,
        rate_plans,
        sync,
    )
    from carrier_opt.cli.fake_jasper import fake_jasper
    from carrier_opt.cli.insights import (
        idle_sims_command,
        savings_trend_command,
        settle_command,
        what_if_command,
    )
    from carrier_opt.cli.jasper_check import jasper
    from carrier_opt.cli.provider_settings import provider_set  # noqa: F401  (registers)
    from carrier_opt.cli.push import push
    from carrier_opt.cli.retention import retention
    from carrier_opt.cli.sessions import session

    commands = (fake_jasper, provider, sync, rate_plans, optimization_groups, customer_plans, push)
    commands += (jasper, session, retention, what_if_command, idle_sims_command, settle_command)
    commands += (savings_trend_command,)
    for command in (*commands, instance):
        cli.add_command(command)


_register_subsystem_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="carrier-opt")
