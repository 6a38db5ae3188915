"""Asset metadata built from what the pipeline answers: the tables and figures shown on an
asset's page in the Dagster UI. Kept apart from the assets so each asset body reads as "call
the pipeline, shape its answer"."""

import dagster as dg

from carrier_opt.core.money import cost_figures, usd_text
from carrier_opt.pipeline.period_sync import RunUsage
from carrier_opt.pipeline.solve import SolvedInstance


def solved_metadata(solved: dict[str, SolvedInstance], what: str) -> dict:
    """Asset metadata of a run solved per ``what`` (``group``, ``customer``): totals over its
    instances and a table of them."""
    before = sum(s.cost_before for s in solved.values())
    after = sum(s.cost_after for s in solved.values())
    bound = sum(s.lower_bound for s in solved.values())
    lines = [
        f"| {name} | {s.winning_queue} | {usd_text(s.cost_before)} | {usd_text(s.cost_after)} | "
        f"{usd_text(s.legacy_cost)} | {s.gap_pct:.4f} |"
        for name, s in solved.items()
    ]
    table = (
        f"| {what} | winner | before | after | legacy | gap % |\n|---|---|---:|---:|---:|---:|\n"
        + "\n".join(lines)
        if lines
        else f"No {what} was optimized."
    )
    return {
        f"{what}s_optimized": len(solved),
        **cost_figures(before, after, sum(s.legacy_cost for s in solved.values()), bound),
        f"{what}s_table": dg.MetadataValue.md(table),
    }


def staged_metadata(usage: RunUsage) -> dict:
    """``staged_devices``: how the run got its usage, and the sync's counts when it synced."""
    if usage.how == "closed period":
        return {"synced": False, "reason": usage.how, "stored_sims": usage.stored_sims}
    if usage.sync is None:
        assert usage.reused is not None and usage.age_hours is not None
        return {
            "synced": False,
            "reason": usage.how,
            "last_sync_completed": usage.reused.finished_at.isoformat(),
            "last_sync_age_hours": round(usage.age_hours, 2),
            "stored_sims": usage.stored_sims,
        }
    report = usage.sync
    merge = report.merge
    return {
        "synced": True,
        "devices_inserted": merge.inserted,
        "devices_updated": merge.updated,
        "devices_unchanged": merge.unchanged,
        "resumed": report.resumed,
        "search_pages": report.pages_read,
        "device_details_calls": report.details_calls,
        "api_calls": report.api.calls,
        "api_retries": report.api.retries,
        "skipped_records": len(report.problems),
        "usage_warnings": len(report.warnings),
        "seconds": round(report.seconds, 1),
    }
