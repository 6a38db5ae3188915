"""Rate-plan changes reach the fake carrier exactly once, in batches of at most 250, only
when allowed, only when they save money, and never inside the 10-minute buffer."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from carrier_opt.db.models import RatePlanUpdate, RatePlanUpdateBatch
from carrier_opt.delivery.rate_plan_updates import (
    RatePlanChange,
    automatic_updates_allowed,
    best_observed_rate,
    go_no_go,
    push_rate_plan_changes,
    saving_changes,
)
from carrier_opt.delivery.report_data import report_data_from
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake_fleet import RATE_PLANS
from carrier_opt_tests.delivery.support import PERIOD, seed_instance, small_instance
from carrier_opt_tests.jasper.support import client_for

END = datetime(2026, 3, 19, 5, 0, tzinfo=UTC)
PLAN_NAMES = [plan.name for plan in RATE_PLANS]


# --------------------------------------------------------------------------- Go / No-Go


@pytest.mark.parametrize(
    ("minutes_left", "devices", "rate", "go"),
    [
        (15, 250, None, True),  # 15 − 250/60 = 10.83
        (14, 250, None, False),  # 14 − 4.17 = 9.83
        (11, 250, 250.0, True),  # 11 − 1 = 10: exactly the buffer is enough
        (10.99, 250, 250.0, False),  # floor(10.99) = 10; 10 − 1 = 9
        (12, 100, None, True),  # 12 − 1.67
        (11, 1000, 500.0, True),  # only the next batch of 250 counts: 11 − 0.5
        (10, 0, None, True),
        (9.5, 0, None, False),
        (-5, 10, None, False),  # past the end
    ],
)
def test_go_no_go_follows_the_legacy_rule(minutes_left, devices, rate, go):
    decision = go_no_go(END - timedelta(minutes=minutes_left), END, devices, rate)
    assert decision.go is go
    assert decision.rate_per_minute == (rate or 60.0)
    assert decision.rate_observed is (rate is not None)
    assert decision.minutes_needed == pytest.approx(min(devices, 250) / (rate or 60.0))
    assert ("No Go" in decision.reason) is not go


def test_go_no_go_uses_instants_whatever_the_local_zone():
    from zoneinfo import ZoneInfo

    local_now = (END - timedelta(minutes=20)).astimezone(ZoneInfo("America/Chicago"))
    assert go_no_go(local_now, END, 250, None).minutes_remaining == 20
    with pytest.raises(InputError, match="timezone-aware"):
        go_no_go(datetime(2026, 3, 19), END, 1, None)


def test_only_moves_that_save_money_become_changes():
    instance = small_instance()
    recommended = instance.current_plan.copy()
    recommended[1] = 1  # saves: the heavy SIM joins the big pool
    recommended[0] = 1  # costs more: an idle SIM on a dearer plan
    data = report_data_from(
        instance, instance.current_plan, recommended, provider="p", period=PERIOD
    )
    changes = saving_changes(data.assignments)
    assert [c.iccid for c in changes] == [instance.iccids[1]]
    assert changes[0].from_rate_plan == "POOL_10MB" and changes[0].to_rate_plan == "POOL_100MB"
    assert changes[0].saving_usd > 0


# --------------------------------------------------------------------------- pushing


class StepClock:
    """A clock that moves ``step`` forward every time it is read."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self.moment, self.step = start, step

    def __call__(self) -> datetime:
        self.moment += self.step
        return self.moment


def changes_for(fake: FakeJasper, count: int, *, saving: float = 1.0) -> list[RatePlanChange]:
    """Move ``count`` SIMs of the fake to another plan of the fake's offer."""
    changes = []
    for index, device in enumerate(fake.fleet[:count]):
        others = [name for name in PLAN_NAMES if name != device.rate_plan]
        changes.append(
            RatePlanChange(
                device.iccid, device.rate_plan, others[index % len(others)], saving + index / 1000
            )
        )
    return changes


def audit_rows(engine, instance_id: int | None = None):
    query = select(RatePlanUpdate.__table__).order_by(RatePlanUpdate.id)
    if instance_id is not None:
        query = query.where(RatePlanUpdate.optimization_instance_id == instance_id)
    with engine.connect() as connection:
        return connection.execute(query).all()


def far_from_the_end(fake: FakeJasper) -> datetime:
    return fake.now() + timedelta(days=3)


