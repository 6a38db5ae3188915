"""Sending a :class:`~carrier_opt.delivery.messages.Notification`: an RFC 5322 message built
once (:func:`build_email`), sent by :class:`SmtpNotifier` (stdlib ``smtplib``) or
:class:`SesNotifier` (boto3 ``send_raw_email``, which carries attachments).

Secrets: the SMTP password is read from an environment variable named in the configuration,
only when sending, and appears in no log, message or ``repr``.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from typing import Any, Protocol

from carrier_opt.db.recipients import Recipients
from carrier_opt.delivery.messages import Notification
from carrier_opt.errors import CarrierOptError, ConfigurationError

log = logging.getLogger(__name__)


class NotificationError(CarrierOptError):
    """An e-mail could not be handed to the mail server (the message says which and why)."""


def build_email(notification: Notification, sender: str, recipients: Recipients) -> EmailMessage:
    """The RFC 5322 message: From, To, Cc (never Bcc), plain-text body, attachments."""
    if not recipients:
        raise ConfigurationError(
            "no e-mail recipients: add rows to ProviderNotificationRecipient for the provider"
        )
    message = EmailMessage()
    message["From"] = sender
    if recipients.to:
        message["To"] = ", ".join(recipients.to)
    if recipients.cc:
        message["Cc"] = ", ".join(recipients.cc)
    message["Subject"] = notification.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Carrier-Opt-Kind"] = notification.kind
    message.set_content(notification.body)
    for attachment in notification.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.file_name,
        )
    return message


class Notifier(Protocol):
    """Something that can deliver a notification; answers the message id."""

    def send(self, notification: Notification, recipients: Recipients) -> str:
        """Deliver ``notification`` to ``recipients``."""
        ...


class TlsMode(StrEnum):
    """How the SMTP connection is encrypted: not at all, upgraded with STARTTLS (port 587 or
    25), or TLS from the first byte (SMTPS, port 465)."""

    NONE = "none"
    STARTTLS = "starttls"
    IMPLICIT = "implicit"


TLS_MODE_NAMES: Mapping[str, TlsMode] = {
    "false": TlsMode.NONE,
    "none": TlsMode.NONE,
    "true": TlsMode.STARTTLS,
    "starttls": TlsMode.STARTTLS,
    "implicit": TlsMode.IMPLICIT,
    "ssl": TlsMode.IMPLICIT,
}
"""The words accepted for a TLS mode (case-insensitive), e.g. in ``CARRIER_OPT_SMTP_TLS``."""


def parse_tls_mode(value: str | TlsMode | None, *, setting: str = "the SMTP TLS mode") -> TlsMode:
    """The :class:`TlsMode` a word names (:data:`TLS_MODE_NAMES`; empty or ``None``: no TLS);
    anything else is a :class:`ConfigurationError` naming ``setting`` and the allowed words."""
    if isinstance(value, TlsMode):
        return value
    word = (value or "none").strip().lower() or "none"
    try:
        return TLS_MODE_NAMES[word]
    except KeyError:
        allowed = ", ".join(TLS_MODE_NAMES)
        raise ConfigurationError(
            f"{setting} must be one of {allowed} (false/none: no TLS, true/starttls: STARTTLS, "
            f"implicit/ssl: TLS from connect, e.g. port 465), not {value!r}"
        ) from None


@dataclass
class SmtpNotifier:
    """Send through an SMTP server; login when ``username``.

    ``tls`` is :class:`TlsMode` (or its word): ``none``, ``starttls`` or ``implicit`` (SMTPS);
    ``use_tls=True`` is the older spelling of ``starttls``. The server's certificate is always
    verified, host name included: against the system's CAs, or against only the CAs in
    ``ca_file`` (PEM) when that is set (a private CA).

    ``password_env`` names the environment variable holding the password; it is read at send
    time and never stored on the object.
    """

    host: str
    port: int
    sender: str
    username: str | None = None
    password_env: str | None = None
    use_tls: bool = False
    timeout_s: float = 30.0
    tls: TlsMode | str | None = None
    ca_file: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.tls is None:
            self.tls = TlsMode.STARTTLS if self.use_tls else TlsMode.NONE
        else:
            self.tls = parse_tls_mode(self.tls)
            if self.use_tls and self.tls is TlsMode.NONE:
                raise ConfigurationError("SMTP: use_tls=True contradicts tls='none'")
        self.use_tls = self.tls is not TlsMode.NONE
        if self.ca_file is not None and not self.use_tls:
            raise ConfigurationError(
                f"SMTP CA file {os.fspath(self.ca_file)} is set but TLS is off: choose a TLS "
                "mode (starttls or implicit) or drop the CA file"
            )

    def send(self, notification: Notification, recipients: Recipients) -> str:
        """Hand the message to the server; :class:`NotificationError` when it refuses (also
        when TLS fails: handshake, untrusted certificate, no STARTTLS offered)."""
        message = build_email(notification, self.sender, recipients)
        context = self._tls_context() if self.use_tls else None
        try:
            with self._connect(context) as smtp:
                if self.tls is TlsMode.STARTTLS:
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self._password())
                refused = smtp.send_message(
                    message, from_addr=self.sender, to_addrs=list(recipients.everyone)
                )
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(
                f"SMTP server {self.host}:{self.port}{self._tls_label()} did not take the "
                f"{notification.kind} mail: {type(exc).__name__}: {_smtp_reason(exc)}"
            ) from None
        if refused:
            log.warning("SMTP server refused %d recipient(s): %s", len(refused), sorted(refused))
        log.info("sent %s mail to %d recipient(s)", notification.kind, len(recipients.everyone))
        return str(message["Message-ID"])

    def _connect(self, context: ssl.SSLContext | None) -> smtplib.SMTP:
        if self.tls is TlsMode.IMPLICIT:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)

    def _tls_context(self) -> ssl.SSLContext:
        """The default (verifying) context; with ``ca_file``, trusting only its CAs."""
        if self.ca_file is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=os.fspath(self.ca_file))
        except OSError as exc:  # missing file, or no PEM certificate in it
            raise ConfigurationError(
                f"the SMTP CA file {os.fspath(self.ca_file)} cannot be used: {exc.strerror or exc}"
            ) from None

    def _tls_label(self) -> str:
        return {TlsMode.STARTTLS: " (STARTTLS)", TlsMode.IMPLICIT: " (implicit TLS)"}.get(
            TlsMode(self.tls), ""
        )

    def _password(self) -> str:
        if not self.password_env:
            raise ConfigurationError(
                f"SMTP user {self.username!r} needs password_env: the name of the environment "
                "variable holding the password"
            )
        password = os.environ.get(self.password_env)
        if not password:
            raise ConfigurationError(
                f"the environment variable {self.password_env} (SMTP password) is not set"
            )
        return password


def _smtp_reason(exc: BaseException) -> str:
    """The server's answer without echoing anything we sent (never the password)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the server's TLS certificate is not trusted: {exc.verify_message or exc.reason} "
            "(a private CA needs its CA file configured)"
        )
    if isinstance(exc, ssl.SSLError):
        hint = (
            " (no TLS at connect: plain SMTP or STARTTLS?)"
            if exc.reason == "WRONG_VERSION_NUMBER"
            else ""
        )
        return f"TLS handshake failed: {exc.reason or exc}{hint}"
    if isinstance(exc, smtplib.SMTPNotSupportedError) and "STARTTLS" in str(exc):
        return f"{exc} (the server offers no STARTTLS: plain SMTP only, or implicit TLS?)"
    return str(exc) or type(exc).__name__


class SesNotifier:
    """Send through Amazon SES (``send_raw_email``, so attachments travel too)."""

    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self.sender = sender

    def __repr__(self) -> str:
        return f"SesNotifier(sender={self.sender!r})"

    def send(self, notification: Notification, recipients: Recipients) -> str:
        """Hand the message to SES; answers SES's message id."""
        message = build_email(notification, self.sender, recipients)
        try:
            answer = self._client.send_raw_email(
                Source=self.sender,
                Destinations=list(recipients.everyone),
                RawMessage={"Data": message.as_bytes()},
            )
        except Exception as exc:  # botocore errors have no common base worth importing here
            raise NotificationError(
                f"SES did not take the {notification.kind} mail: {type(exc).__name__}: {exc}"
            ) from exc
        log.info(
            "sent %s mail via SES to %d recipient(s)", notification.kind, len(recipients.everyone)
        )
        return str(answer["MessageId"])
