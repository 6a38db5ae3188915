"""Customer optimization: an agent re-prices its own customers on its customer rate plans.

One instance per customer (``OptimizationCustomerProcessing`` tracks each). SIMs of other
customers that share one of the customer's pools enter locked: they keep their plan but add
usage and allowance, and are stored in ``OptimizationSharedPoolResult`` with an even share of
their pool's overage. Customer optimization only reports: it never changes anything at the
carrier (the SIMs' carrier plans are untouched), so this chain has no rate-plan push.

It runs on the usage the period's syncs stored (start it after the provider's sync, or for a
closed period), under its own session of type ``customer``.
"""

from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd
from sqlalchemy import select

from carrier_opt.core.customer import CustomerTables
from carrier_opt.core.instance import instance_from_frames
from carrier_opt.core.pricing import pool_overage_shares
from carrier_opt.db import customer_optimization as customers
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.mobility import upsert_mobility_devices
from carrier_opt.db.models import (
    Fleet,
    OptimizationDeviceResult,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationSharedPoolResult,
    OptimizationType,
    RunStatus,
    ServiceProvider,
)
from carrier_opt.defs.assets.instance_solver import (
    SolvedInstance,
    solve_instance,
    solved_metadata,
)
from carrier_opt.defs.assets.optimization import (
    OptimizerConfig,
    _guarded,
    _partition,
    clock,
    run_ended,
)
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.partitions import provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource, PlatformProgress
from carrier_opt.errors import CarrierOptError

GROUP = "customer_optimization"
CUSTOMER_PLAN_COLUMNS = ("current_customer_rate_plan_id", "assigned_customer_rate_plan_id")


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, kinds={"pandas"})
@_guarded
@operator_failures
def customer_rate_pools(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """Opens the customer session and lists each customer's instance: its SIMs, the locked
    SIMs of other customers in its shared pools, the plans offered."""
    provider, period_key = _partition(context)
    engine, now = database.engine(), clock()
    ids = runs.start_session(
        engine, provider, period_key, run_id=context.run.run_id, now=now,
        optimization_type=OptimizationType.CUSTOMER, run_ended=run_ended(context.instance),
    )  # fmt: skip
    progress.report(ids.session_guid, 0, "session started")
    found = customers.period_customers(engine, provider, period_key)
    numbers = [c.customer for c in found.customers]
    customer_ids = customers.ensure_customers(engine, numbers, now)
    customers.open_processing(engine, ids.session_id, [customer_ids[n] for n in numbers], now)
    if found.without_carrier_plan:
        context.log.warning(
            "%d customer SIMs are on no priced carrier plan and are left out",
            found.without_carrier_plan,
        )
    if found.on_inactive_plan:
        context.log.warning(
            "%d customer SIMs are on customer plans that are no longer active and are left out",
            found.on_inactive_plan,
        )
    if len(found.unassigned):
        context.log.info(
            "%d customer SIMs are on no customer plan: not optimized, reported at $0",
            len(found.unassigned),
        )
    rows = "\n".join(
        f"| {c.customer} | {c.own_sims} | {c.locked_sims} | {len(c.rate_plans)} | "
        f"{', '.join(sorted(set(c.pools.values()))) or '-'} |"
        for c in found.customers
    )
    return dg.MaterializeResult(
        metadata={
            "customers": len(found.customers),
            "devices": sum(c.own_sims for c in found.customers),
            "locked_shared_pool_devices": sum(c.locked_sims for c in found.customers),
            "left_out_no_carrier_plan": found.without_carrier_plan,
            "left_out_inactive_customer_plan": found.on_inactive_plan,
            "no_customer_plan_reported_at_zero": len(found.unassigned),
            "session_guid": ids.session_guid,
            "customers_table": dg.MetadataValue.md(
                "| customer | SIMs | locked shared-pool SIMs | plans offered | pools |\n"
                "|---|---:|---:|---:|---|\n" + rows
            ),
        }
    )


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, deps=[customer_rate_pools])
@_guarded
@operator_failures
def customer_winning_assignments(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    progress: PlatformProgress,
    config: OptimizerConfig,
) -> dg.MaterializeResult:
    """Each customer solved as its own instance; winners in ``OptimizationDeviceResult``
    (customer plan columns), locked shared-pool SIMs in ``OptimizationSharedPoolResult`` — or,
    for a mobility fleet, ``OptimizationMobilityDeviceResult`` and
    ``OptimizationMobilitySharedPoolResult``.

    A customer that fails is recorded as failed and the others still run; the asset fails at
    the end naming them."""
    provider, period_key = _partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    found = customers.period_customers(engine, provider, period_key)
    customer_ids = customers.ensure_customers(
        engine, [c.customer for c in found.customers], clock()
    )
    lookups = _Lookups.of(engine, ids, found.customers)
    solved: dict[str, SolvedInstance] = {}
    shared_rows: dict[str, int] = {}
    failed: dict[str, str] = {}
    runs.set_progress(engine, ids, 40)
    progress.report(ids.session_guid, 40, "queues created")
    for number, tables in enumerate(found.customers, start=1):
        customer_id = customer_ids[tables.customer]
        context.log.info(
            "customer %d of %d: %s (%d SIMs, %d locked shared-pool SIMs)", number,
            len(found.customers), tables.customer, tables.own_sims, tables.locked_sims,
        )  # fmt: skip
        try:
            solved[tables.customer], shared_rows[tables.customer] = _solve_customer(
                engine, ids, tables, customer_id, config, lookups
            )
        except Exception as exc:  # one customer's failure must not stop the others
            failed[tables.customer] = f"{type(exc).__name__}: {exc}"
            customers.set_processing(
                engine, ids.session_id, customer_id, RunStatus.FAILED, now=clock(),
                error=failed[tables.customer],
            )  # fmt: skip
            context.log.error("customer %s failed: %s", tables.customer, failed[tables.customer])
    runs.set_progress(engine, ids, 50)
    progress.report(ids.session_guid, 50, "optimization calculated")
    if failed:
        raise CarrierOptError(
            f"customer optimization failed for {len(failed)} of {len(found.customers)} "
            f"customers: " + "; ".join(f"{name}: {why}" for name, why in failed.items())
        )
    runs.finish(engine, ids, RunStatus.COMPLETED)
    runs.set_progress(engine, ids, 100)
    progress.report(ids.session_guid, 100, "results ready")
    return dg.MaterializeResult(
        metadata={
            **solved_metadata(solved, "customer"),
            "shared_pool_rows": sum(shared_rows.values()),
            "carrier_changes_pushed": 0,
            "session_guid": ids.session_guid,
        }
    )


