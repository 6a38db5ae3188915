"""Options every database-using command shares."""

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
