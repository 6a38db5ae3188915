"""Issue 17: retention deletes old periods' device-level results (archived first when asked)
and keeps every total, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import gzip
import os
import stat
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select

from carrier_opt.cli import cli
from carrier_opt.db.models import (
    BillingPeriod,
    OptimizationDeviceResult,
    OptimizationInstance,
    OptimizationQueue,
)
from carrier_opt.db.retention import apply_retention
from carrier_opt.defs.partitions import register_providers
from carrier_opt_tests.defs.test_backfill import (  # noqa: F401  (fixture)
    BACKFILL_AT,
    SYNCED_AT,
    materialize,
    two_synced_periods,
)


def device_rows(engine, period_key: str) -> int:
    query = (
        select(func.count())
        .select_from(OptimizationDeviceResult)
        .join(OptimizationQueue)
        .join(OptimizationInstance)
        .join(BillingPeriod, OptimizationInstance.billing_period_id == BillingPeriod.id)
        .where(BillingPeriod.period_key == period_key)
    )
    with engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def totals(engine) -> list[tuple]:
    with engine.connect() as connection:
        instances = connection.execute(
            select(
                OptimizationInstance.id,
                OptimizationInstance.cost_before,
                OptimizationInstance.cost_after,
            ).order_by(OptimizationInstance.id)
        ).all()
        queues = connection.execute(
            select(OptimizationQueue.id, OptimizationQueue.total_cost).order_by(
                OptimizationQueue.id
            )
        ).all()
    return [tuple(row) for row in instances + queues]


def test_old_periods_lose_their_device_rows_and_keep_their_totals(
    two_synced_periods,  # noqa: F811
    database_url,
    tmp_path,
):
    engine = two_synced_periods
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        assert all(materialize(instance, database_url, key).success for key in SYNCED_AT)
    march, april = device_rows(engine, "2025-03"), device_rows(engine, "2025-04")
    assert march > 0 and april > 0
    before = totals(engine)

    dry = apply_retention(engine, 1, now=BACKFILL_AT, dry_run=True)
    assert [(p.period_key, p.total) for p in dry.periods] == [("2025-03", march)]
    assert device_rows(engine, "2025-03") == march  # a dry run deletes nothing

    done = apply_retention(engine, 1, now=BACKFILL_AT, archive_dir=tmp_path / "archive")
    assert [(p.period_key, p.total) for p in done.periods] == [("2025-03", march)]
    assert device_rows(engine, "2025-03") == 0
    assert device_rows(engine, "2025-04") == april  # the newest period is kept whole
    assert totals(engine) == before  # every instance's and queue's totals kept
    [archive] = done.periods[0].archived_to
    with gzip.open(archive, "rt", encoding="utf-8", newline="") as rows:
        archived = list(csv.DictReader(rows))
    assert len(archived) == march and "optimization_queue_id" in archived[0]

    again = apply_retention(engine, 1, now=BACKFILL_AT)
    assert sum(p.total for p in again.periods) == 0  # idempotent


def test_the_command_refuses_to_keep_nothing_and_names_what_it_would_delete(
    two_synced_periods,  # noqa: F811
    database_url,
):
    runner = CliRunner()
    refused = runner.invoke(
        cli, ["retention", "--keep-periods", "0", "--database-url", database_url]
    )
    assert refused.exit_code != 0 and "keep at least 1 period" in refused.output
    dry = runner.invoke(
        cli, ["retention", "--keep-periods", "1", "--dry-run", "--database-url", database_url]
    )
    assert dry.exit_code == 0, dry.output
    assert "would delete 0 rows in 1 period(s)" in dry.output  # nothing optimized yet


def device_result_ids(engine, period_key: str) -> set[int]:
    query = (
        select(OptimizationDeviceResult.id)
        .join(OptimizationQueue)
        .join(OptimizationInstance)
        .join(BillingPeriod, OptimizationInstance.billing_period_id == BillingPeriod.id)
        .where(BillingPeriod.period_key == period_key)
    )
    with engine.connect() as connection:
        return set(connection.scalars(query))


def read_archive(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows))


@pytest.mark.reliability
def test_a_second_archive_of_a_re_run_period_keeps_the_first(
    two_synced_periods,  # noqa: F811
    database_url,
    tmp_path,
):
    """Issue 26: archive March, backfill March again, archive again — the first archive's
    rows must survive somewhere (they are in the database no more)."""
    engine, folder = two_synced_periods, tmp_path / "archive"
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        assert all(materialize(instance, database_url, key).success for key in SYNCED_AT)
        first_ids = device_result_ids(engine, "2025-03")
        first = apply_retention(engine, 1, now=BACKFILL_AT, archive_dir=folder)
        assert materialize(instance, database_url, "2025-03").success  # the re-run
    second_ids = device_result_ids(engine, "2025-03")
    assert first_ids and second_ids and not first_ids & second_ids
    second = apply_retention(engine, 1, now=BACKFILL_AT, archive_dir=folder)

    [first_file] = first.periods[0].archived_to
    [second_file] = second.periods[0].archived_to
    assert first_file != second_file and first_file.exists() and second_file.exists()
    assert sorted(p.name for p in (folder / "acme" / "2025-03").iterdir()) == sorted(
        [first_file.name, second_file.name]
    )  # nothing half-written left beside them
    archived = [int(row["id"]) for path in (first_file, second_file) for row in read_archive(path)]
    assert len(archived) == len(first_ids) + len(second_ids)  # no row twice
    assert set(archived) == first_ids | second_ids  # every row ever deleted
    assert device_rows(engine, "2025-03") == 0


@pytest.mark.reliability
def test_an_archive_is_complete_and_fsynced_on_disk_before_its_rows_are_deleted(
    two_synced_periods,  # noqa: F811
    database_url,
    tmp_path,
    monkeypatch,
):
    """Issue 26: when the DELETE runs, the archive is at its final name, whole, and both it
    and its directory entry were fsynced — a power cut after the commit loses nothing."""
    engine, folder = two_synced_periods, tmp_path / "archive"
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        assert all(materialize(instance, database_url, key).success for key in SYNCED_AT)
    march = device_result_ids(engine, "2025-03")

    synced: list[tuple[int, bool]] = []  # (inode, is a directory), in order
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        status = os.fstat(fd)
        synced.append((status.st_ino, stat.S_ISDIR(status.st_mode)))

    monkeypatch.setattr(os, "fsync", recording_fsync)
    seen_at_delete: list[tuple[set[int], list[tuple[int, bool]]]] = []

    def before_delete(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith("DELETE"):
            return
        if '"OptimizationDeviceResult"' not in statement and (
            "OptimizationDeviceResult " not in statement
        ):
            return
        [path] = (folder / "acme" / "2025-03").glob("OptimizationDeviceResult*.csv.gz")
        ids = {int(row["id"]) for row in read_archive(path)}
        seen_at_delete.append((ids, list(synced)))
        file_inode, dir_inode = path.stat().st_ino, path.parent.stat().st_ino
        assert (file_inode, False) in synced, "archive file not fsynced before the DELETE"
        assert (dir_inode, True) in synced, "archive directory not fsynced before the DELETE"
        assert synced.index((file_inode, False)) < len(synced) - 1 - synced[::-1].index(
            (dir_inode, True)
        ), "directory fsynced only before the file was written"

    event.listen(engine, "before_cursor_execute", before_delete)
    try:
        done = apply_retention(engine, 1, now=BACKFILL_AT, archive_dir=folder)
    finally:
        event.remove(engine, "before_cursor_execute", before_delete)
    [(ids_on_disk, _)] = seen_at_delete
    assert ids_on_disk == march  # the whole period, on disk, before a row went
    assert done.periods[0].rows["OptimizationDeviceResult"] == len(march)
    assert device_rows(engine, "2025-03") == 0


@pytest.mark.reliability
def test_an_archive_that_cannot_be_written_deletes_nothing(
    two_synced_periods,  # noqa: F811
    database_url,
    tmp_path,
    monkeypatch,
):
    """Issue 26: if the archive cannot be given its name (disk full, a file system without
    hard links), the period's rows stay and no half archive is left behind."""
    engine, folder = two_synced_periods, tmp_path / "archive"
    with dg.instance_for_test() as instance:
        register_providers(instance, {"acme": "m2m"})
        assert all(materialize(instance, database_url, key).success for key in SYNCED_AT)
    march = device_rows(engine, "2025-03")

    def no_space(source, target) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", no_space)
    with pytest.raises(OSError, match="No space left"):
        apply_retention(engine, 1, now=BACKFILL_AT, archive_dir=folder)
    assert device_rows(engine, "2025-03") == march
    assert list((folder / "acme" / "2025-03").iterdir()) == []
