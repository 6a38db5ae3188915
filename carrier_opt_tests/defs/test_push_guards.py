"""Issue 28, point 9: a winner that fails its cost check or its every-SIM-once check never
reaches the carrier, and the run says why in one line (the step failure and the failure mail).

The winner is corrupted right after the winner step stored it (before the checks and the
push read it): a SIM gets a second winning row, or the stored winning cost goes above the
current cost. Updates are allowed, so a push that is not stopped sends its changes to the
fake carrier over HTTP.
"""

from datetime import UTC, datetime

import dagster as dg
import pytest
from sqlalchemy import insert, select, update

from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import (
    OptimizationDeviceResult,
    OptimizationInstance,
    OptimizationQueue,
    OptimizationSession,
    RatePlanPush,
    ServiceProvider,
)
from carrier_opt.db.providers import load_provider
from carrier_opt.db.recipients import set_notification_recipients
from carrier_opt.defs import failure_mail, run_context
from carrier_opt.defs.assets import m2m
from carrier_opt.defs.checks import optimization_checks
from carrier_opt.defs.failures import step_failure_text
from carrier_opt.defs.partitions import partition_key
from carrier_opt.defs.resources import DatabaseResource, NotifierResource, ResultStoreResource
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline import m2m as m2m_pipeline
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    add_fake_provider,
    write_fake_price_files,
)
from carrier_opt_tests.defs import support
from carrier_opt_tests.delivery.conftest import smtp_server  # noqa: F401  (fixture)
from carrier_opt_tests.ui.corruption import corrupt_the_next_winners

MID_PERIOD = datetime(2026, 11, 12, 14, 0, tzinfo=UTC)
TO = ("ops@example.com",)


@pytest.fixture
def pushing_provider(migrated_engine, monkeypatch, tmp_path):
    """The fake carrier (300 SIMs) with 'acme' registered, priced, with a recipient and
    automatic updates on: an unguarded push would send its changes."""
    with FakeJasper(devices=300, seed=5, now=MID_PERIOD) as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_fake_provider(migrated_engine, fake)
        load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
        with migrated_engine.begin() as connection:
            provider_id = load_provider(connection, "acme").id
            set_notification_recipients(connection, provider_id, to=TO)
            connection.execute(
                update(ServiceProvider).values(allow_automatic_rate_plan_updates=True)
            )
        monkeypatch.setattr(run_context, "clock", fake.now)
        yield fake


def duplicate_a_winning_row(engine, instance_id: int) -> None:
    """One SIM of the instance gets a second winning row."""
    table = OptimizationDeviceResult.__table__
    with engine.begin() as connection:
        row = connection.execute(
            select(table)
            .join(OptimizationQueue, OptimizationQueue.id == table.c.optimization_queue_id)
            .where(
                OptimizationQueue.optimization_instance_id == instance_id,
                OptimizationQueue.is_winner.is_(True),
            )
            .limit(1)
        ).one()
        copy = {key: value for key, value in row._mapping.items() if key != "id"}
        connection.execute(insert(table).values(**copy))


def raise_the_winning_cost(engine, instance_id: int) -> None:
    """The stored winning cost goes above the cost before optimization."""
    with engine.begin() as connection:
        connection.execute(
            update(OptimizationInstance)
            .where(OptimizationInstance.id == instance_id)
            .values(cost_after=OptimizationInstance.cost_before + 100)
        )


CORRUPTIONS = {
    "every_sim_assigned_once": duplicate_a_winning_row,
    "cost_between_bound_and_baselines": raise_the_winning_cost,
}


@pytest.fixture
def corrupted_winner(migrated_engine, monkeypatch, request):
    """The winner step stores its winner, then ``request.param``'s corruption is applied."""
    corrupt = CORRUPTIONS[request.param]
    choose = m2m_pipeline.choose_winner

    def choose_then_corrupt(engine, ids):
        winner = choose(engine, ids)
        corrupt(engine, ids.instance_id)
        return winner

    monkeypatch.setattr(m2m_pipeline, "choose_winner", choose_then_corrupt)
    return request.param


def run_partition(database_url, assets, notifier, tmp_path, instance):
    return support.materialize_partition(
        database_url,
        assets,
        partition_key("acme", MID_PERIOD.strftime("%Y-%m")),
        instance=instance,
        run_config={"ops": {"queue_results": {"config": {"time_limit_s": 5.0}}}},
        result_store=ResultStoreResource(folder=str(tmp_path / "reports")),
        notifier=notifier,
    )


