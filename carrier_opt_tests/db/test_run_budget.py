"""Issue 27: a last-day hourly run's sync budget comes from its deadline; a budget that ends
the search leaves the run on the usage stored before, and it says so."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.period_sync import usage_for_run
from carrier_opt.pipeline.session import PeriodRun
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider
from carrier_opt_tests.jasper.support import client_for

END = datetime(2026, 12, 1, tzinfo=UTC)
"""The end of November for a provider billing calendar months in UTC."""


class Milestones:
    """What a run's progress was told (the session's own progress needs a session)."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def milestone(self, percent: int, text: str) -> None:
        self.said.append(text)


def test_a_run_minutes_before_the_end_decides_on_stored_usage_and_says_so(migrated_engine, caplog):
    early = END - timedelta(days=2)
    late = END - timedelta(minutes=15)  # no time left for a sync: a budget of one call
    with FakeJasper(devices=200, seed=4, now=early) as fake:
        add_fake_provider(migrated_engine, fake)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=early)
        with client_for(fake) as editor:  # 60 SIMs change at the carrier: two search pages
            for device in fake.fleet[:60]:
                editor.edit_device(device.iccid, customer="moved")
        fake.clear_request_log()
        progress = Milestones()
        run = PeriodRun(
            migrated_engine, progress, "acme", "2026-11", lambda: late, logging.getLogger("run")
        )
        with caplog.at_level(logging.WARNING):
            usage = usage_for_run(
                run, always_sync=True, client_for=lambda: client_for(fake), holder="test"
            )
        calls = len(fake.request_log)
    assert usage.how == "stored usage (call budget spent)" and usage.stored_sims > 0
    assert calls == 1 and "call budget spent: stored usage" in progress.said
    assert "the run decides on the usage stored before" in caplog.text
    assert usage.staleness is not None and usage.staleness.stale_sims > 0
