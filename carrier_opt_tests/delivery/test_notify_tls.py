"""Mail over TLS for real: local aiosmtpd servers speaking STARTTLS and implicit TLS (SMTPS)
with a certificate from a CA made for the test. The certificate is always verified: trusted
with the CA file configured, refused without it."""

from __future__ import annotations

import logging

import pytest

from carrier_opt.db.recipients import Recipients
from carrier_opt.delivery.mail import NotificationError, SmtpNotifier, TlsMode, parse_tls_mode
from carrier_opt.delivery.messages import warning_message
from carrier_opt.errors import ConfigurationError
from carrier_opt_tests.delivery.conftest import PASSWORD

SENDER = "carrier-opt@example.com"
RECIPIENTS = Recipients(to=("ops@example.com",), bcc=("audit@example.com",))
SERVERS = {"starttls": "smtp_server_starttls", "implicit": "smtp_server_implicit_tls"}


def _message():
    return warning_message(provider="acme", period_key="2026-03", other=["check the plans"])


@pytest.fixture(params=sorted(SERVERS))
def tls_server(request):
    """(TLS mode, a server speaking it)."""
    return request.param, request.getfixturevalue(SERVERS[request.param])


def test_mail_is_delivered_over_tls_when_the_ca_file_is_configured(tls_server):
    mode, server = tls_server
    notifier = SmtpNotifier(
        host=server.host, port=server.port, sender=SENDER, tls=mode, ca_file=server.ca_file
    )
    message_id = notifier.send(_message(), RECIPIENTS)
    (received,) = server.inbox.messages
    assert received.tls and received.message["Message-ID"] == message_id
    assert sorted(received.rcpt_tos) == sorted(RECIPIENTS.everyone)
    assert "audit@example.com" not in str(received.message)


def test_a_certificate_from_an_unknown_ca_is_refused(tls_server):
    mode, server = tls_server
    notifier = SmtpNotifier(host=server.host, port=server.port, sender=SENDER, tls=mode)
    with pytest.raises(NotificationError) as refused:
        notifier.send(_message(), RECIPIENTS)
    text = str(refused.value)
    assert f"{server.host}:{server.port}" in text and "\n" not in text
    assert "SSLCertVerificationError" in text and "not trusted" in text
    assert "unable to get local issuer certificate" in text
    assert server.inbox.messages == []


def test_login_over_tls_reads_the_password_from_the_environment(tls_server, monkeypatch, caplog):
    mode, server = tls_server
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    notifier = SmtpNotifier(
        host=server.host,
        port=server.port,
        sender=SENDER,
        username="mailer",
        password_env="TEST_SMTP_PASSWORD",
        tls=mode,
        ca_file=str(server.ca_file),
        timeout_s=5,
    )
    caplog.set_level(logging.DEBUG)
    notifier.send(_message(), RECIPIENTS)
    assert server.inbox.logins == [("mailer", PASSWORD)]
    assert [r.tls for r in server.inbox.messages] == [True]
    assert PASSWORD not in caplog.text and PASSWORD not in repr(notifier)

    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    with pytest.raises(NotificationError) as refused:
        notifier.send(_message(), RECIPIENTS)
    assert "535" in str(refused.value) and "wrong-password" not in str(refused.value)
    assert len(server.inbox.messages) == 1


def test_use_tls_true_still_means_starttls(smtp_server_starttls):
    server = smtp_server_starttls
    notifier = SmtpNotifier(
        host=server.host, port=server.port, sender=SENDER, use_tls=True, ca_file=server.ca_file
    )
    assert notifier.tls is TlsMode.STARTTLS
    notifier.send(_message(), RECIPIENTS)
    assert [r.tls for r in server.inbox.messages] == [True]


def test_plain_smtp_to_a_server_requiring_starttls_is_refused(smtp_server_starttls):
    server = smtp_server_starttls
    notifier = SmtpNotifier(host=server.host, port=server.port, sender=SENDER)
    with pytest.raises(NotificationError, match=r"530 .*STARTTLS"):
        notifier.send(_message(), RECIPIENTS)
    assert server.inbox.messages == []


def test_starttls_to_a_server_without_it_is_a_clear_error(smtp_server):
    notifier = SmtpNotifier(
        host=smtp_server.host, port=smtp_server.port, sender=SENDER, tls="starttls"
    )
    with pytest.raises(NotificationError) as refused:
        notifier.send(_message(), RECIPIENTS)
    text = str(refused.value)
    assert f"{smtp_server.host}:{smtp_server.port} (STARTTLS)" in text
    assert "STARTTLS extension not supported" in text
    assert smtp_server.inbox.messages == []


def test_implicit_tls_to_a_plain_server_is_a_handshake_failure(smtp_server):
    notifier = SmtpNotifier(
        host=smtp_server.host, port=smtp_server.port, sender=SENDER, tls="ssl", timeout_s=5
    )
    with pytest.raises(NotificationError) as refused:
        notifier.send(_message(), RECIPIENTS)
    text = str(refused.value)
    assert f"{smtp_server.host}:{smtp_server.port} (implicit TLS)" in text
    assert "TLS handshake failed" in text and "\n" not in text
    assert smtp_server.inbox.messages == []


def test_an_unusable_ca_file_is_a_configuration_error(tmp_path):
    missing = tmp_path / "missing.pem"
    notifier = SmtpNotifier(
        host="127.0.0.1", port=1, sender=SENDER, tls="starttls", ca_file=missing
    )
    with pytest.raises(ConfigurationError, match=r"missing\.pem"):
        notifier.send(_message(), RECIPIENTS)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    notifier = SmtpNotifier(
        host="127.0.0.1", port=1, sender=SENDER, tls="implicit", ca_file=garbage
    )
    with pytest.raises(ConfigurationError, match=r"garbage\.pem"):
        notifier.send(_message(), RECIPIENTS)


def test_a_ca_file_without_tls_or_contradicting_settings_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="TLS is off"):
        SmtpNotifier(host="h", port=25, sender=SENDER, ca_file=tmp_path / "ca.pem")
    with pytest.raises(ConfigurationError, match="contradicts"):
        SmtpNotifier(host="h", port=25, sender=SENDER, use_tls=True, tls="none")


@pytest.mark.parametrize(
    ("word", "mode"),
    [
        (None, TlsMode.NONE),
        ("", TlsMode.NONE),
        ("false", TlsMode.NONE),
        ("None", TlsMode.NONE),
        ("true", TlsMode.STARTTLS),
        (" STARTTLS ", TlsMode.STARTTLS),
        ("implicit", TlsMode.IMPLICIT),
        ("SSL", TlsMode.IMPLICIT),
        (TlsMode.IMPLICIT, TlsMode.IMPLICIT),
    ],
)
def test_tls_mode_words(word, mode):
    assert parse_tls_mode(word) is mode
    assert SmtpNotifier(host="h", port=25, sender=SENDER, tls=word).tls is mode


@pytest.mark.parametrize("word", ["yes", "1", "tls", "smtps"])
def test_unknown_tls_mode_words_are_refused(word):
    with pytest.raises(ConfigurationError, match="SETTING must be one of false, none, true"):
        parse_tls_mode(word, setting="SETTING")