def failure_mail_of(result, instance, database_url, notifier) -> None:
    """Evaluate the run-failure mail sensor on the failed run, as the daemon would."""
    context = dg.build_run_status_sensor_context(
        sensor_name="optimization_failure_mail",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"database": DatabaseResource(database_url=database_url), "notifier": notifier},
    ).for_run_failure()
    failure_mail.optimization_failure_mail(context)


def assert_nothing_reached_the_carrier(fake: FakeJasper, engine) -> None:
    assert fake.edits == []
    assert not any(r.method == "PUT" for r in fake.request_log)
    with engine.connect() as connection:
        assert connection.execute(select(RatePlanPush.id)).all() == []


@pytest.mark.parametrize(
    "corrupted_winner",
    ["every_sim_assigned_once", "cost_between_bound_and_baselines"],
    indirect=True,
)
def test_a_failed_blocking_check_stops_the_push_with_one_line(
    pushing_provider,
    corrupted_winner,
    migrated_engine,
    database_url,
    tmp_path,
    smtp_server,  # noqa: F811
):
    """The winner's money checks are blocking: the push waits for them and, when one fails
    with ERROR severity, Dagster skips it. The check's step fails with one sentence, which is
    the run's failure and the failure mail's; the session is closed as failed, so no approval
    pushes that winner later."""
    notifier = support_notifier(smtp_server)
    with dg.instance_for_test() as instance:
        result = run_partition(
            database_url, [*m2m.m2m_assets, *optimization_checks], notifier, tmp_path, instance
        )
        assert not result.success
        failure_mail_of(result, instance, database_url, notifier)

    assert_nothing_reached_the_carrier(pushing_provider, migrated_engine)
    assert result.asset_materializations_for_node("rate_plan_updates") == []
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations[corrupted_winner]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert "instance" in failed.description

    [failure] = result.get_step_failure_events()
    assert failure.step_key == f"winning_assignments_{corrupted_winner}"
    message, error_class = step_failure_text(failure.step_failure_data)
    assert "\n" not in message and error_class == "WinnerCheckFailed"
    assert message == (
        "the winner is not pushed, nothing was sent to the carrier: winning_assignments "
        f"failed {corrupted_winner}: {failed.description}"
    )

    with migrated_engine.connect() as connection:
        session = connection.execute(select(OptimizationSession.__table__)).one()
    assert session.status == "failed" and session.error_message == message

    [mail] = [m for m in smtp_server.inbox.messages if m.message["X-Carrier-Opt-Kind"] == "error"]
    assert mail.message["Subject"].startswith(
        f"[carrier_opt] FAILED acme 2026-11: {failure.step_key}: the winner is not pushed, "
        "nothing was sent to the carrier"
    )
    assert f"Error: {message}" in mail.message.get_content().splitlines()


@pytest.mark.parametrize("corrupted_winner", ["every_sim_assigned_once"], indirect=True)
def test_the_push_judges_the_winner_itself_when_the_checks_do_not_run(
    pushing_provider, corrupted_winner, migrated_engine, database_url, tmp_path
):
    """A push without the checks in its run (an approval, the command line, a re-executed
    push step; here the assets alone) refuses a failing winner before any carrier call."""
    with dg.instance_for_test() as instance:
        result = run_partition(database_url, m2m.m2m_assets, NotifierResource(), tmp_path, instance)
    assert not result.success
    assert_nothing_reached_the_carrier(pushing_provider, migrated_engine)
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "rate_plan_updates"
    message, error_class = step_failure_text(failure.step_failure_data)
    assert "\n" not in message and error_class == "WinnerCheckFailed"
    assert message.startswith(
        "acme: the winner is not pushed, nothing was sent to the carrier: it fails its checks: "
        "instance "
    )
    assert "winning rows for" in message


def support_notifier(server) -> NotifierResource:
    return NotifierResource(
        kind="smtp", smtp_host=server.host, smtp_port=server.port, sender="co@example.com"
    )


def test_a_winner_corrupted_by_the_database_itself_is_not_pushed(
    pushing_provider, migrated_engine, database_url, tmp_path
):
    """The corruption the UI end-to-end test uses (a trigger, since the daemon's run process
    cannot be patched) is caught the same way on SQLite and PostgreSQL."""
    corrupt_the_next_winners(migrated_engine)
    with dg.instance_for_test() as instance:
        result = run_partition(
            database_url,
            [*m2m.m2m_assets, *optimization_checks],
            NotifierResource(),
            tmp_path,
            instance,
        )
    assert not result.success
    assert_nothing_reached_the_carrier(pushing_provider, migrated_engine)
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "winning_assignments_every_sim_assigned_once"
    assert step_failure_text(failure.step_failure_data)[0].startswith(
        "the winner is not pushed, nothing was sent to the carrier: winning_assignments failed "
        "every_sim_assigned_once: "
    )
