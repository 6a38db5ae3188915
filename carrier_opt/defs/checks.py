"""Asset checks: the invariants that make a winning assignment trustworthy, for every kind.

* every instance (M2M: its one; mobility: one per optimization group; customer: one per
  customer): lower bound ≤ winning cost ≤ the cheaper of its current assignment and its legacy
  baseline;
* every SIM of an instance has exactly one row, on a plan its communication plan allows (or,
  for SIMs locked on their plan, that plan); customer: the customer's own SIMs in the result
  table, the other customers' locked SIMs in the shared-pool table;
* M2M: no offered rate plan has invalid overage settings (the database refuses them; checked
  anyway because a hand-edited database or a future migration could let one through);
* mobility: every SIM's plan is of a type its optimization group allows;
* customer: no SIM's carrier plan changes (customer optimization never touches the carrier).

The cost and one-row-per-SIM checks of the kinds that push (M2M, mobility) guard the money:
they are ``blocking``, so the push asset of their run waits for them, and when one fails the
push is skipped (Dagster skips what depends on a failed blocking check). The failing check
also fails its step with one sentence (what is wrong, and that nothing was sent) — the step
failure the run page and the failure mail show — and closes the run's session as failed, so
no approval pushes that winner later. The push runs the same rules itself before any carrier
call (:func:`carrier_opt.pipeline.push.refuse_failed_winner`), for pushes without these checks
(an approval, the command line). The customer kind pushes nothing: its checks only report, and
one customer's failure does not hold back the others' reports.

In a run, a check judges the run's own session (in a re-execution, the original run's): the
winner this run pushes. Run on its own from the UI, it judges the partition's last completed
session of its kind. Every check is partitioned like its asset, so each evaluation names its
provider × period in the UI. Dagster 1.13 marks partitioned checks as a preview; the pinned
version is the one the tests run (``test_customer_job`` asserts each evaluation carries its
partition), so its warning is not repeated at every import. The queries are in
:mod:`carrier_opt.db.result_checks`.
"""

import warnings
from collections.abc import Callable, Iterator

import dagster as dg
from sqlalchemy import union_all

from carrier_opt.db import optimization_runs as runs
from carrier_opt.db import result_checks as facts
from carrier_opt.db.instance_results import SessionInstance, session_instances
from carrier_opt.db.models import (
    OptimizationDeviceResult,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationSharedPoolResult,
    OptimizationType,
    RunStatus,
)
from carrier_opt.defs.assets.customer import customer_winning_assignments
from carrier_opt.defs.assets.m2m import winning_assignments
from carrier_opt.defs.assets.mobility import mobility_winning_assignments
from carrier_opt.defs.metadata import money
from carrier_opt.defs.partitions import provider_and_period
from carrier_opt.defs.resources import DatabaseResource

warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)


def latest_completed_run(
    database: DatabaseResource, partition_key: str, kind: OptimizationType = OptimizationType.M2M
) -> runs.RunIds | None:
    """The partition's last ``kind`` session whose instances all completed."""
    provider, period = provider_and_period(partition_key)
    return facts.latest_completed_run(database.engine(), provider, period, kind)


def checked_session(
    context: dg.AssetCheckExecutionContext, database: DatabaseResource, kind: OptimizationType
) -> tuple[runs.RunIds | None, bool]:
    """(the session a check judges, whether it is its run's own): in an optimization run, or
    a re-execution of one, the run's session — the winner that run pushes —; run on its own,
    the partition's last completed ``kind`` session."""
    engine = database.engine()
    for run_id in dict.fromkeys(filter(None, (context.run.run_id, context.run.root_run_id))):
        ids = facts.run_session(engine, run_id, kind)
        if ids is not None:
            return ids, True
    return latest_completed_run(database, context.partition_key, kind), False


def missing_result() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="no completed optimization found")


def costs_result(instances: list[SessionInstance]) -> dg.AssetCheckResult:
    """Every instance: lower bound ≤ winning cost ≤ min(current cost, legacy cost); the
    metadata sums the figures over the instances and names the failing ones."""
    faults = {row.id: facts.cost_fault(row) for row in instances}
    failing = [instance_id for instance_id, fault in faults.items() if fault]

    def total(figure: str) -> float:
        return sum(float(getattr(row, figure) or 0) for row in instances)

    return dg.AssetCheckResult(
        passed=bool(instances) and not failing,
        description="; ".join(f for f in faults.values() if f) or None,
        metadata={
            **money(
                lower_bound=total("lower_bound"),
                cost_after=total("cost_after"),
                cost_before=total("cost_before"),
                legacy_cost=total("legacy_cost"),
            ),
            "instances": len(instances),
            "failing_instances": str(failing or "none"),
        },
    )


