"""An optimization run killed mid-way (issue 14): ``kill -9`` of the process running the M2M
job while it solves. Its session stays open and blocks the provider, visibly; once Dagster
knows the run is over (run monitoring marks it failed) the next run takes the session over at
once, completes, and the database holds one completed session and the winner of that run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from carrier_opt.cli import cli
from carrier_opt.db.models import OptimizationInstance, OptimizationSession
from carrier_opt.defs.resources import NotifierResource, ResultStoreResource
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.db.sync_support import API_KEY_ENV, USERNAME_ENV
from carrier_opt_tests.defs.test_delivery_assets import (
    MID_PERIOD,
    materialize_partition,
    start_fake,
)

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[2]


def sessions(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            select(OptimizationSession.__table__).order_by(OptimizationSession.id)
        ).all()


def test_a_killed_run_blocks_visibly_until_dagster_knows_then_is_taken_over(
    migrated_engine, database_url, monkeypatch, tmp_path
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with FakeJasper(devices=400, seed=5, now=MID_PERIOD) as fake:
        start_fake(migrated_engine, monkeypatch, tmp_path, fake)
        period = fake.now().strftime("%Y-%m")
        offset = (fake.now() - datetime.now(UTC)).total_seconds()  # the worker's clock
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "carrier_opt_tests.reliability.run_worker",
                database_url,
                period,
                str(offset),
                str(tmp_path / "reports"),
            ],
            cwd=ROOT,
            env={**os.environ, USERNAME_ENV: fake.credentials[0], API_KEY_ENV: fake.credentials[1]},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # kill it once it is solving (queues created)
            assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
            opened = sessions(migrated_engine)
            if opened and opened[-1].progress_percent >= 40:
                break
            time.sleep(0.05)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        [killed] = sessions(migrated_engine)
        assert killed.status == "running"

        with dg.DagsterInstance.get() as instance:
            [dead_run] = instance.get_runs()
            assert dead_run.run_id == killed.dagster_run_id
            assert not dead_run.is_finished  # nobody told Dagster: the run looks alive
            store = ResultStoreResource(folder=str(tmp_path / "reports"))
            refused = materialize_partition(
                database_url,
                period,
                result_store=store,
                notifier=NotifierResource(),
                instance=instance,
            )
            assert not refused.success
            failure = next(e for e in refused.all_events if e.is_step_failure)
            assert f"optimization session {killed.session_guid} is still running" in str(
                failure.step_failure_data.error
            )
            listed = CliRunner().invoke(cli, ["session", "list", "--database-url", database_url])
            assert killed.session_guid in listed.output and "(STARTED)" in listed.output

            # What Dagster's run monitoring does for a run whose worker died.
            instance.report_run_failed(dead_run, "run worker killed (test)")
            taken_over = materialize_partition(
                database_url,
                period,
                result_store=store,
                notifier=NotifierResource(),
                instance=instance,
            )
            assert taken_over.success
    rows = sessions(migrated_engine)
    assert [row.status for row in rows] == ["failed", "failed", "completed"][-len(rows) :]
    assert rows[0].error_message.startswith("taken over: its Dagster run")
    with migrated_engine.connect() as connection:
        instances = connection.execute(
            select(OptimizationInstance.optimization_session_id, OptimizationInstance.status)
        ).all()
    assert sorted(status for _, status in instances) == ["completed", "failed"]
