"""A refused launch leaves no trace on the partitions (issue 28, point 3).

Dagster records a run's planned materializations when the run is created, before the run
coordinator sees it, and counts each planned partition of a *failed* run as a failed partition
of its asset. The launch check used to mark a refused run failed: after a refused launch every
asset of the job showed the partition failed, also ``staged_devices`` of a mobility partition
that had succeeded. A refused run is now canceled, which Dagster counts neither as failed nor
as in progress. Here the deployment's run coordinator (``dagster.yaml``) refuses real launches
on a test instance, and the partition status is Dagster's own (``get_status_by_partition``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from carrier_opt.core.billing import BillingCycle, period_containing
from carrier_opt.definitions import defs
from carrier_opt.defs.partitions import (
    M2M_PROVIDERS,
    SERVICE_PROVIDER,
    mobility_period_partitions,
    provider_period_partitions,
    register_providers,
)
from carrier_opt.settings import DATABASE_URL_ENV
from carrier_opt_tests.defs.launch_support import (
    M2M_JOB,
    MOBILITY_JOB,
    add_providers,
    coordinated_instance,
    launch,
    partition_tags,
)

REPOSITORY = Path(__file__).resolve().parents[2]
CALENDAR_MONTHS = BillingCycle(31, 0, "UTC")
"""The test providers' cycle: a period key is the calendar month (UTC) it ends in."""


@pytest.fixture
def deployment(migrated_engine, database_url, monkeypatch):
    """acme (M2M) and phones (mobility) in the database the launch check reads."""
    add_providers(migrated_engine)
    monkeypatch.setenv(DATABASE_URL_ENV, database_url)
    return migrated_engine


def refusal(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The reason on the run page of a refused run."""
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_CANCELED
    ).records
    [record] = records
    return record.event_log_entry.dagster_event.message or ""


def test_refused_launches_mark_no_partition_of_any_asset_failed(deployment):
    now = datetime.now(UTC)
    current = period_containing(CALENDAR_MONTHS, now).key
    not_started = period_containing(CALENDAR_MONTHS, now + timedelta(days=32)).key
    job = defs.resolve_job_def(M2M_JOB)
    mobility_key = f"{current}|phones"
    with coordinated_instance() as instance:
        register_providers(instance, {"acme": "m2m", "phones": "mobility"})
        for typed_in in (SERVICE_PROVIDER, M2M_PROVIDERS):  # "Add partition" typos
            instance.add_dynamic_partitions(typed_in, ["ghost"])
        # The mobility job's sync step succeeded for phones' open period.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key="mobility_staged_devices", partition=mobility_key)
        )
        mistakes = {
            "phones is a mobility fleet": partition_tags("phones", current),
            "no service provider named 'ghost'": partition_tags("ghost", current),
            "reads acme|": {"dagster/partition": f"acme|{current}"},
            "has not started": partition_tags("acme", not_started),
        }
        refused = {reason: launch(instance, job, tags) for reason, tags in mistakes.items()}

        keys = [mobility_key, f"{current}|ghost", f"{not_started}|acme"]
        for asset_key in job.asset_layer.selected_asset_keys:
            status = instance.get_status_by_partition(asset_key, keys, provider_period_partitions)
            assert dg.AssetPartitionStatus.FAILED not in (status or {}).values(), asset_key
            assert dg.AssetPartitionStatus.IN_PROGRESS not in (status or {}).values(), asset_key
        staged = instance.get_status_by_partition(
            dg.AssetKey("mobility_staged_devices"), [mobility_key], mobility_period_partitions
        )
        assert staged == {mobility_key: dg.AssetPartitionStatus.MATERIALIZED}
        for reason, run in refused.items():
            assert run.status == dg.DagsterRunStatus.CANCELED, reason
            assert refusal(instance, run).startswith("Launch refused: ")
            assert reason in refusal(instance, run)
        # Nothing failed, so nothing is mailed: the failure-mail sensor sees no failure.
        assert not instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))


def test_a_sound_launch_is_queued_and_a_typo_never_becomes_a_partition(deployment):
    current = period_containing(CALENDAR_MONTHS, datetime.now(UTC)).key
    job = defs.resolve_job_def(M2M_JOB)
    with coordinated_instance() as instance:
        register_providers(instance, {"acme": "m2m", "phones": "mobility"})
        sound = launch(instance, job, partition_tags("acme", current))
        typo = launch(instance, job, partition_tags("acme-typo", current))
        assert sound.status == dg.DagsterRunStatus.QUEUED
        assert typo.status == dg.DagsterRunStatus.CANCELED
        assert instance.get_dynamic_partitions(SERVICE_PROVIDER) == ["acme", "phones"]
        assert instance.get_dynamic_partitions(M2M_PROVIDERS) == ["acme"]


def engine_notes(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The engine events on a run's page (what it says while it waits)."""
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ).records
    return [r.event_log_entry.dagster_event.message or "" for r in records]


def test_a_launch_queued_behind_its_providers_run_says_what_it_waits_for(deployment):
    """Issue 28, point 2: with the coordinator exactly as ``dagster.yaml`` configures it, a
    second run of a provider names the run it waits behind and the limit that holds it; a run
    of another provider, first in its line, says nothing."""
    shipped = yaml.safe_load((REPOSITORY / "dagster.yaml").read_text())["run_coordinator"]
    current = period_containing(CALENDAR_MONTHS, datetime.now(UTC)).key
    m2m_job, mobility_job = defs.resolve_job_def(M2M_JOB), defs.resolve_job_def(MOBILITY_JOB)
    with dg.instance_for_test(overrides={"run_coordinator": shipped}) as instance:
        # Issue 29: the daemon dequeues every second, not every 5 s (Dagster's default).
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        register_providers(instance, {"acme": "m2m", "phones": "mobility"})
        first = launch(instance, m2m_job, partition_tags("acme", current))
        phones = launch(instance, mobility_job, partition_tags("phones", current))
        second = launch(instance, m2m_job, partition_tags("acme", current))
        third = launch(instance, m2m_job, partition_tags("acme", current))
        assert {first.status, phones.status, second.status} == {dg.DagsterRunStatus.QUEUED}
        assert engine_notes(instance, first) == engine_notes(instance, phones) == []
        [note] = engine_notes(instance, second)
        assert note.startswith(
            f"Queued behind run {first.run_id[:8]} ({M2M_JOB}, {current}|acme, queued) of "
            "service provider acme: one run per provider at a time"
        ), note
        [note] = engine_notes(instance, third)
        assert note.startswith(f"Queued behind run {first.run_id[:8]} ({M2M_JOB}, ")
        assert " and 1 more of service provider acme" in note
