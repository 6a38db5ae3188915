"""Jobs users launch from the UI or the command line. Each has the team's owners and tags:
its run timeout and how it treats the carrier (:mod:`carrier_opt.defs.catalog`)."""

import dagster as dg

from carrier_opt.defs.assets.customer import GROUP as CUSTOMER_GROUP
from carrier_opt.defs.assets.insights import period_settlement, rate_plan_offer_what_if
from carrier_opt.defs.assets.m2m import GROUP as M2M_GROUP
from carrier_opt.defs.assets.mobility import GROUP as MOBILITY_GROUP
from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.assets.sync import GROUP as SYNC_GROUP
from carrier_opt.defs.assets.sync import sync_freshness
from carrier_opt.defs.catalog import (
    CHANGES_CARRIER,
    NO_CARRIER,
    OWNERS,
    READS_CARRIER,
    SHORT_RUN_LIMIT,
    job_tags,
)
from carrier_opt.pipeline.period_sync import SYNC_JOB
from carrier_opt.pipeline.reports import CUSTOMER_JOB
from carrier_opt.pipeline.solved import M2M_JOB, MOBILITY_JOB

OPTIMIZE_JOB_NAME = M2M_JOB
"""The partitioned job the billing-window sensor starts (one run per provider × period)."""
MOBILITY_JOB_NAME = MOBILITY_JOB
CUSTOMER_JOB_NAME = CUSTOMER_JOB
PUSH_JOB_NAME = "push_approved_changes"
SYNC_JOB_NAME = SYNC_JOB
FRESHNESS_JOB_NAME = "check_sync_freshness"
WHAT_IF_JOB_NAME = "what_if_offer"
SETTLE_JOB_NAME = "settle_closed_period"

LINEAR_CHAIN_EXECUTOR = dg.in_process_executor
"""The executor of the partitioned jobs: their steps in the run worker's own process.

Each of these jobs is a strict chain (every step waits for the one before; the tests in
carrier_opt_tests/defs/test_executors.py say so), so Dagster's default multiprocess executor
buys no parallelism here, only a Python process per step that imports Dagster, pandas, numba
and carrier_opt again: 5-13 s a step on the 2-core machine, most of a run (issue 29,
docs/benchmarks.md "Runs through the daemon"). In process, a run pays that import once.
What Dagster users rely on is unchanged: each asset's own materialization, the blocking asset
checks that stop the push, RetryPolicy retries, re-execution from failure (the steps' outputs
live in the database, not in the executor) and the per-provider run limit (a run-queue tag,
dagster.yaml). The tests already run the jobs this way (``execute_in_process``)."""

setup_database = dg.define_asset_job(
    "setup_database",
    owners=OWNERS,
    tags=job_tags(NO_CARRIER, SHORT_RUN_LIMIT),
    selection=[database_schema],
    description="Create or upgrade the carrier_opt database schema.",
)

optimize_billing_period = dg.define_asset_job(
    OPTIMIZE_JOB_NAME,
    owners=OWNERS,
    executor_def=LINEAR_CHAIN_EXECUTOR,
    tags=job_tags(CHANGES_CARRIER),
    selection=dg.AssetSelection.groups(M2M_GROUP),
    description=(
        "Sync a provider's SIMs and usage, optimize its billing period, keep the winning "
        "assignment, push (or dry-run) the whole change set in safe batches, then store the "
        "report with the expected and realized saving and mail it. One run per service "
        "provider × billing period partition."
    ),
)

optimize_mobility_period = dg.define_asset_job(
    MOBILITY_JOB_NAME,
    owners=OWNERS,
    executor_def=LINEAR_CHAIN_EXECUTOR,
    tags=job_tags(CHANGES_CARRIER),
    selection=dg.AssetSelection.groups(MOBILITY_GROUP),
    description=(
        "Sync a mobility provider's SIMs and usage, optimize each optimization group (its "
        "SIMs pooled together, only plans of the group's types), keep the winners in "
        "OptimizationMobilityDeviceResult, push (or dry-run) the changes as M2M does, then "
        "store and mail a workbook per group. One run per service provider × billing period."
    ),
)

