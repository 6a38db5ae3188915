"""``carrier-opt what-if``: price a plan offer (or a withdrawal) against an instance folder."""

from __future__ import annotations

import pathlib

import click

from carrier_opt.errors import InputError


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
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds each of the two optimizations may spend at most.",
)
@click.option(
    "--gap-target",
    type=click.FloatRange(min=0.0),
    default=0.001,
    show_default=True,
    help="Each optimization stops once proven within this many percent of its optimum.",
)
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

    if allow_on and not add_plan:
        raise click.UsageError("--allow-on applies to --add-plan, which is missing")
    try:
        instance = load_instance(instance_dir)
    except InstanceInputError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(2) from None
    try:
        offer = PlanOffer.parse(add_plan, allow_on) if add_plan else None
        answer = what_if(
            instance, offer, remove_plan, time_limit_s=time_limit, gap_target_pct=gap_target
        )
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    for line in report_lines(answer, offer, remove_plan):
        click.echo(line)
