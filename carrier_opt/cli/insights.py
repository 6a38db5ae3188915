"""Insights from the command line (issue 31): ``carrier-opt what-if`` prices a plan offer (or a
withdrawal) against an instance folder; ``carrier-opt idle-sims`` lists a stored period's idle
and never-activated SIMs; ``carrier-opt savings-trend`` prints a provider's bill per period;
``carrier-opt settle`` settles a closed period."""

from __future__ import annotations

import pathlib

import click

from carrier_opt.cli.options import database_url_option, gap_target_option, time_limit_option
from carrier_opt.errors import InputError

IDLE_LISTED = 20
"""Idle SIMs the command prints (the most expensive first); the workbook has them all."""


@click.command("what-if")
@click.argument(
    "instance_dir", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path)
)
@click.option(
    "--add-plan",
    "add_plan",
    metavar="CODE,BASE,ALLOWANCE_MB,OVERAGE,UNIT_MB,POOLED",
    help="The offered plan: code, base rate (USD per SIM and period), data allowance (MB), "
    "overage rate (USD per unit), overage unit (MB), pooled (true/false). No SMS charge.",
)
@click.option(
    "--allow-on",
    "allow_on",
    multiple=True,
    metavar="COMM_PLAN",
    help="A communication plan that may use the offered plan (repeatable; default: every one).",
)
@click.option(
    "--remove-plan",
    "remove_plan",
    multiple=True,
    metavar="CODE",
    help="A plan the carrier withdraws (repeatable); locked SIMs on it keep it.",
)
@time_limit_option("Seconds each of the two optimizations may spend at most.")
@gap_target_option("Each optimization stops once proven within this many percent of its optimum.")
def what_if_command(
    instance_dir: pathlib.Path,
    add_plan: str | None,
    allow_on: tuple[str, ...],
    remove_plan: tuple[str, ...],
    time_limit: float,
    gap_target: float,
) -> None:
    """The optimum with and without a plan offer, the SIMs that would move, the saving and
    the offer's break-even base rate (the highest at which it still saves anything)."""
    from carrier_opt.core.instance import InstanceInputError, load_instance
    from carrier_opt.core.what_if import PlanOffer, report_lines, what_if

    try:  # the offer first: a mistyped one fails before the instance is read
        offer = PlanOffer.from_options(add_plan, allow_on)
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        instance = load_instance(instance_dir)
    except InstanceInputError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(2) from None
    try:
        answer = what_if(
            instance, offer, remove_plan, time_limit_s=time_limit, gap_target_pct=gap_target
        )
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    for line in report_lines(answer, offer, remove_plan):
        click.echo(line)


@click.command("idle-sims")
@click.argument("name")
@click.option("--billing-period", required=True, metavar="YYYY-MM", help="The period looked at.")
@click.option(
    "--periods",
    type=click.IntRange(1, 24),
    default=None,
    help="Periods without usage that make a SIM idle (default: the provider's setting, "
    "provider set --idle-periods, 3 unless changed).",
)
@database_url_option
def idle_sims_command(
    name: str, billing_period: str, periods: int | None, database_url: str | None
) -> None:
    """NAME's SIMs with no data, SMS or voice for several stored periods up to BILLING_PERIOD,
    and those billed although never activated, with what each costs and what deactivating it
    would save. Nothing is deactivated."""
    from carrier_opt.cli.carrier import ready_engine
    from carrier_opt.core.billing import parse_period_key
    from carrier_opt.pipeline.insights import idle_sims

    parse_period_key(billing_period)
    report = idle_sims(ready_engine(database_url), name, billing_period, periods)
    click.echo(f"{name} {billing_period}: {report.summary()}")
    for row in report.idle.head(IDLE_LISTED).itertuples():
        click.echo(
            f"  {row.iccid}  {row.rate_plan_code:<24} idle {row.idle_periods} periods  "
            f"{row.cost_usd:>9,.2f} USD/period  saving if deactivated {row.saving_usd:,.2f}"
        )
    if len(report.idle) > IDLE_LISTED:
        click.echo(f"  ... and {len(report.idle) - IDLE_LISTED:,} more (the workbook lists all)")
    for row in report.never_activated.itertuples():
        click.echo(
            f"  never activated: {row.iccid}  {row.status or '(no status)'}  "
            f"{row.rate_plan_code}  {row.cost_usd:,.2f} USD/period"
        )


@click.command("settle")
@click.argument("name")
@click.option("--billing-period", required=True, metavar="YYYY-MM", help="The closed period.")
@time_limit_option("Seconds the optimizer may spend on the final usage's optimum.")
@gap_target_option("That optimum is proven within this many percent.")
@database_url_option
def settle_command(
    name: str, billing_period: str, time_limit: float, gap_target: float, database_url: str | None
) -> None:
    """Settle NAME's closed BILLING_PERIOD on its stored final usage: the plans before its
    latest optimization, the plans at the close and the optimizer's assignment, each priced
    by the cost model; the realized saving, what was left on the table and what the usage
    projection's error cost. Provisional (and said so) while the final usage is not stored.
    The figures are stored as the period's settlement (replacing an earlier one), as the
    period_settlement asset stores them: the savings trend and the report read them."""
    from carrier_opt import clock
    from carrier_opt.cli.carrier import ready_engine
    from carrier_opt.core.billing import parse_period_key
    from carrier_opt.pipeline.settlement import settle_and_store

    parse_period_key(billing_period)
    settled = settle_and_store(
        ready_engine(database_url),
        name,
        billing_period,
        clock.now(),
        time_limit_s=time_limit,
        gap_target_pct=gap_target,
    )
    click.echo(f"{name} {billing_period}:")
    for line in settled.lines():
        click.echo(f"  {line}")
    click.echo(f"  stored as {name} {billing_period}'s settlement (replacing any earlier one)")


@click.command("savings-trend")
@click.argument("name")
@database_url_option
def savings_trend_command(name: str, database_url: str | None) -> None:
    """NAME's bill per optimized billing period, oldest first: the cost before, the optimized
    cost, the legacy strategies' cost, the lower bound and, for a settled period, the settled
    cost (its plans at the close on its stored usage); as a text chart, then a table. The
    savings_trend asset and the report's Trend sheet show the same figures."""
    from carrier_opt.cli.carrier import ready_engine
    from carrier_opt.core.trend import trend_chart, trend_table
    from carrier_opt.db.trend import savings_trend

    trend = savings_trend(ready_engine(database_url), name)
    if trend.empty:
        click.echo(f"{name}: no completed optimization yet, so no trend")
        return
    click.echo(trend_chart(trend).strip("`\n"))
    click.echo(trend_table(trend))
