"""A sync killed part-way resumes where it stopped; two syncs of one provider never run at
once, and the second one never clears the first one's staging."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carrier_opt.db.models import JasperSyncRun
from carrier_opt.db.staging import DEVICE_STAGING
from carrier_opt.db.sync_runs import SyncBusy, begin_sync
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    add_fake_provider,
    assert_device_matches_fleet,
)
from carrier_opt_tests.jasper.support import client_for

ROOT = Path(__file__).resolve().parents[2]
SIMS = 600
WORKER_CALLS_PER_SECOND = 50.0
"""The killed sync's call rate: at Cisco's 5 calls/s reaching a third of the details took
40 s; what is tested (what the resumed sync calls again) does not depend on the rate."""


def start_worker(database_url: str, fake: FakeJasper) -> subprocess.Popen:
    env = {**os.environ, USERNAME_ENV: fake.credentials[0], API_KEY_ENV: fake.credentials[1]}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carrier_opt_tests.db.sync_worker",
            database_url,
            "acme",
            str(WORKER_CALLS_PER_SECOND),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_when(worker: subprocess.Popen, fake: FakeJasper, condition, timeout_s: float = 90):
    deadline = time.monotonic() + timeout_s
    while not condition(fake.request_log) and time.monotonic() < deadline:
        assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
        time.sleep(0.005)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def searches(log) -> int:
    return sum(call.route == "devices" for call in log)


def details(log) -> int:
    return sum(call.route.startswith("devices/") and "/" not in call.route[8:] for call in log)


@pytest.mark.slow  # a real process killed, or thousands of SIMs
@pytest.mark.reliability
@pytest.mark.parametrize("moment", ["paging", "details"])
def test_a_killed_first_sync_resumes_with_at_most_one_page_of_calls_again(
    migrated_engine, database_url, moment
):
    pages = math.ceil(SIMS / 50)
    with FakeJasper(devices=SIMS, seed=12, faults=FakeFaults(latency_s=0.004)) as fake:
        add_fake_provider(migrated_engine, fake)
        worker = start_worker(database_url, fake)
        if moment == "paging":
            kill_when(worker, fake, lambda log: searches(log) >= pages // 2)
        else:
            kill_when(worker, fake, lambda log: details(log) >= SIMS // 3)
        first = fake.request_log
        fake.faults = FakeFaults()
        fake.clear_request_log()
        report = sync_provider(migrated_engine, "acme", client=client_for(fake))
        second = fake.request_log
        assert report.resumed
        assert_device_matches_fleet(migrated_engine, fake)
    # Together, the two syncs read each page and each SIM's details about once: the resumed
    # one re-reads at most the last page it had (50 calls of details are one commit).
    assert searches(first) + searches(second) <= pages + 1
    assert details(first) + details(second) <= SIMS + 50
    assert details(second) >= SIMS - details(first)
    with migrated_engine.connect() as connection:
        runs = connection.execute(
            select(JasperSyncRun.status, JasperSyncRun.resumed_from).order_by(JasperSyncRun.id)
        ).all()
    assert [status for status, _ in runs] == ["abandoned", "completed"]
    assert runs[1].resumed_from is not None


@pytest.mark.reliability
def test_a_second_sync_is_refused_while_one_runs_and_leaves_its_staging(
    migrated_engine, monkeypatch
):
    with FakeJasper(devices=120, seed=3) as fake:
        provider_id = add_fake_provider(migrated_engine, fake)
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        from carrier_opt.db.types import utc_now

        running = begin_sync(migrated_engine, provider_id, now=utc_now(), holder="run one")
        with migrated_engine.begin() as connection:
            connection.execute(
                DEVICE_STAGING.insert().values(
                    service_provider_id=provider_id,
                    iccid="89012600000000000001",
                    page_number=1,
                    staged_at=utc_now(),
                )
            )
        with pytest.raises(SyncBusy, match=f"sync {running.id} by run one"):
            sync_provider(migrated_engine, "acme", client=client_for(fake))
        with migrated_engine.connect() as connection:
            staged = connection.scalar(select(func.count()).select_from(DEVICE_STAGING))
        assert staged == 1  # the refused sync cleared nothing
        assert [call for call in fake.request_log if call.route == "devices"] == []
