"""Jobs users launch from the UI or the command line."""

import dagster as dg

from carrier_opt.defs.assets.customer import GROUP as CUSTOMER_GROUP
from carrier_opt.defs.assets.delivery import GROUP as DELIVERY_GROUP
from carrier_opt.defs.assets.mobility import GROUP as MOBILITY_GROUP
from carrier_opt.defs.assets.optimization import GROUP, device_usage, staged_devices
from carrier_opt.defs.assets.schema import database_schema

OPTIMIZE_JOB_NAME = "optimize_billing_period"
"""The partitioned job the billing-window sensor starts (one run per provider × period)."""
MOBILITY_JOB_NAME = "optimize_mobility_period"
CUSTOMER_JOB_NAME = "optimize_customer_period"

setup_database = dg.define_asset_job(
    "setup_database",
    selection=[database_schema],
    description="Create or upgrade the carrier_opt database schema.",
)

optimize_billing_period = dg.define_asset_job(
    OPTIMIZE_JOB_NAME,
    selection=dg.AssetSelection.groups(GROUP, DELIVERY_GROUP),
    description=(
        "Sync a provider's SIMs and usage, optimize its billing period, keep the winning "
        "assignment, then store the report, mail it and push (or dry-run) the rate-plan "
        "changes. One run per service provider × billing period partition."
    ),
)

optimize_mobility_period = dg.define_asset_job(
    MOBILITY_JOB_NAME,
    selection=dg.AssetSelection.assets(staged_devices, device_usage)
    | dg.AssetSelection.groups(MOBILITY_GROUP),
    description=(
        "Sync a mobility provider's SIMs and usage, optimize each optimization group (its "
        "SIMs pooled together, only plans of the group's types), keep the winners in "
        "OptimizationMobilityDeviceResult, store and mail a workbook per group, then push (or "
        "dry-run) the changes as M2M does. One run per service provider × billing period."
    ),
)

optimize_customer_period = dg.define_asset_job(
    CUSTOMER_JOB_NAME,
    selection=dg.AssetSelection.groups(CUSTOMER_GROUP),
    description=(
        "Re-price an agent's customers on its customer rate plans, one instance per customer, "
        "with other customers' SIMs in shared pools locked; a workbook and a mail per "
        "customer; never changes anything at the carrier. Runs on the usage stored for the "
        "period."
    ),
)
