"""The one Dagster ``Definitions`` object of carrier_opt (``workspace.yaml`` points here)."""

from __future__ import annotations

import dagster as dg

from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.jobs import setup_database
from carrier_opt.defs.resources import DatabaseResource

defs = dg.Definitions(
    assets=[database_schema],
    jobs=[setup_database],
    resources={"database": DatabaseResource()},
)