@pytest.mark.database
def test_disabled_updates_send_nothing_and_record_a_dry_run(migrated_engine):
    seeded = seed_instance(migrated_engine)
    with FakeJasper(devices=20, seed=3) as fake, client_for(fake) as client:
        with migrated_engine.connect() as connection:
            enabled = automatic_updates_allowed(connection, seeded.provider_id)
        assert enabled is False  # the default
        changes = changes_for(fake, 12)
        outcome = push_rate_plan_changes(
            migrated_engine,
            client,
            seeded.provider_id,
            seeded.instance_id,
            changes,
            period_end=far_from_the_end(fake),
            enabled=enabled,
        )
        assert fake.edits == []
        assert [r for r in fake.request_log if r.method == "PUT"] == []
    assert outcome.dry_run == 12 and outcome.sent == 0 and outcome.decision.go
    rows = audit_rows(migrated_engine)
    assert {row.status for row in rows} == {"dry_run"}
    assert sorted((r.iccid, r.to_rate_plan_code) for r in rows) == sorted(
        (c.iccid, c.to_rate_plan) for c in changes
    )


@pytest.mark.database
def test_enabled_updates_send_exactly_the_saving_changes_in_batches_of_250(migrated_engine):
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with FakeJasper(devices=540, seed=4) as fake, client_for(fake) as client:
        saving = changes_for(fake, 520)
        not_saving = [
            RatePlanChange(c.iccid, c.from_rate_plan, c.to_rate_plan, 0.0)
            for c in changes_for(fake, 540)[520:]
        ]
        with migrated_engine.connect() as connection:
            enabled = automatic_updates_allowed(connection, seeded.provider_id)
        outcome = push_rate_plan_changes(
            migrated_engine,
            client,
            seeded.provider_id,
            seeded.instance_id,
            saving + not_saving,
            period_end=far_from_the_end(fake),
            enabled=enabled,
        )
        edits = fake.edits
    assert outcome.sent == 520 and outcome.failed == 0 and outcome.not_saving == 20
    sent = Counter(edit.iccid for edit in edits)
    assert set(sent) == {c.iccid for c in saving} and max(sent.values()) == 1
    wanted = {c.iccid: c.to_rate_plan for c in saving}
    assert all(edit.fields == {"ratePlan": wanted[edit.iccid]} for edit in edits)
    assert [b.devices for b in outcome.batches] == [250, 250, 20]
    rows = audit_rows(migrated_engine)
    assert Counter(row.batch_number for row in rows) == {1: 250, 2: 250, 3: 20}
    assert all(row.status == "sent" and row.attempts == 1 for row in rows)
    assert all(row.requested_at <= row.completed_at for row in rows)
    # Biggest savings first.
    first_batch = {row.iccid for row in rows if row.batch_number == 1}
    assert first_batch == {c.iccid for c in sorted(saving, key=lambda c: -c.saving_usd)[:250]}
    with migrated_engine.connect() as connection:
        batches = connection.execute(select(RatePlanUpdateBatch.__table__)).all()
        assert best_observed_rate(connection, seeded.provider_id) == max(
            b.devices_per_minute for b in batches
        )
    assert all(b.success_rate == 1.0 and b.devices_per_minute > 0 for b in batches)


@pytest.mark.database
def test_a_failure_mid_batch_is_recorded_and_a_rerun_sends_nothing_twice(migrated_engine):
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with FakeJasper(devices=30, seed=5) as fake, client_for(fake) as client:
        changes = changes_for(fake, 30)
        broken = changes[14]
        changes[14] = RatePlanChange(
            broken.iccid, broken.from_rate_plan, "NO_SUCH_PLAN", broken.saving_usd
        )  # sent 16th of 30 (largest saving first): mid-way through batch 2
        run = dict(period_end=far_from_the_end(fake), enabled=True, batch_size=10)
        first = push_rate_plan_changes(
            migrated_engine, client, seeded.provider_id, seeded.instance_id, changes, **run
        )
        edits_after_first = list(fake.edits)
        second = push_rate_plan_changes(
            migrated_engine, client, seeded.provider_id, seeded.instance_id, changes, **run
        )
        edits_after_second = list(fake.edits)
    assert (first.sent, first.failed) == (29, 1)
    assert [(b.devices, b.succeeded, b.failed) for b in first.batches] == [
        (10, 10, 0),
        (10, 9, 1),
        (10, 10, 0),
    ]
    assert (second.sent, second.failed, second.already_sent) == (0, 1, 29)
    assert edits_after_second == edits_after_first  # nothing sent twice
    assert len({edit.iccid for edit in edits_after_first}) == len(edits_after_first) == 29
    (failed,) = [row for row in audit_rows(migrated_engine) if row.status == "failed"]
    assert failed.iccid == broken.iccid and failed.http_status == 400
    assert (
        failed.carrier_error_code == "10000028" and "NO_SUCH_PLAN" in failed.carrier_error_message
    )
    assert failed.attempts == 2 and failed.batch_number == 4  # re-run batches continue numbering


