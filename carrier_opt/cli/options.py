"""Options the commands share: the database URL, and the optimizer's time limit and gap
target (``optimize``, ``what-if``, ``settle``)."""

import math

import click

from carrier_opt.settings import DATABASE_URL_ENV

database_url_option = click.option(
    "--database-url",
    envvar=DATABASE_URL_ENV,
    default=None,
    metavar="URL",
    help=f"SQLAlchemy database URL (default: ${DATABASE_URL_ENV}, else SQLite under "
    "$CARRIER_OPT_HOME).",
)


def finite_percent(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    """Refuse NaN and infinity, which a float range lets through, as click refuses a value."""
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number of percent")
    return value


def time_limit_option(help: str):
    """``--time-limit SECONDS`` (default 60, the contract's)."""
    return click.option(
        "--time-limit", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help=help
    )


def gap_target_option(help: str):
    """``--gap-target PERCENT`` (default 0.001, the contract's), finite."""
    return click.option(
        "--gap-target",
        type=click.FloatRange(min=0.0),
        default=0.001,
        show_default=True,
        callback=finite_percent,
        help=help,
    )
