"""Runs through a real daemon: where a partition run's wall time goes (issue 29).

Starts what a deployment runs — ``dagster-daemon run -w workspace.yaml`` (it starts the code
server the workspace names, and the run workers) — on a temporary ``DAGSTER_HOME`` with the
repository's own ``dagster.yaml`` (its queued coordinator, launch checks and one-run-per-
provider tag limit) plus PostgreSQL run and event storage in a temporary database. The
carrier_opt tables go to a second temporary database; both are dropped at the end. The fake
carriers serve on loopback from this process.

Each provider is synced first (and its past periods stored) so the runs reuse that sync, then:

* (a) one partition run of each job asked for (``--jobs``), each alone, for providers of
  ``--sims`` SIMs: ``sync_carrier_data``, ``optimize_billing_period`` and
  ``optimize_customer_period`` on an M2M provider, ``optimize_mobility_period`` on a mobility
  one, each submitted as ``dagster job launch`` does (the queued coordinator, then the daemon);
* (b) a backfill of ``--providers`` × ``--periods`` past periods of ``optimize_billing_period``
  (``dagster job backfill``), providers of ``--backfill-sims`` SIMs.

Per run, read from its event log: wall (created → ended), queue wait (created → RUN_STARTING),
run worker start (RUN_STARTING → RUN_START), the steps' own time (STEP_START → STEP_SUCCESS,
overlaps counted once) and their count, the longest step, and the rest (between steps: step
process starts and code loading under the multiprocess executor, event writes, the end).

    carrier-opt bench runs [--sims 2000] [--jobs m2m,customer,mobility,sync] [--providers 3]
        [--periods 4] [--backfill-sims 80] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from carrier_opt.processes import child_process

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JOBS = ("sync", "m2m", "customer", "mobility")
"""The single runs, in the order they run (the customer job re-prices the M2M provider)."""
PARTITION_TAG = "dagster/partition"
PG_URL_ENV = "BENCH_RUNS_DAGSTER_PG_URL"
RUN_TIMEOUT_S = 900.0
HEADER = (
    f"{'run':<22} {'job':<25} {'partition':<22} {'status':<8} {'wall s':>7} {'queue s':>7} "
    f"{'worker s':>8} {'steps':>5} {'steps s':>7} {'between s':>9}  longest step"
)
COLUMNS = ("wall s", "queue s", "worker s", "steps", "steps s", "between s")


@dataclass(frozen=True)
class Sizes:
    """How much the bench runs: the single runs' jobs and fleet, and the backfill's shape."""

    sims: int = 2000
    jobs: tuple[str, ...] = JOBS
    providers: int = 3
    periods: int = 4
    backfill_sims: int = 80


@dataclass
class RunTimes:
    """Where one run's wall time went, in seconds (read from its event log)."""

    label: str
    job: str
    partition: str
    status: str
    wall_s: float
    queue_s: float
    worker_start_s: float
    steps: int
    steps_s: float
    between_s: float
    longest: str = ""
    step_s: dict[str, float] = field(default_factory=dict)

    def row(self) -> str:
        """The run's line of the table."""
        return (
            f"{self.label:<22} {self.job:<25} {self.partition:<22} {self.status:<8} "
            f"{self.wall_s:>7.1f} {self.queue_s:>7.1f} {self.worker_start_s:>8.1f} "
            f"{self.steps:>5} {self.steps_s:>7.1f} {self.between_s:>9.1f}  {self.longest}"
        )


@dataclass(frozen=True)
class Provider:
    """A bench provider: its name, fleet, size and the credentials' variables."""

    name: str
    fleet: str
    sims: int
    seed: int

    @property
    def user_env(self) -> str:
        return f"BENCH_RUNS_USER_{self.name.upper().replace('-', '_')}"

    @property
    def key_env(self) -> str:
        return f"BENCH_RUNS_KEY_{self.name.upper().replace('-', '_')}"


