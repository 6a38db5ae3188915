"""The database schema as an asset: materializing it creates or upgrades the tables."""

import dagster as dg

from carrier_opt.db import migrate
from carrier_opt.defs import catalog
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.resources import DatabaseResource


@dg.asset(
    group_name="setup",
    description=(
        "The carrier_opt database schema (legacy table names, Alembic migrations). "
        "Materializing creates a new database or upgrades an existing one; "
        "running it on an up-to-date database changes nothing."
    ),
    kinds=catalog.asset_kinds(),
    owners=catalog.OWNERS,
    tags=catalog.asset_tags(catalog.NO_CARRIER),
)
@operator_failures
def database_schema(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """Bring the schema to the newest revision and report what the database now holds."""
    engine = database.engine()
    before, after = migrate.upgrade(engine)
    tables = migrate.table_names(engine)
    views = migrate.view_names(engine)
    context.log.info(
        "schema of %s at revision %s (was %s)", database.describe(), after, before or "empty"
    )
    return dg.MaterializeResult(
        metadata={
            "database": dg.MetadataValue.text(database.describe()),
            "revision_before": dg.MetadataValue.text(before or "(empty database)"),
            "revision": dg.MetadataValue.text(after or ""),
            "tables": dg.MetadataValue.int(len(tables)),
            "table_names": dg.MetadataValue.md("\n".join(f"- `{name}`" for name in tables)),
            "views": dg.MetadataValue.text(", ".join(views)),
        }
    )
