"""Every stamp the database receives comes from the one clock (``carrier_opt.clock``).

Issue 14: a test or a replay that pins the clock must pin everything that decides or records
by the time — the billing period, the sync watermark, audit and staging stamps — so the suite
passes on any date and in any zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from carrier_opt import clock
from carrier_opt.db.models import Base
from carrier_opt.db.types import UtcDateTime, utc_now
from carrier_opt.errors import ConfigurationError
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider
from carrier_opt_tests.jasper.support import client_for

PINNED = datetime(2031, 3, 31, 23, 30, tzinfo=UTC)
"""Far from any real "today", the last day of a month, late in the day."""

OUR_STAMPS = {
    "created_at",
    "modified_at",
    "staged_at",
    "started_at",
    "heartbeat_at",
    "finished_at",
    "last_synced_at",
    "recorded_at",
    "changed_at",
    "search_started_at",
}
"""Columns this system writes from its own clock (the others hold the carrier's dates)."""


def stamps(engine: Engine) -> list[tuple[str, datetime]]:
    """Every non-NULL value of every stamp column, named ``table.column``."""
    found = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if column.name in OUR_STAMPS and isinstance(column.type, UtcDateTime):
                    values = connection.scalars(select(column).where(column.is_not(None)))
                    found += [(f"{table.name}.{column.name}", value) for value in values]
    return found


def test_utc_now_reads_the_pinned_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: PINNED)
    assert utc_now() == PINNED


def test_a_sync_under_a_pinned_clock_stamps_nothing_with_the_wall_clock(
    migrated_engine, monkeypatch
):
    monkeypatch.setattr(clock, "now", lambda: PINNED)
    with FakeJasper(devices=40, seed=3, now=PINNED) as fake:
        add_fake_provider(migrated_engine, fake)
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
    assert report.merge.inserted == 40
    found = stamps(migrated_engine)
    names = {name for name, _ in found}
    assert {"Device.created_at", "JasperSyncRun.started_at"} <= names
    # The sync's own clock moves on with the seconds it takes; nothing reads the wall clock.
    outside = [
        (name, value)
        for name, value in found
        if not PINNED <= value <= PINNED + timedelta(minutes=10)
    ]
    assert outside == []


def test_processes_that_cannot_be_patched_read_the_shift(monkeypatch):
    monkeypatch.setenv(clock.SHIFT_ENV, "-86400")
    moved = clock.now()
    monkeypatch.delenv(clock.SHIFT_ENV)
    assert abs((clock.now() - moved) - timedelta(days=1)) < timedelta(seconds=5)


@pytest.mark.parametrize("raw", ["tomorrow", "nan", "inf", "1e20"])
def test_a_bad_shift_is_one_clear_error(monkeypatch, raw):
    monkeypatch.setenv(clock.SHIFT_ENV, raw)
    with pytest.raises(ConfigurationError, match="CARRIER_OPT_CLOCK_SHIFT"):
        clock.now()