def _solve_customer(
    engine,
    ids,
    tables: CustomerTables,
    customer_id: int,
    config: OptimizerConfig,
    lookups: "_Lookups",
) -> tuple[SolvedInstance, int]:
    instance = instance_from_frames(tables.rate_plans, tables.comm_plan_rate_plans, tables.devices)
    instance_ids = runs.add_instance(
        engine, ids, now=clock(), rev_customer_id=customer_id, device_count=instance.n_devices
    )
    customers.set_processing(
        engine, ids.session_id, customer_id, RunStatus.RUNNING, now=clock(),
        instance_id=instance_ids.instance_id,
    )  # fmt: skip
    locked = np.asarray(instance.locked)
    rows_of: dict[int, list[dict]] = {}

    def write(queue_id: int, assignment) -> float:
        rows, total = runs.result_rows(
            instance, assignment, lookups.sim_ids, lookups.plan_ids, sim_column=lookups.sim_column,
            plan_columns=CUSTOMER_PLAN_COLUMNS,
        )  # fmt: skip
        for row, iccid in zip(rows, instance.iccids.tolist(), strict=True):
            row["current_carrier_rate_plan_id"] = lookups.carrier_plans[iccid]
            row["assigned_carrier_rate_plan_id"] = lookups.carrier_plans[iccid]
        rows_of[queue_id] = rows
        own = [row for row, is_locked in zip(rows, locked, strict=True) if not is_locked]
        return runs.store_queue_rows(engine, queue_id, lookups.result_model, own, total)

    solved = solve_instance(
        engine, instance_ids, instance, time_limit_s=config.time_limit_s, write_queue=write,
        result_model=lookups.result_model, record_sequences=False,
    )  # fmt: skip
    winner_queue = runs.queues_of(engine, instance_ids)[solved.winning_queue]
    shares = pool_overage_shares(instance, solved.assignment)
    shared = customers.write_shared_pool_results(
        engine, lookups.shared_pool_model, lookups.sim_column, instance_ids.instance_id,
        winner_queue, instance, solved.assignment, rows_of[winner_queue], lookups.pools,
        tables.pools, shares,
    )  # fmt: skip
    customers.set_processing(engine, ids.session_id, customer_id, RunStatus.COMPLETED, now=clock())
    return solved, shared


@dataclass(frozen=True)
class _Lookups:
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
    def of(cls, engine, ids: runs.RunIds, found: list[CustomerTables]) -> "_Lookups":
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
                    OptimizationDeviceResult, OptimizationSharedPoolResult, "device_id",
                    runs.device_ids_of(connection, ids.provider_id), **maps,
                )  # fmt: skip
        # A mobility fleet's SIMs are referenced through MobilityDevice: make sure every SIM
        # of every instance has its row for the period (a mobility run may not have made it).
        sims = (
            pd.concat([tables.devices for tables in found], ignore_index=True)
            .drop_duplicates("iccid")  # a shared-pool SIM is locked in several instances
            .drop(columns=["rate_plan_code"])
            .rename(columns={"carrier_rate_plan_code": "rate_plan_code"})
        )
        sim_ids = upsert_mobility_devices(
            engine, ids.provider_id, ids.billing_period_id, sims, clock()
        )
        return cls(
            OptimizationMobilityDeviceResult, OptimizationMobilitySharedPoolResult,
            "mobility_device_id", sim_ids, **maps,
        )  # fmt: skip


customer_assets = [customer_rate_pools, customer_winning_assignments]