optimize_customer_period = dg.define_asset_job(
    CUSTOMER_JOB_NAME,
    owners=OWNERS,
    executor_def=LINEAR_CHAIN_EXECUTOR,
    tags=job_tags(NO_CARRIER),
    selection=dg.AssetSelection.groups(CUSTOMER_GROUP),
    description=(
        "Re-price an agent's customers on its customer rate plans, one instance per customer, "
        "with other customers' SIMs in shared pools locked; a workbook and a mail per "
        "customer; never changes anything at the carrier. Runs on the usage stored for the "
        "period."
    ),
)

push_approved_changes = dg.define_asset_job(
    PUSH_JOB_NAME,
    owners=OWNERS,
    tags=job_tags(CHANGES_CARRIER),
    selection=dg.AssetSelection.assets("approved_rate_plan_push"),  # by key: no import cycle
    description=(
        "Push an approved dry run: the partition's latest optimization sent to the carrier "
        "under the automatic push's rules (re-read, one Go/No-Go, safe batches), whatever the "
        "provider's automatic-updates setting. Give approved_by in the launchpad."
    ),
)

check_rate_plan_pushes = dg.define_asset_job(
    "check_rate_plan_pushes",
    owners=OWNERS,
    tags=job_tags(READS_CARRIER),
    selection=dg.AssetSelection.assets("rate_plan_push_checks"),  # by key: no import cycle
    description=(
        "Re-check pushes whose check is due: the carrier read again, each sent change compared "
        "with what it shows, discrepancies recorded and mailed (started by the "
        "rate_plan_push_checks_due sensor; three checks, 900 s apart)."
    ),
)

sync_carrier_data = dg.define_asset_job(
    SYNC_JOB_NAME,
    owners=OWNERS,
    executor_def=LINEAR_CHAIN_EXECUTOR,
    tags=job_tags(READS_CARRIER),
    selection=dg.AssetSelection.groups(SYNC_GROUP),
    description=(
        "Store a provider's carrier data for one billing period: the open period by an "
        "incremental sync (SIMs, then usage), a closed one from the usage the carrier keeps "
        "for past cycles. Run daily by the daily_sync schedule; backfill past periods here "
        "when a provider is onboarded. Then checks every provider's sync freshness."
    ),
)

check_sync_freshness = dg.define_asset_job(
    FRESHNESS_JOB_NAME,
    owners=OWNERS,
    tags=job_tags(NO_CARRIER, SHORT_RUN_LIMIT),
    selection=dg.AssetSelection.checks(sync_freshness),
    description=(
        "Warn when an active provider's last completed sync is older than 36 h (one "
        "database query, no carrier call)."
    ),
)

what_if_offer = dg.define_asset_job(
    WHAT_IF_JOB_NAME,
    owners=OWNERS,
    tags=job_tags(NO_CARRIER, SHORT_RUN_LIMIT),
    selection=[rate_plan_offer_what_if],
    description=(
        "Price a plan offer (add_plan, allow_on) or a withdrawn plan (remove_plan) on an M2M "
        "provider's stored period: the optimum with and without it, the SIMs that would move, "
        "the saving and the offer's break-even base rate (as `carrier-opt what-if`). Changes "
        "nothing at the carrier or in the database."
    ),
)

settle_closed_period = dg.define_asset_job(
    SETTLE_JOB_NAME,
    owners=OWNERS,
    tags=job_tags(NO_CARRIER, SHORT_RUN_LIMIT),
    selection=[period_settlement],
    description=(
        "Settle an M2M provider's closed period on its stored usage (as `carrier-opt "
        "settle`): the realized saving on the bill, what was left on the table, the usage "
        "projection's error and what it cost; stored for the savings trend and the report. "
        "Refused for a period that has not closed or has no completed optimization."
    ),
)
