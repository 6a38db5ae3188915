"""Dagster resources: the database, the carrier API, the platform's progress API, where
reports are stored and how e-mail is sent.

Chosen per deployment from one environment variable, ``CARRIER_OPT_DEPLOYMENT`` (``local`` by
default, or ``prod``), as the model Dagster codebases do: see :func:`resources_for`.
"""

import logging
import os
from typing import Any, Literal

import dagster as dg
import requests
from pydantic import PrivateAttr
from sqlalchemy import Engine

from carrier_opt.db.engine import display_url, make_engine
from carrier_opt.db.providers import jasper_credentials, load_provider
from carrier_opt.db.recipients import Recipients
from carrier_opt.delivery.mail import Notifier, SesNotifier, SmtpNotifier, parse_tls_mode
from carrier_opt.delivery.messages import Notification
from carrier_opt.delivery.storage import LocalResultStore, ResultStore, S3ResultStore
from carrier_opt.errors import ConfigurationError
from carrier_opt.jasper.client import DEFAULT_CALLS_PER_SECOND, JasperClient
from carrier_opt.settings import carrier_opt_home

DEPLOYMENT_ENV = "CARRIER_OPT_DEPLOYMENT"
log = logging.getLogger(__name__)


class DatabaseResource(dg.ConfigurableResource):
    """The carrier_opt database.

    ``database_url`` may be left empty: then ``CARRIER_OPT_DATABASE_URL`` or the SQLite file
    under ``CARRIER_OPT_HOME`` is used, the same rule as the command line.
    """

    database_url: str | None = None
    _engine: Engine | None = PrivateAttr(default=None)

    def engine(self) -> Engine:
        """One engine per resource instance (pooled connections are reused across calls)."""
        if self._engine is None:
            self._engine = make_engine(self.database_url)  # applies the environment defaults
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


REPORTS_FOLDER_NAME = "reports"
"""Folder under ``CARRIER_OPT_HOME`` where the local result store keeps reports."""


class ResultStoreResource(dg.ConfigurableResource):
    """Where optimization reports are stored: a local folder (default) or an S3 bucket.

    ``local`` writes under ``folder`` (default ``$CARRIER_OPT_HOME/reports``, resolved at
    each use). ``s3`` writes to ``bucket`` under ``prefix`` with a boto3 client built here
    (credentials from the standard AWS chain: instance role, environment, profile; none are
    configured on this resource). boto3 is used directly rather than nesting dagster-aws's
    ``S3Resource``: a nested resource must then be given explicitly in every configuration,
    also the local one that never touches S3.
    """

    kind: Literal["local", "s3"] = "local"
    folder: str | None = None
    bucket: str | None = None
    prefix: str = ""
    region_name: str | None = None
    endpoint_url: str | None = None
    _store: ResultStore | None = PrivateAttr(default=None)

    def store(self) -> ResultStore:
        """The store. A local folder is resolved on each call (``CARRIER_OPT_HOME`` may change
        between runs of one process); the S3 client is built once per resource instance."""
        if self.kind == "local":
            return LocalResultStore(self.folder or carrier_opt_home() / REPORTS_FOLDER_NAME)
        if self._store is None:
            self._store = self._s3_store()
        return self._store

    def _s3_store(self) -> ResultStore:
        if not self.bucket:
            raise ConfigurationError(
                "the S3 result store needs a bucket (CARRIER_OPT_REPORTS_BUCKET in prod)"
            )
        import boto3  # only needed when S3 is used

        client = boto3.client("s3", region_name=self.region_name, endpoint_url=self.endpoint_url)
        return S3ResultStore(self.bucket, self.prefix, client=client)


class NotifierResource(dg.ConfigurableResource):
    """E-mail to a provider's recipients: ``none`` (log only, the local default), ``smtp`` or
    ``ses``.

    The SMTP password is not configured here: ``smtp_password_env`` names the environment
    variable that holds it, read only when a mail is sent. ``smtp_tls`` is ``none``,
    ``starttls`` or ``implicit`` (SMTPS, port 465); the server's certificate is always
    verified, against ``smtp_ca_file`` (PEM, a private CA) when set, else the system's CAs.
    ``dagster_ui_url`` (e.g. ``https://dagster.example.com``) turns run ids into links in the
    messages.
    """

    kind: Literal["none", "smtp", "ses"] = "none"
    sender: str = "carrier-opt@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password_env: str | None = None
    smtp_tls: Literal["none", "starttls", "implicit"] = "none"
    smtp_ca_file: str | None = None
    ses_region: str | None = None
    ses_endpoint_url: str | None = None
    dagster_ui_url: str | None = None
    _notifier: Notifier | None = PrivateAttr(default=None)

    def notifier(self) -> Notifier | None:
        """The back end (``None`` for ``none``), built once per resource instance."""
        if self.kind == "none":
            return None
        if self._notifier is None:
            self._notifier = self._build()
        return self._notifier

    def _build(self) -> Notifier:
        if self.kind == "smtp":
            return SmtpNotifier(
                host=self.smtp_host,
                port=self.smtp_port,
                sender=self.sender,
                username=self.smtp_username,
                password_env=self.smtp_password_env,
                tls=self.smtp_tls,
                ca_file=self.smtp_ca_file,
            )
        import boto3  # only needed when SES is used

        client: Any = boto3.client(
            "ses", region_name=self.ses_region, endpoint_url=self.ses_endpoint_url
        )
        return SesNotifier(client, self.sender)

    def send(self, notification: Notification, recipients: Recipients) -> str | None:
        """Send ``notification``; answers the message id, or ``None`` when nothing was sent
        (kind ``none``, or a provider without recipients — both logged)."""
        if self.kind == "none":
            log.info(
                "notifier 'none': %s mail not sent: %s", notification.kind, notification.subject
            )
            return None
        if not recipients:
            log.warning(
                "%s mail not sent: the provider has no ProviderNotificationRecipient rows",
                notification.kind,
            )
            return None
        return self.notifier().send(notification, recipients)

    def run_url(self, run_id: str) -> str | None:
        """The run's page in the Dagster UI, when ``dagster_ui_url`` is set."""
        if not self.dagster_ui_url:
            return None
        return f"{self.dagster_ui_url.rstrip('/')}/runs/{run_id}"


