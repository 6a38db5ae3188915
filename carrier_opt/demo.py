"""``make demo``: run carrier_opt's Dagster job in-process on embedded defaults.

Today the pipeline's first step exists: the database schema. The demo materializes it through
Dagster (exactly as the UI would) and prints the tables of the resulting database. Later
issues extend the demo to a full optimization run against the local fake carrier.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from carrier_opt.db import migrate
from carrier_opt.db.engine import display_url
from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt.errors import CarrierOptError


def run_demo(database_url: str | None = None) -> Iterator[str]:
    """Materialize the demo assets and yield lines describing the result."""
    database = DatabaseResource(database_url=database_url)
    engine = database.engine()
    yield f"database: {display_url(engine.url)}"
    result = dg.materialize(
        [database_schema], resources={"database": database}, raise_on_error=False
    )
    if not result.success:
        raise CarrierOptError(_failure_message(result))
    yield f"schema revision: {migrate.current_revision(engine)}"
    tables = migrate.table_names(engine)
    yield f"{len(tables)} tables:"
    yield from (f"  {name}" for name in tables)
    yield from (f"  {name} (view)" for name in migrate.view_names(engine))


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            cause = event.step_failure_data.error.cause or event.step_failure_data.error
            return f"demo run failed: {cause.message.strip().splitlines()[-1]}"
    return "demo run failed (see the Dagster logs above)"
