"""Engines from database URLs, with one clear error line for every way a URL can be wrong.

Supported: SQLite (default, a file under ``CARRIER_OPT_HOME``), PostgreSQL through psycopg 3,
and SQL Server through pyodbc (the ``mssql`` extra, which needs unixODBC on the machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from carrier_opt.errors import ConfigurationError, DatabaseError
from carrier_opt.settings import resolve_database_url

# Plain "postgresql://" would pick psycopg2; the project ships psycopg 3.
_DRIVER_DEFAULTS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def parse_database_url(raw: str) -> URL:
    """Parse and normalise a database URL, or raise :class:`ConfigurationError`."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigurationError(
            f"invalid database URL {_redact(raw)!r}: expected e.g. "
            "sqlite:///path/to/file.db or postgresql://user@host:5432/dbname"
        ) from None
    if url.drivername in _DRIVER_DEFAULTS:
        url = url.set(drivername=_DRIVER_DEFAULTS[url.drivername])
    return url


def display_url(url: URL | str) -> str:
    """The URL as it may appear in logs and messages: password hidden."""
    if isinstance(url, str):
        return _redact(url)
    return url.render_as_string(hide_password=True)


def make_engine(database_url: str | None = None, **engine_options: Any) -> Engine:
    """An engine for ``database_url`` (or the configured default); nothing is connected yet.

    SQLite files get their folder created and foreign keys switched on, since SQLite leaves
    them off by default and the schema relies on them.
    """
    url = parse_database_url(resolve_database_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, **engine_options)
    except NoSuchModuleError:
        raise ConfigurationError(
            f"unknown database kind {url.drivername!r} in {display_url(url)}: "
            "use sqlite, postgresql or mssql+pyodbc"
        ) from None
    except ImportError as exc:
        raise ConfigurationError(_missing_driver_message(url, exc)) from None
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def check_connection(engine: Engine) -> None:
    """Open one connection, so a wrong host or database fails here with a clear message."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot connect to {display_url(engine.url)}: {first_line(exc)}"
        ) from None


def first_line(exc: BaseException) -> str:
    """The first meaningful line of a driver error (drivers put the cause first)."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(original).__name__


def _missing_driver_message(url: URL, exc: ImportError) -> str:
    if url.get_backend_name() == "mssql":
        return (
            f"{url.drivername} needs pyodbc and unixODBC: pip install 'carrier-opt[mssql]' and "
            f"apt-get install unixodbc (plus Microsoft's ODBC driver) — {exc}"
        )
    return f"the driver for {url.drivername} is not installed: {exc}"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _redact(raw: str) -> str:
    """Hide a password in a URL string we could not parse (user:secret@host)."""
    scheme, sep, rest = raw.partition("://")
    if not sep or "@" not in rest:
        return raw
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else raw
