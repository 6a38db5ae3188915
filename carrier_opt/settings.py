"""Where carrier_opt keeps its state, read from the environment.

Environment variables (documented in README.md, section Configuration):

* ``CARRIER_OPT_HOME`` — folder for local state (default ``./.carrier_opt``).
* ``CARRIER_OPT_DATABASE_URL`` — SQLAlchemy URL of the database; default a SQLite file
  ``carrier_opt.db`` under ``CARRIER_OPT_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CARRIER_OPT_HOME"
DATABASE_URL_ENV = "CARRIER_OPT_DATABASE_URL"
DEFAULT_HOME = ".carrier_opt"
SQLITE_FILE_NAME = "carrier_opt.db"


def carrier_opt_home() -> Path:
    """The folder for local state, as an absolute path (not created here)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


def default_sqlite_url() -> str:
    """SQLite URL of the default database file under ``CARRIER_OPT_HOME``."""
    return f"sqlite:///{carrier_opt_home() / SQLITE_FILE_NAME}"


def resolve_database_url(explicit: str | None = None) -> str:
    """The database URL to use: the explicit one, else the environment, else local SQLite."""
    return explicit or os.environ.get(DATABASE_URL_ENV) or default_sqlite_url()