SMTP_TLS_ENV = "CARRIER_OPT_SMTP_TLS"


def _env_tls_mode() -> Literal["none", "starttls", "implicit"]:
    """``CARRIER_OPT_SMTP_TLS``: false/none (default), true/starttls or implicit/ssl; any
    other word is a :class:`ConfigurationError` naming the variable and the allowed words."""
    return parse_tls_mode(os.environ.get(SMTP_TLS_ENV), setting=SMTP_TLS_ENV).value


def _prod_result_store() -> ResultStoreResource:
    """``CARRIER_OPT_RESULT_STORE`` (local | s3) and its settings, from the environment."""
    env = os.environ.get
    return ResultStoreResource(
        kind=env("CARRIER_OPT_RESULT_STORE", "local"),
        folder=env("CARRIER_OPT_REPORTS_FOLDER"),
        bucket=env("CARRIER_OPT_REPORTS_BUCKET"),
        prefix=env("CARRIER_OPT_REPORTS_PREFIX", ""),
        region_name=env("CARRIER_OPT_AWS_REGION"),
    )


def _prod_notifier(ui_url: str | None = None) -> NotifierResource:
    """``CARRIER_OPT_NOTIFIER`` (none | smtp | ses) and its settings, from the environment;
    the run links point to ``CARRIER_OPT_DAGSTER_URL``, else ``ui_url``."""
    env = os.environ.get
    return NotifierResource(
        kind=env("CARRIER_OPT_NOTIFIER", "none"),
        sender=env("CARRIER_OPT_MAIL_SENDER", "carrier-opt@localhost"),
        smtp_host=env("CARRIER_OPT_SMTP_HOST", "localhost"),
        smtp_port=int(env("CARRIER_OPT_SMTP_PORT", "25")),
        smtp_username=env("CARRIER_OPT_SMTP_USERNAME"),
        smtp_password_env=env("CARRIER_OPT_SMTP_PASSWORD_ENV"),
        smtp_tls=_env_tls_mode(),
        smtp_ca_file=env("CARRIER_OPT_SMTP_CA_FILE") or None,
        ses_region=env("CARRIER_OPT_AWS_REGION"),
        dagster_ui_url=env("CARRIER_OPT_DAGSTER_URL", ui_url),
    )


def resources_for(deployment: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of a deployment: ``local`` (default) or ``prod``.

    ``prod`` reads everything from the environment: ``CARRIER_OPT_DATABASE_URL`` (required),
    ``CARRIER_OPT_PROGRESS_URL``, the result store's and the notifier's settings (README,
    Configuration). ``local`` keeps reports under ``$CARRIER_OPT_HOME/reports`` and sends no
    mail (the notifier only logs), so the demo never tries to reach a mail server — unless
    ``CARRIER_OPT_NOTIFIER`` asks for one (``make ui`` beside a local mail catcher, the UI
    end-to-end test's failure mail).
    """
    deployment = deployment or os.environ.get(DEPLOYMENT_ENV, "local")
    if deployment == "prod":
        return {
            "database": DatabaseResource(database_url=dg.EnvVar("CARRIER_OPT_DATABASE_URL")),
            "jasper": JasperResource(),
            "progress": PlatformProgress(url=os.environ.get("CARRIER_OPT_PROGRESS_URL")),
            "result_store": _prod_result_store(),
            "notifier": _prod_notifier(),
        }
    if deployment != "local":
        raise ValueError(f"{DEPLOYMENT_ENV} must be 'local' or 'prod', not {deployment!r}")
    return {
        "database": DatabaseResource(),
        "jasper": JasperResource(),
        "progress": PlatformProgress(url=os.environ.get("CARRIER_OPT_PROGRESS_URL")),
        "result_store": ResultStoreResource(folder=os.environ.get("CARRIER_OPT_REPORTS_FOLDER")),
        "notifier": _prod_notifier(ui_url="http://127.0.0.1:3000"),
    }