# --- timings from the event log ----------------------------------------------------------------


def run_times(instance, run_id: str, label: str) -> RunTimes:
    """Where run ``run_id``'s wall time went, from its record and its event log."""
    import dagster as dg

    record = instance.get_run_record_by_id(run_id)
    created = record.create_timestamp.timestamp()
    marks: dict[str, float] = {}
    started: dict[str, float] = {}
    intervals: list[tuple[float, float]] = []
    step_s: dict[str, float] = {}
    kinds = dg.DagsterEventType
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind in (kinds.RUN_STARTING, kinds.RUN_START):
            marks.setdefault(kind.name, entry.timestamp)
        elif kind in (kinds.RUN_SUCCESS, kinds.RUN_FAILURE, kinds.RUN_CANCELED):
            marks["END"] = entry.timestamp
        elif kind == kinds.STEP_START:
            started[event.step_key] = entry.timestamp
        elif kind in (kinds.STEP_SUCCESS, kinds.STEP_FAILURE) and event.step_key in started:
            begin = started.pop(event.step_key)
            intervals.append((begin, entry.timestamp))
            step_s[event.step_key] = step_s.get(event.step_key, 0.0) + entry.timestamp - begin
    ended = record.end_time or marks.get("END") or time.time()
    starting = marks.get("RUN_STARTING", created)
    start = marks.get("RUN_START", starting)
    steps_total = union_length(intervals)
    longest = max(step_s, key=step_s.__getitem__) if step_s else ""
    tags = record.dagster_run.tags
    status = record.dagster_run.status
    return RunTimes(
        label=label,
        job=record.dagster_run.job_name,
        partition=tags.get(PARTITION_TAG, ""),
        status="SUCCESS" if status == dg.DagsterRunStatus.SUCCESS else status.value,
        wall_s=ended - created,
        queue_s=starting - created,
        worker_start_s=start - starting,
        steps=len(intervals),
        steps_s=steps_total,
        between_s=max(0.0, ended - start - steps_total),
        longest=f"{longest} {step_s[longest]:.1f} s" if longest else "",
        step_s=step_s,
    )


def union_length(intervals: Sequence[tuple[float, float]]) -> float:
    """Seconds covered by at least one interval (parallel steps counted once)."""
    total = 0.0
    reach = float("-inf")
    for begin, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(begin, reach)
        reach = end
    return total


# --- the deployment ------------------------------------------------------------------------------