def once_result(
    database: DatabaseResource, instances: list[SessionInstance], rows
) -> dg.AssetCheckResult:
    """Every instance has one row per SIM (``rows``: instance id, SIM id), as many SIMs as it
    was solved with, never two rows for one SIM."""
    found = facts.rows_per_instance(database.engine(), rows, [row.id for row in instances])
    faults = {row.id: facts.rows_fault(row, found.get(row.id)) for row in instances}
    failing = [instance_id for instance_id, fault in faults.items() if fault]
    return dg.AssetCheckResult(
        passed=bool(instances) and not failing,
        description="; ".join(f for f in faults.values() if f) or None,
        metadata={
            "instances": len(instances),
            "sims_expected": sum(row.device_count or 0 for row in instances),
            "sims_with_results": sum(distinct for _, distinct in found.values()),
            "rows_found": sum(n for n, _ in found.values()),
            "failing_instances": str(failing or "none"),
        },
    )


def stop_the_push(
    context: dg.AssetCheckExecutionContext,
    database: DatabaseResource,
    ids: runs.RunIds,
    result: dg.AssetCheckResult,
) -> None:
    """After a failed guarding check of the run's own winner: close the session as failed and
    fail the step with one sentence. Dagster records the check's result before this (the
    caller yields it first) and skips the push, which the blocking check holds back."""
    asset = context.check_specs[0].asset_key.to_user_string()
    name = context.check_specs[0].name
    message = (
        f"the winner is not pushed, nothing was sent to the carrier: {asset} failed {name}: "
        f"{result.description or 'see the check'}"
    )
    runs.finish(database.engine(), ids, RunStatus.FAILED, error=message)
    raise dg.Failure(description=message, metadata={"error": facts.WinnerCheckFailed.__name__})


Evaluate = Callable[[DatabaseResource, runs.RunIds], dg.AssetCheckResult]


def winner_check(
    asset: dg.AssetsDefinition,
    kind: OptimizationType,
    name: str,
    description: str,
    evaluate: Evaluate,
    *,
    guards_push: bool,
) -> dg.AssetChecksDefinition:
    """A check of ``asset``'s winner (``evaluate`` on the judged session). With
    ``guards_push`` it is blocking and a failure of the run's own winner stops the push
    (:func:`stop_the_push`)."""

    @dg.asset_check(
        partitions_def=asset.partitions_def,
        asset=asset,
        name=name,
        blocking=guards_push,
        description=description,
    )
    def check(
        context: dg.AssetCheckExecutionContext, database: DatabaseResource
    ) -> Iterator[dg.AssetCheckResult]:
        ids, own = checked_session(context, database, kind)
        result = missing_result() if ids is None else evaluate(database, ids)
        yield result
        if guards_push and own and ids is not None and not result.passed:
            stop_the_push(context, database, ids, result)

    return check


def cost_check(
    asset: dg.AssetsDefinition, kind: OptimizationType, scope: str = "", *, guards_push: bool
) -> dg.AssetChecksDefinition:
    """``cost_between_bound_and_baselines`` of ``asset`` over every instance of the judged
    ``kind`` session (``scope`` prefixes the description)."""
    return winner_check(
        asset,
        kind,
        "cost_between_bound_and_baselines",
        f"{scope}lower bound ≤ winning cost ≤ min(current cost, legacy cost)."
        + (" Blocking: a failure stops the push." if guards_push else ""),
        lambda database, ids: costs_result(session_instances(database.engine(), ids.session_id)),
        guards_push=guards_push,
    )


def once_check(
    asset: dg.AssetsDefinition, kind: OptimizationType, rows, description: str, *, guards_push: bool
) -> dg.AssetChecksDefinition:
    """``every_sim_assigned_once`` of ``asset``: ``rows`` (instance id, SIM id) hold one row
    per SIM of every instance of the judged ``kind`` session."""
    return winner_check(
        asset,
        kind,
        "every_sim_assigned_once",
        description + (" Blocking: a failure stops the push." if guards_push else ""),
        lambda database, ids: once_result(
            database, session_instances(database.engine(), ids.session_id), rows
        ),
        guards_push=guards_push,
    )


# --------------------------------------------------------------------------- M2M

cost_between_bound_and_baselines = cost_check(
    winning_assignments, OptimizationType.M2M, guards_push=True
)
every_sim_assigned_once = once_check(
    winning_assignments,
    OptimizationType.M2M,
    facts.winner_rows(OptimizationDeviceResult, "device_id"),
    "One winning result row per SIM of the instance, never two.",
    guards_push=True,
)


