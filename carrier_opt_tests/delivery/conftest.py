"""Fixtures for the delivery tests: a real SMTP server on loopback that keeps what it gets,
also over TLS (STARTTLS or implicit) with a certificate from a CA made for the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Received:
    """One message as the SMTP server got it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool = False
    """Whether the message came over an encrypted connection."""


@dataclass
class Inbox:
    """What a test SMTP server received; ``logins`` are the (user, password) pairs tried."""

    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd hook
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        tls = server.transport.get_extra_info("ssl_object") is not None
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, tls)
        self.messages.append(received)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    ca_file: Path | None = None
    """The PEM file of the CA that signed the server's certificate (TLS servers only)."""


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


def _authenticator(inbox: Inbox):
    """Accepts ``mailer`` / :data:`PASSWORD` (LOGIN or PLAIN), recording every attempt."""

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            inbox.logins.append((user, password))
            ok = user == "mailer" and password == PASSWORD
            # handled=False: let aiosmtpd answer (235 or 535) itself.
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    return authenticator


@pytest.fixture
def smtp_server_with_login() -> Iterator[SmtpServer]:
    """An aiosmtpd server that requires LOGIN/PLAIN as ``mailer`` / :data:`PASSWORD`."""
    inbox = Inbox()
    controller = _start(inbox, authenticator=_authenticator(inbox), auth_require_tls=False)
    yield SmtpServer(controller.hostname, controller.port, inbox)
    controller.stop()


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: a test CA, and a server certificate it signed for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make_tls_files(folder: Path) -> TlsFiles:
    """A CA and a server certificate (SAN: 127.0.0.1, localhost) written to ``folder``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carrier_opt test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    files.ca_file.write_bytes(_pem(ca))
    files.cert_file.write_bytes(_pem(server))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> TlsFiles:
    """One test CA and server certificate for the session."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server_starttls(tls_files) -> Iterator[SmtpServer]:
    """An aiosmtpd server that requires STARTTLS before anything else and accepts
    ``mailer`` / :data:`PASSWORD` (only once encrypted); login is optional."""
    inbox = Inbox()
    controller = _start(
        inbox,
        tls_context=tls_files.server_context(),
        require_starttls=True,
        authenticator=_authenticator(inbox),
        auth_require_tls=True,
    )
    yield SmtpServer(controller.hostname, controller.port, inbox, tls_files.ca_file)
    controller.stop()


@pytest.fixture
def smtp_server_implicit_tls(tls_files) -> Iterator[SmtpServer]:
    """An aiosmtpd server speaking TLS from the first byte (SMTPS) that accepts ``mailer`` /
    :data:`PASSWORD`; login is optional. (aiosmtpd's ``auth_require_tls`` only knows STARTTLS,
    so it is off here: the whole connection is encrypted.)"""
    inbox = Inbox()
    controller = _start(
        inbox,
        ssl_context=tls_files.server_context(),
        authenticator=_authenticator(inbox),
        auth_require_tls=False,
    )
    yield SmtpServer(controller.hostname, controller.port, inbox, tls_files.ca_file)
    controller.stop()
