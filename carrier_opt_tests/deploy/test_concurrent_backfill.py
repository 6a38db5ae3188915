"""Issue 17: many providers at once, for real. A Dagster daemon on PostgreSQL instance
storage with the queued run coordinator of ``dagster.yaml`` runs a backfill of 3 providers ×
4 billing periods against fake carriers on loopback.

Every run succeeds, and the run records show no two runs of one provider at the same time
(the queue's one-run-per-provider tag limit) while runs of different providers overlap. The
figures (runs, wall time, throughput, peak concurrency) are printed for docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from carrier_opt.bench.runs import instance_home
from carrier_opt.clock import real_clock_env
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.provider_settings import ProviderChanges, change_provider
from carrier_opt.defs.jobs import OPTIMIZE_JOB_NAME
from carrier_opt.defs.partitions import register_providers
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.past_usage import fetch_past_usage
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, write_fake_price_files
from carrier_opt_tests.jasper.support import client_for
from carrier_opt_tests.ui.support import BIN, REPO, process, wait_for

PROVIDERS = ("north", "south", "west")
PERIODS = ("2026-02", "2026-03", "2026-04", "2026-05")
ONBOARDED_AT = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
"""When the providers were synced and their past periods fetched (the fakes' clock)."""
DEVICES = 80
MAX_CONCURRENT_RUNS = 4
TIMEOUT_S = 1200
PROVIDER_TAG = "dagster/partition/service_provider"


def onboard(engine, fakes: dict[str, FakeJasper], tmp_path: Path) -> dict[str, str]:
    """Each provider added, synced and its four past periods stored; answers the
    credentials' environment for the runs."""
    env = {}
    for index, (name, fake) in enumerate(fakes.items()):
        add_fake_provider(engine, fake, name=name)
        changes = ProviderChanges(
            username_env=f"CONC_USER_{index}", api_key_env=f"CONC_KEY_{index}"
        )
        change_provider(engine, name, changes)  # each provider its own credentials' variables
        env[f"CONC_USER_{index}"], env[f"CONC_KEY_{index}"] = fake.credentials
        sync_provider(engine, name, client=client_for(fake), now=ONBOARDED_AT)
        report = fetch_past_usage(
            engine, name, len(PERIODS), client=client_for(fake), now=ONBOARDED_AT
        )
        assert sorted(p.period_key for p in report.periods) == list(PERIODS)
        load_rate_plans(engine, name, *write_fake_price_files(tmp_path / f"prices-{name}"))
    return env


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_backfill_of_3_providers_by_4_periods_runs_one_run_per_provider_at_a_time(
    database_url, migrated_engine, dagster_pg_url, tmp_path, monkeypatch
):
    fakes = {
        name: FakeJasper(devices=DEVICES, seed=20 + i, now=ONBOARDED_AT).start()
        for i, name in enumerate(PROVIDERS)
    }
    try:
        credentials = onboard(migrated_engine, fakes, tmp_path)
        home = instance_home(tmp_path / "dagster_home", "CONC_DAGSTER_PG_URL", MAX_CONCURRENT_RUNS)
        monkeypatch.setenv("CONC_DAGSTER_PG_URL", dagster_pg_url)  # this process reads it too
        env = real_clock_env(
            {
                **os.environ,
                **credentials,
                "CONC_DAGSTER_PG_URL": dagster_pg_url,
                "DAGSTER_HOME": str(home),
                "CARRIER_OPT_HOME": str(tmp_path / "home"),
                "CARRIER_OPT_DATABASE_URL": database_url,
            }
        )
        with dg.DagsterInstance.from_config(str(home)) as instance:
            register_providers(instance, dict.fromkeys(PROVIDERS, "m2m"))
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        keys = [f"{period}|{name}" for name in PROVIDERS for period in PERIODS]
        with process(daemon, env, tmp_path / "daemon.log"):
            started = time.monotonic()
            submitted = subprocess.run(
                [
                    str(BIN / "dagster"),
                    "job",
                    "backfill",
                    "-w",
                    "workspace.yaml",
                    "-j",
                    OPTIMIZE_JOB_NAME,
                    "--partitions",
                    ",".join(keys),
                    "--noprompt",
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert submitted.returncode == 0, submitted.stdout + submitted.stderr
            with dg.DagsterInstance.from_config(str(home)) as instance:
                records = wait_for(
                    "the backfill's 12 runs to finish",
                    lambda: _finished(instance, len(keys)),
                    TIMEOUT_S,
                    every_s=5,
                )
            wall_s = time.monotonic() - started
    finally:
        for fake in fakes.values():
            fake.stop()
    failed = [
        r.dagster_run.tags.get("dagster/partition")
        for r in records
        if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS
    ]
    assert failed == [], (tmp_path / "daemon.log").read_text(errors="replace")[-3000:]
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == sorted(keys)
    by_provider: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        name = record.dagster_run.tags[PROVIDER_TAG]
        by_provider.setdefault(name, []).append((record.start_time, record.end_time))
    for name, intervals in by_provider.items():
        assert peak_overlap(intervals) == 1, f"two runs of {name} overlapped: {intervals}"
    overall = peak_overlap([i for intervals in by_provider.values() for i in intervals])
    assert 2 <= overall <= len(PROVIDERS)  # providers run side by side, each one at a time
    busy = sum(end - start for intervals in by_provider.values() for start, end in intervals)
    print(
        f"\nconcurrent backfill: {len(records)} runs, {len(PROVIDERS)} providers x "
        f"{len(PERIODS)} periods, {DEVICES} SIMs each; wall {wall_s:.0f} s; "
        f"{len(records) / wall_s * 3600:.0f} runs/h; peak concurrency {overall} "
        f"(max_concurrent_runs {MAX_CONCURRENT_RUNS}, one per provider); mean run "
        f"{busy / len(records):.1f} s; python {sys.version.split()[0]}",
        file=sys.stderr,
    )


def _finished(instance: dg.DagsterInstance, count: int):
    """The optimization runs' records once ``count`` exist and all have finished."""
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=OPTIMIZE_JOB_NAME))
    done = [r for r in records if r.dagster_run.is_finished]
    return records if len(records) >= count and len(done) == len(records) else None
