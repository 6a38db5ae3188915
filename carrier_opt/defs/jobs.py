"""Jobs users launch from the UI or the command line."""

import dagster as dg

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
    selection=dg.AssetSelection.groups(GROUP),
    description=(
        "Sync a provider's SIMs and usage, optimize its billing period and keep the winning "
        "assignment. One run per service provider × billing period partition."
    ),
)