@pytest.mark.database
def test_nothing_is_sent_inside_the_ten_minute_buffer(migrated_engine):
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with FakeJasper(devices=40, seed=6) as fake, client_for(fake) as client:
        period_end = fake.now() + timedelta(minutes=13)
        clock = StepClock(fake.now(), timedelta(seconds=20))
        changes = changes_for(fake, 40)
        outcome = push_rate_plan_changes(
            migrated_engine,
            client,
            seeded.provider_id,
            seeded.instance_id,
            changes,
            period_end=period_end,
            enabled=True,
            now=clock,
        )
        later = push_rate_plan_changes(
            migrated_engine,
            client,
            seeded.provider_id,
            seeded.instance_id,
            changes,
            period_end=period_end,
            enabled=True,
            now=clock,
        )
        edits = fake.edits
    assert outcome.decision.go and 0 < outcome.sent < 40
    assert outcome.skipped_no_go == 40 - outcome.sent
    assert not later.decision.go and later.sent == 0 and later.decisions[0].go is False
    rows = audit_rows(migrated_engine)
    sent = [row for row in rows if row.status == "sent"]
    assert len(sent) == len(edits) == outcome.sent
    assert all(period_end - row.requested_at >= timedelta(minutes=10) for row in sent)
    assert Counter(row.status for row in rows)["skipped_no_go"] == 40 - outcome.sent


@pytest.mark.database
def test_a_change_whose_answer_was_lost_is_checked_before_sending_again(migrated_engine):
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with FakeJasper(devices=3, seed=8) as fake, client_for(fake) as client:
        change = changes_for(fake, 1)[0]
        fake.fleet[0].rate_plan = change.to_rate_plan  # the carrier did apply it
        with migrated_engine.begin() as connection:
            connection.execute(
                insert(RatePlanUpdate).values(
                    service_provider_id=seeded.provider_id,
                    optimization_instance_id=seeded.instance_id,
                    iccid=change.iccid,
                    from_rate_plan_code=change.from_rate_plan,
                    to_rate_plan_code=change.to_rate_plan,
                    saving_usd=Decimal("1"),
                    status="sending",
                    attempts=1,
                    batch_number=1,
                    created_at=datetime.now(UTC),
                )
            )
        outcome = push_rate_plan_changes(
            migrated_engine,
            client,
            seeded.provider_id,
            seeded.instance_id,
            [change],
            period_end=far_from_the_end(fake),
            enabled=True,
        )
        assert fake.edits == []
    assert outcome.sent == 1
    assert [row.status for row in audit_rows(migrated_engine)] == ["sent"]


@pytest.mark.database
def test_a_later_instance_does_not_resend_a_change_already_made(migrated_engine):
    first = seed_instance(migrated_engine, allow_updates=True)
    with FakeJasper(devices=5, seed=9) as fake, client_for(fake) as client:
        changes = changes_for(fake, 5)
        run = dict(period_end=far_from_the_end(fake), enabled=True)
        push_rate_plan_changes(
            migrated_engine, client, first.provider_id, first.instance_id, changes, **run
        )
        with migrated_engine.begin() as connection:
            from carrier_opt.db.models import OptimizationInstance

            second_id = connection.execute(
                insert(OptimizationInstance).values(
                    optimization_session_id=1,
                    service_provider_id=first.provider_id,
                    billing_period_id=first.billing_period_id,
                    status="completed",
                    created_at=datetime.now(UTC),
                )
            ).inserted_primary_key[0]
        again = push_rate_plan_changes(
            migrated_engine, client, first.provider_id, second_id, changes, **run
        )
        assert len(fake.edits) == 5
    assert again.already_sent == 5 and again.sent == 0
