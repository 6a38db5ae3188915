"""Reading back a multi-instance session (mobility groups, customers): its instances with their
stored figures, and each instance's winning plans per SIM — what the per-instance reports are
built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.db.models import (
    Device,
    JasperCarrierRatePlan,
    JasperCustomerRatePlan,
    MobilityDevice,
    OptimizationDeviceResult,
    OptimizationGroup,
    OptimizationInstance,
    OptimizationInstanceResultFile,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationQueue,
    OptimizationSharedPoolResult,
    RevCustomer,
)

WINNER_COLUMNS = ["iccid", "rate_plan_code"]


@dataclass(frozen=True)
class SessionInstance:
    """One instance of a session with what its run stored (costs as NUMERIC(18,4))."""

    id: int
    status: str
    optimization_group_id: int | None
    group_name: str | None
    rev_customer_id: int | None
    customer: str | None
    """``RevCustomer.rev_customer_number``."""
    cost_before: Decimal | None
    cost_after: Decimal | None
    legacy_cost: Decimal | None
    lower_bound: Decimal | None
    proven_optimal: bool | None
    device_count: int | None
    """SIMs the instance was solved with (locked ones included)."""
    run_started_at: datetime | None
    run_completed_at: datetime | None

    @property
    def seconds(self) -> float | None:
        """How long the instance ran, when both ends are known."""
        if self.run_started_at is None or self.run_completed_at is None:
            return None
        return (self.run_completed_at - self.run_started_at).total_seconds()


def session_instances(engine: Engine, session_id: int) -> list[SessionInstance]:
    """The session's instances in creation order, with their group or customer named."""
    instance = OptimizationInstance
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                instance.id,
                instance.status,
                instance.optimization_group_id,
                OptimizationGroup.name,
                instance.rev_customer_id,
                RevCustomer.rev_customer_number,
                instance.cost_before,
                instance.cost_after,
                instance.legacy_cost,
                instance.lower_bound,
                instance.proven_optimal,
                instance.device_count,
                instance.run_started_at,
                instance.run_completed_at,
            )
            .outerjoin(OptimizationGroup, OptimizationGroup.id == instance.optimization_group_id)
            .outerjoin(RevCustomer, RevCustomer.id == instance.rev_customer_id)
            .where(instance.optimization_session_id == session_id)
            .order_by(instance.id)
        ).all()
    return [SessionInstance(*row) for row in rows]


def stored_report_uri(engine: Engine, instance_id: int, file_name: str) -> str | None:
    """Where the instance's file ``file_name`` was stored (None when it was not)."""
    table = OptimizationInstanceResultFile.__table__
    with engine.connect() as connection:
        return connection.scalar(
            select(table.c.storage_uri).where(
                table.c.optimization_instance_id == instance_id, table.c.file_name == file_name
            )
        )


def mobility_winners(engine: Engine, instance_id: int) -> pd.DataFrame:
    """The winning queue's plan of each mobility SIM of the instance (iccid, rate_plan_code)."""
    result = OptimizationMobilityDeviceResult
    query = (
        select(MobilityDevice.iccid, JasperCarrierRatePlan.rate_plan_code)
        .select_from(result)
        .join(OptimizationQueue, OptimizationQueue.id == result.optimization_queue_id)
        .join(MobilityDevice, MobilityDevice.id == result.mobility_device_id)
        .join(
            JasperCarrierRatePlan, JasperCarrierRatePlan.id == result.assigned_carrier_rate_plan_id
        )
        .where(
            OptimizationQueue.optimization_instance_id == instance_id,
            OptimizationQueue.is_winner.is_(True),
        )
        .order_by(MobilityDevice.iccid)
    )
    return _frame(engine, query)


def customer_winners(engine: Engine, instance_id: int) -> pd.DataFrame:
    """The customer plan of every SIM of a customer instance: the winner's own SIMs and the
    locked SIMs of its shared pools; columns iccid, rate_plan_code.

    An M2M fleet's rows are in ``OptimizationDeviceResult`` / ``OptimizationSharedPoolResult``
    (by ``Device``), a mobility fleet's in the mobility tables (by ``MobilityDevice``); an
    instance has rows in one pair only, so both are read.
    """
    frames = []
    for own, shared, sim, column in _CUSTOMER_TABLES:
        own_query = (
            select(sim.iccid, JasperCustomerRatePlan.rate_plan_code)
            .select_from(own)
            .join(OptimizationQueue, OptimizationQueue.id == own.optimization_queue_id)
            .join(sim, sim.id == getattr(own, column))
            .join(
                JasperCustomerRatePlan,
                JasperCustomerRatePlan.id == own.assigned_customer_rate_plan_id,
            )
            .where(
                OptimizationQueue.optimization_instance_id == instance_id,
                OptimizationQueue.is_winner.is_(True),
            )
        )
        shared_query = (
            select(sim.iccid, JasperCustomerRatePlan.rate_plan_code)
            .select_from(shared)
            .join(sim, sim.id == getattr(shared, column))
            .join(JasperCustomerRatePlan, JasperCustomerRatePlan.id == shared.customer_rate_plan_id)
            .where(shared.optimization_instance_id == instance_id)
        )
        frames += [_frame(engine, own_query), _frame(engine, shared_query)]
    return pd.concat(frames, ignore_index=True)


_CUSTOMER_TABLES = (
    (OptimizationDeviceResult, OptimizationSharedPoolResult, Device, "device_id"),
    (
        OptimizationMobilityDeviceResult,
        OptimizationMobilitySharedPoolResult,
        MobilityDevice,
        "mobility_device_id",
    ),
)


def _frame(engine: Engine, query) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=WINNER_COLUMNS)
