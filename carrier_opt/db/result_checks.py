"""The queries behind the asset checks of the winners (``defs/checks.py``): which session to
check, the facts the invariants are checked on, and the two invariants that guard the push
(:func:`cost_fault`, :func:`rows_fault`), which the checks and the push itself
(:func:`winner_faults`, called before any carrier call) judge the same way. Read-only."""

from __future__ import annotations

from sqlalchemy import Engine, Select, func, select, union_all

from carrier_opt.core.money import usd_text
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.instance_results import SessionInstance, session_instances
from carrier_opt.db.models import (
    BillingPeriod,
    JasperCarrierRatePlan,
    MobilityDevice,
    OptimizationDeviceResult,
    OptimizationGroup,
    OptimizationInstance,
    OptimizationMobilityDeviceResult,
    OptimizationQueue,
    OptimizationSession,
    OptimizationType,
    ServiceProvider,
)
from carrier_opt.errors import DatabaseError

HALF_CENT = 0.005
"""Slack for costs stored with four decimals and compared as they are shown, to the cent."""


class WinnerCheckFailed(DatabaseError):
    """A stored winner fails a check that guards the push (its cost outside lower bound ..
    baseline, a SIM with no row or with two): it must never reach the carrier."""


def run_session(engine: Engine, run_id: str, kind: OptimizationType) -> runs.RunIds | None:
    """The ``kind`` session the Dagster run ``run_id`` opened, or None (a check run on its
    own, from the UI, belongs to no session)."""
    with engine.connect() as connection:
        found = connection.scalar(
            select(OptimizationSession.id)
            .where(
                OptimizationSession.dagster_run_id == run_id,
                OptimizationSession.optimization_type == kind.value,
            )
            .limit(1)
        )
    return None if found is None else runs.run_ids_for(engine, run_id)


def latest_completed_run(
    engine: Engine, provider: str, period_key: str, kind: OptimizationType
) -> runs.RunIds | None:
    """The last session of ``kind`` of a partition whose instances all completed (checks run
    right after the winner is chosen, while the session is still open for the push, or later),
    with its first instance (M2M sessions have one)."""
    with engine.connect() as connection:
        sessions = connection.execute(
            select(OptimizationSession.id, OptimizationSession.dagster_run_id)
            .join(ServiceProvider, ServiceProvider.id == OptimizationSession.service_provider_id)
            .join(BillingPeriod, BillingPeriod.id == OptimizationSession.billing_period_id)
            .where(
                ServiceProvider.name == provider,
                BillingPeriod.period_key == period_key,
                OptimizationSession.status.in_(["completed", "running"]),
                OptimizationSession.optimization_type == kind.value,
            )
            .order_by(OptimizationSession.id.desc())
            .limit(10)
        ).all()
        for session_id, run_id in sessions:
            statuses = connection.scalars(
                select(OptimizationInstance.status).where(
                    OptimizationInstance.optimization_session_id == session_id
                )
            ).all()
            if statuses and all(status == "completed" for status in statuses):
                return runs.run_ids_for(engine, run_id)
    return None


def winner_rows(result, sim_column: str) -> Select:
    """(instance id, SIM id) of every winning row of the per-SIM result table ``result``."""
    return (
        select(
            OptimizationQueue.optimization_instance_id.label("instance_id"),
            getattr(result, sim_column).label("sim_id"),
        )
        .join(OptimizationQueue, OptimizationQueue.id == result.optimization_queue_id)
        .where(OptimizationQueue.is_winner.is_(True))
    )


def pushed_winner_rows():
    """(instance id, SIM id) of every winning row an M2M or mobility push reads its targets
    from (an instance has rows in one of the two tables only)."""
    return union_all(
        winner_rows(OptimizationDeviceResult, "device_id"),
        winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id"),
    )


def shared_pool_rows(shared, sim_column: str) -> Select:
    """(instance id, SIM id) of every row of the shared-pool result table ``shared``."""
    return select(
        shared.optimization_instance_id.label("instance_id"),
        getattr(shared, sim_column).label("sim_id"),
    )


def rows_per_instance(engine: Engine, rows, instance_ids: list[int]) -> dict[int, tuple[int, int]]:
    """For each instance with rows among ``rows`` (instance id, SIM id): (rows, distinct SIMs)."""
    rows = rows.subquery()
    with engine.connect() as connection:
        counts = connection.execute(
            select(rows.c.instance_id, func.count(), func.count(rows.c.sim_id.distinct()))
            .where(rows.c.instance_id.in_(instance_ids))
            .group_by(rows.c.instance_id)
        ).all()
    return {instance_id: (n, distinct) for instance_id, n, distinct in counts}


def instance_name(instance: SessionInstance) -> str:
    """``instance 7``, with its optimization group or customer when it has one."""
    scope = instance.group_name or instance.customer
    return f"instance {instance.id}" + (f" ({scope})" if scope else "")


