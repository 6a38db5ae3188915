"""Insights on a stored period that no run of the legacy system gave (issue 31): the SIMs that
pay for doing nothing, and what a plan offer would save the fleet before the agent negotiates
it.

The asset prices the change on the period's stored usage, the same instance the M2M chain
optimizes (:func:`carrier_opt.pipeline.solved.m2m_instance`); it changes nothing at the carrier
and nothing stored, so it needs no session. Its materializations are the history of offers
priced, per provider × period."""

import dagster as dg
from pydantic import Field

from carrier_opt.core.trend import trend_chart, trend_table
from carrier_opt.core.what_if import PlanOffer, report_lines, what_if
from carrier_opt.db.export import instance_tables
from carrier_opt.db.trend import savings_trend as load_savings_trend
from carrier_opt.defs import catalog, run_context
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.metadata import settlement_metadata
from carrier_opt.defs.partitions import FLEET_PROVIDER_PARTITIONS
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt.defs.run_context import period_asset, run_partition
from carrier_opt.pipeline.insights import idle_sims as find_idle_sims
from carrier_opt.pipeline.insights import idle_table_markdown
from carrier_opt.pipeline.settlement import settle_and_store
from carrier_opt.pipeline.solved import m2m_instance

GROUP = "insights"


class WhatIfConfig(dg.Config):
    """The change to price, as ``carrier-opt what-if`` takes it (editable in the launchpad)."""

    add_plan: str = Field(
        default="",
        description="CODE,BASE,ALLOWANCE_MB,OVERAGE,UNIT_MB,POOLED, e.g. OFFER_1GB,9.5,1024,"
        "0.01,1,true (no SMS charge); empty: no plan added",
    )
    allow_on: list[str] = Field(
        default=[], description="Communication plans that may use it; empty: every one"
    )
    remove_plan: list[str] = Field(default=[], description="Plans the carrier withdraws")
    time_limit_s: float = Field(default=60.0, description="Seconds per optimization at most")
    gap_target_pct: float = Field(
        default=0.001, description="Each optimization stops once proven this close (percent)"
    )


@period_asset(GROUP)
def rate_plan_offer_what_if(
    context: dg.AssetExecutionContext, database: DatabaseResource, config: WhatIfConfig
) -> dg.MaterializeResult:
    """What a plan offer (or a withdrawn plan) would do to this period's bill, on its stored
    usage: the optimum with and without it, the SIMs that would move, the saving and the
    offer's break-even base rate. Nothing is changed at the carrier or in the database."""
    provider, period_key = run_partition(context)
    offer = PlanOffer.from_options(config.add_plan, config.allow_on)
    engine = database.engine()
    instance, _, _ = m2m_instance(engine, provider, instance_tables(engine, provider, period_key))
    answer = what_if(
        instance,
        offer,
        config.remove_plan,
        time_limit_s=config.time_limit_s,
        gap_target_pct=config.gap_target_pct,
    )
    lines = report_lines(answer, offer, config.remove_plan)
    context.log.info("\n".join(lines))
    metadata = {
        "change": lines[0].split(": ", 1)[1],
        "cost_now_usd": dg.MetadataValue.float(round(answer.before.cost, 2)),
        "cost_with_change_usd": dg.MetadataValue.float(round(answer.after.cost, 2)),
        "saving_usd": dg.MetadataValue.float(round(answer.saving, 2)),
        "sims_moving": answer.moved,
        "report": dg.MetadataValue.md("```\n" + "\n".join(lines) + "\n```"),
    }
    if offer is not None:
        metadata["sims_onto_offer"] = answer.onto_offer
        metadata["break_even_base_rate_usd"] = dg.MetadataValue.float(
            answer.break_even_base_rate or 0.0
        )
        metadata["break_even_method"] = answer.break_even_method
    return dg.MaterializeResult(metadata=metadata)


