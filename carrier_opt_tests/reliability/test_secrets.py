"""No secret is written anywhere (issue 14): a sync, a failing sync and a whole run, with a
recognisable carrier username, API key and SMTP password, then a search for them in the logs
and the command's output, every table of the database, the Dagster event log and run storage,
the stored reports and the mails sent."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._serdes import serialize_value
from sqlalchemy import MetaData, select

from carrier_opt.cli import cli
from carrier_opt.defs.resources import NotifierResource, ResultStoreResource
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.db.sync_support import API_KEY_ENV
from carrier_opt_tests.defs.test_delivery_assets import (
    MID_PERIOD,
    SENDER,
    allow_updates,
    materialize_partition,
    start_fake,
)
from carrier_opt_tests.delivery.conftest import PASSWORD as SMTP_PASSWORD
from carrier_opt_tests.delivery.conftest import smtp_server_with_login  # noqa: F401

pytestmark = pytest.mark.reliability

USERNAME = "jasper-user-SECRETU7f3a"
API_KEY = "jasper-key-SECRETK9c1e"
WRONG_KEY = "jasper-key-SECRETWRONG42"
SECRETS = (USERNAME, API_KEY, WRONG_KEY, SMTP_PASSWORD)
SMTP_PASSWORD_ENV = "CARRIER_OPT_TEST_SMTP_PASSWORD"
SYNC = ("sync", "acme", "--calls-per-second", "200")


def database_text(engine) -> str:
    """Every cell of every table, as text."""
    metadata = MetaData()
    metadata.reflect(engine)
    chunks = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                chunks.append(" ".join(str(value) for value in row))
    return "\n".join(chunks)


def dagster_text(instance: dg.DagsterInstance) -> str:
    """The event log and run storage of every run of ``instance``, serialized as stored."""
    chunks = []
    for run in instance.get_runs():
        chunks.append(serialize_value(run))
        chunks.extend(serialize_value(entry) for entry in instance.all_logs(run.run_id))
    return "\n".join(chunks)


def files_text(folder: Path) -> str:
    """Every stored file, workbooks unzipped (an .xlsx is a zip of XML parts)."""
    chunks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                chunks.extend(
                    archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
                )
        else:
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_no_secret_reaches_logs_database_dagster_reports_or_mail(
    migrated_engine,
    database_url,
    monkeypatch,
    tmp_path,
    caplog,
    capfd,
    smtp_server_with_login,  # noqa: F811
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with FakeJasper(
        devices=300, seed=5, now=MID_PERIOD, username=USERNAME, api_key=API_KEY
    ) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        allow_updates(migrated_engine)  # a push too: PUTs carry the credentials
        outputs = []
        # A failing sync: the carrier refuses a wrong API key.
        monkeypatch.setenv(API_KEY_ENV, WRONG_KEY)
        failed = CliRunner().invoke(cli, [*SYNC, "--database-url", database_url])
        assert failed.exit_code != 0
        outputs.append(failed.output)
        # A sync that works, from the command line.
        monkeypatch.setenv(API_KEY_ENV, API_KEY)
        synced = CliRunner().invoke(cli, [*SYNC, "--database-url", database_url])
        assert synced.exit_code == 0, synced.output
        outputs.append(synced.output)
        # A whole run, push and mail included, on a Dagster instance we can read back.
        monkeypatch.setenv(SMTP_PASSWORD_ENV, SMTP_PASSWORD)
        notifier = NotifierResource(
            kind="smtp",
            smtp_host=smtp_server_with_login.host,
            smtp_port=smtp_server_with_login.port,
            sender=SENDER,
            smtp_username="mailer",
            smtp_password_env=SMTP_PASSWORD_ENV,
        )
        with dg.instance_for_test() as instance:
            result = materialize_partition(
                database_url,
                fake.now().strftime("%Y-%m"),
                result_store=ResultStoreResource(folder=str(tmp_path / "reports")),
                notifier=notifier,
                instance=instance,
            )
            assert result.success
            assert fake.edits  # the push reached the carrier
            events = dagster_text(instance)
    assert smtp_server_with_login.inbox.messages  # the mail went out, logged in
    captured = capfd.readouterr()
    places = {
        "logs": caplog.text,
        "command output": "\n".join(outputs),
        "stdout/stderr": captured.out + captured.err,
        "database": database_text(migrated_engine),
        "Dagster event log and runs": events,
        "reports": files_text(tmp_path / "reports"),
        "mail": "\n".join(m.message.as_string() for m in smtp_server_with_login.inbox.messages),
    }
    # The search really reads each place: what belongs there is found.
    iccid = fake.fleet[0].iccid
    assert iccid in places["database"] and "acme" in events and iccid in places["reports"]
    assert "401" in places["command output"] or "refused" in places["command output"]
    found = {
        (place, secret) for place, text in places.items() for secret in SECRETS if secret in text
    }
    assert found == set(), found
