"""Customer optimization: an agent re-prices its own customers on its customer rate plans.

One instance per customer (``OptimizationCustomerProcessing`` tracks each). SIMs of other
customers that share one of the customer's pools enter locked: they keep their plan but add
usage and allowance, and are stored in ``OptimizationSharedPoolResult`` with an even share of
their pool's overage. Customer optimization only reports: it never changes anything at the
carrier (the SIMs' carrier plans are untouched), so this chain has no rate-plan push:
customer_rate_pools → customer_winning_assignments → customer_reports (one workbook and one
mail per customer, to the provider's recipients and the addresses of the customer's sites).

It runs on the usage the period's syncs stored (start it after the provider's sync, or for a
closed period), under its own session of type ``customer``. Each asset calls the pipeline
(:mod:`carrier_opt.pipeline.customer`, ``reports``, ``mail``) and shapes its metadata.
"""

import dagster as dg

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db.models import OptimizationType, RunStatus
from carrier_opt.defs.catalog import EMAIL, EXCEL
from carrier_opt.defs.deliver import reports_links
from carrier_opt.defs.metadata import (
    customer_pools_metadata,
    customer_reports_table,
    solved_metadata,
)
from carrier_opt.defs.resources import (
    DatabaseResource,
    NotifierResource,
    PlatformProgress,
    ResultStoreResource,
)
from carrier_opt.defs.run_context import (
    OptimizerConfig,
    open_period_run,
    period_asset,
    period_run,
    run_ids,
    run_partition,
)
from carrier_opt.errors import CarrierOptError
from carrier_opt.pipeline.customer import list_customers, solve_customers
from carrier_opt.pipeline.mail import mail_customers
from carrier_opt.pipeline.reports import store_customer_reports

GROUP = "customer"


@period_asset(GROUP, fails_session=True)
def customer_rate_pools(
    context: dg.AssetExecutionContext, database: DatabaseResource, progress: PlatformProgress
) -> dg.MaterializeResult:
    """Opens the customer session and lists each customer's instance: its SIMs, the locked
    SIMs of other customers in its shared pools, the plans offered."""
    run = open_period_run(context, database.engine(), progress, OptimizationType.CUSTOMER)
    found = list_customers(run.engine, run.ids, run.provider, run.period_key, now=run.now)
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
    if found.customer_not_read:
        context.log.warning(found.customer_not_read_line())
    if len(found.unassigned):
        context.log.info(
            "%d customer SIMs are on no customer plan: not optimized, reported at $0",
            len(found.unassigned),
        )
    return dg.MaterializeResult(
        metadata={**customer_pools_metadata(found), "session_guid": run.ids.session_guid}
    )


@period_asset(GROUP, deps=[customer_rate_pools], fails_session=True)
def customer_winning_assignments(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    progress: PlatformProgress,
    config: OptimizerConfig,
) -> dg.MaterializeResult:
    """Each customer solved as its own instance; winners in `OptimizationDeviceResult`
    (customer plan columns), locked shared-pool SIMs in `OptimizationSharedPoolResult` — or,
    for a mobility fleet, `OptimizationMobilityDeviceResult` and
    `OptimizationMobilitySharedPoolResult`.

    A customer that fails is recorded as failed and the others still run; the asset fails at
    the end naming them."""
    run = period_run(context, database.engine(), progress)
    done = solve_customers(
        run, time_limit_s=config.time_limit_s, gap_target_pct=config.gap_target_pct
    )
    if done.failed:
        raise CarrierOptError(
            f"customer optimization failed for {len(done.failed)} of {done.customers} "
            f"customers: " + "; ".join(f"{name}: {why}" for name, why in done.failed.items())
        )
    runs.finish(run.engine, run.ids, RunStatus.COMPLETED)
    run.progress.milestone(100, "results ready")
    return dg.MaterializeResult(
        metadata={
            **solved_metadata(done.solved, "customer"),
            "shared_pool_rows": sum(done.shared_rows.values()),
            "carrier_changes_pushed": 0,
            "session_guid": run.ids.session_guid,
        }
    )


@period_asset(GROUP, deps=[customer_winning_assignments], kinds=[EXCEL, EMAIL])
def customer_reports(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    result_store: ResultStoreResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """A workbook per customer, stored and recorded; one mail per customer with its workbook
    only, to the provider's recipients and the addresses of the customer's sites.

    A mail that cannot be sent does not stop the other customers'; the asset fails at the end
    naming them."""
    provider, period_key = run_partition(context)
    engine = database.engine()
    ids = run_ids(context, engine)
    found, reports = store_customer_reports(engine, result_store.store(), ids, provider, period_key)
    reported = {tables.customer for tables in found.customers}
    unreported = sorted(set(found.unassigned["customer"]) - reported)
    if unreported:
        context.log.warning(
            "customers with SIMs on no customer plan at all get no report: %s",
            ", ".join(map(str, unreported)),
        )
    mails = mail_customers(
        engine,
        notifier,
        ids.provider_id,
        reports,
        run_url=notifier.run_url(context.run.run_id),
        log=context.log,
    )
    failed = {name: mail.error for name, mail in mails.items() if mail.error}
    if failed:
        raise CarrierOptError(
            f"the report mail of {len(failed)} of {len(reports)} customers was not sent: "
            + "; ".join(f"{name}: {error}" for name, error in failed.items())
        )
    return dg.MaterializeResult(
        metadata={
            "files": dg.MetadataValue.json(reports_links(result_store, reports)),
            "mails_sent": sum(1 for mail in mails.values() if mail.sent),
            "recipients": len({a for mail in mails.values() for a in mail.recipients}),
            "totals_match_database": all(r.matches_database for r in reports),
            "carrier_changes_pushed": 0,
            "customers_table": dg.MetadataValue.md(customer_reports_table(reports, mails)),
        }
    )


customer_assets = [customer_rate_pools, customer_winning_assignments]
customer_delivery_assets = [customer_reports]
