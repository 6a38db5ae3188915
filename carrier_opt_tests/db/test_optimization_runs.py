"""Session tracking: the legacy rule for overlapping sessions, on both databases."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import OptimizationInstance, OptimizationSession, RunStatus
from carrier_opt.db.providers import add_provider


@pytest.fixture
def provider(migrated_engine) -> str:
    add_provider(
        migrated_engine,
        "acme",
        jasper_url="http://127.0.0.1:1/rws/api/v1/",
        billing_cycle_end_day=18,
        billing_cycle_end_rule="after_end_day",
        time_zone="America/Chicago",
        optimization_start_hour=8,
    )
    return "acme"


def reopen(engine, ids: runs.RunIds, instance_status: RunStatus) -> None:
    """Leave the session running with its instance in ``instance_status`` (a crashed run)."""
    with engine.begin() as connection:
        connection.execute(
            update(OptimizationSession)
            .where(OptimizationSession.id == ids.session_id)
            .values(status=RunStatus.RUNNING.value)
        )
        connection.execute(
            update(OptimizationInstance)
            .where(OptimizationInstance.id == ids.instance_id)
            .values(status=instance_status.value)
        )


def test_a_running_session_blocks_the_next_one(migrated_engine, provider):
    ten_days_before = datetime(2026, 11, 8, 15, tzinfo=UTC)
    ids = runs.start_session(migrated_engine, provider, "2026-11", run_id="r1", now=ten_days_before)
    with pytest.raises(runs.SessionRefused, match="is still running"):
        runs.start_session(migrated_engine, provider, "2026-11", run_id="r2", now=ten_days_before)
    runs.finish(migrated_engine, ids, RunStatus.COMPLETED)
    runs.start_session(migrated_engine, provider, "2026-11", run_id="r3", now=ten_days_before)


def test_on_the_last_day_a_completed_instance_does_not_block(migrated_engine, provider):
    last_day = datetime(2026, 11, 18, 20, tzinfo=UTC)  # 14:00 in Chicago on the 18th
    ids = runs.start_session(migrated_engine, provider, "2026-11", run_id="r1", now=last_day)
    reopen(migrated_engine, ids, RunStatus.COMPLETED)
    runs.start_session(migrated_engine, provider, "2026-11", run_id="r2", now=last_day)


def test_on_the_last_day_an_unfinished_instance_still_blocks(migrated_engine, provider):
    last_day = datetime(2026, 11, 18, 20, tzinfo=UTC)
    ids = runs.start_session(migrated_engine, provider, "2026-11", run_id="r1", now=last_day)
    reopen(migrated_engine, ids, RunStatus.RUNNING)
    with pytest.raises(runs.SessionRefused):
        runs.start_session(migrated_engine, provider, "2026-11", run_id="r2", now=last_day)


def test_the_day_before_the_last_a_completed_instance_still_blocks(migrated_engine, provider):
    day_before = datetime(2026, 11, 17, 20, tzinfo=UTC)
    ids = runs.start_session(migrated_engine, provider, "2026-11", run_id="r1", now=day_before)
    reopen(migrated_engine, ids, RunStatus.COMPLETED)
    with pytest.raises(runs.SessionRefused):
        runs.start_session(migrated_engine, provider, "2026-11", run_id="r2", now=day_before)
