"""After a push the carrier is re-checked three times, 900 s apart; a change it does not show
is recorded on its row, counted on the push and mailed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from carrier_opt.db.models import RatePlanPush, RatePlanUpdate
from carrier_opt.delivery.messages import push_check_message
from carrier_opt.delivery.push_checks import (
    CHECK_INTERVAL,
    NOT_CHANGED,
    SINGLE_READS,
    check_push,
    due_pushes,
)
from carrier_opt.delivery.rate_plan_updates import push_winner
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.delivery.push_support import LARGE, NOW, SMALL, independent_moves
from carrier_opt_tests.delivery.support import seed_instance
from carrier_opt_tests.jasper.support import client_for


class Clock:
    """The fake carrier's clock plus a shift the test moves forward."""

    def __init__(self, fake: FakeJasper) -> None:
        self.fake, self.shift = fake, timedelta(0)

    def __call__(self):
        return self.fake.now() + self.shift


@pytest.mark.database
def test_three_checks_900_s_apart_record_and_report_what_the_carrier_shows(migrated_engine):
    with FakeJasper(devices=30, seed=4, now=NOW) as fake, client_for(fake) as client:
        case = independent_moves(fake, 20)
        seeded = seed_instance(migrated_engine, allow_updates=True)
        clock = Clock(fake)
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=clock)
        assert outcome.sent == 20
        assert due_pushes(migrated_engine, clock()) == []
        clock.shift = CHECK_INTERVAL + timedelta(seconds=1)
        (due,) = due_pushes(migrated_engine, clock())
        assert (due.push_id, due.checks_done, due.provider) == (outcome.push_id, 0, "acme")

        for sim in fake.fleet[:3]:  # the carrier went back on three of them
            sim.rate_plan = LARGE
        first = check_push(migrated_engine, client, outcome.push_id, now=clock)
        assert first.check_number == 1 and first.checked == 20
        assert sorted(d.iccid for d in first.discrepancies) == sorted(
            sim.iccid for sim in fake.fleet[:3]
        )
        assert {(d.expected_rate_plan, d.shown_rate_plan) for d in first.discrepancies} == {
            (SMALL, LARGE)
        }
        assert abs(first.next_check_at - (clock() + CHECK_INTERVAL)) < timedelta(seconds=5)
        mail = push_check_message(provider="acme", period_key="2026-03", check=first)
        assert "3 rate-plan change(s) not in place" in mail.subject
        assert f"{fake.fleet[0].iccid}: expected {SMALL}, the carrier shows {LARGE}" in mail.body

        for number in (2, 3):
            clock.shift += CHECK_INTERVAL
            check = check_push(migrated_engine, client, outcome.push_id, now=clock)
            assert check.check_number == number
        assert check.next_check_at is None  # three checks, then none
        clock.shift += CHECK_INTERVAL
        assert due_pushes(migrated_engine, clock()) == []
    with migrated_engine.connect() as connection:
        push = connection.execute(select(RatePlanPush.__table__)).one()
        shown = dict(
            connection.execute(
                select(RatePlanUpdate.iccid, RatePlanUpdate.verified_rate_plan_code)
            ).all()
        )
    assert (push.checks_done, push.discrepancies, push.next_check_at) == (3, 3, None)
    assert sum(plan == LARGE for plan in shown.values()) == 3
    assert sum(plan == SMALL for plan in shown.values()) == 17


@pytest.mark.database
def test_a_check_reads_a_carrier_that_lost_the_changes_in_bulk_not_sim_by_sim(migrated_engine):
    """Issue 28, point 2: a carrier that no longer shows a push (the demo carrier restarted
    from its seed) made the check read every sent SIM one by one — 13,204 calls at 5 calls/s,
    45 minutes during which the provider's other runs waited."""
    sims = SINGLE_READS + 35
    with FakeJasper(devices=80, seed=4, now=NOW) as fake, client_for(fake) as client:
        case = independent_moves(fake, sims)
        seeded = seed_instance(migrated_engine, allow_updates=True)
        clock = Clock(fake)
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=clock)
        assert outcome.sent == sims
        for sim in fake.fleet[:sims]:  # as the carrier was before the push: not changed since
            sim.rate_plan, sim.date_updated = LARGE, NOW - timedelta(days=3)
        fake.clear_request_log()
        clock.shift = CHECK_INTERVAL + timedelta(seconds=1)
        check = check_push(migrated_engine, client, outcome.push_id, now=clock)
        details = [r for r in fake.request_log if r.route.startswith("devices/")]
        searches = [r for r in fake.request_log if r.route == "devices"]
    assert check.checked == len(check.discrepancies) == sims  # every change missing, said so
    assert len(details) == SINGLE_READS and len(searches) == 1
    shown = [d.shown_rate_plan for d in check.discrepancies]
    assert shown.count(LARGE) == SINGLE_READS  # those read one by one: the plan they are on
    assert shown.count(NOT_CHANGED) == sims - SINGLE_READS
    with migrated_engine.connect() as connection:
        push = connection.execute(select(RatePlanPush.__table__)).one()
    assert push.discrepancies == sims
