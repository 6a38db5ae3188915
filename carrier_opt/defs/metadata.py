"""Asset metadata built from what the pipeline answers: the tables and figures shown on an
asset's page in the Dagster UI. Kept apart from the assets so each asset body reads as "call
the pipeline, shape its answer".

Money has one form here (issue 28): a number rounded to the cent half up, once
(:func:`carrier_opt.core.money.usd`), as ``dg.MetadataValue.float`` under a name that ends in
``_usd`` — ``cost_before_usd``, ``realized_saving_usd`` — so the UI can plot it across
partitions; never a text copy beside it. An amount that is not known is left out, and a text
field says why. Amounts inside markdown tables are written as text (``$1,234.50``).
"""

import dataclasses
import math
from collections import Counter

import dagster as dg
import pandas as pd

from carrier_opt.core.comm_groups import CommGroup
from carrier_opt.core.details import named_sims
from carrier_opt.core.mobility import GroupTables
from carrier_opt.core.money import cost_figures, sum_usd, usd, usd_text
from carrier_opt.core.settlement import Settlement, pools_markdown
from carrier_opt.db.customer_optimization import CustomerInput
from carrier_opt.db.export import InstanceTables
from carrier_opt.db.skipped_records import SHOWN
from carrier_opt.delivery.rate_plan_updates import PushOutcome
from carrier_opt.delivery.report_data import PushSummary
from carrier_opt.pipeline.m2m import PricedQueues, Winner
from carrier_opt.pipeline.mail import CustomerMail
from carrier_opt.pipeline.period_sync import RunUsage
from carrier_opt.pipeline.reports import InstanceReport
from carrier_opt.pipeline.solve import SolvedInstance
from carrier_opt.pipeline.sync import SyncReport

TOP_SAVINGS_ROWS = 15
CHANGES_ROWS = 15


def usd_value(amount: float) -> dg.FloatMetadataValue:
    """An amount of money for the asset page: rounded to the cent half up, a number."""
    return dg.MetadataValue.float(usd(amount))


def money(**amounts: float | None) -> dict:
    """``{name}_usd`` → :func:`usd_value` of each amount; an unknown amount (None) is left
    out (a number field cannot say "n/a", and a text one beside it would be a second form)."""
    return {
        f"{name}_usd": usd_value(amount) for name, amount in amounts.items() if amount is not None
    }


def cost_metadata(before: float, after: float, legacy: float, bound: float) -> dict:
    """A run's cost figures (:func:`~carrier_opt.core.money.cost_figures`) as numbers: the
    amounts under ``*_usd`` names, the saving and the gap in percent."""
    return {
        name: dg.MetadataValue.float(value)
        for name, value in cost_figures(before, after, legacy, bound).items()
    }


def settlement_metadata(settled: Settlement) -> dict:
    """A settlement's figures for the asset page: the three savings, the four costs, the
    projection's error (in total and per pool) and whether it is final."""
    error_mb = settled.final_mb - settled.projected_mb
    return {
        "state": "FINAL"
        if settled.final
        else f"PROVISIONAL ({settled.readings_before_end:,} SIMs read before the period's end)",
        "final": settled.final,
        "readings_before_end": settled.readings_before_end,
        "sims": settled.sims,
        "sims_on_a_new_plan": settled.pushed,
        **money(
            realized_saving=settled.realized_saving,
            left_on_table=settled.left_on_table,
            projection_error_cost=settled.projection_error_cost,
            cost_before=settled.cost_before,
            settled_cost=settled.cost_actual,
            optimized_cost=settled.cost_optimized,
            optimum_cost=settled.cost_optimum,
        ),
        "projection_error_mb": dg.MetadataValue.float(round(error_mb, 3)),
        "projection_error_by_pool": dg.MetadataValue.md(pools_markdown(settled)),
        "report": dg.MetadataValue.md("```\n" + "\n".join(settled.lines()) + "\n```"),
    }


