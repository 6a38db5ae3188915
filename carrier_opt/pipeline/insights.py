"""Insights on a provider's stored periods (issue 31): the idle and never-activated SIMs of a
period, from its stored usage and the periods before it. M2M fleets (the usage history of
``DeviceUsagePeriod``); nothing here changes anything at the carrier."""

from __future__ import annotations

from sqlalchemy import Engine

from carrier_opt.core.idle import IdleReport, idle_report, idle_streaks
from carrier_opt.core.instance import Instance
from carrier_opt.db.export import InstanceTables, instance_tables
from carrier_opt.db.providers import load_provider
from carrier_opt.db.usage_history import periods_with_usage, usage_history
from carrier_opt.pipeline.solved import m2m_instance


def idle_sims(
    engine: Engine, provider: str, period_key: str, idle_periods: int | None = None
) -> IdleReport:
    """The period's idle SIMs (no usage for the provider's ``idle_periods`` stored periods in a
    row, or ``idle_periods`` when given) and its SIMs billed although never activated, each
    priced on its current plan with the period's own usage."""
    tables = instance_tables(engine, provider, period_key)
    instance, _, _ = m2m_instance(engine, provider, tables)
    return idle_sims_of(engine, provider, tables, instance, idle_periods)


def idle_sims_of(
    engine: Engine,
    provider: str,
    tables: InstanceTables,
    instance: Instance,
    idle_periods: int | None = None,
) -> IdleReport:
    """:func:`idle_sims` of a period whose tables and instance the caller has already read
    (the M2M report: its tables, and the instance the optimizer saw)."""
    if idle_periods is None:
        with engine.connect() as connection:
            idle_periods = load_provider(connection, provider).idle_periods
    keys, history = usage_history(engine, provider, tables.period.key, idle_periods)
    devices = tables.devices.set_index("iccid").reindex(instance.iccids)
    activated = devices["date_activated"].fillna("").astype(str).str.strip()
    return idle_report(
        instance,
        idle_streaks(history, keys),
        never_activated=(activated == "").to_numpy(dtype=bool),
        statuses=devices["status"].fillna("").to_numpy(dtype=object),
        idle_periods=idle_periods,
        periods_stored=periods_with_usage(history),
    )


def idle_table_markdown(report: IdleReport, rows: int = 10) -> str:
    """The most expensive idle SIMs as a markdown table (the asset's metadata)."""
    lines = ["| ICCID | plan | idle periods | cost/period USD | saving if deactivated USD |"]
    lines.append("|---|---|---:|---:|---:|")
    for row in report.idle.head(rows).itertuples():
        lines.append(
            f"| {row.iccid} | {row.rate_plan_code} | {row.idle_periods} | {row.cost_usd:,.2f} "
            f"| {row.saving_usd:,.2f} |"
        )
    if len(report.idle) > rows:
        lines.append(f"| … {len(report.idle) - rows:,} more | | | | |")
    return "\n".join(lines) if len(report.idle) else "no idle SIMs"
