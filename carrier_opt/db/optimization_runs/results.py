"""Per-SIM result rows of a queue, written in batches, and the winning assignment read
back."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update

from carrier_opt.core.instance import Instance
from carrier_opt.core.pricing import device_breakdown
from carrier_opt.db.models import (
    JasperCarrierRatePlan,
    OptimizationDeviceResult,
    OptimizationQueue,
    RunStatus,
)
from carrier_opt.db.models.devices import Device
from carrier_opt.db.optimization_runs.sessions import RunIds
from carrier_opt.db.types import money_value, utc_now

RESULT_BATCH_ROWS = 10_000


def write_queue_result(
    engine: Engine, ids: RunIds, queue_id: int, instance: Instance, assignment: np.ndarray
) -> float:
    """Price ``assignment`` per SIM and store it as the queue's device results; answers the
    queue's total cost (USD). Replaces earlier results of the queue (re-materialization)."""
    with engine.connect() as connection:
        device_ids = device_ids_of(connection, ids.provider_id)
        plan_ids = carrier_plan_ids(connection, ids.provider_id)
    rows, total = result_rows(instance, assignment, device_ids, plan_ids)
    return store_queue_rows(engine, queue_id, OptimizationDeviceResult, rows, total)


def result_rows(
    instance: Instance,
    assignment: np.ndarray,
    device_ids: dict[str, int],
    plan_ids: dict[str, int],
    *,
    sim_column: str = "device_id",
    plan_columns: tuple[str, str] = (
        "current_carrier_rate_plan_id",
        "assigned_carrier_rate_plan_id",
    ),
) -> tuple[list[dict], float]:
    """Per-SIM result rows of ``assignment`` (charges as the legacy reports split them) and
    its total cost (exact, not the sum of the rounded rows).

    ``sim_column`` and ``plan_columns`` name where the SIM and its current/assigned plan go:
    ``Device`` and carrier plans for M2M, ``MobilityDevice`` for mobility, customer plans for
    customer optimization.
    """
    breakdown = device_breakdown(instance, assignment)
    rows = _result_rows(instance, breakdown, device_ids, plan_ids, sim_column, plan_columns)
    return rows, float(breakdown["cost_usd"].sum())


def store_queue_rows(engine: Engine, queue_id: int, model, rows: list[dict], total: float) -> float:
    """Replace the queue's per-SIM rows in ``model`` and mark it completed with ``total``
    (a re-materialization rewrites them). Answers the total cost (USD)."""
    started = utc_now()
    with engine.begin() as connection:
        connection.execute(delete(model).where(model.optimization_queue_id == queue_id))
        rows = [{"optimization_queue_id": queue_id, **row} for row in rows]
        for start in range(0, len(rows), RESULT_BATCH_ROWS):
            connection.execute(insert(model), rows[start : start + RESULT_BATCH_ROWS])
        connection.execute(
            update(OptimizationQueue)
            .where(OptimizationQueue.id == queue_id)
            .values(
                status=RunStatus.COMPLETED.value,
                total_cost=Decimal(f"{total:.4f}"),
                run_started_at=started,
                run_completed_at=utc_now(),
                modified_at=utc_now(),
            )
        )
    return total


def winning_assignment(engine: Engine, ids: RunIds) -> pd.DataFrame:
    """The winner's rows: iccid, current and assigned plan codes, charges, and the usage (MB)
    the optimizer priced (projected to the period's end)."""
    current = JasperCarrierRatePlan.__table__.alias("current_plan")
    assigned = JasperCarrierRatePlan.__table__.alias("assigned_plan")
    result = OptimizationDeviceResult.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Device.iccid,
                current.c.rate_plan_code.label("current_rate_plan_code"),
                assigned.c.rate_plan_code.label("rate_plan_code"),
                result.c.charge_amount,
                result.c.usage_mb,
            )
            .select_from(result)
            .join(OptimizationQueue, OptimizationQueue.id == result.c.optimization_queue_id)
            .join(Device, Device.id == result.c.device_id)
            .join(assigned, assigned.c.id == result.c.assigned_carrier_rate_plan_id)
            .outerjoin(current, current.c.id == result.c.current_carrier_rate_plan_id)
            .where(
                OptimizationQueue.optimization_instance_id == ids.instance_id,
                OptimizationQueue.is_winner.is_(True),
            )
            .order_by(Device.iccid)
        ).all()
    return pd.DataFrame(
        [tuple(row) for row in rows],
        columns=["iccid", "current_rate_plan_code", "rate_plan_code", "charge_amount", "usage_mb"],
    )


def _result_rows(
    instance: Instance,
    breakdown: pd.DataFrame,
    device_ids: dict[str, int],
    plan_ids: dict[str, int],
    sim_column: str,
    plan_columns: tuple[str, str],
) -> list[dict]:
    current_codes = [
        instance.plan_codes[p] if p >= 0 else None for p in instance.current_plan.tolist()
    ]
    base_rates = dict(zip(instance.plan_codes.tolist(), instance.base_rate.tolist(), strict=True))
    rows = []
    for i, row in enumerate(breakdown.itertuples(index=False)):
        rows.append(
            {
                sim_column: device_ids[row.iccid],
                plan_columns[0]: plan_ids.get(current_codes[i]),
                plan_columns[1]: plan_ids[row.rate_plan_code],
                "usage_mb": float(row.usage_mb),
                "sms_usage": int(instance.sms_count[i]),
                "proration": float(instance.proration[i]),
                "charge_amount": money_value(row.cost_usd),
                "base_rate_amount": money_value(base_rates[row.rate_plan_code]),
                "rate_charge_amount": money_value(row.base_usd),
                "overage_charge_amount": money_value(row.overage_usd),
                "sms_charge_amount": money_value(row.sms_usd),
            }
        )
    return rows


def carrier_plan_ids(connection, provider_id: int) -> dict[str, int]:
    """Carrier-plan code → id, for the provider."""
    return ids_by_name(
        connection, JasperCarrierRatePlan, JasperCarrierRatePlan.rate_plan_code, provider_id
    )


def device_ids_of(connection, provider_id: int) -> dict[str, int]:
    """ICCID → ``Device.id``, for the provider."""
    return ids_by_name(connection, Device, Device.iccid, provider_id)


def ids_by_name(connection, model, column, provider_id: int) -> dict[str, int]:
    """``column`` value → ``model.id`` for the provider's rows (codes, ICCIDs, names)."""
    rows = connection.execute(
        select(column, model.id).where(model.service_provider_id == provider_id)
    ).all()
    return {name: int(row_id) for name, row_id in rows}
