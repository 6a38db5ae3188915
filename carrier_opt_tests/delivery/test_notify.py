"""Mail really leaves: a local SMTP server and SES (moto) receive each kind of message with the
provider's recipients, the BCC hidden, and the workbook attached."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from email import message_from_bytes, policy

import boto3
import openpyxl
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from carrier_opt.core.instance import DroppedPlan
from carrier_opt.core.money import usd_text
from carrier_opt.db.recipients import (
    Recipients,
    notification_recipients,
    parse_address_list,
    set_notification_recipients,
    with_addresses,
)
from carrier_opt.delivery.mail import NotificationError, SesNotifier, SmtpNotifier
from carrier_opt.delivery.messages import (
    error_message,
    go_no_go_message,
    success_message,
    warning_message,
)
from carrier_opt.delivery.rate_plan_updates import go_no_go
from carrier_opt.delivery.report_data import report_data_from
from carrier_opt.delivery.workbook import CONTENT_TYPE, build_workbook
from carrier_opt.errors import ConfigurationError, InputError
from carrier_opt_tests.delivery.conftest import PASSWORD
from carrier_opt_tests.delivery.support import PERIOD, seed_instance, small_instance

SENDER = "carrier-opt@example.com"
RECIPIENTS = Recipients(
    to=("ops@example.com", "finance@example.com"),
    cc=("lead@example.com",),
    bcc=("audit@example.com",),
)


def report_data():
    instance = small_instance()
    recommended = instance.current_plan.copy()
    recommended[1] = 1
    return report_data_from(
        instance,
        instance.current_plan,
        recommended,
        provider="acme",
        period=PERIOD,
        lower_bound=40.0,
        gap=0.02,
        legacy_cost=99.5,
        seconds=3.2,
    )


def all_messages():
    """One of each kind (success with a workbook, error, warning, Go/No-Go)."""
    data = report_data()
    workbook = build_workbook(data)
    try:
        raise RuntimeError("carrier answered 500 three times")
    except RuntimeError as exc:
        failure = exc
    decision = go_no_go(PERIOD.end - timedelta(minutes=12), PERIOD.end, 600, None)
    return (
        data,
        workbook,
        [
            success_message(
                data,
                workbook=workbook,
                file_name="acme-2026-03.xlsx",
                report_uri="s3://reports/acme-2026-03.xlsx",
            ),
            error_message(
                asset="optimized_assignment",
                error=failure,
                provider="acme",
                period_key="2026-03",
                run_url="http://dagster.local/runs/abc",
            ),
            warning_message(
                provider="acme",
                period_key="2026-03",
                oversized_groups={"CP_BIG": 17},
                dropped_plans=[DroppedPlan("BROKEN", "overage unit must be > 0")],
            ),
            go_no_go_message(provider="acme", period_key="2026-03", decision=decision),
        ],
    )


@pytest.mark.database
def test_recipients_are_stored_per_provider(migrated_engine):
    seeded = seed_instance(migrated_engine)
    with migrated_engine.begin() as connection:
        set_notification_recipients(
            connection,
            seeded.provider_id,
            to=["b@x.com", "a@x.com"],
            cc=["c@x.com"],
            bcc=["d@x.com", " d@x.com "],
        )
        stored = set_notification_recipients(
            connection, seeded.provider_id, to=RECIPIENTS.to, cc=RECIPIENTS.cc, bcc=RECIPIENTS.bcc
        )
    with migrated_engine.connect() as connection:
        assert notification_recipients(connection, seeded.provider_id) == stored
    assert set(stored.to) == set(RECIPIENTS.to)
    assert stored.cc == RECIPIENTS.cc and stored.bcc == RECIPIENTS.bcc
    with migrated_engine.begin() as connection, pytest.raises(InputError):
        set_notification_recipients(connection, seeded.provider_id, to=["not an address"])


@pytest.mark.database
def test_smtp_delivers_every_kind_to_the_providers_recipients(migrated_engine, smtp_server):
    seeded = seed_instance(migrated_engine)
    with migrated_engine.begin() as connection:
        set_notification_recipients(
            connection, seeded.provider_id, to=RECIPIENTS.to, cc=RECIPIENTS.cc, bcc=RECIPIENTS.bcc
        )
    with migrated_engine.connect() as connection:
        recipients = notification_recipients(connection, seeded.provider_id)
    data, workbook, messages = all_messages()
    notifier = SmtpNotifier(host=smtp_server.host, port=smtp_server.port, sender=SENDER)
    for message in messages:
        notifier.send(message, recipients)

    received = smtp_server.inbox.messages
    assert [r.message["X-Carrier-Opt-Kind"] for r in received] == [
        "success",
        "error",
        "warning",
        "go_no_go",
    ]
    for item in received:
        assert item.mail_from == SENDER
        assert sorted(item.rcpt_tos) == sorted(RECIPIENTS.everyone)
        assert "audit@example.com" not in str(item.message)  # BCC: envelope only
        assert {a.strip() for a in item.message["To"].split(",")} == set(RECIPIENTS.to)
        assert item.message["Cc"] == "lead@example.com"
    success, error, warning, go = (r.message for r in received)
    _check_success(success, data, workbook)
    assert "FAILED" in error["Subject"] and "optimized_assignment" in error["Subject"]
    error_body = error.get_body(("plain",)).get_content()
    assert "RuntimeError: carrier answered 500 three times" in error_body
    assert "http://dagster.local/runs/abc" in error_body and "Traceback" in error_body
    warning_body = warning.get_body(("plain",)).get_content()
    assert "'CP_BIG' has 17 rate plans" in warning_body and "'BROKEN' was dropped" in warning_body
    assert "No Go" in go["Subject"]
    assert "600" in go["Subject"] and "12 min left" in go.get_body(("plain",)).get_content()


def _check_success(message, data, workbook) -> None:
    body = message.get_body(("plain",)).get_content()
    assert usd_text(data.cost_before) in body and usd_text(data.cost_after) in body
    assert usd_text(data.saving) in body and "Lower bound" in body
    assert "s3://reports/acme-2026-03.xlsx" in body
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "acme-2026-03.xlsx"
    assert attachment.get_content_type() == CONTENT_TYPE
    content = attachment.get_content()
    assert content == workbook
    sheet = openpyxl.load_workbook(io.BytesIO(content), data_only=True)["Summary"]
    values = {row[0]: row[1] for row in sheet.iter_rows(min_row=3, max_col=2, values_only=True)}
    assert values["Cost after (USD)"] == data.cost_after


def test_smtp_login_reads_the_password_from_the_environment_and_never_logs_it(
    smtp_server_with_login, monkeypatch, caplog
):
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    notifier = SmtpNotifier(
        host=smtp_server_with_login.host,
        port=smtp_server_with_login.port,
        sender=SENDER,
        username="mailer",
        password_env="TEST_SMTP_PASSWORD",
        timeout_s=5,
    )
    caplog.set_level(logging.DEBUG)
    notifier.send(all_messages()[2][2], RECIPIENTS)
    assert smtp_server_with_login.inbox.logins == [("mailer", PASSWORD)]
    assert len(smtp_server_with_login.inbox.messages) == 1
    assert PASSWORD not in caplog.text and PASSWORD not in repr(notifier)

    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    with pytest.raises(NotificationError) as refused:
        notifier.send(all_messages()[2][2], RECIPIENTS)
    assert "wrong-password" not in str(refused.value) and "535" in str(refused.value)

    monkeypatch.delenv("TEST_SMTP_PASSWORD")
    with pytest.raises(ConfigurationError, match="TEST_SMTP_PASSWORD"):
        notifier.send(all_messages()[2][2], RECIPIENTS)


def test_an_unreachable_smtp_server_is_a_clear_error():
    notifier = SmtpNotifier(host="127.0.0.1", port=1, sender=SENDER, timeout_s=2)
    with pytest.raises(NotificationError, match=r"127\.0\.0\.1:1\b"):
        notifier.send(all_messages()[2][3], RECIPIENTS)


def test_nothing_is_sent_without_recipients(smtp_server):
    notifier = SmtpNotifier(host=smtp_server.host, port=smtp_server.port, sender=SENDER)
    with pytest.raises(ConfigurationError, match="ProviderNotificationRecipient"):
        notifier.send(all_messages()[2][3], Recipients())
    assert smtp_server.inbox.messages == []


def test_a_workbook_too_large_to_attach_is_linked_instead():
    data = report_data()
    message = success_message(
        data,
        workbook=b"x" * 100,
        file_name="r.xlsx",
        report_uri="s3://b/r.xlsx",
        max_attachment_bytes=10,
    )
    assert message.attachments == ()
    assert "too large to attach" in message.body and "s3://b/r.xlsx" in message.body


def test_no_warning_mail_when_there_is_nothing_to_warn_about():
    assert warning_message(provider="acme", period_key="2026-03") is None


@mock_aws
def test_ses_delivers_every_kind_with_recipients_and_attachment():
    client = boto3.client("ses", region_name="us-east-1")
    client.verify_email_identity(EmailAddress=SENDER)
    data, workbook, messages = all_messages()
    notifier = SesNotifier(client, SENDER)
    ids = [notifier.send(message, RECIPIENTS) for message in messages]
    assert len(set(ids)) == 4

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert len(sent) == 4
    parsed = []
    for raw in sent:
        assert raw.source == SENDER
        assert set(raw.destinations) == set(RECIPIENTS.everyone)  # moto adds header copies
        data_bytes = raw.raw_data.encode() if isinstance(raw.raw_data, str) else raw.raw_data
        message = message_from_bytes(data_bytes, policy=policy.default)
        assert "audit@example.com" not in str(message)
        parsed.append(message)
    assert [m["X-Carrier-Opt-Kind"] for m in parsed] == ["success", "error", "warning", "go_no_go"]
    _check_success(parsed[0], data, workbook)


@mock_aws
def test_ses_refusal_is_a_notification_error():
    client = boto3.client("ses", region_name="us-east-1")  # sender never verified
    with pytest.raises(NotificationError, match="SES did not take"):
        SesNotifier(client, SENDER).send(all_messages()[2][2], RECIPIENTS)


def test_site_address_lists_are_split_on_commas_and_semicolons():
    valid, invalid = parse_address_list(" a@x.com; b@y.com,,a@x.com ; not an address;")
    assert valid == ("a@x.com", "b@y.com") and invalid == ("not an address",)
    assert parse_address_list(None) == ((), ())
    merged = with_addresses(RECIPIENTS, ["new@x.com", RECIPIENTS.to[0].upper()])
    assert merged.to == (*RECIPIENTS.to, "new@x.com")
    assert (merged.cc, merged.bcc) == (RECIPIENTS.cc, RECIPIENTS.bcc)


def test_scoped_reports_and_per_group_limits_are_named_in_the_mail():
    instance = small_instance()
    data = report_data_from(
        instance,
        instance.current_plan,
        instance.current_plan,
        provider="acme",
        period=PERIOD,
        scope="Customer Acme Metering",
    )
    mail = success_message(data, workbook=None, file_name="r.xlsx", remarks=["Reports only."])
    assert "acme 2026-03 — Customer Acme Metering:" in mail.subject
    assert "of acme (Customer Acme Metering)" in mail.body and "Reports only." in mail.body
    warning = warning_message(
        provider="mobi",
        period_key="2026-03",
        oversized_groups={"Phones": 5},
        max_plans_per_group={"Phones": 2},
        group_label="Optimization group",
    )
    assert "- Optimization group 'Phones' has 5 rate plans (more than 2)" in warning.body
