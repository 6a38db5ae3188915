"""Customer optimization: an agent re-prices its own customers on its customer rate plans.

One instance per customer (``OptimizationCustomerProcessing`` tracks each). SIMs of other
customers that share one of the customer's pools enter locked: they keep their plan but add
usage and allowance, and are stored in ``OptimizationSharedPoolResult`` with an even share of
their pool's overage. Customer optimization only reports: it never changes anything at the
carrier (the SIMs' carrier plans are untouched), so this chain has no rate-plan push.

It runs on the usage the period's syncs stored (start it after the provider's sync, or for a
closed period), under its own session of type ``customer``.
"""

import dagster as dg

from carrier_opt.db import customer_optimization as customers
from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import (
    OptimizationType,
    RunStatus,
)
from carrier_opt.defs.assets.optimization import clock
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.metadata import solved_metadata
from carrier_opt.defs.partitions import provider_period_partitions
from carrier_opt.defs.resources import DatabaseResource, PlatformProgress
from carrier_opt.defs.run_context import (
    OptimizerConfig,
    guarded,
    run_ended,
    run_partition,
    run_progress,
)
from carrier_opt.errors import CarrierOptError
from carrier_opt.pipeline.customer import CustomerLookups, solve_customer
from carrier_opt.pipeline.solve import SolvedInstance

GROUP = "customer_optimization"


@dg.asset(group_name=GROUP, partitions_def=provider_period_partitions, kinds={"pandas"})
@guarded
@operator_failures
def customer_rate_pools(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """Opens the customer session and lists each customer's instance: its SIMs, the locked
    SIMs of other customers in its shared pools, the plans offered."""
    provider, period_key = run_partition(context)
    engine, now = database.engine(), clock()
    ids = runs.start_session(
        engine, provider, period_key, run_id=context.run.run_id, now=now,
        optimization_type=OptimizationType.CUSTOMER, run_ended=run_ended(context.instance),
    )  # fmt: skip
    run_progress(engine, ids, progress).milestone(0, "session started")
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
@guarded
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
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = runs.run_ids_for(engine, context.run.run_id)
    found = customers.period_customers(engine, provider, period_key)
    customer_ids = customers.ensure_customers(
        engine, [c.customer for c in found.customers], clock()
    )
    lookups = CustomerLookups.of(engine, ids, found.customers, clock)
    solved: dict[str, SolvedInstance] = {}
    shared_rows: dict[str, int] = {}
    failed: dict[str, str] = {}
    run_progress(engine, ids, progress).milestone(40, "queues created")
    for number, tables in enumerate(found.customers, start=1):
        customer_id = customer_ids[tables.customer]
        context.log.info(
            "customer %d of %d: %s (%d SIMs, %d locked shared-pool SIMs)", number,
            len(found.customers), tables.customer, tables.own_sims, tables.locked_sims,
        )  # fmt: skip
        try:
            solved[tables.customer], shared_rows[tables.customer] = solve_customer(
                engine,
                ids,
                tables,
                customer_id,
                lookups,
                time_limit_s=config.time_limit_s,
                now=clock,
            )
        except Exception as exc:  # one customer's failure must not stop the others
            failed[tables.customer] = f"{type(exc).__name__}: {exc}"
            customers.set_processing(
                engine, ids.session_id, customer_id, RunStatus.FAILED, now=clock(),
                error=failed[tables.customer],
            )  # fmt: skip
            context.log.error("customer %s failed: %s", tables.customer, failed[tables.customer])
    run_progress(engine, ids, progress).milestone(50, "optimization calculated")
    if failed:
        raise CarrierOptError(
            f"customer optimization failed for {len(failed)} of {len(found.customers)} "
            f"customers: " + "; ".join(f"{name}: {why}" for name, why in failed.items())
        )
    runs.finish(engine, ids, RunStatus.COMPLETED)
    run_progress(engine, ids, progress).milestone(100, "results ready")
    return dg.MaterializeResult(
        metadata={
            **solved_metadata(solved, "customer"),
            "shared_pool_rows": sum(shared_rows.values()),
            "carrier_changes_pushed": 0,
            "session_guid": ids.session_guid,
        }
    )


customer_assets = [customer_rate_pools, customer_winning_assignments]
