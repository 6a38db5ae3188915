"""Fixtures for the delivery tests: a real SMTP server on loopback that keeps what it gets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    """One message as the SMTP server got it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """What a test SMTP server received; ``logins`` are the (user, password) pairs tried."""

    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd hook
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(inbox: Inbox, **options) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), **options)
    controller.start()
    return controller


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 without authentication."""
    inbox = Inbox()
    controller = _start(inbox)
    yield SmtpServer(controller.hostname, controller.port, inbox)
    controller.stop()


PASSWORD = "s3cret-smtp-pw"


@pytest.fixture
def smtp_server_with_login() -> Iterator[SmtpServer]:
    """An aiosmtpd server that requires LOGIN/PLAIN as ``mailer`` / :data:`PASSWORD`."""
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            inbox.logins.append((user, password))
            ok = user == "mailer" and password == PASSWORD
            # handled=False: let aiosmtpd answer (235 or 535) itself.
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    controller = _start(inbox, authenticator=authenticator, auth_require_tls=False)
    yield SmtpServer(controller.hostname, controller.port, inbox)
    controller.stop()
