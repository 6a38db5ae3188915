"""Customer optimization, below Dagster: one customer solved as its own instance.

An agent re-prices its own customers on its customer rate plans. SIMs of other customers that
share one of the customer's pools enter locked: they keep their plan but add usage and
allowance, and are stored in the shared-pool result table with an even share of their pool's
overage. Rows go to the ``Device``-based tables for an M2M fleet, to the mobility tables for a
mobility fleet (:class:`CustomerLookups`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from carrier_opt.core.customer import CustomerTables
from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.optimizer import DEFAULT_GAP_TARGET_PCT
from carrier_opt.core.pricing import pool_overage_shares
from carrier_opt.db import customer_optimization as customers
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.customer_optimization import CustomerInput
from carrier_opt.db.mobility import upsert_mobility_devices
from carrier_opt.db.models import (
    Fleet,
    OptimizationDeviceResult,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationSharedPoolResult,
    RunStatus,
    ServiceProvider,
)
from carrier_opt.pipeline.session import PeriodRun
from carrier_opt.pipeline.solve import SolvedInstance, solve_instance

Clock = Callable[[], datetime]
CUSTOMER_PLAN_COLUMNS = ("current_customer_rate_plan_id", "assigned_customer_rate_plan_id")


def solve_customer(
    engine,
    ids,
    tables: CustomerTables,
    customer_id: int,
    lookups: "CustomerLookups",
    *,
    time_limit_s: float,
    gap_target_pct: float = DEFAULT_GAP_TARGET_PCT,
    now: Clock,
) -> tuple[SolvedInstance, int]:
    """Solve one customer as its own instance and record it (its ``OptimizationCustomer
    Processing`` row running, then completed); answers the solved instance and the number of
    shared-pool rows written for the locked SIMs of other customers."""
    instance = instance_from_frames(tables.rate_plans, tables.comm_plan_rate_plans, tables.devices)
    instance_ids = runs.add_instance(
        engine, ids, now=now(), rev_customer_id=customer_id, device_count=instance.n_devices
    )
    customers.set_processing(
        engine,
        ids.session_id,
        customer_id,
        RunStatus.RUNNING,
        now=now(),
        instance_id=instance_ids.instance_id,
    )
    locked = np.asarray(instance.locked)
    rows_of: dict[int, list[dict]] = {}

    def write(queue_id: int, assignment) -> float:
        rows, total = runs.result_rows(
            instance,
            assignment,
            lookups.sim_ids,
            lookups.plan_ids,
            sim_column=lookups.sim_column,
            plan_columns=CUSTOMER_PLAN_COLUMNS,
        )
        for row, iccid in zip(rows, instance.iccids.tolist(), strict=True):
            row["current_carrier_rate_plan_id"] = lookups.carrier_plans[iccid]
            row["assigned_carrier_rate_plan_id"] = lookups.carrier_plans[iccid]
        rows_of[queue_id] = rows
        own = [row for row, is_locked in zip(rows, locked, strict=True) if not is_locked]
        return runs.store_queue_rows(engine, queue_id, lookups.result_model, own, total)

    solved = solve_instance(
        engine,
        instance_ids,
        instance,
        time_limit_s=time_limit_s,
        gap_target_pct=gap_target_pct,
        write_queue=write,
        result_model=lookups.result_model,
        record_sequences=False,
    )
    winner_queue = runs.queues_of(engine, instance_ids)[solved.winning_queue]
    shares = pool_overage_shares(instance, solved.assignment)
    shared = customers.write_shared_pool_results(
        engine,
        lookups.shared_pool_model,
        sim_column=lookups.sim_column,
        instance_id=instance_ids.instance_id,
        queue_id=winner_queue,
        instance=instance,
        assignment=solved.assignment,
        rows=rows_of[winner_queue],
        pools=lookups.pools,
        pool_of_plan=tables.pools,
        shares=shares,
    )
    customers.set_processing(engine, ids.session_id, customer_id, RunStatus.COMPLETED, now=now())
    return solved, shared


@dataclass(frozen=True)
class CustomerLookups:
    """What every customer's rows need, read once per run: where the rows go (``Device``-based
    tables for an M2M fleet, the mobility tables for a mobility fleet) and the ids of SIMs,
    customer plans, pools and each SIM's carrier plan."""

    result_model: type
    shared_pool_model: type
    sim_column: str
    sim_ids: dict[str, int]
    plan_ids: dict[str, int]
    carrier_plans: dict[str, int]
    pools: dict[str, int]

    @classmethod
    def of(
        cls, engine: Engine, ids: runs.RunIds, found: list[CustomerTables], now: Clock
    ) -> "CustomerLookups":
        with engine.connect() as connection:
            fleet = connection.scalar(
                select(ServiceProvider.fleet).where(ServiceProvider.id == ids.provider_id)
            )
            maps = dict(
                plan_ids=customers.customer_plan_ids(connection, ids.provider_id),
                carrier_plans=customers.device_carrier_plans(connection, ids.provider_id),
                pools=customers.pool_ids(connection, ids.provider_id),
            )
            if fleet != Fleet.MOBILITY.value:
                return cls(
                    OptimizationDeviceResult,
                    OptimizationSharedPoolResult,
                    "device_id",
                    runs.device_ids_of(connection, ids.provider_id),
                    **maps,
                )
        # A mobility fleet's SIMs are referenced through MobilityDevice: make sure every SIM
        # of every instance has its row for the period (a mobility run may not have made it).
        sims = (
            pd.concat([tables.devices for tables in found], ignore_index=True)
            .drop_duplicates("iccid")  # a shared-pool SIM is locked in several instances
            .drop(columns=["rate_plan_code"])
            .rename(columns={"carrier_rate_plan_code": "rate_plan_code"})
        )
        sim_ids = upsert_mobility_devices(
            engine, ids.provider_id, ids.billing_period_id, sims, now()
        )
        return cls(
            OptimizationMobilityDeviceResult,
            OptimizationMobilitySharedPoolResult,
            "mobility_device_id",
            sim_ids,
            **maps,
        )