@contextmanager
def temporary_databases(pg_url: str) -> Iterator[tuple[str, str]]:
    """(carrier_opt URL, Dagster storage URL): two new databases of ``pg_url``'s server,
    dropped after. Dagster's URL names psycopg2 (dagster-postgres's ``NOTIFY``)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    token = uuid.uuid4().hex[:10]
    names = (f"bench_runs_{token}", f"bench_runs_dagster_{token}")
    try:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        base = make_url(pg_url)
        data = base.set(database=names[0]).render_as_string(hide_password=False)
        dagster = base.set(drivername="postgresql+psycopg2", database=names[1])
        yield data, dagster.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def instance_home(
    folder: Path, pg_url_env: str = PG_URL_ENV, max_concurrent_runs: int | None = None
) -> Path:
    """A DAGSTER_HOME with the repository's dagster.yaml (its queued coordinator and tag
    limits), unchanged but for PostgreSQL storage (its URL read from ``pg_url_env``) and,
    given, ``max_concurrent_runs``, as docs/deployment.md's VM runs it."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((REPO / "dagster.yaml").read_text(encoding="utf-8"))
    if max_concurrent_runs is not None:
        config["run_coordinator"]["config"]["max_concurrent_runs"] = max_concurrent_runs
    config["storage"] = {"postgres": {"postgres_url": {"env": pg_url_env}}}
    (folder / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def onboard(engine, provider: Provider, fake, past_periods: int, folder: Path) -> None:
    """Add ``provider``, load its prices, sync it and store ``past_periods`` past periods."""
    from carrier_opt.db.loads.customer_plans import (
        assign_customer_rate_plans,
        load_customer_rate_plans,
    )
    from carrier_opt.db.loads.optimization_groups import load_optimization_groups
    from carrier_opt.db.loads.rate_plans import load_rate_plans
    from carrier_opt.db.providers import add_provider
    from carrier_opt.jasper.client import JasperClient
    from carrier_opt.jasper.fake.prices import write_fake_customer_sims, write_fake_price_list
    from carrier_opt.pipeline.past_usage import fetch_past_usage
    from carrier_opt.pipeline.sync import sync_provider

    add_provider(
        engine,
        provider.name,
        jasper_url=fake.base_url,
        billing_cycle_end_day=31,
        billing_cycle_end_rule="after_end_day",
        time_zone="UTC",
        username_env=provider.user_env,
        api_key_env=provider.key_env,
        fleet=provider.fleet,
    )
    prices = write_fake_price_list(folder / provider.name, provider.fleet)
    load_rate_plans(engine, provider.name, prices.rate_plans, prices.comm_plan_rate_plans)
    if prices.optimization_groups is not None:
        load_optimization_groups(engine, provider.name, prices.optimization_groups)
    with JasperClient(fake.base_url, *fake.credentials, calls_per_second=1e6) as client:
        sync_provider(engine, provider.name, client=client, now=fake.now())
        if past_periods:
            fetch_past_usage(engine, provider.name, past_periods, client=client, now=fake.now())
    if provider.fleet == "m2m" and prices.customer_rate_plans is not None:
        load_customer_rate_plans(engine, provider.name, prices.customer_rate_plans)
        sims = write_fake_customer_sims(folder / provider.name, fake.fleet)
        assign_customer_rate_plans(engine, provider.name, sims)


@contextmanager
def daemon(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run -w workspace.yaml`` in its own process group, stopped after."""
    command = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
    with child_process(command, env, log, REPO) as child:
        yield child


def wait_for(what: str, check, timeout_s: float, every_s: float = 0.5):
    """``check()``'s first truthy answer, or an error naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def daemon_ready(instance) -> bool:
    """Whether the queued-run and backfill daemons have both sent a heartbeat."""
    beats = instance.get_daemon_heartbeats()
    return {"QUEUED_RUN_COORDINATOR", "BACKFILL"} <= set(beats)


def dagster_cli(args: list[str], env: dict[str, str]) -> None:
    """One ``dagster`` command against the workspace; raises with its output on failure.

    Its output goes to a file, not a pipe: ``dagster job launch`` starts a code server that
    inherits its stdout and outlives it until its heartbeat times out, and a pipe would keep
    this call waiting for that server instead of the command (under libfaketime the heartbeat
    never timed out, and every launch waited out the 600 s timeout)."""
    with tempfile.TemporaryFile(mode="w+") as output:
        done = subprocess.run(
            [str(BIN / "dagster"), *args, "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"dagster {' '.join(args[:2])} failed:\n{output.read()}")


def launch(job: str, provider: str, period: str, env: dict[str, str]) -> str:
    """Submit one partition run as `dagster job launch` does (the queued coordinator then
    dequeues it); answers its run id."""
    run_id = str(uuid.uuid4())
    tags = {
        PARTITION_TAG: f"{period}|{provider}",
        f"{PARTITION_TAG}/service_provider": provider,
        f"{PARTITION_TAG}/billing_period": period,
    }
    dagster_cli(["job", "launch", "-j", job, "--run-id", run_id, "--tags", json.dumps(tags)], env)
    return run_id


def finished(instance, run_ids: Sequence[str]):
    """The records of ``run_ids`` once every one has finished."""
    records = [instance.get_run_record_by_id(run_id) for run_id in run_ids]
    if all(r is not None and r.dagster_run.is_finished for r in records):
        return records
    return None


def past_periods(now: datetime, count: int) -> list[str]:
    """The ``count`` billing periods (calendar months) before ``now``'s, oldest first."""
    year, month, keys = now.year, now.month, []
    for _ in range(count):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        keys.append(f"{year:04d}-{month:02d}")
    return keys[::-1]


# --- the bench ----------------------------------------------------------------------------------


def run(sizes: Sizes, pg_url: str = DEFAULT_PG_URL, out=sys.stdout) -> list[RunTimes]:
    """Run the bench; prints the table to ``out`` as rows come and answers the rows."""
    import dagster as dg

    from carrier_opt import clock
    from carrier_opt.db import migrate
    from carrier_opt.db.engine import make_engine
    from carrier_opt.defs.jobs import (
        CUSTOMER_JOB_NAME,
        MOBILITY_JOB_NAME,
        OPTIMIZE_JOB_NAME,
        SYNC_JOB_NAME,
    )
    from carrier_opt.defs.partitions import register_providers
    from carrier_opt.jasper.fake import FakeJasper

    job_of = {
        "sync": SYNC_JOB_NAME,
        "m2m": OPTIMIZE_JOB_NAME,
        "customer": CUSTOMER_JOB_NAME,
        "mobility": MOBILITY_JOB_NAME,
    }
    # The daemon and its runs read the machine's real clock (libfaketime is kept from them:
    # real_clock_env), plus the shift this process was given. Their "now" picks the periods
    # their partitions hold, so the bench's periods come from it too, not from this process's
    # clock, which `faketime` may move to another month (their runs were then all cancelled).
    now = clock.real_now(os.environ) + clock.shift()
    period = now.strftime("%Y-%m")
    backfill_periods = past_periods(now, sizes.periods)
    singles = []
    if {"sync", "m2m", "customer"} & set(sizes.jobs):
        singles.append(Provider("bench-m2m", "m2m", sizes.sims, 2026))
    if "mobility" in sizes.jobs:
        singles.append(Provider("bench-mobility", "mobility", sizes.sims, 2027))
    backfilled = [
        Provider(f"bench-fill-{i}", "m2m", sizes.backfill_sims, 30 + i)
        for i in range(sizes.providers if sizes.periods else 0)
    ]
    rows: list[RunTimes] = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-runs-")))
        data_url, dagster_url = stack.enter_context(temporary_databases(pg_url))
        engine = make_engine(data_url)
        stack.callback(engine.dispose)
        migrate.upgrade(engine)
        env = {
            **clock.real_clock_env(os.environ),
            PG_URL_ENV: dagster_url,
            "DAGSTER_HOME": str(instance_home(folder / "dagster_home")),
            "CARRIER_OPT_HOME": str(folder / "home"),
            "CARRIER_OPT_DATABASE_URL": data_url,
        }
        os.environ[PG_URL_ENV] = dagster_url  # this process reads the instance too
        started = time.monotonic()
        for provider in [*singles, *backfilled]:
            options = {"fleet": provider.fleet, "now": now}
            fake = stack.enter_context(FakeJasper(provider.sims, provider.seed, **options))
            env[provider.user_env], env[provider.key_env] = fake.credentials
            os.environ[provider.user_env], os.environ[provider.key_env] = fake.credentials
            onboard(engine, provider, fake, sizes.periods if provider in backfilled else 0, folder)
        print(
            f"setup: {len(singles) + len(backfilled)} providers added, synced"
            f"{' and their past periods stored' if backfilled else ''} in "
            f"{time.monotonic() - started:.0f} s",
            file=out,
            flush=True,
        )
        home = env["DAGSTER_HOME"]
        instance = stack.enter_context(dg.DagsterInstance.from_config(home))
        register_providers(instance, {p.name: p.fleet for p in [*singles, *backfilled]})
        stack.enter_context(daemon(env, folder / "daemon.log"))
        try:
            wait_for("the daemon's first heartbeats", lambda: daemon_ready(instance), 300)
            print(HEADER, file=out, flush=True)
            for job in [j for j in JOBS if j in sizes.jobs]:
                provider = singles[-1] if job == "mobility" else singles[0]
                run_id = launch(job_of[job], provider.name, period, env)
                wait_for(f"run {run_id}", partial(finished, instance, [run_id]), RUN_TIMEOUT_S)
                rows.append(run_times(instance, run_id, f"single {job}"))
                print(rows[-1].row(), file=out, flush=True)
            if backfilled:
                rows += backfill(instance, backfilled, backfill_periods, env, out)
        except BaseException:
            log = (folder / "daemon.log").read_text(errors="replace")[-4000:]
            print(f"daemon log (end):\n{log}", file=sys.stderr)
            raise
    return rows


def backfill(instance, providers, periods, env, out) -> list[RunTimes]:
    """Submit the providers × periods backfill of the M2M job and time its runs."""
    import dagster as dg

    from carrier_opt.defs.jobs import OPTIMIZE_JOB_NAME

    keys = [f"{period}|{p.name}" for p in providers for period in periods]
    submitted = time.time()
    dagster_cli(
        ["job", "backfill", "-j", OPTIMIZE_JOB_NAME, "--partitions", ",".join(keys), "--noprompt"],
        env,
    )
    backfill_id = instance.get_backfills(limit=1)[0].backfill_id
    tag_filter = dg.RunsFilter(tags={"dagster/backfill": backfill_id})

    def all_done():
        records = instance.get_run_records(filters=tag_filter)
        done = [r for r in records if r.dagster_run.is_finished]
        return records if len(records) >= len(keys) and len(done) == len(records) else None

    try:
        records = wait_for("the backfill's runs", all_done, RUN_TIMEOUT_S * len(keys), every_s=2)
    except TimeoutError:
        for record in instance.get_run_records(filters=tag_filter):  # what did finish, then fail
            if record.dagster_run.is_finished:
                print(run_times(instance, record.dagster_run.run_id, "unfinished").row(), file=out)
        raise
    records.sort(key=lambda r: r.create_timestamp)
    rows = [
        run_times(instance, r.dagster_run.run_id, f"backfill {i + 1}")
        for i, r in enumerate(records)
    ]
    for row in rows:
        print(row.row(), file=out, flush=True)
    ended = max(r.end_time for r in records)
    wall = ended - submitted
    mean = sum(row.wall_s - row.queue_s for row in rows) / len(rows)
    print(
        f"backfill {len(providers)} providers x {len(periods)} periods: {len(rows)} runs, "
        f"wall {wall:.0f} s (submit -> last run ended), {len(rows) / wall * 3600:.0f} runs/h, "
        f"mean run {mean:.1f} s (dequeued -> ended)",
        file=out,
        flush=True,
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=Sizes.sims, help="SIMs of the single runs")
    parser.add_argument("--jobs", default=",".join(JOBS), help="single runs: " + ",".join(JOBS))
    parser.add_argument("--providers", type=int, default=Sizes.providers)
    parser.add_argument("--periods", type=int, default=Sizes.periods, help="0: no backfill")
    parser.add_argument("--backfill-sims", type=int, default=Sizes.backfill_sims)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    jobs = tuple(job for job in args.jobs.split(",") if job)
    unknown = set(jobs) - set(JOBS)
    if unknown:
        parser.error(f"unknown job(s) {sorted(unknown)}; choose from {','.join(JOBS)}")
    sizes = Sizes(args.sims, jobs, args.providers, args.periods, args.backfill_sims)
    started = time.monotonic()
    rows = run(sizes, args.pg_url)
    failed = [row.label for row in rows if row.status != "SUCCESS"]
    print(
        f"bench seconds in all: {time.monotonic() - started:.0f}; load average "
        f"{os.getloadavg()[0]:.1f} (a shared machine: compare rows of one run)"
    )
    if failed:
        raise SystemExit(f"runs that did not succeed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
