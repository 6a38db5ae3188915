"""Mistaken launches refused before the run starts.

Dagster accepts any launch of a partitioned job: a run without a partition, a key with its
halves swapped, a provider typed into "Add partition" that does not exist, an M2M job launched
for a mobility provider, "Latest" picking a period that has not started, a closed period
nobody stored the usage of, a settlement of a period that has not closed or was never
optimized. Each used to start a run process that then failed in its first
step. :class:`CheckedRunCoordinator` (configured in ``dagster.yaml``) is Dagster's queued run
coordinator plus one check at submission: a run that cannot succeed is canceled at once, its
one-line reason on the run page, and is never queued or launched. It applies to every way a
run is submitted: the launchpad, GraphQL, the sensors and backfills.

Canceled, not failed: Dagster records the run's planned materializations when the run is
created, before the coordinator sees it, and counts every planned partition of a *failed* run
as a failed partition of its asset — a refused launch painted red the partitions of every asset
of the job, also ones that had succeeded. A canceled run counts neither as failed nor as in
progress (``carrier_opt_tests/defs/test_refused_launches.py``), and the failure-mail sensor does
not see it (nothing failed: the operator who launched it reads the reason on the run page).

A launch that is accepted but must wait behind another run of its provider (the per-provider
limit of ``dagster.yaml``) gets one line on its run page naming that run and the limit;
Dagster's own page says only "Queued"
(``test_refused_launches.py::test_a_launch_queued_behind_its_providers_run_says_what_it_waits_for``).

When the database cannot be read the launch is let through (its first step then says why):
the check must never stop a deployment that works.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from dagster import DagsterRun, DagsterRunStatus, QueuedRunCoordinator, RunsFilter
from dagster._core.run_coordinator import SubmitRunContext
from sqlalchemy import Engine

from carrier_opt import clock
from carrier_opt.core.billing import period_containing, period_for_key
from carrier_opt.db.engine import make_engine, resolve_database_url
from carrier_opt.db.providers import load_provider
from carrier_opt.defs.partitions import launched_partition
from carrier_opt.defs.tags import PROVIDER_TAG
from carrier_opt.errors import CarrierOptError, DatabaseError
from carrier_opt.pipeline.period_sync import usage_problem
from carrier_opt.pipeline.settleable import settlement_problem

log = logging.getLogger(__name__)

PARTITION_TAG = "dagster/partition"
REFUSED = "Launch refused:"
"""How the reason of a refused launch starts (the run page; the failure mail passes over it)."""

FLEET_OF_JOB: Mapping[str, str | None] = {
    "optimize_billing_period": "m2m",
    "optimize_mobility_period": "mobility",
    "optimize_customer_period": None,  # customer plans exist for both fleets
    "push_approved_changes": None,
    "sync_carrier_data": None,
    "what_if_offer": "m2m",
    "settle_closed_period": "m2m",
}
"""The jobs partitioned by service provider × billing period, and the fleet each needs."""

JOB_FOR_FLEET = {"m2m": "optimize_billing_period", "mobility": "optimize_mobility_period"}
SYNCS_OPEN_PERIOD = {"optimize_billing_period", "optimize_mobility_period"}
"""Optimization jobs that sync an open period themselves (a closed one runs on stored usage)."""
ON_STORED_USAGE = {"optimize_customer_period", "what_if_offer"}
"""Optimization jobs that run on the usage stored for the period, open or closed."""
SETTLES = {"settle_closed_period"}
"""Jobs that price a closed period's completed optimization again (settlement)."""
A_FLEET = {"m2m": "an M2M", "mobility": "a mobility"}