@period_asset(GROUP)
def idle_sims(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """SIMs with no data, SMS or voice for the provider's `idle_periods` stored periods in a
    row (3 unless `provider set --idle-periods` changed it), and SIMs billed although never
    activated: what each costs per period and what deactivating it would save, priced with
    the cost model (a pooled SIM's allowance leaving its pool included). Nothing is
    deactivated automatically; the report's "Idle SIMs" sheet lists them all."""
    provider, period_key = run_partition(context)
    report = find_idle_sims(database.engine(), provider, period_key)
    context.log.info(report.summary())
    return dg.MaterializeResult(
        metadata={
            "summary": report.summary(),
            "idle_sims": len(report.idle),
            "idle_periods": report.idle_periods,
            "periods_stored": report.periods_stored,
            "idle_cost_usd": dg.MetadataValue.float(round(report.idle_cost_usd, 2)),
            "never_activated": len(report.never_activated),
            "saving_if_deactivated_usd": dg.MetadataValue.float(report.saving_together_usd),
            "most_expensive": dg.MetadataValue.md(idle_table_markdown(report)),
        }
    )


class SettlementConfig(dg.Config):
    """How hard the settlement looks for the optimum on the stored usage."""

    time_limit_s: float = Field(default=60.0, description="Seconds for that optimum at most")
    gap_target_pct: float = Field(
        default=0.001, description="That optimum stops once proven this close (percent)"
    )


@period_asset(GROUP)
def period_settlement(
    context: dg.AssetExecutionContext, database: DatabaseResource, config: SettlementConfig
) -> dg.MaterializeResult:
    """A closed period's latest completed optimization priced again on the usage stored for
    the period (as `carrier-opt settle`): the realized saving on the bill (plans before the
    optimization − plans at the close), what was left on the table (plans at the close − the
    optimizer's assignment), the usage projection's error per pool and in total, and what it
    cost (the assignment − the optimum on that usage). FINAL once every SIM's usage was read
    at or after the period's end, else PROVISIONAL with the count of earlier readings. The
    figures are stored (rerunning replaces them): the savings trend's settled column and the
    report's Settlement sheet read them. Nothing is changed at the carrier."""
    provider, period_key = run_partition(context)
    settled = settle_and_store(
        database.engine(),
        provider,
        period_key,
        run_context.clock(),
        time_limit_s=config.time_limit_s,
        gap_target_pct=config.gap_target_pct,
    )
    context.log.info("\n".join(settled.lines()))
    return dg.MaterializeResult(metadata=settlement_metadata(settled))


@dg.asset(
    group_name=GROUP,
    partitions_def=FLEET_PROVIDER_PARTITIONS["m2m"],
    kinds=catalog.asset_kinds(),
    owners=catalog.OWNERS,
    tags=catalog.asset_tags(catalog.NO_CARRIER),
)
@operator_failures
def savings_trend(
    context: dg.AssetExecutionContext, database: DatabaseResource
) -> dg.MaterializeResult:
    """One M2M provider's bill per billing period (a partition per provider, not per period):
    the cost before, the optimized cost, the legacy strategies' cost and the lower bound of
    each period's latest completed optimization, as a chart. The report's "Trend" sheet draws
    the same table. A period settled (`period_settlement`, `carrier-opt settle`) also shows
    its settled cost: the plans at the close priced on its stored usage; empty otherwise."""
    trend = load_savings_trend(database.engine(), context.partition_key)
    saving = (trend["cost_before"] - trend["optimized_cost"]).sum() if len(trend) else 0.0
    return dg.MaterializeResult(
        metadata={
            "periods": len(trend),
            "settled_periods": int(trend["settled_cost"].notna().sum()) if len(trend) else 0,
            "saving_all_periods_usd": dg.MetadataValue.float(round(float(saving), 2)),
            "chart": dg.MetadataValue.md(trend_chart(trend)),
            "by_period": dg.MetadataValue.md(trend_table(trend)),
        }
    )


insight_assets = [idle_sims, rate_plan_offer_what_if, savings_trend, period_settlement]
