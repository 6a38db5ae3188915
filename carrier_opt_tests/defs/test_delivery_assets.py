"""A whole partition including delivery: the stored report, the mail, the carrier updates.

Runs against the fake carrier over HTTP on loopback, a real SMTP server (aiosmtpd) on
127.0.0.1, moto for S3 and SES, on SQLite and PostgreSQL.
"""

import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import boto3
import dagster as dg
import openpyxl
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from sqlalchemy import select, update

from carrier_opt import clock
from carrier_opt.core.billing import BillingCycle, period_for_key
from carrier_opt.core.go_no_go import BATCH_SIZE
from carrier_opt.core.money import usd_text
from carrier_opt.db.models import (
    Device,
    OptimizationInstance,
    OptimizationInstanceResultFile,
    OptimizationSession,
    RatePlanPush,
    RatePlanUpdate,
    RatePlanUpdateBatch,
    ServiceProvider,
)
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import set_notification_recipients
from carrier_opt.defs import failure_mail, run_context
from carrier_opt.defs.assets import m2m
from carrier_opt.defs.assets import sync as sync_assets
from carrier_opt.defs.failures import step_failure_text
from carrier_opt.defs.partitions import partition_key
from carrier_opt.defs.resources import (
    DatabaseResource,
    NotifierResource,
    ResultStoreResource,
    resources_for,
)
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    add_fake_provider,
    write_fake_price_files,
)
from carrier_opt_tests.defs import support
from carrier_opt_tests.defs.metadata_support import assert_money_in_one_form
from carrier_opt_tests.delivery.conftest import smtp_server  # noqa: F401  (fixture)

TO, CC, BCC = ("ops@example.com",), ("billing@example.com",), ("audit@example.com",)
MID_PERIOD = datetime(2026, 11, 12, 14, 0, tzinfo=UTC)
"""The fake carrier's pinned clock: inside a calendar-month period, whatever today is."""
SENDER = "carrier-opt@example.com"


def start_fake(engine, monkeypatch, tmp_path, fake: FakeJasper) -> FakeJasper:
    """Register 'acme' against ``fake`` with prices and recipients; the clock at the fake's.

    The one clock (``carrier_opt.clock.now``) is pinned, not only the assets' ``run_context``
    clock: a command-line sync in the same test reads it, and on another date its billing
    period (and one-year sweep) would not be the fake's."""
    monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
    monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
    add_fake_provider(engine, fake)
    load_rate_plans(engine, tmp_path)
    with engine.begin() as connection:
        provider_id = load_provider(connection, "acme").id
        set_notification_recipients(connection, provider_id, to=TO, cc=CC, bcc=BCC)
    monkeypatch.setattr(clock, "now", fake.now)
    monkeypatch.setattr(run_context, "clock", fake.now)
    return fake


def load_rate_plans(engine, tmp_path: Path) -> None:
    from carrier_opt.db.loads.rate_plans import load_rate_plans as load

    load(engine, "acme", *write_fake_price_files(tmp_path / "prices"))


@pytest.fixture
def fake_provider(migrated_engine, monkeypatch, tmp_path):
    """The fake carrier (400 SIMs) with 'acme' registered, priced and with recipients."""
    with FakeJasper(devices=400, seed=5, now=MID_PERIOD) as fake:
        yield start_fake(migrated_engine, monkeypatch, tmp_path, fake)


def allow_updates(engine, allowed: bool = True) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(ServiceProvider).values(allow_automatic_rate_plan_updates=allowed)
        )


def smtp_notifier(server) -> NotifierResource:
    return NotifierResource(
        kind="smtp",
        smtp_host=server.host,
        smtp_port=server.port,
        sender=SENDER,
        dagster_ui_url="http://dagster.example.com",
    )


