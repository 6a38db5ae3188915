"""Pushing a winner to the fake carrier: the whole change set, re-read first, one Go/No-Go,
batches that never raise the bill, honest stops, one push per provider, crashes settled by
reading the carrier — and an audit that matches the carrier's PUT log in every case."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from carrier_opt.core.go_no_go import go_no_go
from carrier_opt.db.models import RatePlanPush, RatePlanPushLock, RatePlanPushMode
from carrier_opt.delivery.rate_plan_updates import PushSettings, push_winner
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake import FakeFaults, FakeJasper
from carrier_opt_tests.delivery.push_support import (
    LARGE,
    NOW,
    POOL,
    SMALL,
    Case,
    assert_audit_matches_the_carrier,
    audit,
    independent_moves,
    instance_of,
    pool_example,
    successful_puts,
)
from carrier_opt_tests.delivery.support import seed_instance
from carrier_opt_tests.jasper.support import client_for

END = datetime(2026, 3, 19, 5, 0, tzinfo=UTC)


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


# --------------------------------------------------------------------------- the pool example


@pytest.fixture
def fake():
    with FakeJasper(devices=600, seed=3, now=NOW) as server:
        yield server


@pytest.mark.database
def test_the_pooled_example_pushes_both_changes_and_realizes_the_optimum(migrated_engine, fake):
    case = pool_example(fake)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        outcome = push_winner(
            migrated_engine, client, case.request(seeded, cost_before=45.0), now=fake.now
        )
    # B costs $5 more on the pool on its own: a saving filter would send A alone ($65).
    assert successful_puts(fake) == {(fake.fleet[0].iccid, POOL): 1, (fake.fleet[1].iccid, POOL): 1}
    assert outcome.status.value == "completed" and outcome.verdict == "Go"
    assert outcome.changes == 2 and outcome.sent == 2
    assert [(b.devices, b.bill_before_usd, b.bill_after_usd) for b in outcome.batches] == [
        (2, pytest.approx(45.0), pytest.approx(20.0))
    ]
    assert outcome.bill_before_usd == pytest.approx(45.0)
    assert outcome.realized_bill_usd == pytest.approx(20.0)
    assert outcome.realized_saving_usd == pytest.approx(25.0)
    assert outcome.expected_saving_usd == pytest.approx(25.0)
    assert_audit_matches_the_carrier(migrated_engine, fake)
    _, batches, pushes = audit(migrated_engine)
    assert float(batches[0].bill_after_usd) == pytest.approx(20.0)
    assert float(batches[0].planned_bill_after_usd) <= float(batches[0].bill_before_usd)
    assert float(pushes[0].realized_bill_usd) == pytest.approx(20.0)


@pytest.mark.database
def test_a_sim_already_on_the_pool_is_not_sent_and_the_other_is(migrated_engine, fake):
    case = pool_example(fake, a_plan=POOL)  # A alone in the pool: $60, plus B: $5
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        outcome = push_winner(
            migrated_engine, client, case.request(seeded, cost_before=65.0), now=fake.now
        )
    assert successful_puts(fake) == {(fake.fleet[1].iccid, POOL): 1}
    assert outcome.changes == 1 and outcome.realized_bill_usd == pytest.approx(20.0)
    assert outcome.realized_saving_usd == pytest.approx(45.0)


@pytest.mark.database
def test_when_no_batch_is_safe_nothing_is_sent_and_the_reason_is_recorded(migrated_engine, fake):
    case = pool_example(fake)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        outcome = push_winner(
            migrated_engine,
            client,
            case.request(seeded),
            now=fake.now,
            settings=PushSettings(batch_limit=1),
        )
    assert fake.edits == []
    assert outcome.status.value == "stopped" and outcome.held_back == 2
    assert "no batch of at most 1" in outcome.held_back_reason
    rows, _, pushes = audit(migrated_engine)
    assert {row.status for row in rows} == {"skipped_no_go"}
    assert all(row.note.startswith("held back") for row in rows)
    assert pushes[0].held_back == 2


# --------------------------------------------------------------------------- dry run, re-read


@pytest.mark.database
def test_a_dry_run_records_the_whole_change_set_and_sends_nothing(migrated_engine, fake):
    case = pool_example(fake)
    seeded = seed_instance(migrated_engine)
    with client_for(fake) as client:
        outcome = push_winner(
            migrated_engine,
            client,
            case.request(seeded, mode=RatePlanPushMode.DRY_RUN),
            now=fake.now,
        )
    assert not [r for r in fake.request_log if r.method == "PUT"]
    assert outcome.dry_run == 2 and outcome.planned_batches == 1
    rows, _, pushes = audit(migrated_engine)
    assert sorted((r.iccid, r.status) for r in rows) == sorted(
        (sim.iccid, "dry_run") for sim in fake.fleet[:2]
    )
    # The saving of each SIM is a report column, negative for B, never a filter.
    savings = {r.iccid: float(r.saving_usd) for r in rows}
    assert savings[fake.fleet[1].iccid] < 0 < savings[fake.fleet[0].iccid]
    assert pushes[0].status == "dry_run" and pushes[0].mode == "dry_run"


@pytest.mark.database
def test_without_a_carrier_only_a_dry_run_can_go_on(migrated_engine, fake):
    case = pool_example(fake)
    seeded = seed_instance(migrated_engine)
    with pytest.raises(InputError, match="dry run"):
        push_winner(migrated_engine, None, case.request(seeded), now=fake.now)
    outcome = push_winner(
        migrated_engine, None, case.request(seeded, mode=RatePlanPushMode.DRY_RUN), now=fake.now
    )
    assert outcome.dry_run == 2


@pytest.mark.database
def test_sims_already_on_their_target_at_the_carrier_are_skipped(migrated_engine, fake):
    case = independent_moves(fake, 40)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        for sim in fake.fleet[:15]:  # someone moved them since the sync
            client.edit_device(sim.iccid, rate_plan=SMALL)
        fake.carrier.edits.clear()
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    assert outcome.already_on_target == 15 and len(outcome.moved_since_sync) == 15
    assert outcome.changes == 25 and outcome.sent == 25
    assert set(successful_puts(fake)) == {(sim.iccid, SMALL) for sim in fake.fleet[15:40]}


@pytest.mark.database
def test_a_winner_that_no_longer_beats_the_carrier_is_a_no_go_naming_the_moved_sims(
    migrated_engine, fake
):
    case = pool_example(fake)  # synced: A on SOLO200, B on SOLO10
    case = type(case)(case.instance, np.array([2, 2], dtype=np.int64))  # a poor "winner"
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        for sim in fake.fleet[:2]:  # the carrier already moved both to the pool: $20
            client.edit_device(sim.iccid, rate_plan=POOL)
        fake.carrier.edits.clear()
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    assert fake.edits == []
    assert outcome.status.value == "no_go" and outcome.verdict == "No Go"
    assert sorted(outcome.moved_since_sync) == sorted(sim.iccid for sim in fake.fleet[:2])
    assert "no longer beats" in outcome.stop_reason and fake.fleet[0].iccid in outcome.stop_reason


# --------------------------------------------------------------------------- honest stops


class FlakyAfter:
    """The real client, except that after ``good`` accepted PUTs the carrier starts answering
    HTTP 500 to everything (the fake's fault knob), for as long as ``broken`` says."""

    def __init__(self, client, fake: FakeJasper, good: int) -> None:
        self.client, self.fake, self.good = client, fake, good

    def __getattr__(self, name):
        return getattr(self.client, name)

    def edit_device(self, iccid, **fields):
        if len(self.fake.edits) >= self.good:
            self.fake.faults = FakeFaults(error_rate=1.0)
        return self.client.edit_device(iccid, **fields)


@pytest.mark.slow  # a real process killed, or thousands of SIMs
@pytest.mark.database
def test_carrier_errors_stop_at_the_batch_boundary_and_a_re_run_sends_the_rest_once(
    migrated_engine, fake
):
    case = independent_moves(fake, 600)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        first = push_winner(
            migrated_engine,
            FlakyAfter(client, fake, good=300),
            case.request(seeded),
            now=fake.now,
        )
        assert first.status.value == "stopped" and first.stop_reason.startswith("carrier errors")
        assert first.sent == 300 and len(first.batches) == 2  # the broken batch was finished
        assert first.not_sent == 600 - 500
        fake.faults = FakeFaults()
        second = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    assert second.status.value == "completed"
    assert second.already_on_target == 300 and second.sent == 300
    assert set(successful_puts(fake)) == {(sim.iccid, SMALL) for sim in fake.fleet[:600]}
    assert_audit_matches_the_carrier(migrated_engine, fake)


@pytest.mark.database
def test_a_change_the_carrier_refuses_is_recorded_and_the_push_goes_on(migrated_engine, fake):
    case = independent_moves(fake, 30)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        fake.carrier._by_iccid.pop(fake.fleet[4].iccid)  # the carrier no longer knows it: 404
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    assert outcome.sent == 29 and outcome.failed == 1 and outcome.status.value == "completed"
    rows, _, _ = audit(migrated_engine)
    failed = [row for row in rows if row.status == "failed"]
    assert [(row.iccid, row.http_status) for row in failed] == [(fake.fleet[4].iccid, 404)]
    assert_audit_matches_the_carrier(migrated_engine, fake)


@pytest.mark.database
def test_the_deadline_stops_the_push_at_a_batch_boundary(migrated_engine, fake):
    case = independent_moves(fake, 600)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    end = NOW + timedelta(minutes=16)  # Go for the first batch: 16 − 250/60 ≥ 10

    def clock() -> datetime:  # five minutes pass once the first batch is in
        return NOW + (timedelta(minutes=5) if len(fake.edits) >= 250 else timedelta(0))

    with client_for(fake) as client:
        outcome = push_winner(
            migrated_engine, client, case.request(seeded, period_end=end), now=clock
        )
    assert outcome.verdict == "Go" and outcome.sent == 250 and len(outcome.batches) == 1
    assert outcome.status.value == "stopped" and outcome.stop_reason.startswith("deadline")
    assert outcome.not_sent == 350
    rows, _, _ = audit(migrated_engine)
    assert sum(1 for r in rows if r.status == "skipped_no_go" and "deadline" in r.note) == 350
    assert_audit_matches_the_carrier(migrated_engine, fake)


@pytest.mark.database
def test_no_go_sends_nothing(migrated_engine, fake):
    case = independent_moves(fake, 10)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        outcome = push_winner(
            migrated_engine,
            client,
            case.request(seeded, period_end=NOW + timedelta(minutes=9)),
            now=fake.now,
        )
    assert fake.edits == [] and outcome.verdict == "No Go" and outcome.not_sent == 10
    assert outcome.status.value == "no_go"


# --------------------------------------------------------------------------- one at a time


@pytest.mark.database
def test_two_pushes_at_once_send_every_change_exactly_once(migrated_engine, fake):
    fake.faults = FakeFaults(latency_s=0.002)
    case = independent_moves(fake, 400)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    results = []

    def push(holder: str) -> None:
        with client_for(fake) as client:
            results.append(
                push_winner(
                    migrated_engine, client, case.request(seeded, holder=holder), now=fake.now
                )
            )

    threads = [threading.Thread(target=push, args=(f"run {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    locked = [outcome for outcome in results if outcome.locked]
    assert all("another rate-plan push" in o.stop_reason and o.sent == 0 for o in locked)
    assert sum(outcome.sent for outcome in results) == 400
    assert_audit_matches_the_carrier(migrated_engine, fake)
    _, _, pushes = audit(migrated_engine)
    assert {push.status for push in pushes} <= {"completed", "failed"}


@pytest.mark.database
def test_a_lock_left_by_a_dead_process_is_taken_over(migrated_engine, fake):
    case = independent_moves(fake, 5)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with migrated_engine.begin() as connection:
        old_push = connection.execute(
            insert(RatePlanPush).values(
                service_provider_id=seeded.provider_id,
                optimization_instance_id=seeded.instance_id,
                mode="automatic",
                status="running",
                started_at=NOW,
                changes=0,
                already_on_target=0,
                moved_since_sync=0,
                sent=0,
                failed=0,
                not_sent=0,
                held_back=0,
                checks_done=0,
                created_at=NOW,
            )
        ).inserted_primary_key[0]
        connection.execute(
            insert(RatePlanPushLock).values(
                service_provider_id=seeded.provider_id,
                push_id=old_push,
                holder="run dead",
                host=os.uname().nodename,
                pid=dead.pid,
                acquired_at=NOW,
                heartbeat_at=NOW,
            )
        )
    with client_for(fake) as client:
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    assert outcome.sent == 5
    _, _, pushes = audit(migrated_engine)
    assert pushes[0].status == "abandoned" and "settled by push" in pushes[0].stop_reason
    with migrated_engine.connect() as connection:
        assert connection.scalar(select(RatePlanPushLock.push_id)) is None  # released


def settled_edit_count(fake, quiet_s: float = 0.3) -> int:
    """The fake's edit count once no edit arrived for ``quiet_s``: a PUT the killed process
    sent just before dying may still be applied by the fake's server thread after the kill."""
    count, since = len(fake.edits), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.02)
        if len(fake.edits) != count:
            count, since = len(fake.edits), time.monotonic()
    return count


@pytest.mark.slow  # a real process killed, or thousands of SIMs
@pytest.mark.reliability
@pytest.mark.database
def test_a_push_killed_mid_batch_is_settled_by_the_next_one(
    migrated_engine, database_url, fake, tmp_path
):
    fake.faults = FakeFaults(latency_s=0.01)
    case = independent_moves(fake, 600)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    case_file = tmp_path / "case.pickle"
    offset = NOW - datetime.now(UTC)
    with case_file.open("wb") as handle:
        pickle.dump((case.request(seeded, holder="run killed"), offset, *fake.credentials), handle)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carrier_opt_tests.delivery.push_worker",
            database_url,
            fake.base_url,
            str(case_file),
        ],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(fake.edits) < 320 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.005)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    sent_before = settled_edit_count(fake)
    assert 250 < sent_before < 600, worker.stderr.read().decode()[-2000:]
    _, batches, pushes = audit(migrated_engine)
    assert batches[-1].finished_at is None and pushes[-1].status == "running"

    with client_for(fake) as client:
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    assert outcome.status.value == "completed"
    assert outcome.already_on_target == sent_before  # the carrier decides, not the audit
    assert outcome.sent == 600 - sent_before
    assert set(successful_puts(fake)) == {(sim.iccid, SMALL) for sim in fake.fleet[:600]}
    assert_audit_matches_the_carrier(migrated_engine, fake)
    _, batches, pushes = audit(migrated_engine)
    assert pushes[0].status == "abandoned" and pushes[0].sent == sent_before
    killed = [b for b in batches if b.push_id == pushes[0].id]
    assert sum(b.succeeded for b in killed) == sent_before


@pytest.mark.database
def test_a_carrier_put_back_on_the_old_plans_gets_every_change_again(migrated_engine, fake):
    case = independent_moves(fake, 300)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        first = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
        assert first.sent == 300
        for sim in fake.fleet[:300]:  # someone reverts every change at the carrier
            client.edit_device(sim.iccid, rate_plan=LARGE)
        fake.carrier.edits.clear()
        again = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    # "Already sent" is what the carrier shows, not what the audit remembers.
    assert again.sent == 300 and again.already_on_target == 0
    assert set(successful_puts(fake)) == {(sim.iccid, SMALL) for sim in fake.fleet[:300]}
    rows, _, _ = audit(migrated_engine)
    assert {row.attempts for row in rows} == {2}


@pytest.mark.database
def test_a_winner_that_gains_nothing_shuffles_no_plan(migrated_engine, fake):
    sim = fake.fleet[0]
    sim.rate_plan = SMALL
    twin = "M2M Data 5MB"  # priced exactly like SMALL: moving there saves nothing
    plans = pd.DataFrame(
        {
            "rate_plan_code": [SMALL, twin],
            "base_rate": [2.0, 2.0],
            "data_allowance_mb": [1, 1],
            "overage_rate": [1.0, 1.0],
            "data_per_overage_charge_mb": [1.0, 1.0],
            "sms_rate": [0.0, 0.0],
            "pooled": [False, False],
        }
    )
    devices = pd.DataFrame(
        {
            "iccid": [sim.iccid],
            "communication_plan": ["CP"],
            "rate_plan_code": [SMALL],
            "usage_mb": [0.5],
            "sms_count": [0],
            "proration": [1.0],
            "locked": [False],
        }
    )
    case = Case(instance_of(plans, devices), np.array([1], dtype=np.int64))
    seeded = seed_instance(migrated_engine, allow_updates=True)
    with client_for(fake) as client:
        outcome = push_winner(migrated_engine, client, case.request(seeded), now=fake.now)
    assert fake.edits == [] and outcome.status.value == "no_go"
    assert outcome.stop_reason.startswith("nothing to gain")
