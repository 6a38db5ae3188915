"""The view ``vwOptimizationSessionRunning`` and DDL elements to create and drop it.

The view's query is written once with SQLAlchemy Core and compiled for each dialect, so
PostgreSQL, SQLite and SQL Server get the same view with their own quoting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, MetaData, Select, Table, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler

from carrier_opt.db.models import ACTIVE_RUN_STATUSES, OptimizationInstance, OptimizationSession

SESSION_RUNNING_VIEW = "vwOptimizationSessionRunning"


def session_running_query() -> Select[Any]:
    """Sessions still pending or running, one row per instance (if any) with its status.

    The pipeline refuses a new session for a provider while this returns a row for it, except
    on the last day of the cycle when the row's instance has completed.
    """
    session = OptimizationSession.__table__
    instance = OptimizationInstance.__table__
    return (
        select(
            session.c.id.label("optimization_session_id"),
            session.c.session_guid,
            session.c.service_provider_id,
            session.c.billing_period_id,
            session.c.optimization_type,
            session.c.status.label("session_status"),
            session.c.created_at.label("session_created_at"),
            instance.c.id.label("optimization_instance_id"),
            instance.c.status.label("instance_status"),
            instance.c.run_started_at,
            instance.c.run_completed_at,
        )
        .select_from(
            session.outerjoin(instance, instance.c.optimization_session_id == session.c.id)
        )
        .where(session.c.status.in_([s.value for s in ACTIVE_RUN_STATUSES]))
    )


class CreateView(ExecutableDDLElement):
    """``CREATE VIEW name AS <select>`` for any dialect."""

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


class DropView(ExecutableDDLElement):
    """``DROP VIEW name``."""

    inherit_cache = False

    def __init__(self, name: str) -> None:
        self.name = name


@compiles(CreateView)
def _compile_create_view(element: CreateView, compiler: DDLCompiler, **kw: Any) -> str:
    body = compiler.sql_compiler.process(element.query, literal_binds=True)
    name = compiler.preparer.quote(element.name)
    return f"CREATE VIEW {name} AS {body}"


@compiles(DropView)
def _compile_drop_view(element: DropView, compiler: DDLCompiler, **kw: Any) -> str:
    return f"DROP VIEW {compiler.preparer.quote(element.name)}"


def session_running_view_table() -> Table:
    """The view as a read-only Table, so callers can ``select(view).where(...)`` on it."""
    columns = [Column(c.name, c.type) for c in session_running_query().selected_columns]
    return Table(SESSION_RUNNING_VIEW, MetaData(), *columns)