@dataclass(frozen=True)
class CustomersSolved:
    """What a customer run solved: each customer's instance and its shared-pool rows, and the
    customers that failed, with their error."""

    customers: int
    solved: dict[str, SolvedInstance]
    shared_rows: dict[str, int]
    failed: dict[str, str]


def list_customers(
    engine: Engine, ids: runs.RunIds, provider: str, period_key: str, *, now: Clock
) -> CustomerInput:
    """The period's customers, each with its SIMs, the locked SIMs of other customers in its
    shared pools and the plans offered; a processing row opened for each."""
    found = customers.period_customers(engine, provider, period_key)
    numbers = [c.customer for c in found.customers]
    customer_ids = customers.ensure_customers(engine, numbers, now())
    customers.open_processing(engine, ids.session_id, [customer_ids[n] for n in numbers], now())
    return found


def solve_customers(
    run: PeriodRun, *, time_limit_s: float, gap_target_pct: float = DEFAULT_GAP_TARGET_PCT
) -> CustomersSolved:
    """Each customer solved as its own instance (its search stops at ``gap_target_pct``
    percent above its proven bound, or at ``time_limit_s``). A customer that fails is recorded
    as failed and the others still run; the caller decides what a failure means for the run."""
    engine, ids, now, log = run.engine, run.ids, run.now, run.log
    found = customers.period_customers(engine, run.provider, run.period_key)
    customer_ids = customers.ensure_customers(engine, [c.customer for c in found.customers], now())
    lookups = CustomerLookups.of(engine, ids, found.customers, now)
    solved: dict[str, SolvedInstance] = {}
    shared_rows: dict[str, int] = {}
    failed: dict[str, str] = {}
    run.progress.milestone(40, "queues created")
    for number, tables in enumerate(found.customers, start=1):
        customer_id = customer_ids[tables.customer]
        log.info(
            "customer %d of %d: %s (%d SIMs, %d locked shared-pool SIMs)",
            number,
            len(found.customers),
            tables.customer,
            tables.own_sims,
            tables.locked_sims,
        )
        try:
            solved[tables.customer], shared_rows[tables.customer] = solve_customer(
                engine,
                ids,
                tables,
                customer_id,
                lookups,
                time_limit_s=time_limit_s,
                gap_target_pct=gap_target_pct,
                now=now,
            )
        except Exception as exc:  # one customer's failure must not stop the others
            failed[tables.customer] = f"{type(exc).__name__}: {exc}"
            customers.set_processing(
                engine,
                ids.session_id,
                customer_id,
                RunStatus.FAILED,
                now=now(),
                error=failed[tables.customer],
            )
            log.error("customer %s failed: %s", tables.customer, failed[tables.customer])
    run.progress.milestone(50, "optimization calculated")
    return CustomersSolved(len(found.customers), solved, shared_rows, failed)
