"""A whole partition materialized against the fake carrier over HTTP, on both databases."""

from datetime import UTC, datetime

import dagster as dg
import pytest
from sqlalchemy import func, select

from carrier_opt.core.instance import load_instance
from carrier_opt.core.optimizer import optimize
from carrier_opt.db.export import export_instance
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import (
    OptimizationDeviceResult,
    OptimizationQueue,
    OptimizationQueueRatePlan,
    OptimizationSession,
    RunStatus,
)
from carrier_opt.defs import run_context
from carrier_opt.defs.assets import m2m
from carrier_opt.defs.checks import optimization_checks
from carrier_opt.defs.failures import step_failure_text
from carrier_opt.defs.partitions import partition_key
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    add_fake_provider,
    write_fake_price_files,
)
from carrier_opt_tests.defs import support
from carrier_opt_tests.defs.metadata_support import assert_money_in_one_form

MID_PERIOD = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
"""A pinned moment well inside a calendar-month period: no test here reads the wall clock."""

LAST_DAY = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
"""The last day of the same period, when the legacy last-day rule admits a new session."""


@pytest.fixture
def fake_at(migrated_engine, monkeypatch, tmp_path):
    """Builds the fake carrier at a pinned moment, with a registered, priced provider 'acme';
    the asset clock follows the fake's."""
    fakes = []

    def build(now: datetime = MID_PERIOD) -> FakeJasper:
        fake = FakeJasper(devices=400, seed=5, now=now).start()
        fakes.append(fake)
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_fake_provider(migrated_engine, fake)
        load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
        monkeypatch.setattr(run_context, "clock", fake.now)
        return fake

    yield build
    for fake in fakes:
        fake.stop()


@pytest.fixture
def fake_provider(fake_at):
    """The fake carrier mid-period with a registered, priced provider 'acme'."""
    return fake_at()


def materialize_partition(database_url: str, key: dg.MultiPartitionKey):
    return support.materialize_partition(
        database_url, [*m2m.optimization_assets, *optimization_checks], key
    )


def test_a_partition_runs_end_to_end_and_matches_the_command_line_optimizer(
    fake_provider, migrated_engine, database_url, tmp_path
):
    period = fake_provider.now().strftime("%Y-%m")
    result = materialize_partition(database_url, partition_key("acme", period))
    assert result.success
    winner = result.asset_materializations_for_node("winning_assignments")[0].metadata
    assert winner["cost_after_usd"].value <= winner["legacy_cost_usd"].value
    assert winner["lower_bound_usd"].value <= winner["cost_after_usd"].value + 0.005
    assert winner["cost_after_usd"].value < winner["cost_before_usd"].value

    folder = tmp_path / "instance"
    export_instance(migrated_engine, "acme", period, folder)
    offline = optimize(load_instance(folder), time_limit_s=20)
    assert winner["cost_after_usd"].value == pytest.approx(offline.cost, abs=0.01)

    with migrated_engine.connect() as connection:
        session = connection.execute(select(OptimizationSession)).one()
        results = connection.scalar(select(func.count()).select_from(OptimizationDeviceResult))
    assert session.status == RunStatus.COMPLETED.value
    assert session.progress_percent == 100
    assert results == winner["devices"].value  # losers' rows were cleaned
    with migrated_engine.connect() as connection:
        queues = connection.execute(
            select(
                OptimizationQueue.strategy, OptimizationQueue.total_cost, OptimizationQueue.status
            )
        ).all()
        sequence_rows = connection.scalar(
            select(func.count()).select_from(OptimizationQueueRatePlan)
        )
    permutations = result.asset_materializations_for_node("rate_plan_permutations")[0].metadata
    assert len(queues) == permutations["queues"].value > 3  # current, legacy ones, optimizer
    assert all(status == "completed" and cost is not None for _, cost, status in queues)
    legacy_costs = [float(cost) for name, cost, _ in queues if name.startswith(("legacy", "base"))]
    assert min(legacy_costs) == pytest.approx(winner["legacy_cost_usd"].value, abs=0.01)
    assert sequence_rows >= len(queues)
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 3
    assert all(check.passed for check in checks), [(c.check_name, c.metadata) for c in checks]
    assert assert_money_in_one_form(result) >= 10  # the winner's and the cost check's


def test_a_second_run_is_refused_while_one_is_running(fake_provider, migrated_engine, database_url):
    period = fake_provider.now().strftime("%Y-%m")
    with migrated_engine.begin() as connection:
        connection.execute(
            OptimizationSession.__table__.update().values(status=RunStatus.RUNNING.value)
        )
    first = materialize_partition(database_url, partition_key("acme", period))
    assert first.success
    with migrated_engine.begin() as connection:
        connection.execute(
            OptimizationSession.__table__.update().values(status=RunStatus.RUNNING.value)
        )
    second = materialize_partition(database_url, partition_key("acme", period))
    assert not second.success
    failure = next(e for e in second.all_events if e.is_step_failure)
    assert "is still running" in str(failure.step_failure_data.error)


def test_on_the_last_day_a_new_run_starts_once_the_previous_instance_completed(
    fake_at, migrated_engine, database_url
):
    fake = fake_at(LAST_DAY)  # the legacy rule: hourly runs on the last day of the cycle
    key = partition_key("acme", fake.now().strftime("%Y-%m"))
    assert materialize_partition(database_url, key).success
    with migrated_engine.begin() as connection:  # the session still open, its instance done
        connection.execute(
            OptimizationSession.__table__.update().values(status=RunStatus.RUNNING.value)
        )
    assert materialize_partition(database_url, key).success
    with migrated_engine.connect() as connection:
        sessions = connection.scalar(select(func.count()).select_from(OptimizationSession))
    assert sessions == 2


def test_a_period_never_synced_fails_with_its_message(fake_provider, database_url):
    result = materialize_partition(database_url, partition_key("acme", "2025-02"))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    # 2025-02 is a closed period: the run uses stored usage, and there is none.
    assert "acme has no usage stored for billing period 2025-02" in str(
        failure.step_failure_data.error
    )
    # The run page shows that sentence as the step failure (a dagster.Failure), not Dagster's
    # "Error occurred while executing op" over a stack trace.
    message, error_class = step_failure_text(failure.step_failure_data)
    # Issue 28: it said "a closed period cannot be synced afterwards"; sync_carrier_data
    # stores a closed period's usage (by cycle start date), so it says to run that first.
    assert message.startswith(
        "acme has no usage stored for billing period 2025-02, which is closed: run "
        "sync_carrier_data for 2025-02|acme (or carrier-opt sync acme --past-periods 21) first"
    )
    assert "\n" not in message and error_class == "InputError"
    assert "Error occurred while executing" not in str(failure.step_failure_data.error)
