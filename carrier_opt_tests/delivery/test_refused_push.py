"""A push refused the lock while another push sends never replaces it as "the latest push": the
report and ``provider show`` keep the push that ran, with what it sent and saved, and say that a
later push was refused (issue 26, defect 3)."""

from __future__ import annotations

import dataclasses
import io
import threading
from datetime import timedelta

import openpyxl
import pytest

from carrier_opt.core.pricing import total_cost
from carrier_opt.db.models import RatePlanPushMode, RatePlanPushStatus
from carrier_opt.db.provider_settings import provider_overview
from carrier_opt.db.push_history import REFUSAL_PREFIX
from carrier_opt.delivery.push_audit import open_push
from carrier_opt.delivery.rate_plan_updates import push_winner
from carrier_opt.delivery.report_data import report_data_from
from carrier_opt.delivery.workbook import build_workbook
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.reports import latest_push
from carrier_opt_tests.delivery.push_support import NOW, independent_moves
from carrier_opt_tests.delivery.support import PERIOD, seed_instance
from carrier_opt_tests.jasper.support import client_for

SIMS = 20
"""Each moves from a $5 plan to a $2 one: $100 before, $40 after, $60 realized."""


@pytest.fixture
def fake():
    with FakeJasper(devices=50, seed=3, now=NOW) as server:
        yield server


class GatedClient:
    """The carrier client of the push that runs: its first PUT waits until ``release`` is set
    (``waiting`` says it got there, holding the lock), so a second push starts while it sends."""

    def __init__(self, client) -> None:
        self._client = client
        self.waiting = threading.Event()
        self.release = threading.Event()

    def edit_device(self, iccid: str, **fields):
        self.waiting.set()
        if not self.release.wait(timeout=30):
            raise TimeoutError("the gated push was never released")
        return self._client.edit_device(iccid, **fields)

    def __getattr__(self, name: str):
        return getattr(self._client, name)


def summary_sheet(data) -> dict:
    """The Summary sheet's (label: value) pairs of the workbook built from ``data``."""
    sheet = openpyxl.load_workbook(io.BytesIO(build_workbook(data)), data_only=True)["Summary"]
    return {row[0]: row[1] for row in sheet.iter_rows(min_row=3, max_col=2, values_only=True)}


@pytest.mark.reliability
@pytest.mark.database
def test_a_push_refused_while_another_sends_never_replaces_it_in_report_or_provider_show(
    migrated_engine, fake
):
    case = independent_moves(fake, SIMS)
    before = total_cost(case.instance, case.instance.current_plan)
    seeded = seed_instance(migrated_engine, allow_updates=True)
    outcomes = {}
    with client_for(fake) as client:
        gated = GatedClient(client)

        def push_that_runs() -> None:
            request = case.request(seeded, holder="run 1", cost_before=before)
            outcomes["ran"] = push_winner(migrated_engine, gated, request, now=fake.now)

        thread = threading.Thread(target=push_that_runs)
        thread.start()
        try:
            assert gated.waiting.wait(timeout=30), "the first push never reached its first PUT"
            with client_for(fake) as second:
                request = case.request(seeded, holder="run 2", cost_before=before)
                outcomes["refused"] = push_winner(migrated_engine, second, request, now=fake.now)
        finally:
            gated.release.set()
            thread.join(timeout=60)
    ran, refused = outcomes["ran"], outcomes["refused"]
    assert refused.locked and refused.sent == 0 and refused.verdict == "Refused"
    assert ran.status is RatePlanPushStatus.COMPLETED and ran.sent == SIMS
    assert ran.realized_saving_usd == pytest.approx(60.0)
    assert refused.push_id > ran.push_id  # what made "the newest row" the refusal

    push = latest_push(migrated_engine, seeded.instance_id)
    assert push is not None and not push.refused
    assert (push.status, push.sent, push.changes) == ("completed", SIMS, SIMS)
    assert push.realized_saving == pytest.approx(60.0)
    assert push.refused_later.startswith(f"push {refused.push_id} (")
    assert REFUSAL_PREFIX in push.refused_later

    data = report_data_from(
        case.instance, case.instance.current_plan, case.target, provider="acme", period=PERIOD
    )
    sheet = summary_sheet(dataclasses.replace(data, push=push))
    assert sheet["Carrier push"].startswith(f"automatic push, completed: {SIMS} of {SIMS}")
    assert sheet["Changes sent"] == SIMS and sheet["Realized saving (USD)"] == 60.0
    assert sheet["Go/No-Go"] == "Go"
    assert REFUSAL_PREFIX in sheet["A later push was refused"]

    shown = provider_overview(migrated_engine, "acme").last_push
    assert shown.startswith(
        f"automatic push {ran.push_id}: completed, {SIMS} of {SIMS} sent, realized saving $60.00"
    )
    assert f"; a later push {refused.push_id} refused (" in shown and REFUSAL_PREFIX in shown


def _push(engine, seeded, **values) -> int:
    """A push row as ``push_winner`` leaves it (its counts, status and reasons given)."""
    return open_push(
        engine,
        service_provider_id=seeded.provider_id,
        optimization_instance_id=seeded.instance_id,
        mode=RatePlanPushMode.AUTOMATIC.value,
        started_at=NOW,
        finished_at=NOW + timedelta(minutes=1),
        **values,
    )


@pytest.mark.database
def test_a_refusal_recorded_before_decision_said_so_is_known_by_its_reason(migrated_engine):
    seeded = seed_instance(migrated_engine)
    ran = _push(migrated_engine, seeded, status="completed", changes=3, sent=3)
    refused = _push(
        migrated_engine,
        seeded,
        status="failed",
        stop_reason=f"{REFUSAL_PREFIX} (push {ran} by run 1 ...); this one sends nothing.",
    )
    push = latest_push(migrated_engine, seeded.instance_id)
    assert (push.status, push.sent) == ("completed", 3)
    assert push.refused_later.startswith(f"push {refused} (")


@pytest.mark.database
def test_a_push_that_took_the_lock_and_failed_is_the_latest_push(migrated_engine):
    seeded = seed_instance(migrated_engine)
    _push(migrated_engine, seeded, status="completed", changes=3, sent=3)
    _push(migrated_engine, seeded, status="failed", stop_reason="CarrierApiError: HTTP 401")
    push = latest_push(migrated_engine, seeded.instance_id)
    assert (push.status, push.sent, push.refused_later) == ("failed", 0, None)
    assert push.note == "CarrierApiError: HTTP 401"


@pytest.mark.database
def test_when_no_push_ran_the_refusal_is_shown_as_refused(migrated_engine):
    seeded = seed_instance(migrated_engine)
    refused = _push(
        migrated_engine,
        seeded,
        status="failed",
        decision="refused",
        stop_reason=f"{REFUSAL_PREFIX} (push 1 by run 1 ...); this one sends nothing.",
    )
    push = latest_push(migrated_engine, seeded.instance_id)
    assert push.refused and push.refused_later is None
    assert push.headline.startswith("automatic push refused")
    shown = provider_overview(migrated_engine, "acme").last_push
    assert shown.startswith(f"automatic push {refused} refused (")
    assert shown.endswith("; 1 push(es) in all")
