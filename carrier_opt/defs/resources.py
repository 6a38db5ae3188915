"""Dagster resources: how assets reach the database (more outside systems join later)."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy import Engine

from carrier_opt.db.engine import display_url, make_engine
from carrier_opt.settings import resolve_database_url


class DatabaseResource(dg.ConfigurableResource):
    """The carrier_opt database.

    ``database_url`` may be left empty: then ``CARRIER_OPT_DATABASE_URL`` or the SQLite file
    under ``CARRIER_OPT_HOME`` is used, the same rule as the command line.
    """

    database_url: str | None = None
    _engine: Engine | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        """The URL in use, after applying the environment defaults."""
        return resolve_database_url(self.database_url)

    def engine(self) -> Engine:
        """One engine per resource instance (pooled connections are reused across calls)."""
        if self._engine is None:
            self._engine = make_engine(self.resolved_url())
        return self._engine

    def describe(self) -> str:
        """The URL with its password hidden, for logs and metadata."""
        return display_url(self.engine().url)