def launch_problem(
    job_name: str, tags: Mapping[str, str], engine: Engine, now: datetime
) -> str | None:
    """Why a launch of ``job_name`` with ``tags`` cannot succeed (one line), or None."""
    if job_name not in FLEET_OF_JOB:
        return None
    try:
        provider_name, period_key = launched_partition(tags.get(PARTITION_TAG))
        with engine.connect() as connection:
            provider = load_provider(connection, provider_name)
        period = period_for_key(provider.cycle, period_key)
    except DatabaseError:
        raise
    except CarrierOptError as exc:
        return str(exc)
    needed = FLEET_OF_JOB[job_name]
    if needed is not None and provider.fleet != needed:
        fleet = A_FLEET.get(provider.fleet, provider.fleet)
        if job_name not in JOB_FOR_FLEET.values():
            return f"{provider.name} is {fleet} fleet: {job_name} runs on {A_FLEET[needed]} fleet"
        return (
            f"{provider.name} is {fleet} fleet: launch "
            f"{JOB_FOR_FLEET.get(provider.fleet, 'its own job')} for it, not {job_name}"
        )
    if period.start > now:
        current = period_containing(provider.cycle, now).key
        starts = period.start.astimezone(provider.cycle.zone).strftime("%Y-%m-%d %H:%M %Z")
        return (
            f"{provider.name}'s billing period {period.key} has not started (it starts "
            f"{starts}): launch a started period, e.g. the current one, {current}"
        )
    if job_name in SETTLES:
        return settlement_problem(engine, provider, period, now)
    if job_name in SYNCS_OPEN_PERIOD | ON_STORED_USAGE:
        return usage_problem(
            engine, provider, period, now, syncs_open_period=job_name in SYNCS_OPEN_PERIOD
        )
    return None


UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def waiting_note(provider: str, ahead: Sequence[DagsterRun]) -> str:
    """The line a queued run shows while other runs of its provider hold or wait for the
    provider's one run slot (``ahead``: newest first, as Dagster lists runs)."""
    first = ahead[-1]
    partition = first.tags.get(PARTITION_TAG, "no partition")
    others = f" and {len(ahead) - 1} more" if len(ahead) > 1 else ""
    return (
        f"Queued behind run {first.run_id[:8]} ({first.job_name}, {partition}, "
        f"{first.status.value.lower()}){others} of service provider {provider}: one run per "
        "provider at a time (tag_concurrency_limits in dagster.yaml), because a provider's "
        "runs share its optimization session and its carrier account. It starts when they end."
    )


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    """One engine per database URL for the process (the webserver, the daemon)."""
    return make_engine(url)


class CheckedRunCoordinator(QueuedRunCoordinator):
    """The queued run coordinator (same configuration), refusing mistaken launches at once."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        if run.status == DagsterRunStatus.NOT_STARTED:
            problem = self._problem(run)
            if problem is not None:
                self._instance.report_run_canceled(run, message=f"{REFUSED} {problem}")
                refused = self._instance.get_run_by_id(run.run_id)
                return refused or run
        queued = super().submit_run(context)
        try:
            self._say_what_it_waits_for(queued)
        except Exception as exc:  # a note, never a reason to lose the launch
            log.warning("could not tell run %s what it waits for: %s", run.run_id, exc)
        return queued

    def _say_what_it_waits_for(self, run: DagsterRun) -> None:
        """A run queued behind another run of its provider says so on its run page.

        Dagster shows such a run as "Queued" and nothing more; an operator who launched it
        could not tell a full queue from the per-provider limit (issue 28, point 2)."""
        if run.status != DagsterRunStatus.QUEUED:
            return
        limited = {limit["key"] for limit in self.get_run_queue_config().tag_concurrency_limits}
        provider = run.tags.get(PROVIDER_TAG)
        if PROVIDER_TAG not in limited or provider is None:
            return
        ahead = [
            other
            for other in self._instance.get_runs(
                RunsFilter(tags={PROVIDER_TAG: provider}, statuses=UNFINISHED)
            )
            if other.run_id != run.run_id
        ]
        if ahead:
            self._instance.report_engine_event(waiting_note(provider, ahead), run)

    def _problem(self, run: DagsterRun) -> str | None:
        try:
            engine = _engine(resolve_database_url(None))
            return launch_problem(run.job_name, run.tags, engine, clock.now())
        except Exception as exc:  # the database is down or misconfigured: let the run say it
            log.warning("launch check skipped for run %s: %s", run.run_id, exc)
            return None