def solved_metadata(solved: dict[str, SolvedInstance], what: str) -> dict:
    """Asset metadata of a run solved per ``what`` (``group``, ``customer``): totals over its
    instances and a table of them."""
    before = sum(s.cost_before for s in solved.values())
    after = sum(s.cost_after for s in solved.values())
    bound = sum(s.lower_bound for s in solved.values())
    lines = [
        f"| {name} | {s.winning_queue} | {usd_text(s.cost_before)} | {usd_text(s.cost_after)} | "
        f"{usd_text(s.legacy_cost)} | {s.gap_pct:.4f} | {s.stopped_by} |"
        for name, s in solved.items()
    ]
    table = (
        f"| {what} | winner | before | after | legacy | gap % | stopped by |\n"
        "|---|---|---:|---:|---:|---:|---|\n" + "\n".join(lines)
        if lines
        else f"No {what} was optimized."
    )
    return {
        f"{what}s_optimized": len(solved),
        **cost_metadata(before, after, sum(s.legacy_cost for s in solved.values()), bound),
        "stopped_by": stopped_by_text([s.stopped_by for s in solved.values()]),
        f"{what}s_table": dg.MetadataValue.md(table),
    }


def stopped_by_text(stops: list[str]) -> str:
    """What ended the optimizer's searches of a run: the one reason when they agree (``optimal``,
    ``gap_target`` or ``time_limit``), else each with its count (``gap_target: 3, time_limit:
    1``); ``none`` when nothing was optimized."""
    counts = Counter(stops)
    if len(counts) <= 1:
        return next(iter(counts), "none")
    return ", ".join(f"{stop}: {n}" for stop, n in sorted(counts.items()))


def staged_metadata(usage: RunUsage) -> dict:
    """``staged_devices``: how the run got its usage, and the sync's counts when it synced."""
    if usage.how == "closed period":
        return {"synced": False, "reason": usage.how, "stored_sims": usage.stored_sims}
    if usage.sync is None:
        reused = {}
        if usage.reused is not None and usage.age_hours is not None:
            reused = {
                "last_sync_completed": usage.reused.finished_at.isoformat(),
                "last_sync_age_hours": round(usage.age_hours, 2),
            }
        return {
            "synced": False,
            "reason": usage.how,
            **reused,
            "stored_sims": usage.stored_sims,
            **staleness_metadata(usage),
        }
    report = usage.sync
    merge = report.merge
    return {
        **staleness_metadata(usage),
        "call_budget": "none" if report.budget is None else f"{report.budget:,} calls",
        "usage_left_stale": report.usage_left_stale,
        "details_still_missing": report.details_pending,
        "synced": True,
        "devices_inserted": merge.inserted,
        "devices_updated": merge.updated,
        "devices_unchanged": merge.unchanged,
        "resumed": report.resumed,
        "search_pages": report.pages_read,
        "device_details_calls": report.details_calls,
        "api_calls": report.api.calls,
        "api_retries": report.api.retries,
        **skipped_metadata(report),
        "usage_warnings": len(report.warnings),
        "seconds": round(report.seconds, 1),
    }


def staleness_metadata(usage: RunUsage) -> dict:
    """How old the usage behind the decision is: stale SIMs, the oldest reading and the money
    staleness could move (:mod:`carrier_opt.core.staleness` states the method)."""
    figures = usage.staleness
    if figures is None:
        return {}
    bound = figures.money_bound_usd
    return {
        "usage_age": figures.line(),
        "sims_on_usage_older_than_24h": figures.stale_sims,
        "oldest_usage_reading": (
            "none" if figures.oldest_reading is None else figures.oldest_reading.isoformat()
        ),
        **(money(staleness_could_move=bound) if math.isfinite(bound) else {}),
    }


def skipped_metadata(report: SyncReport) -> dict:
    """The records a sync skipped: their count and the first :data:`SHOWN`, each with where
    it came from and why (all of them are in ``SkippedCarrierRecord`` and the workbook)."""
    shown = report.problems[:SHOWN]
    more = len(report.problems) - len(shown)
    lines = [f"- {line}" for line in shown] + ([f"- ... and {more:,} more"] if more else [])
    return {
        "skipped_records": len(report.problems),
        "skipped_records_first_20": dg.MetadataValue.md("\n".join(lines) or "None."),
    }