def materialize_partition(
    database_url: str,
    period: str,
    *,
    result_store: ResultStoreResource,
    notifier: NotifierResource,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Every asset of optimize_billing_period for acme's ``period``, as one run."""
    return support.materialize_partition(
        database_url,
        m2m.m2m_assets,
        partition_key("acme", period),
        instance=instance,
        run_config={"ops": {"queue_results": {"config": {"time_limit_s": 10.0}}}},
        result_store=result_store,
        notifier=notifier,
    )


def run_failure_sensor(
    result: dg.ExecuteInProcessResult,
    instance: dg.DagsterInstance,
    database_url: str,
    notifier: NotifierResource,
    *,
    only_partition_tag: bool = False,
) -> None:
    """Evaluate ``optimization_failure_mail`` on the failed run, as the daemon would.

    ``only_partition_tag``: the run as the GraphQL client launches it, with ``dagster/partition``
    and without the per-dimension tags."""
    run = result.dagster_run
    if only_partition_tag:
        kept = {k: v for k, v in run.tags.items() if not k.startswith("dagster/partition/")}
        run = run._replace(tags=kept)
        assert "dagster/partition" in run.tags
    context = dg.build_run_status_sensor_context(
        sensor_name="optimization_failure_mail",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=run,
        resources={"database": DatabaseResource(database_url=database_url), "notifier": notifier},
    ).for_run_failure()
    failure_mail.optimization_failure_mail(context)


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {
        k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()
    }


def cents(value) -> Decimal:
    amount = value if isinstance(value, Decimal) else Decimal(repr(value))
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def summary(workbook: openpyxl.Workbook) -> dict:
    sheet = workbook["Summary"]
    return {row[0]: row[1] for row in sheet.iter_rows(min_row=3, max_col=2, values_only=True)}


def assignments(workbook: openpyxl.Workbook) -> tuple[list[dict], dict]:
    """(SIM rows, totals row) of the Assignments sheet."""
    rows = list(workbook["Assignments"].iter_rows(values_only=True))
    headers, body = rows[0], rows[1:]
    total = next(i for i, row in enumerate(body) if row[0] == "Total")
    as_dicts = [dict(zip(headers, row, strict=True)) for row in body]
    return as_dicts[:total], as_dicts[total]


def stored_instance(engine):
    with engine.connect() as connection:
        instance = connection.execute(
            select(OptimizationInstance.__table__).order_by(OptimizationInstance.id.desc())
        ).first()
        files = connection.execute(
            select(OptimizationInstanceResultFile.__table__).where(
                OptimizationInstanceResultFile.optimization_instance_id == instance.id
            )
        ).all()
    return instance, files


def expected_changes(sim_rows: list[dict]) -> set[tuple[str, str]]:
    """What the winner changes: every moved SIM (not shared-pool), whatever its own saving —
    with pools a SIM can cost more alone and still belong to the cheapest assignment."""
    return {
        (row["ICCID"], row["Recommended rate plan"])
        for row in sim_rows
        if row["Change"] == "yes" and row["Shared pool"] == "no"
    }


def test_a_partition_stores_the_report_mails_it_and_sends_no_update_when_disabled(
    fake_provider,
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    period = fake_provider.now().strftime("%Y-%m")
    store = ResultStoreResource(folder=str(tmp_path / "reports"))
    result = materialize_partition(
        database_url, period, result_store=store, notifier=smtp_notifier(smtp_server)
    )
    assert result.success

    # Stored, recorded, and its totals equal the database's to the cent.
    instance, files = stored_instance(migrated_engine)
    assert len(files) == 1 and files[0].report_kind == "optimization_report"
    path = Path(unquote(urlsplit(files[0].storage_uri).path))
    assert path.is_file() and path.is_relative_to(tmp_path / "reports")
    content = path.read_bytes()
    assert files[0].size_bytes == len(content)
    workbook = openpyxl.load_workbook(io.BytesIO(content), data_only=True)
    figures = summary(workbook)
    assert cents(figures["Cost before (USD)"]) == cents(instance.cost_before)
    assert cents(figures["Cost after (USD)"]) == cents(instance.cost_after)
    assert instance.proven_optimal is not None  # stored by queue_results, shown as stored
    assert figures["Proven optimal"] == ("yes" if instance.proven_optimal else "no")
    sim_rows, total = assignments(workbook)
    assert cents(total["Cost after (USD)"]) == cents(instance.cost_after)
    assert cents(sum(Decimal(repr(r["Cost after (USD)"])) for r in sim_rows)) == cents(
        instance.cost_after
    )
    assert instance.cost_after < instance.cost_before

    report = metadata(result, "optimization_report")
    assert report["report"] == str(path)
    assert report["totals_match_database"] is True
    assert "| ICCID | from | to | saving (USD) |" in report["top_savings"]

    # One success mail, to to/cc/bcc, with the workbook attached; bcc only in the envelope.
    success = [
        m for m in smtp_server.inbox.messages if m.message["X-Carrier-Opt-Kind"] == "success"
    ]
    assert len(success) == 1
    mail = success[0]
    assert sorted(mail.rcpt_tos) == sorted((*TO, *CC, *BCC))
    assert mail.message["To"] == TO[0] and mail.message["Cc"] == CC[0]
    assert mail.message["Bcc"] is None
    attached = list(mail.message.iter_attachments())
    assert [a.get_filename() for a in attached] == [files[0].file_name]
    assert attached[0].get_content() == content
    body = mail.message.get_body(("plain",)).get_content()
    assert usd_text(instance.cost_after) in body
    assert "http://dagster.example.com/runs/" in body
    # As the legacy results mail: the last syncs and the SIM count (issue 13, case 9).
    assert "Last device sync:   2026-" in body and "Last usage sync:    2026-" in body
    assert f"SIMs synced:        {len(fake_provider.fleet):,} (" in body
    assert not any(m.message["X-Carrier-Opt-Kind"] == "warning" for m in smtp_server.inbox.messages)

    # Updates off (the default): nothing reaches the carrier; the whole change set is a dry
    # run, including SIMs whose own saving is negative.
    assert fake_provider.edits == []
    assert not any(r.method == "PUT" for r in fake_provider.request_log)
    updates = metadata(result, "rate_plan_updates")
    assert updates["mode"] == "dry_run" and updates["sent"] == 0
    with migrated_engine.connect() as connection:
        statuses = Counter(connection.scalars(select(RatePlanUpdate.status)).all())
        session = connection.execute(select(OptimizationSession.__table__)).one()
    assert statuses == {"dry_run": len(expected_changes(sim_rows))}
    assert updates["dry_run"] == len(expected_changes(sim_rows)) > 0
    assert updates["dry_run"] == updates["changes"] == figures["SIMs changing plan"]
    assert session.status == "completed" and session.progress_percent == 100
    assert figures["Carrier push"].startswith("dry run")
    assert figures["Realized saving (USD)"] == 0
    # Issue 28, point 6: the asset page says what the workbook says (nothing sent, 0.00
    # realized), and every amount has one form: a float to the cent named *_usd.
    assert updates["carrier_push"] == figures["Carrier push"]
    assert updates["realized_saving_usd"] == figures["Realized saving (USD)"] == 0.0
    assert metadata(result, "optimization_report")["saving_usd"] == figures["Saving (USD)"]
    assert assert_money_in_one_form(result) == 12  # staleness; bound; winner 5; push 2; report 3
    push_mails = [
        m for m in smtp_server.inbox.messages if m.message["X-Carrier-Opt-Kind"] == "push"
    ]
    assert len(push_mails) == 1
    assert "Automatic rate-plan updates are off" in push_mails[0].message.get_content()
    assert "carrier-opt push acme" in push_mails[0].message.get_content()
    # ...and the push mail too (it said n/a while the workbook said 0).
    assert "Realized saving (the carrier read back): $0.00" in push_mails[0].message.get_content()


def test_the_report_shows_cycle_to_date_usage_its_date_and_projected_usage_apart(
    fake_provider, migrated_engine, database_url, tmp_path
):
    """Issue 28, point 8: the Assignments sheet's "Usage (MB)" held the projected usage, the
    number of "Projected usage (MB)" beside it."""
    period = fake_provider.now().strftime("%Y-%m")
    store = ResultStoreResource(folder=str(tmp_path / "reports"))
    result = materialize_partition(
        database_url, period, result_store=store, notifier=NotifierResource()
    )
    assert result.success
    _, files = stored_instance(migrated_engine)
    workbook = openpyxl.load_workbook(
        Path(unquote(urlsplit(files[0].storage_uri).path)), data_only=True
    )
    sim_rows, _ = assignments(workbook)
    assert "Usage (MB)" not in sim_rows[0]
    checked = support.assert_usage_shown_as_stored(migrated_engine, "acme", sim_rows)
    assert checked == len(sim_rows)


@pytest.fixture
def large_fake_provider(migrated_engine, monkeypatch, tmp_path):
    """Enough SIMs (1 500) for more than one batch of 250 saving changes."""
    with FakeJasper(devices=1500, seed=5, now=MID_PERIOD) as fake:
        yield start_fake(migrated_engine, monkeypatch, tmp_path, fake)


def test_enabled_updates_put_exactly_the_saving_changes_once_across_reruns(
    large_fake_provider, migrated_engine, database_url, tmp_path
):
    fake_provider = large_fake_provider
    allow_updates(migrated_engine)
    period = fake_provider.now().strftime("%Y-%m")
    store = ResultStoreResource(folder=str(tmp_path / "reports"))
    first = materialize_partition(
        database_url, period, result_store=store, notifier=NotifierResource()
    )
    assert first.success

    _, files = stored_instance(migrated_engine)
    workbook = openpyxl.load_workbook(
        Path(unquote(urlsplit(files[0].storage_uri).path)), data_only=True
    )
    wanted = expected_changes(assignments(workbook)[0])
    edits = fake_provider.edits
    assert wanted and len(edits) == len(wanted)
    assert {(e.iccid, e.fields["ratePlan"]) for e in edits} == wanted
    updates = metadata(first, "rate_plan_updates")
    assert updates["decision"] == "Go" and updates["sent"] == len(wanted)
    with migrated_engine.connect() as connection:
        batches = connection.execute(select(RatePlanUpdateBatch.__table__)).all()
        push = connection.execute(select(RatePlanPush.__table__)).one()
    assert len(batches) >= 2 and all(b.devices <= BATCH_SIZE for b in batches)
    assert sum(b.devices for b in batches) == len(wanted)
    # Every batch boundary is at or below the bill before the push; the last one is the winner.
    assert all(b.bill_after_usd <= push.bill_before_usd for b in batches)
    assert cents(batches[-1].bill_after_usd) == cents(push.expected_bill_usd)
    figures = summary(workbook)
    assert figures["Realized saving (USD)"] == figures["Expected saving (USD)"]
    assert figures["Expected saving (USD)"] == figures["Saving (USD)"]
    assert updates["realized_saving_usd"] == updates["expected_saving_usd"]
    assert updates["realized_saving_usd"] == figures["Saving (USD)"]

    # A re-run of the partition re-syncs (the SIMs are now on their new plans) and optimizes
    # again: nothing already sent is sent again; whatever it sends is one of its own saving
    # changes (a further move the new optimization found), never a SIM moved back.
    again = materialize_partition(
        database_url, period, result_store=store, notifier=NotifierResource()
    )
    assert again.success
    _, files = stored_instance(migrated_engine)
    workbook = openpyxl.load_workbook(
        Path(unquote(urlsplit(files[0].storage_uri).path)), data_only=True
    )
    later = {(e.iccid, e.fields["ratePlan"]) for e in fake_provider.edits[len(edits) :]}
    assert not later & wanted
    assert later <= expected_changes(assignments(workbook)[0])
    assert metadata(again, "rate_plan_updates")["sent"] == len(later)


def test_nothing_is_put_inside_the_ten_minute_buffer(
    migrated_engine, monkeypatch, tmp_path, database_url
):
    end = period_for_key(BillingCycle(31, 0, "UTC"), "2026-01").end
    with FakeJasper(devices=200, seed=7, now=end - timedelta(minutes=9)) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        allow_updates(migrated_engine)
        result = materialize_partition(
            database_url,
            "2026-01",
            result_store=ResultStoreResource(folder=str(tmp_path / "reports")),
            notifier=NotifierResource(),
        )
        assert result.success
        assert fake.edits == []
    updates = metadata(result, "rate_plan_updates")
    assert updates["mode"] == "automatic" and updates["decision"] == "No Go"
    assert updates["sent"] == 0 and updates["not_sent"] > 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_s3_store_and_ses_deliver_the_report(fake_provider, migrated_engine, database_url):
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="reports")
        ses = boto3.client("ses", region_name="us-east-1")
        ses.verify_email_identity(EmailAddress=SENDER)
        period = fake_provider.now().strftime("%Y-%m")
        result = materialize_partition(
            database_url,
            period,
            result_store=ResultStoreResource(
                kind="s3", bucket="reports", prefix="carrier-opt", region_name="us-east-1"
            ),
            notifier=NotifierResource(kind="ses", ses_region="us-east-1", sender=SENDER),
        )
        assert result.success
        _, files = stored_instance(migrated_engine)
        uri = files[0].storage_uri
        assert uri.startswith("s3://reports/carrier-opt/acme/")
        key = uri.removeprefix("s3://reports/")
        body = boto3.client("s3", region_name="us-east-1").get_object(Bucket="reports", Key=key)
        content = body["Body"].read()
        assert len(content) == files[0].size_bytes
        report = metadata(result, "optimization_report")
        assert report["storage_uri"] == uri
        # The UI links the S3 console page (no credential in it) and a presigned download.
        assert report["report"] == (
            "https://s3.console.aws.amazon.com/s3/object/reports?prefix=" + quote(key, safe="")
        )
        assert key in report["download"] and "presigned link valid 7 days" in report["how_to_open"]
        sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    success = [m for m in sent if b"X-Carrier-Opt-Kind: success" in m.raw_data.encode()]
    assert len(success) == 1
    assert set(success[0].destinations) == {*TO, *CC, *BCC}  # moto adds header copies
    assert files[0].file_name in success[0].raw_data


@pytest.mark.parametrize("launched", ["by a sensor or backfill", "by the GraphQL client"])
def test_a_failed_run_mails_its_diagnostics_with_the_run_link(
    fake_provider,
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
    launched,
):
    """Also for a run that carries only ``dagster/partition`` (issue 15: such runs were
    skipped with "has no service provider partition")."""
    notifier = smtp_notifier(smtp_server)
    with dg.instance_for_test() as instance:
        result = materialize_partition(
            database_url,
            "2025-02",  # never synced: the run fails
            result_store=ResultStoreResource(folder=str(tmp_path / "reports")),
            notifier=notifier,
            instance=instance,
        )
        assert not result.success
        run_failure_sensor(
            result,
            instance,
            database_url,
            notifier,
            only_partition_tag=launched == "by the GraphQL client",
        )
    errors = [m for m in smtp_server.inbox.messages if m.message["X-Carrier-Opt-Kind"] == "error"]
    assert len(errors) == 1
    mail = errors[0]
    assert sorted(mail.rcpt_tos) == sorted((*TO, *CC, *BCC))
    assert "FAILED acme 2025-02" in mail.message["Subject"]
    body = mail.message.get_content()
    failure = result.get_step_failure_events()[0]
    message, error_class = step_failure_text(failure.step_failure_data)
    assert error_class == "InputError"
    assert message.splitlines()[0] in body  # the operator's sentence, not Dagster's wrapper
    assert "dagster._core" not in body
    assert f"http://dagster.example.com/runs/{result.run_id}" in body
    assert f"The step {failure.step_key!r} failed for acme 2025-02" in body


def test_a_failed_daily_sync_run_mails_too(
    fake_provider,
    database_url,
    monkeypatch,
    smtp_server,  # noqa: F811
):
    """Issue 18: the daily_sync schedule's runs (sync_carrier_data) are covered by the same
    failure mail; here the carrier refuses an API key that was rotated."""
    monkeypatch.setenv(API_KEY_ENV, "rotated-and-wrong")
    monkeypatch.setattr(sync_assets, "clock", fake_provider.now)
    notifier = smtp_notifier(smtp_server)
    with dg.instance_for_test() as instance:
        result = support.materialize_partition(
            database_url,
            [sync_assets.carrier_data],
            partition_key("acme", "2026-11"),
            instance=instance,
        )
        assert not result.success
        run_failure_sensor(result, instance, database_url, notifier)
    [mail] = [m for m in smtp_server.inbox.messages if m.message["X-Carrier-Opt-Kind"] == "error"]
    assert (
        "FAILED acme 2026-11: carrier_data: acme: the carrier refused the credentials"
        in (mail.message["Subject"])
    )
    assert "rotated-and-wrong" not in mail.message.get_content()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_provider_without_recipients_gets_no_mail_and_the_run_succeeds(
    fake_provider,
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    with migrated_engine.begin() as connection:
        set_notification_recipients(connection, load_provider(connection, "acme").id, to=[])
    result = materialize_partition(
        database_url,
        fake_provider.now().strftime("%Y-%m"),
        result_store=ResultStoreResource(folder=str(tmp_path / "reports")),
        notifier=smtp_notifier(smtp_server),
    )
    assert result.success
    assert smtp_server.inbox.messages == []
    sent = metadata(result, "notifications")
    assert sent["recipients"] == 0 and sent["sent"] == "none"


def test_prod_resources_read_the_delivery_settings_from_the_environment(monkeypatch):
    settings = {
        "CARRIER_OPT_DATABASE_URL": "sqlite:///x.db",
        "CARRIER_OPT_RESULT_STORE": "s3",
        "CARRIER_OPT_REPORTS_BUCKET": "reports",
        "CARRIER_OPT_REPORTS_PREFIX": "carrier-opt",
        "CARRIER_OPT_NOTIFIER": "smtp",
        "CARRIER_OPT_SMTP_HOST": "mail.example.com",
        "CARRIER_OPT_SMTP_PORT": "587",
        "CARRIER_OPT_SMTP_TLS": "true",
        "CARRIER_OPT_SMTP_PASSWORD_ENV": "SMTP_PASSWORD",
        "CARRIER_OPT_DAGSTER_URL": "https://dagster.example.com/",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    prod = resources_for("prod")
    store, notifier = prod["result_store"], prod["notifier"]
    assert (store.kind, store.bucket, store.prefix) == ("s3", "reports", "carrier-opt")
    assert (notifier.kind, notifier.smtp_host, notifier.smtp_port) == (
        "smtp",
        "mail.example.com",
        587,
    )
    assert notifier.smtp_tls == "starttls" and notifier.smtp_password_env == "SMTP_PASSWORD"
    assert notifier.run_url("abc") == "https://dagster.example.com/runs/abc"
    local = resources_for("local")
    assert local["result_store"].kind == "local"
    # A local deployment mails only when asked to (make ui beside a mail catcher).
    assert local["notifier"].kind == "smtp"
    monkeypatch.delenv("CARRIER_OPT_NOTIFIER")
    assert resources_for("local")["notifier"].kind == "none"


LAST_DAY = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
"""The last day of the 2026-11 period: the legacy rule lets hourly runs follow each other."""


def test_two_runs_of_one_partition_at_once_send_every_change_once(
    migrated_engine, monkeypatch, tmp_path, database_url
):
    import threading
    import time

    from carrier_opt.jasper.fake import FakeFaults
    from carrier_opt_tests.delivery.push_support import assert_audit_matches_the_carrier

    with FakeJasper(devices=800, seed=5, now=LAST_DAY) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        allow_updates(migrated_engine)
        fake.faults = FakeFaults(latency_s=0.003)  # a push that takes a few seconds
        store = ResultStoreResource(folder=str(tmp_path / "reports"))
        results: dict[str, dg.ExecuteInProcessResult] = {}

        # One Dagster instance per run, made here: instance_for_test sets DAGSTER_HOME in the
        # process environment, which two threads must not do at once.
        with dg.instance_for_test() as one, dg.instance_for_test() as two:
            instances = {"first": one, "second": two}

            def run(name: str) -> None:
                results[name] = materialize_partition(
                    database_url,
                    "2026-11",
                    result_store=store,
                    notifier=NotifierResource(),
                    instance=instances[name],
                )

            first = threading.Thread(target=run, args=("first",))
            first.start()
            deadline = time.monotonic() + 120
            while not fake.edits and time.monotonic() < deadline:  # the first run is pushing
                time.sleep(0.01)
            second = threading.Thread(target=run, args=("second",))
            second.start()
            first.join()
            second.join()
        assert results["first"].success and results["second"].success
        assert_audit_matches_the_carrier(migrated_engine, fake)
        pushes = [metadata(results[name], "rate_plan_updates") for name in ("first", "second")]
        assert pushes[0]["sent"] > 0
        # The second run found the lock held (nothing sent), or came after the first push and
        # sent only what its own winner still gains over what the carrier then showed.
        assert pushes[1]["status"] in ("failed", "no_go", "completed")
        if pushes[1]["status"] == "failed":
            assert pushes[1]["sent"] == 0 and "another rate-plan push" in pushes[1]["stop_reason"]


def test_fewer_sims_optimized_than_activated_sends_the_sim_count_warning(
    fake_provider,
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    """The legacy "SIM counts not expected" alert (issue 13, case 9): a SIM the carrier
    showed ACTIVATED has no usage this period, so the run holds one SIM fewer."""
    with migrated_engine.begin() as connection:
        provider_id = load_provider(connection, "acme").id
        connection.execute(
            Device.__table__.insert().values(
                service_provider_id=provider_id,
                iccid="8901260999999999999",
                status="ACTIVATED",
                is_active=True,
                created_at=MID_PERIOD,
            )
        )
    period = fake_provider.now().strftime("%Y-%m")
    store = ResultStoreResource(folder=str(tmp_path / "reports"))
    result = materialize_partition(
        database_url, period, result_store=store, notifier=smtp_notifier(smtp_server)
    )
    assert result.success
    warnings = [
        m for m in smtp_server.inbox.messages if m.message["X-Carrier-Opt-Kind"] == "warning"
    ]
    assert len(warnings) == 1
    body = warnings[0].message.get_content()
    assert "SIM counts not expected" in body and "(1 fewer)" in body
    # The SIM is named, in the mail and in the workbook (issue 14: never silently left out).
    assert "1 of them have no usable usage for the period" in body
    assert "8901260999999999999" in body and "'SIMs without usage' sheet" in body
    assert metadata(result, "notifications")["warnings"] == 1
    [workbook_path] = (tmp_path / "reports").rglob("*.xlsx")
    sheet = openpyxl.load_workbook(workbook_path)["SIMs without usage"]
    assert [row[0] for row in sheet.iter_rows(min_row=3, values_only=True)] == [
        "ICCID",
        "8901260999999999999",
    ]


def test_a_run_refused_while_another_runs_sends_the_legacy_already_running_warning(
    fake_provider,
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    """Issue 13, case 5: the refused run mails "[Warning] … Already Running", not an error."""
    period = fake_provider.now().strftime("%Y-%m")
    notifier = smtp_notifier(smtp_server)
    store = ResultStoreResource(folder=str(tmp_path / "reports"))
    assert materialize_partition(database_url, period, result_store=store, notifier=notifier)
    with migrated_engine.begin() as connection:  # as if that session were still going
        connection.execute(OptimizationSession.__table__.update().values(status="running"))
    before = len(smtp_server.inbox.messages)
    with dg.instance_for_test() as instance:
        refused = materialize_partition(
            database_url, period, result_store=store, notifier=notifier, instance=instance
        )
        assert not refused.success
        run_failure_sensor(refused, instance, database_url, notifier)
    mails = smtp_server.inbox.messages[before:]
    assert [m.message["X-Carrier-Opt-Kind"] for m in mails] == ["already_running"]
    assert mails[0].message["Subject"] == (
        "[Warning] Carrier Plan Optimization: Optimization Is Already Running"
    )
    body = mails[0].message.get_content()
    assert "is already running so another Carrier optimization job will not be started" in body
    assert f"acme {period}" in body and "is still running" in body


@pytest.mark.reliability
def test_skipped_carrier_records_are_listed_in_the_run_and_the_workbook(
    migrated_engine,
    monkeypatch,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    """Issue 26: the run's metadata lists the first 20 skipped records with their count, and
    the workbook lists them all with what identifies a SIM sent without an ICCID."""
    faults = FakeFaults(malformed_fraction=0.08)
    with FakeJasper(devices=400, seed=5, now=MID_PERIOD, faults=faults) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        period = fake.now().strftime("%Y-%m")
        store = ResultStoreResource(folder=str(tmp_path / "reports"))
        result = materialize_partition(
            database_url, period, result_store=store, notifier=smtp_notifier(smtp_server)
        )
        nameless = [d for d in fake.fleet if d.malformation == "missing_iccid"]
    assert result.success and nameless
    staged = metadata(result, "staged_devices")
    total = staged["skipped_records"]
    listed = staged["skipped_records_first_20"].splitlines()
    assert total > 20 and len(listed) == 21 and listed[-1] == f"- ... and {total - 20:,} more"
    [workbook_path] = (tmp_path / "reports").rglob("*.xlsx")
    sheet = openpyxl.load_workbook(workbook_path)["Skipped carrier records"]
    rows = list(sheet.iter_rows(min_row=4, values_only=True))
    assert f"skipped {total:,} carrier record(s)" in sheet.cell(1, 1).value
    assert len(rows) == total
    without_iccid = [r for r in rows if r[0] == "GET /devices" and r[3] is None]
    assert len(without_iccid) == len(nameless)
    assert all("status=" in r[4] and r[7] == "the ICCID is missing" for r in without_iccid)


@pytest.mark.parametrize("refusal_status", [403, 401])
def test_an_essential_account_runs_end_to_end_and_says_how_old_its_usage_is(
    migrated_engine,
    monkeypatch,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
    refusal_status,
):
    """Issue 27: Get Usage by Rate Plan refused (403, or 401 while search works) is the
    account's type: the run reads usage per SIM, completes, and its metadata says how old the
    usage behind the decision is."""
    with FakeJasper(
        devices=150,
        seed=5,
        now=MID_PERIOD,
        account_type="essential",
        refusal_status=refusal_status,
    ) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        period = fake.now().strftime("%Y-%m")
        store = ResultStoreResource(folder=str(tmp_path / "reports"))
        result = materialize_partition(
            database_url, period, result_store=store, notifier=smtp_notifier(smtp_server)
        )
        per_sim = sum(1 for call in fake.request_log if call.route.endswith("ctdUsages"))
    assert result.success and per_sim == 150
    staged = metadata(result, "staged_devices")
    assert staged["synced"] and staged["call_budget"] == "none"
    assert staged["sims_on_usage_older_than_24h"] == 0
    assert (
        "0 of" in staged["usage_age"]
        and "SIMs decided on usage older than 24 h" in (staged["usage_age"])
    )
    with migrated_engine.connect() as connection:
        found = connection.scalar(select(ServiceProvider.usage_by_rate_plan))
    assert found == "refused"
    # The report and the results mail say it too.
    [workbook_path] = (tmp_path / "reports").rglob("*.xlsx")
    assert summary(openpyxl.load_workbook(workbook_path))["Usage age"].startswith("0 of ")
    results = [
        m
        for m in smtp_server.inbox.messages
        if "Usage age:" in m.message.get_body(("plain",)).get_content()
    ]
    assert results, [m.message["Subject"] for m in smtp_server.inbox.messages]
