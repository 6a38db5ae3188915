"""Resources: progress milestones reach the platform API; a failing one never stops a run; the
notifier's SMTP TLS settings come from the environment."""

import logging

import pytest

from carrier_opt.defs.resources import NotifierResource, PlatformProgress, resources_for
from carrier_opt.delivery.mail import TlsMode
from carrier_opt.errors import ConfigurationError


def test_progress_posts_each_milestone(httpserver):
    httpserver.expect_request("/progress", method="POST").respond_with_json({"ok": True})
    progress = PlatformProgress(url=httpserver.url_for("/progress"))
    for percent in (0, 20, 30, 40, 50, 100):
        progress.report("guid-1", percent, f"at {percent}")
    bodies = [request.get_json() for request, _ in httpserver.log]
    assert [body["progress"] for body in bodies] == [0, 20, 30, 40, 50, 100]
    assert {body["sessionGuid"] for body in bodies} == {"guid-1"}


def test_progress_failure_is_logged_not_raised(httpserver, caplog):
    httpserver.expect_request("/progress").respond_with_data("down", status=503)
    progress = PlatformProgress(url=httpserver.url_for("/progress"))
    with caplog.at_level(logging.WARNING):
        progress.report("guid-2", 50, "optimization calculated")
    assert "not delivered" in caplog.text


def test_progress_without_url_makes_no_call(httpserver):
    PlatformProgress().report("guid-3", 0, "session started")
    assert httpserver.log == []


@pytest.mark.parametrize("deployment", ["staging", "PROD"])
def test_unknown_deployment_is_refused(deployment):
    from carrier_opt.defs.resources import resources_for

    with pytest.raises(ValueError, match="CARRIER_OPT_DEPLOYMENT"):
        resources_for(deployment)


def _prod_notifier(monkeypatch, **env: str) -> NotifierResource:
    monkeypatch.setenv("CARRIER_OPT_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("CARRIER_OPT_NOTIFIER", "smtp")
    for name in ("CARRIER_OPT_SMTP_TLS", "CARRIER_OPT_SMTP_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return resources_for("prod")["notifier"]


@pytest.mark.parametrize(
    ("word", "mode"),
    [
        (None, "none"),
        ("", "none"),
        ("false", "none"),
        ("none", "none"),
        ("true", "starttls"),
        ("StartTLS", "starttls"),
        ("implicit", "implicit"),
        ("ssl", "implicit"),
    ],
)
def test_smtp_tls_mode_from_the_environment(monkeypatch, word, mode):
    env = {} if word is None else {"CARRIER_OPT_SMTP_TLS": word}
    notifier = _prod_notifier(monkeypatch, **env)
    assert notifier.smtp_tls == mode and notifier.smtp_ca_file is None
    assert notifier.notifier().tls is TlsMode(mode)


@pytest.mark.parametrize("word", ["yes", "1", "on", "tls", "smtps"])
def test_an_unknown_smtp_tls_mode_is_a_configuration_error(monkeypatch, word):
    with pytest.raises(ConfigurationError) as refused:
        _prod_notifier(monkeypatch, CARRIER_OPT_SMTP_TLS=word)
    text = str(refused.value)
    assert text.startswith("CARRIER_OPT_SMTP_TLS must be one of false, none, true, starttls")
    assert "implicit, ssl" in text and repr(word) in text


def test_the_smtp_ca_file_comes_from_the_environment(monkeypatch, tmp_path):
    ca_file = str(tmp_path / "private-ca.pem")
    notifier = _prod_notifier(
        monkeypatch, CARRIER_OPT_SMTP_TLS="implicit", CARRIER_OPT_SMTP_CA_FILE=ca_file
    )
    assert (notifier.smtp_tls, notifier.smtp_ca_file) == ("implicit", ca_file)
    smtp = notifier.notifier()
    assert (smtp.tls, smtp.ca_file) == (TlsMode.IMPLICIT, ca_file)
