"""Pushing a solved instance to the carrier: automatically after a run, or once a person
approves a dry run (from the Dagster UI or ``carrier-opt push``), always under the same rules
(:mod:`carrier_opt.delivery.rate_plan_updates`).

Which push a run makes: a customer optimization never pushes; otherwise the provider's
``allow_automatic_rate_plan_updates`` says *automatic* or *dry run*. An approval pushes the
partition's latest completed optimization whatever that flag says: a person has read its dry
run and said yes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db import result_checks
from carrier_opt.db.export import instance_tables
from carrier_opt.db.models import (
    BillingPeriod,
    OptimizationInstance,
    OptimizationSession,
    OptimizationType,
    RatePlanPushMode,
    RunStatus,
)
from carrier_opt.db.providers import load_provider
from carrier_opt.delivery.rate_plan_updates import (
    PushOutcome,
    PushRequest,
    PushSettings,
    automatic_updates_allowed,
    push_winner,
)
from carrier_opt.errors import CarrierOptError, InputError
from carrier_opt.pipeline.solved import InstanceWinner, m2m_solved, mobility_solved

log = logging.getLogger(__name__)

OpenClient = Callable[[], object]
"""Opens the provider's carrier client (a context manager that closes it)."""


def push_mode(engine: Engine, provider_id: int, approved_by: str | None) -> RatePlanPushMode:
    """Approved when a person approved; else automatic when the provider allows it; else a
    dry run."""
    if approved_by:
        return RatePlanPushMode.APPROVED
    with engine.connect() as connection:
        allowed = automatic_updates_allowed(connection, provider_id)
    return RatePlanPushMode.AUTOMATIC if allowed else RatePlanPushMode.DRY_RUN


def push_solved(
    engine: Engine,
    open_client: OpenClient,
    solved: InstanceWinner,
    *,
    provider_id: int,
    mode: RatePlanPushMode,
    holder: str,
    now: Callable[[], datetime],
    run_id: str | None = None,
    approved_by: str | None = None,
    settings: PushSettings | None = None,
) -> PushOutcome:
    """Push (or dry-run) one solved instance's winner.

    First, before any carrier call, the stored winner is judged as the asset checks judge it
    (:func:`refuse_failed_winner`): a run's blocking checks stop its push, but an approval,
    the command line or a re-executed push step runs without them. A dry run reads the
    carrier when it can (what it records is then what an approval would send); without usable
    credentials it works from the synced plans, and says so.
    """
    refuse_failed_winner(engine, solved)
    request = PushRequest(
        provider_id=provider_id,
        instance_id=solved.instance_id,
        instance=solved.instance,
        target=solved.target,
        period_end=solved.period.end,
        synced_at=solved.synced_at,
        mode=mode,
        holder=holder,
        run_id=run_id,
        approved_by=approved_by,
        cost_before_usd=solved.cost_before_usd,
    )
    problems = []
    try:
        client_context = open_client()
    except CarrierOptError as error:
        if mode is not RatePlanPushMode.DRY_RUN:
            raise
        problems.append(f"the carrier was not read ({error}): the dry run uses synced plans")
        client_context = nullcontext(None)
    with client_context as client:
        outcome = push_winner(engine, client, request, now=now, settings=settings)
    outcome.problems[:0] = problems
    return outcome


def refuse_failed_winner(engine: Engine, solved: InstanceWinner) -> None:
    """Raise :class:`~carrier_opt.db.result_checks.WinnerCheckFailed` (one line: which
    instance, what is wrong, nothing sent) when the instance's stored winner fails the cost
    or the one-row-per-SIM check."""
    faults = result_checks.winner_faults(engine, solved.instance_id)
    if faults:
        raise result_checks.WinnerCheckFailed(
            f"{solved.label}: the winner is not pushed, nothing was sent to the carrier: it "
            "fails its checks: " + "; ".join(faults)
        )


@dataclass(frozen=True)
class ApprovedPush:
    """What an approval pushed: the session it came from and one outcome per instance."""

    ids: runs.RunIds
    kind: OptimizationType
    outcomes: dict[str, PushOutcome]
    """By label: the provider (M2M) or each optimization group (mobility)."""

    @property
    def session_guid(self) -> str:
        return self.ids.session_guid


def push_approved(
    engine: Engine,
    open_client: OpenClient,
    provider: str,
    period_key: str,
    *,
    approved_by: str,
    now: Callable[[], datetime],
    holder: str,
    run_id: str | None = None,
    settings: PushSettings | None = None,
) -> ApprovedPush:
    """Push the partition's latest completed optimization, approved by ``approved_by``.

    Under every rule of an automatic push: the carrier re-read, one Go/No-Go, safe batches,
    one push per provider at a time. What the carrier already shows is skipped, so approving
    twice, or after a partial push, sends only what is left.
    """
    approved_by = (approved_by or "").strip()
    if not approved_by:
        raise InputError("an approval needs the approver's name (--approved-by)")
    with engine.connect() as connection:
        settings_row = load_provider(connection, provider)
    ids, kind = latest_completed_session(engine, settings_row.id, provider, period_key)
    if kind is OptimizationType.M2M:
        tables = instance_tables(engine, provider, period_key)
        solved, _, _ = m2m_solved(engine, ids, provider, tables)
        instances = [solved]
    else:
        _, groups = mobility_solved(engine, ids.session_id, ids.session_guid, provider, period_key)
        instances = [group.solved for group in groups]
    outcomes = {}
    for solved in instances:
        outcomes[solved.label] = push_solved(
            engine,
            open_client,
            solved,
            provider_id=settings_row.id,
            mode=RatePlanPushMode.APPROVED,
            holder=holder,
            now=now,
            run_id=run_id,
            approved_by=approved_by,
            settings=settings,
        )
    return ApprovedPush(ids, kind, outcomes)


def latest_completed_session(
    engine: Engine, provider_id: int, provider: str, period_key: str
) -> tuple[runs.RunIds, OptimizationType]:
    """The partition's newest M2M or mobility session that completed (a customer
    optimization is never pushed)."""
    session = OptimizationSession
    with engine.connect() as connection:
        row = connection.execute(
            select(
                session.id,
                session.session_guid,
                session.optimization_type,
                session.billing_period_id,
            )
            .join(BillingPeriod, BillingPeriod.id == session.billing_period_id)
            .where(
                session.service_provider_id == provider_id,
                BillingPeriod.period_key == period_key,
                session.status == RunStatus.COMPLETED.value,
                session.optimization_type.in_(
                    [OptimizationType.M2M.value, OptimizationType.MOBILITY.value]
                ),
            )
            .order_by(session.id.desc())
        ).first()
        if row is None:
            raise InputError(
                f"{provider} {period_key}: no completed optimization to push; run the partition "
                "first (its dry run is what you approve)"
            )
        instance_id = connection.scalar(
            select(OptimizationInstance.id)
            .where(OptimizationInstance.optimization_session_id == row.id)
            .order_by(OptimizationInstance.id)
        )
    kind = OptimizationType(row.optimization_type)
    m2m_instance = instance_id if kind is OptimizationType.M2M else None
    ids = runs.RunIds(provider_id, row.billing_period_id, row.id, m2m_instance, row.session_guid)
    return ids, kind
