"""Insights on a stored period that no run of the legacy system gave (issue 31): here, what a
plan offer would save the fleet before the agent negotiates it.

The asset prices the change on the period's stored usage, the same instance the M2M chain
optimizes (:func:`carrier_opt.pipeline.solved.m2m_instance`); it changes nothing at the carrier
and nothing stored, so it needs no session. Its materializations are the history of offers
priced, per provider × period."""

import dagster as dg
from pydantic import Field

from carrier_opt.core.what_if import PlanOffer, report_lines, what_if
from carrier_opt.db.export import instance_tables
from carrier_opt.defs.resources import DatabaseResource
from carrier_opt.defs.run_context import period_asset, run_partition
from carrier_opt.errors import InputError
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
    if config.allow_on and not config.add_plan:
        raise InputError("allow_on applies to add_plan, which is empty")
    offer = PlanOffer.parse(config.add_plan, config.allow_on) if config.add_plan else None
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


insight_assets = [rate_plan_offer_what_if]