def cost_fault(instance: SessionInstance) -> str | None:
    """Why the instance's winning cost is not between its lower bound and the cheaper of its
    current and legacy costs, or None. The winner is the cheapest queue and the current and
    legacy assignments are queues, so a winner above either was not chosen by the optimizer."""
    figures = (
        instance.lower_bound,
        instance.cost_before,
        instance.cost_after,
        instance.legacy_cost,
    )
    bound, before, after, legacy = (float(v or 0) for v in figures)
    if after + HALF_CENT < bound:
        return (
            f"{instance_name(instance)}: winning cost {usd_text(after)} is below the lower "
            f"bound {usd_text(bound)}"
        )
    if after > min(before, legacy) + HALF_CENT:
        return (
            f"{instance_name(instance)}: winning cost {usd_text(after)} is above the current "
            f"cost {usd_text(before)} or the legacy cost {usd_text(legacy)}"
        )
    return None


def rows_fault(instance: SessionInstance, found: tuple[int, int] | None) -> str | None:
    """Why the instance's winning rows are not one per SIM it was solved with, or None;
    ``found`` is (rows, distinct SIMs) from :func:`rows_per_instance`. A SIM with two rows
    would be pushed to whichever plan is read last."""
    expected = instance.device_count or 0
    rows, distinct = found or (0, 0)
    if (rows, distinct) == (expected, expected):
        return None
    return (
        f"{instance_name(instance)}: {rows:,} winning rows for {distinct:,} distinct SIMs, "
        f"{expected:,} SIMs solved (one row per SIM expected)"
    )


def winner_faults(engine: Engine, instance_id: int) -> list[str]:
    """What is wrong with the stored winner of one M2M or mobility instance, by the rules of
    the checks ``cost_between_bound_and_baselines`` and ``every_sim_assigned_once``; empty
    when it may be pushed."""
    with engine.connect() as connection:
        session_id = connection.scalar(
            select(OptimizationInstance.optimization_session_id).where(
                OptimizationInstance.id == instance_id
            )
        )
    instance = next(i for i in session_instances(engine, session_id) if i.id == instance_id)
    found = rows_per_instance(engine, pushed_winner_rows(), [instance_id]).get(instance_id)
    return [fault for fault in (cost_fault(instance), rows_fault(instance, found)) if fault]


def invalid_plans(engine: Engine, provider_id: int) -> list[str]:
    """Priced rate plans with a non-positive overage unit or a negative price."""
    plan = JasperCarrierRatePlan
    with engine.connect() as connection:
        return list(
            connection.scalars(
                select(plan.rate_plan_code).where(
                    plan.service_provider_id == provider_id,
                    (plan.data_per_overage_charge_mb <= 0)
                    | (plan.overage_rate < 0)
                    | (plan.base_rate < 0)
                    | (plan.sms_rate < 0),
                )
            )
        )


def winning_plan_types(engine: Engine, session_id: int) -> list[tuple[str, str | None, str]]:
    """(plan type of the winning plan, the group's allowed types ``a;b``, the SIM's own plan
    type) of every winning mobility row of the session."""
    result = OptimizationMobilityDeviceResult
    query = (
        select(
            JasperCarrierRatePlan.rate_plan_type,
            OptimizationGroup.rate_plan_types,
            MobilityDevice.rate_plan_type,
        )
        .select_from(result)
        .join(
            JasperCarrierRatePlan, JasperCarrierRatePlan.id == result.assigned_carrier_rate_plan_id
        )
        .join(OptimizationGroup, OptimizationGroup.id == result.optimization_group_id)
        .join(MobilityDevice, MobilityDevice.id == result.mobility_device_id)
    )
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                _in_session(query, result, session_id).where(OptimizationQueue.is_winner.is_(True))
            )
        ]


def carrier_plan_changes(engine: Engine, session_id: int) -> int:
    """Result rows of the session whose assigned carrier plan differs from the current one."""
    changed = 0
    with engine.connect() as connection:
        for result in (OptimizationDeviceResult, OptimizationMobilityDeviceResult):
            query = _in_session(select(func.count()).select_from(result), result, session_id)
            changed += connection.scalar(
                query.where(
                    result.assigned_carrier_rate_plan_id.is_distinct_from(
                        result.current_carrier_rate_plan_id
                    )
                )
            )
    return changed


def _in_session(query, result, session_id: int):
    """``query`` over ``result`` limited to the rows of the session's queues."""
    return (
        query.join(OptimizationQueue, OptimizationQueue.id == result.optimization_queue_id)
        .join(
            OptimizationInstance,
            OptimizationInstance.id == OptimizationQueue.optimization_instance_id,
        )
        .where(OptimizationInstance.optimization_session_id == session_id)
    )