def device_usage_metadata(tables: InstanceTables) -> dict:
    """``device_usage``: the period's SIMs, their usage to date and projected, proration."""
    devices = tables.devices
    return {
        "devices": len(devices),
        "usage_mb_cycle_to_date": round(float(devices["ctd_usage_mb"].sum()), 1),
        "usage_mb_projected": round(float(devices["usage_mb"].sum()), 1),
        "prorated_devices": int((devices["proration"] < 1).sum()),
        "period_start": tables.period.start.isoformat(),
        "period_end": tables.period.end.isoformat(),
    }


def comm_groups_metadata(groups: list[CommGroup]) -> dict:
    """``comm_groups``: each group with its plans and whether it was optimized."""
    table = "\n".join(
        f"| {g.name} | {len(g.communication_plans)} | {len(g.rate_plans)} | "
        f"{g.skipped_reason or 'optimized'} |"
        for g in groups
    )
    return {
        "groups": len(groups),
        "skipped_groups": sum(1 for g in groups if g.skipped_reason),
        "groups_table": dg.MetadataValue.md(
            "| group | comm plans | rate plans | status |\n|---|---|---|---|\n" + table
        ),
    }


def queue_results_metadata(priced: PricedQueues) -> dict:
    """``queue_results``: the bound, the gap, what stopped the search and each queue's cost."""
    result = priced.result
    return {
        **money(lower_bound=result.bound.value),
        "gap_pct": round(100 * result.gap, 4),
        "proven_optimal": result.proven_optimal,
        "stopped_by": result.stopped_by,
        "stop_reason": result.stop_reason,
        "gap_target_pct": result.gap_target_pct,
        "optimizer_seconds": round(result.seconds, 1),
        "queue_costs": dg.MetadataValue.md(
            "| queue | cost (USD) |\n|---|---:|\n"
            + "\n".join(f"| {name} | {cost:,.2f} |" for name, cost in priced.costs.items())
        ),
    }


def winner_metadata(winner: Winner, session_guid: str) -> dict:
    """``winning_assignments``: the winning queue, the costs, the plan changes."""
    figures = winner.figures
    changed = winner.changed
    return {
        "devices": len(winner.winners),
        "winning_queue": winner.queue,
        **cost_metadata(
            figures["cost_before"], winner.cost, figures["legacy_cost"], figures["lower_bound"]
        ),
        "devices_changing_plan": len(changed),
        "session_guid": session_guid,
        "changes_by_plan": dg.MetadataValue.md(_changes_table(changed)),
    }


def _changes_table(changed: pd.DataFrame) -> str:
    if changed.empty:
        return "No SIM changes plan."
    moves = changed.groupby(["current_rate_plan_code", "rate_plan_code"]).size()
    moves = moves.sort_values(ascending=False).head(CHANGES_ROWS)
    lines = [f"| {a} | {b} | {n} |" for (a, b), n in moves.items()]
    return "| from | to | SIMs |\n|---|---|---:|\n" + "\n".join(lines)


def report_metadata(report: InstanceReport) -> dict:
    """``optimization_report``: the stored file, the headline figures, and whether the
    workbook's totals equal the database's."""
    data, stored = report.data, report.stored
    return {
        "storage_uri": stored.uri,
        "size_bytes": stored.size,
        "sha256": stored.sha256,
        "devices": data.devices,
        "devices_changing_plan": data.devices_changed,
        **money(cost_before=data.cost_before, cost_after=data.cost_after, saving=data.saving),
        "totals_match_database": report.matches_database,
        "top_savings": dg.MetadataValue.md(_top_savings_table(data.assignments)),
    }


def _top_savings_table(assignments: pd.DataFrame) -> str:
    """The SIMs saving the most, as a markdown table."""
    moved = assignments[assignments["changed"] & (assignments["saving"] > 0)]
    if moved.empty:
        return "No SIM saves by changing plan."
    top = moved.nlargest(TOP_SAVINGS_ROWS, "saving")
    lines = [
        f"| {row.iccid} | {row.current_rate_plan} | {row.recommended_rate_plan} | "
        f"{row.saving:,.2f} |"
        for row in top.itertuples(index=False)
    ]
    return "| ICCID | from | to | saving (USD) |\n|---|---|---|---:|\n" + "\n".join(lines)


