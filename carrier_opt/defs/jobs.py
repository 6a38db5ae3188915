"""Jobs users launch from the UI or the command line."""

import dagster as dg

from carrier_opt.defs.assets.delivery import GROUP as DELIVERY_GROUP
from carrier_opt.defs.assets.optimization import GROUP
from carrier_opt.defs.assets.schema import database_schema

OPTIMIZE_JOB_NAME = "optimize_billing_period"
"""The partitioned job the billing-window sensor starts (one run per provider × period)."""

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
