"""Dagster resources: the database, the carrier API, the platform's progress API.

Chosen per deployment from one environment variable, ``CARRIER_OPT_DEPLOYMENT`` (``local`` by
default, or ``prod``), as the model Dagster codebases do: see :func:`resources_for`.
"""

import logging
import os

import dagster as dg
import requests
from pydantic import PrivateAttr
from sqlalchemy import Engine

from carrier_opt.db.engine import display_url, make_engine
from carrier_opt.db.providers import jasper_credentials, load_provider
from carrier_opt.jasper.client import DEFAULT_CALLS_PER_SECOND, JasperClient
from carrier_opt.settings import resolve_database_url

DEPLOYMENT_ENV = "CARRIER_OPT_DEPLOYMENT"
log = logging.getLogger(__name__)


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


class JasperResource(dg.ConfigurableResource):
    """Builds a Jasper client for a provider from its database settings.

    Credentials come from where the provider's ``JasperAuthentication`` row points (environment
    variables); nothing secret is configured here. ``calls_per_second`` stays at Jasper's 5 in
    production; the demo raises it against the local fake.
    """

    calls_per_second: float = DEFAULT_CALLS_PER_SECOND

    def client_for(self, engine: Engine, provider_name: str) -> JasperClient:
        """A client for ``provider_name`` (the caller closes it)."""
        with engine.connect() as connection:
            provider = load_provider(connection, provider_name)
        return JasperClient(
            provider.base_url,
            *jasper_credentials(provider),
            calls_per_second=self.calls_per_second,
        )


class PlatformProgress(dg.ConfigurableResource):
    """Progress milestones (0/20/30/40/50/100 %) posted to the platform's API.

    A no-op when ``url`` is empty. A failing progress call is logged, never fatal: progress is
    informative and must not stop an optimization.
    """

    url: str | None = None
    timeout_s: float = 5.0

    def report(self, session_guid: str, percent: int, message: str) -> None:
        """POST ``{"sessionGuid", "progress", "message"}`` to ``url``."""
        if not self.url:
            return
        payload = {"sessionGuid": session_guid, "progress": percent, "message": message}
        try:
            requests.post(self.url, json=payload, timeout=self.timeout_s).raise_for_status()
        except requests.RequestException as exc:
            log.warning("progress %s%% not delivered to the platform: %s", percent, exc)


def resources_for(deployment: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of a deployment: ``local`` (default) or ``prod``.

    ``prod`` reads everything from the environment: ``CARRIER_OPT_DATABASE_URL`` (required)
    and ``CARRIER_OPT_PROGRESS_URL``.
    """
    deployment = deployment or os.environ.get(DEPLOYMENT_ENV, "local")
    if deployment == "prod":
        return {
            "database": DatabaseResource(database_url=dg.EnvVar("CARRIER_OPT_DATABASE_URL")),
            "jasper": JasperResource(),
            "progress": PlatformProgress(url=os.environ.get("CARRIER_OPT_PROGRESS_URL")),
        }
    if deployment != "local":
        raise ValueError(f"{DEPLOYMENT_ENV} must be 'local' or 'prod', not {deployment!r}")
    return {
        "database": DatabaseResource(),
        "jasper": JasperResource(),
        "progress": PlatformProgress(url=os.environ.get("CARRIER_OPT_PROGRESS_URL")),
    }