def push_summary(outcome: PushOutcome) -> PushSummary:
    """The push as the workbook and the mails show it: :class:`PushSummary` built from the
    figures its ``RatePlanPush`` row holds, so the asset page says what the report says (a
    dry run: "nothing sent", realized saving 0.00)."""
    decision = outcome.decision
    row = {
        "mode": outcome.mode.value,
        "status": outcome.status.value,
        "decision": None if decision is None else ("go" if decision.go else "no_go"),
        "changes": outcome.changes,
        "already_on_target": outcome.already_on_target,
        "sent": outcome.sent,
        "failed": outcome.failed,
        "not_sent": outcome.not_sent,
        "held_back": outcome.held_back,
        "cost_before_usd": outcome.cost_before_usd,
        "expected_bill_usd": outcome.expected_bill_usd,
        "realized_bill_usd": outcome.realized_bill_usd,
        "stop_reason": outcome.stop_reason,
    }
    return dataclasses.replace(PushSummary.from_row(row), refused=outcome.locked)


def push_metadata(outcome: PushOutcome) -> dict:
    """The push's figures for the asset page: ``carrier_push`` is the report's one line on
    what reached the carrier, the savings are the report's (:func:`push_summary`)."""
    decision = outcome.decision
    summary = push_summary(outcome)
    return {
        "carrier_push": summary.headline,
        "push_id": outcome.push_id,
        "mode": outcome.mode.value,
        "status": outcome.status.value,
        "decision": outcome.verdict,
        "decision_reason": "n/a" if decision is None else decision.reason,
        "changes": outcome.changes,
        "already_on_target": outcome.already_on_target,
        "moved_since_sync": len(outcome.moved_since_sync),
        "sent": outcome.sent,
        "failed": outcome.failed,
        "not_sent": outcome.not_sent,
        "held_back": outcome.held_back,
        "dry_run": outcome.dry_run,
        "batches": len(outcome.batches),
        **money(expected_saving=summary.expected_saving, realized_saving=summary.realized_saving),
        "stop_reason": outcome.stop_reason or "none",
        "batches_table": dg.MetadataValue.md(_batches_table(outcome)),
    }


def pushes_metadata(outcomes: dict[str, PushOutcome]) -> dict:
    """Several pushes (a mobility run's groups): their totals and one row each."""
    lines = [
        f"| {name} | {o.mode.value} | {o.verdict} | {o.changes} | {o.sent} | {o.dry_run} | "
        f"{o.failed} | {o.already_on_target} |"
        for name, o in outcomes.items()
    ]
    return {
        "modes": ", ".join(sorted({o.mode.value for o in outcomes.values()})) or "none",
        **pushes_savings(outcomes),
        "changes": sum(o.changes for o in outcomes.values()),
        "sent": sum(o.sent for o in outcomes.values()),
        "dry_run": sum(o.dry_run for o in outcomes.values()),
        "failed": sum(o.failed for o in outcomes.values()),
        "already_on_target": sum(o.already_on_target for o in outcomes.values()),
        "groups_table": dg.MetadataValue.md(
            "| group | mode | decision | changes | sent | dry run | failed | already on "
            "target |\n|---|---|---|---:|---:|---:|---:|---:|\n" + "\n".join(lines)
        ),
    }


def pushes_savings(outcomes: dict[str, PushOutcome]) -> dict:
    """The expected and realized saving of several pushes added up, each as its report shows
    it; a total is left out when one of its pushes does not know its figure."""
    summaries = [push_summary(o) for o in outcomes.values()]

    def total(figures: list[float | None]) -> float | None:
        return None if not figures or None in figures else sum_usd(figures)

    return money(
        expected_saving=total([s.expected_saving for s in summaries]),
        realized_saving=total([s.realized_saving for s in summaries]),
    )


def _batches_table(outcome: PushOutcome) -> str:
    """Each batch with the bill before, planned after and after it."""
    if not outcome.batches:
        return "No batch was sent."
    lines = [
        f"| {b.batch_number} | {b.devices} | {b.succeeded} | {b.failed} | "
        f"{b.bill_before_usd:,.2f} | {b.planned_bill_after_usd:,.2f} | {b.bill_after_usd:,.2f} |"
        for b in outcome.batches
    ]
    return (
        "| batch | devices | sent | failed | bill before | planned after | after |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(lines)
    )


