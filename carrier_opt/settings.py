"""Where carrier_opt keeps its state, read from the environment.

Environment variables (documented in README.md, section Configuration):

* ``CARRIER_OPT_HOME`` — folder for local state (default ``./.carrier_opt``).
* ``CARRIER_OPT_DATABASE_URL`` — SQLAlchemy URL of the database; default a SQLite file
  ``carrier_opt.db`` under ``CARRIER_OPT_HOME``.
* ``CARRIER_OPT_SYNC_REUSE_HOURS`` — an optimization run of the open period reuses the
  provider's last completed sync when it is younger than this (default 6; 0: always sync).
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from pathlib import Path

from carrier_opt.errors import ConfigurationError

HOME_ENV = "CARRIER_OPT_HOME"
DATABASE_URL_ENV = "CARRIER_OPT_DATABASE_URL"
DEFAULT_HOME = ".carrier_opt"
SQLITE_FILE_NAME = "carrier_opt.db"
SYNC_REUSE_ENV = "CARRIER_OPT_SYNC_REUSE_HOURS"
DEFAULT_SYNC_REUSE_HOURS = 6.0


def carrier_opt_home() -> Path:
    """The folder for local state, as an absolute path (not created here)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


def default_sqlite_url() -> str:
    """SQLite URL of the default database file under ``CARRIER_OPT_HOME``."""
    return f"sqlite:///{carrier_opt_home() / SQLITE_FILE_NAME}"


def resolve_database_url(explicit: str | None = None) -> str:
    """The database URL to use: the explicit one, else the environment, else local SQLite."""
    return explicit or os.environ.get(DATABASE_URL_ENV) or default_sqlite_url()


def sync_reuse_window() -> timedelta:
    """How old a completed sync an optimization run may reuse instead of syncing again
    (``CARRIER_OPT_SYNC_REUSE_HOURS``; zero: never reuse)."""
    raw = os.environ.get(SYNC_REUSE_ENV, "").strip()
    if not raw:
        return timedelta(hours=DEFAULT_SYNC_REUSE_HOURS)
    try:
        hours = float(raw)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours) or not 0 <= hours <= 24 * 31:
        raise ConfigurationError(
            f"{SYNC_REUSE_ENV}={raw!r}: expected hours between 0 and 744, e.g. 6 (0: never reuse)"
        )
    return timedelta(hours=hours)
