"""A person approves a dry run: the partition's latest optimization pushed to the carrier.

Automatic updates stay off for most providers until their team trusts the recommendations.
Each run then records a dry run — what it would send — and mails it. Once someone has read it,
they materialize ``approved_rate_plan_push`` for that partition in the Dagster UI (job
``push_approved_changes``; the launchpad asks who approves), or run ``carrier-opt push NAME
--billing-period YYYY-MM --approved-by NAME``. Both call :func:`deliver_approved_push`: the
push follows the rules of an automatic one (the carrier re-read, one Go/No-Go, safe batches,
one push per provider at a time); afterwards the report is stored again with the realized
saving beside the expected one, and the push mail goes out.
"""

from collections.abc import Callable
from datetime import datetime

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from carrier_opt.db.models import OptimizationType
from carrier_opt.defs import catalog, run_context
from carrier_opt.defs.deliver import mail_push
from carrier_opt.defs.failures import operator_failures
from carrier_opt.defs.metadata import push_metadata, pushes_savings
from carrier_opt.defs.partitions import provider_and_period, provider_period_partitions
from carrier_opt.defs.resources import (
    DatabaseResource,
    JasperResource,
    NotifierResource,
    ResultStoreResource,
)
from carrier_opt.pipeline.push import ApprovedPush, push_approved
from carrier_opt.pipeline.reports import store_m2m_report, store_mobility_reports

GROUP = "carrier_push"


class ApprovalConfig(dg.Config):
    """Who approves the dry run (recorded on the push and in its mail)."""

    approved_by: str = Field(description="The name of the person approving the dry run.")


def deliver_approved_push(
    engine: Engine,
    *,
    jasper: JasperResource,
    notifier: NotifierResource,
    result_store: ResultStoreResource,
    provider: str,
    period_key: str,
    approved_by: str,
    now: Callable[[], datetime],
    holder: str,
    run_id: str | None = None,
) -> tuple[ApprovedPush, list[str]]:
    """Push the approved partition, mail each push, store the reports again; answers the push
    and the reports' URIs."""
    approved = push_approved(
        engine,
        lambda: jasper.client_for(engine, provider),
        provider,
        period_key,
        approved_by=approved_by,
        now=now,
        holder=holder,
        run_id=run_id,
    )
    run_url = notifier.run_url(run_id) if run_id else None
    for label, outcome in approved.outcomes.items():
        mail_push(
            engine,
            notifier,
            outcome,
            approved.ids.provider_id,
            provider_label=label,
            period_key=period_key,
            run_url=run_url,
        )
    ids = approved.ids
    store = result_store.store()
    if approved.kind is OptimizationType.M2M:
        return approved, [store_m2m_report(engine, store, ids, provider, period_key).stored.uri]
    _, reports = store_mobility_reports(engine, store, ids, provider, period_key)
    return approved, [report.stored.uri for report in reports]


@dg.asset(
    group_name=GROUP,
    partitions_def=provider_period_partitions,
    kinds=catalog.asset_kinds(catalog.JASPER, catalog.EXCEL, catalog.EMAIL),
    owners=catalog.OWNERS,
    tags=catalog.asset_tags(catalog.CHANGES_CARRIER),
)
@operator_failures
def approved_rate_plan_push(
    context: dg.AssetExecutionContext,
    config: ApprovalConfig,
    database: DatabaseResource,
    jasper: JasperResource,
    notifier: NotifierResource,
    result_store: ResultStoreResource,
) -> dg.MaterializeResult:
    """The partition's latest completed optimization (M2M or mobility), approved by a person,
    pushed to the carrier under the same rules as an automatic push — whatever the provider's
    automatic-updates setting. Only what the carrier does not already show is sent. The report
    is stored again with the realized saving."""
    provider, period_key = provider_and_period(context.partition_key)
    approved, uris = deliver_approved_push(
        database.engine(),
        jasper=jasper,
        notifier=notifier,
        result_store=result_store,
        provider=provider,
        period_key=period_key,
        approved_by=config.approved_by,
        now=lambda: run_context.clock(),
        holder=f"run {context.run.run_id}",
        run_id=context.run.run_id,
    )
    for label, outcome in approved.outcomes.items():
        for problem in outcome.problems:
            context.log.warning("%s: %s", label, problem)
        context.log.info("%s: %s", label, outcome.summary())
    return dg.MaterializeResult(metadata=approval_metadata(approved, config.approved_by, uris))


def approval_metadata(approved: ApprovedPush, approved_by: str, uris: list[str]) -> dict:
    """The push's figures (one instance) or their totals (mobility groups)."""
    metadata: dict = {
        "approved_by": approved_by,
        "session_guid": approved.session_guid,
        "reports": dg.MetadataValue.json(uris),
    }
    outcomes = list(approved.outcomes.values())
    if len(outcomes) == 1:
        return {**metadata, **push_metadata(outcomes[0])}
    return {
        **metadata,
        "changes": sum(o.changes for o in outcomes),
        "already_on_target": sum(o.already_on_target for o in outcomes),
        "sent": sum(o.sent for o in outcomes),
        "failed": sum(o.failed for o in outcomes),
        **pushes_savings(approved.outcomes),
    }


approval_assets = [approved_rate_plan_push]