def mobility_groups_metadata(groups: list[GroupTables]) -> dict:
    """``mobility_devices``: each optimization group with its SIMs, plans and status."""
    rows = "\n".join(
        f"| {g.group.name} | {', '.join(g.group.rate_plan_types)} | {len(g.devices)} | "
        f"{len(g.excluded)} | {len(g.rate_plans)} / {g.group.max_rate_plans} | "
        f"{g.skipped_reason or 'optimized'} |"
        for g in groups
    )
    return {
        "groups": len(groups),
        "skipped_groups": sum(1 for g in groups if g.skipped_reason),
        "devices": sum(len(g.devices) for g in groups),
        "excluded_devices": sum(len(g.excluded) for g in groups),
        "groups_table": dg.MetadataValue.md(
            "| group | plan types | SIMs | excluded SIMs | plans / limit | status |\n"
            "|---|---|---:|---:|---:|---|\n" + rows
        ),
    }


def mobility_reports_table(groups: list[GroupTables], reports: list[InstanceReport]) -> str:
    """``mobility_report``: each group's figures and report, or why it was skipped."""
    by_name = {r.name: r for r in reports}
    lines = []
    for g in groups:
        report = by_name.get(g.group.name)
        if report is None:
            lines.append(
                f"| {g.group.name} | {len(g.devices)} | {len(g.excluded)} | - | - | - | - | "
                f"skipped: {g.skipped_reason} |"
            )
            continue
        lines.append(
            f"| {g.group.name} | {len(g.devices)} | {len(g.excluded)} | "
            f"{usd_text(report.data.cost_before)} | {usd_text(report.data.cost_after)} | "
            f"{usd_text(report.data.saving)} | {'yes' if report.matches_database else 'NO'} | "
            f"{report.file_name} |"
        )
    return (
        "| group | SIMs | excluded SIMs | before | after | saving | matches DB | report |\n"
        "|---|---:|---:|---:|---:|---:|---|---|\n" + "\n".join(lines)
    )


def customer_pools_metadata(found: CustomerInput) -> dict:
    """``customer_rate_pools``: each customer's instance, and the SIMs left out and why."""
    rows = "\n".join(
        f"| {c.customer} | {c.own_sims} | {c.locked_sims} | {len(c.rate_plans)} | "
        f"{', '.join(sorted(set(c.pools.values()))) or '-'} |"
        for c in found.customers
    )
    return {
        "customers": len(found.customers),
        "devices": sum(c.own_sims for c in found.customers),
        "locked_shared_pool_devices": sum(c.locked_sims for c in found.customers),
        "left_out_no_carrier_plan": found.without_carrier_plan,
        "left_out_inactive_customer_plan": found.on_inactive_plan,
        "no_customer_plan_reported_at_zero": len(found.unassigned),
        "customer_not_read": len(found.customer_not_read),
        "customer_not_read_sims": named_sims(found.customer_not_read),
        "customer_not_read_in_pools": found.customer_not_read_in_pools,
        "customers_table": dg.MetadataValue.md(
            "| customer | SIMs | locked shared-pool SIMs | plans offered | pools |\n"
            "|---|---:|---:|---:|---|\n" + rows
        ),
    }


def customer_reports_table(reports: list[InstanceReport], mails: dict[str, CustomerMail]) -> str:
    """``customer_reports``: each customer's figures, report and mail."""
    lines = []
    for r in reports:
        mail = mails[r.name]
        status = "sent" if mail.sent else ("FAILED" if mail.error else "not sent")
        locked = int(r.data.assignments["shared_pool"].sum())
        lines.append(
            f"| {r.name} | {r.data.devices - locked} | {locked} | "
            f"{usd_text(r.data.cost_before)} | {usd_text(r.data.cost_after)} | "
            f"{usd_text(r.data.saving)} | {'yes' if r.matches_database else 'NO'} | "
            f"{len(mail.recipients)} | {status} | {r.file_name} |"
        )
    return (
        "| customer | SIMs | locked shared-pool SIMs | before | after | saving | matches DB | "
        "recipients | mail | report |\n"
        "|---|---:|---:|---:|---:|---:|---|---:|---|---|\n" + "\n".join(lines)
    )
