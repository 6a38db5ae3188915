"""Reports land in a folder or in S3 and are recorded once per instance and file name."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import func, select

from carrier_opt.db.models import OptimizationInstanceResultFile
from carrier_opt.delivery.storage import (
    REPORTS_URL_ENV,
    LocalResultStore,
    ResultStore,
    S3ResultStore,
    StoredFile,
    record_result_file,
    report_key,
    store_file,
)
from carrier_opt.errors import InputError
from carrier_opt_tests.delivery.support import seed_instance

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_local_store_writes_under_its_folder_and_reads_back(tmp_path):
    store = LocalResultStore(tmp_path)
    assert isinstance(store, ResultStore)
    uri = store.put("acme/2026-03/report.xlsx", b"first", XLSX)
    assert uri.startswith("file://") and uri.endswith("/acme/2026-03/report.xlsx")
    store.put("acme/2026-03/report.xlsx", b"second", XLSX)
    assert store.get(uri) == b"second"
    assert [p.name for p in (tmp_path / "acme" / "2026-03").iterdir()] == ["report.xlsx"]


def test_local_store_refuses_keys_that_leave_its_folder(tmp_path):
    with pytest.raises(InputError, match="leaves the result folder"):
        LocalResultStore(tmp_path / "reports").put("../outside.xlsx", b"x", XLSX)


def test_report_keys_are_safe_path_segments():
    key = report_key("ACME / Europe", "2026-03", 7, "report.xlsx")
    assert key == "ACME_Europe/2026-03/instance-7/report.xlsx"


@mock_aws
def test_s3_store_uploads_with_content_type_and_answers_an_s3_uri():
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="reports")
    store = S3ResultStore("reports", prefix="carrier-opt/", client=client)
    stored = store_file(store, "acme/2026-03/r.xlsx", b"workbook bytes", XLSX)
    assert stored.uri == "s3://reports/carrier-opt/acme/2026-03/r.xlsx"
    assert stored.size == len(b"workbook bytes") and len(stored.sha256) == 64
    head = client.head_object(Bucket="reports", Key="carrier-opt/acme/2026-03/r.xlsx")
    assert head["ContentType"] == XLSX
    assert store.get(stored.uri) == b"workbook bytes"
    assert "reports" in repr(store) and "Secret" not in repr(store)


@pytest.mark.database
def test_recording_a_result_file_twice_replaces_the_row(migrated_engine):
    seeded = seed_instance(migrated_engine)
    with migrated_engine.begin() as connection:
        first = record_result_file(
            connection,
            seeded.instance_id,
            "r.xlsx",
            StoredFile(uri="file:///a/r.xlsx", size=10, sha256="a" * 64),
            kind="optimization_report",
            content_type=XLSX,
        )
    with migrated_engine.begin() as connection:
        second = record_result_file(
            connection,
            seeded.instance_id,
            "r.xlsx",
            StoredFile(uri="s3://b/r.xlsx", size=20, sha256="b" * 64),
            kind="optimization_report",
            content_type=XLSX,
        )
    assert first == second
    with migrated_engine.connect() as connection:
        table = OptimizationInstanceResultFile.__table__
        assert connection.scalar(select(func.count()).select_from(table)) == 1
        row = connection.execute(select(table)).one()
    assert (row.storage_uri, row.size_bytes, row.sha256) == ("s3://b/r.xlsx", 20, "b" * 64)
    assert row.content is None and row.modified_at is not None


def test_a_local_report_is_linked_when_the_folder_is_served(tmp_path, monkeypatch):
    store = LocalResultStore(tmp_path)
    uri = store.put("demo op/2026-11/report.xlsx", b"x", XLSX)
    monkeypatch.delenv(REPORTS_URL_ENV, raising=False)
    assert store.link(uri) is None  # a file:// URI is no link for a browser elsewhere
    assert str(tmp_path / "demo op" / "2026-11" / "report.xlsx") in store.how_to_open(uri)
    assert REPORTS_URL_ENV in store.how_to_open(uri)
    monkeypatch.setenv(REPORTS_URL_ENV, "http://127.0.0.1:3001/")
    assert store.link(uri) == "http://127.0.0.1:3001/demo%20op/2026-11/report.xlsx"
    assert store.link((tmp_path.parent / "elsewhere.xlsx").as_uri()) is None


def test_how_to_open_asks_for_the_reports_url_only_when_there_is_no_link(tmp_path, monkeypatch):
    """Issue 28, point 7: the UI showed the link and, beside it, "set CARRIER_OPT_REPORTS_URL
    ... for a link here"."""
    store = LocalResultStore(tmp_path)
    uri = store.put("acme/2026-11/report.xlsx", b"x", XLSX)
    monkeypatch.setenv(REPORTS_URL_ENV, "http://127.0.0.1:3001")
    assert store.link(uri) is not None
    text = store.how_to_open(uri)
    assert REPORTS_URL_ENV not in text and "for a link here" not in text
    assert "http://127.0.0.1:3001" in text and str(tmp_path / "acme") in text
    # A file outside the served folder has no link: how to get one is said.
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.xlsx"
    assert REPORTS_URL_ENV in LocalResultStore(tmp_path / "other").how_to_open(outside.as_uri())


def test_an_s3_report_links_the_console_and_a_presigned_download():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="reports")
        store = S3ResultStore("reports", "carrier-opt", client=client)
        uri = store.put("acme/2026-03/report.xlsx", b"x", XLSX)
        assert store.link(uri) == (
            "https://s3.console.aws.amazon.com/s3/object/reports"
            "?prefix=carrier-opt%2Facme%2F2026-03%2Freport.xlsx"
        )
        asked_at = time.time()
        download = urlsplit(store.download_link(uri))
        assert download.path.endswith("/carrier-opt/acme/2026-03/report.xlsx")
        query = parse_qs(download.query)
        # SigV4 states the life in seconds, SigV2 the moment it ends: 7 days either way.
        life = (
            int(query["X-Amz-Expires"][0])
            if "X-Amz-Expires" in query
            else (int(query["Expires"][0]) - asked_at)
        )
        assert abs(life - 7 * 86400) < 120
        assert "presigned link valid 7 days" in store.how_to_open(uri)
