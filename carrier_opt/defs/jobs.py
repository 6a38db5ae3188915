"""Jobs users launch from the UI or the command line."""

from __future__ import annotations

import dagster as dg

from carrier_opt.defs.assets.schema import database_schema

setup_database = dg.define_asset_job(
    "setup_database",
    selection=[database_schema],
    description="Create or upgrade the carrier_opt database schema.",
)