def invalid_plans_result(database: DatabaseResource, ids: runs.RunIds) -> dg.AssetCheckResult:
    """The body of ``no_invalid_plan_offered`` for a session."""
    invalid = facts.invalid_plans(database.engine(), ids.provider_id)
    return dg.AssetCheckResult(passed=not invalid, metadata={"invalid_plans": ", ".join(invalid)})


no_invalid_plan_offered = winner_check(
    winning_assignments,
    OptimizationType.M2M,
    "no_invalid_plan_offered",
    "No priced rate plan of the provider has a non-positive overage unit or negative price.",
    invalid_plans_result,
    guards_push=False,
)


# --------------------------------------------------------------------------- mobility

mobility_cost_between_bound_and_baselines = cost_check(
    mobility_winning_assignments,
    OptimizationType.MOBILITY,
    "Per optimization group: ",
    guards_push=True,
)
mobility_every_sim_assigned_once = once_check(
    mobility_winning_assignments,
    OptimizationType.MOBILITY,
    facts.winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id"),
    "Per optimization group: one winning row per SIM of the group, never two.",
    guards_push=True,
)


def plan_types_result(database: DatabaseResource, partition_key: str) -> dg.AssetCheckResult:
    """``plans_of_the_groups_types`` of the partition's last completed mobility session."""
    ids = latest_completed_run(database, partition_key, OptimizationType.MOBILITY)
    return missing_result() if ids is None else plan_types_of(database, ids)


def plan_types_of(database: DatabaseResource, ids: runs.RunIds) -> dg.AssetCheckResult:
    """The body of ``plans_of_the_groups_types`` for a session."""
    rows = facts.winning_plan_types(database.engine(), ids.session_id)
    wrong = sum(1 for kind, allowed, _ in rows if kind not in (allowed or "").split(";"))
    moved = sum(1 for kind, _, own in rows if own is not None and kind != own)
    return dg.AssetCheckResult(
        passed=bool(rows) and wrong == 0 and moved == 0,
        metadata={
            "sims_checked": len(rows),
            "sims_on_a_plan_of_another_type": wrong,
            "sims_moved_to_another_plan_type": moved,
        },
    )


mobility_plans_of_the_groups_types = winner_check(
    mobility_winning_assignments,
    OptimizationType.MOBILITY,
    "plans_of_the_groups_types",
    "Every winning SIM is on a plan of a type its optimization group allows, and of its own "
    "plan's type (the legacy rule: a phone SIM never moves to a hotspot plan).",
    plan_types_of,
    guards_push=False,
)


# --------------------------------------------------------------------------- customer

customer_cost_between_bound_and_baselines = cost_check(
    customer_winning_assignments, OptimizationType.CUSTOMER, "Per customer: ", guards_push=False
)
customer_every_sim_assigned_once = once_check(
    customer_winning_assignments,
    OptimizationType.CUSTOMER,
    union_all(
        facts.winner_rows(OptimizationDeviceResult, "device_id"),
        facts.shared_pool_rows(OptimizationSharedPoolResult, "device_id"),
        facts.winner_rows(OptimizationMobilityDeviceResult, "mobility_device_id"),
        facts.shared_pool_rows(OptimizationMobilitySharedPoolResult, "mobility_device_id"),
    ),
    "Per customer: one row per SIM — its own SIMs among the winner's rows, the other "
    "customers' locked shared-pool SIMs among the shared-pool rows — never two.",
    guards_push=False,
)


def carrier_plans_result(database: DatabaseResource, partition_key: str) -> dg.AssetCheckResult:
    """``carrier_plans_unchanged`` of the partition's last completed customer session."""
    ids = latest_completed_run(database, partition_key, OptimizationType.CUSTOMER)
    return missing_result() if ids is None else carrier_plans_of(database, ids)


def carrier_plans_of(database: DatabaseResource, ids: runs.RunIds) -> dg.AssetCheckResult:
    """The body of ``carrier_plans_unchanged`` for a session."""
    changed = facts.carrier_plan_changes(database.engine(), ids.session_id)
    return dg.AssetCheckResult(passed=changed == 0, metadata={"carrier_plan_changes": changed})


customer_carrier_plans_unchanged = winner_check(
    customer_winning_assignments,
    OptimizationType.CUSTOMER,
    "carrier_plans_unchanged",
    "Customer optimization re-prices on customer plans: no SIM's carrier plan changes.",
    carrier_plans_of,
    guards_push=False,
)


optimization_checks = [
    cost_between_bound_and_baselines,
    every_sim_assigned_once,
    no_invalid_plan_offered,
]
mobility_checks = [
    mobility_cost_between_bound_and_baselines,
    mobility_every_sim_assigned_once,
    mobility_plans_of_the_groups_types,
]
customer_checks = [
    customer_cost_between_bound_and_baselines,
    customer_every_sim_assigned_once,
    customer_carrier_plans_unchanged,
]
