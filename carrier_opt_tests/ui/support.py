"""A `make demo` + `make ui` deployment in a test: the demo carriers, the Dagster daemon and
webserver as real processes on loopback, and the GraphQL calls the UI makes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from carrier_opt import demo
from carrier_opt.clock import SHIFT_ENV, real_clock_env, real_now
from carrier_opt.defs.jobs import MOBILITY_JOB_NAME, OPTIMIZE_JOB_NAME
from carrier_opt.defs.partitions import M2M_PROVIDERS
from carrier_opt.jasper.fake import API_ROOT
from carrier_opt.processes import child_process

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 1.0) -> Any:
    """``check()``'s first truthy answer, or a failure naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, OSError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


@contextmanager
def process(args: list[str], env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A child process of the repository (its own group, output to ``log``), stopped with its
    children after."""
    with child_process(args, env, log, REPO) as child:
        yield child


def dagster_home(folder: Path) -> Path:
    """A DAGSTER_HOME as `make ui` makes it: the repository's dagster.yaml copied in."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", folder / "dagster.yaml")
    return folder


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file (what `make ui` sources)."""
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


class GraphQL:
    """The webserver's GraphQL endpoint, with the calls the UI's buttons make."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.location = ""
        self.repository = ""

    def __call__(self, query: str, **variables: Any) -> dict:
        answer = requests.post(self.url, json={"query": query, "variables": variables}, timeout=60)
        answer.raise_for_status()
        body = answer.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def load_repository(self) -> bool:
        """Find the code location's repository (False while it is still loading)."""
        data = self(
            "{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name "
            "location { name } } } } }"
        )["repositoriesOrError"]
        nodes = data.get("nodes") or []
        if not nodes:
            return False
        self.repository, self.location = nodes[0]["name"], nodes[0]["location"]["name"]
        return True

    @property
    def repository_selector(self) -> dict:
        return {"repositoryLocationName": self.location, "repositoryName": self.repository}

    def launch_partition_run(self, job: str, partition: str, tags: Mapping[str, str]) -> str:
        """What the launchpad does for one partition of ``job``; answers the run id."""
        return self.launch_run(job, {"dagster/partition": partition, **tags})

    def launch_run(self, job: str, tags: Mapping[str, str]) -> str:
        """The launchpad's "Launch run" with ``tags`` (none: the whole job, no partition)."""
        data = self(
            """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
                __typename ... on LaunchRunSuccess { run { runId } }
                ... on PythonError { message } ... on RunConfigValidationInvalid {
                errors { message } } ... on InvalidSubsetError { message } } }""",
            params={
                "selector": {**self.repository_selector, "jobName": job},
                "runConfigData": {},
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            },
        )["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def add_partition(self, partitions_def: str, key: str) -> None:
        """The launchpad's "Add partition" (the dialog of a dynamic partition set)."""
        data = self(
            """mutation Add($repo: RepositorySelector!, $name: String!, $key: String!) {
                addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name,
                partitionKey: $key) { __typename } }""",
            repo=self.repository_selector,
            name=partitions_def,
            key=key,
        )["addDynamicPartition"]
        assert data["__typename"] == "AddDynamicPartitionSuccess", data

    def partition_stats(self, job: str) -> dict[str, tuple[int, int]]:
        """What the catalog shows of each asset of ``job``: (partitions, failed partitions)."""
        nodes = self(
            """query Stats($job: PipelineSelector!) { assetNodes(pipeline: $job) {
                assetKey { path } partitionStats { numPartitions numFailed } } }""",
            job={**self.repository_selector, "pipelineName": job},
        )["assetNodes"]
        return {
            "/".join(node["assetKey"]["path"]): (
                node["partitionStats"]["numPartitions"],
                node["partitionStats"]["numFailed"],
            )
            for node in nodes
            if node["partitionStats"] is not None
        }

    def launch_backfill(self, partition_set: str, partitions: list[str]) -> str:
        """What "Launch backfill" does; answers the backfill id."""
        data = self(
            """mutation Backfill($params: LaunchBackfillParams!) {
                launchPartitionBackfill(backfillParams: $params) { __typename
                ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
            params={
                "selector": {
                    "partitionSetName": partition_set,
                    "repositorySelector": self.repository_selector,
                },
                "partitionNames": partitions,
            },
        )["launchPartitionBackfill"]
        assert data["__typename"] == "LaunchBackfillSuccess", data
        return data["backfillId"]

    def start_sensor(self, name: str) -> None:
        """The sensor's "Running" toggle."""
        data = self(
            """mutation Start($selector: SensorSelector!) { startSensor(sensorSelector:
                $selector) { __typename ... on Sensor { sensorState { status } }
                ... on PythonError { message } } }""",
            selector={**self.repository_selector, "sensorName": name},
        )["startSensor"]
        assert data["__typename"] == "Sensor", data

    def schedules(self) -> dict[str, str]:
        """Each schedule's name and status (RUNNING or STOPPED), as the Automation page lists
        them."""
        data = self(
            """query Schedules($selector: RepositorySelector!) {
                schedulesOrError(repositorySelector: $selector) { __typename
                ... on Schedules { results { name scheduleState { status } } } } }""",
            selector=self.repository_selector,
        )["schedulesOrError"]
        return {item["name"]: item["scheduleState"]["status"] for item in data["results"]}

    def runs(self, tags: Mapping[str, str]) -> list[dict]:
        """Runs carrying every tag of ``tags`` (id, status, tags)."""
        data = self(
            """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { __typename
                ... on Runs { results { runId jobName status tags { key value } } } } }""",
            filter={"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        )["runsOrError"]
        return [
            {**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}}
            for run in data["results"]
        ]

    def run(self, run_id: str) -> dict:
        """One run's id, job name and status."""
        return self(
            """query Run($id: ID!) { runOrError(runId: $id) { __typename
                ... on Run { runId jobName status } } }""",
            id=run_id,
        )["runOrError"]

    def refusal(self, run_id: str) -> tuple[str, set[str], str]:
        """(status, the kinds of its events, the message that ended it) of a refused run."""
        data = self(
            """query Refusal($id: ID!) { runOrError(runId: $id) { ... on Run { status } }
                logsForRun(runId: $id) { ... on EventConnection { events {
                __typename ... on RunCanceledEvent { message } } } } }""",
            id=run_id,
        )
        events = data["logsForRun"].get("events", [])
        message = next((e["message"] for e in events if e["__typename"] == "RunCanceledEvent"), "")
        return data["runOrError"]["status"], {e["__typename"] for e in events}, message

    def failure(self, run_id: str) -> str:
        """The first step failure's message of a run (to say why a test failed)."""
        data = self(
            """query Logs($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection {
                events { __typename ... on ExecutionStepFailureEvent { stepKey
                error { message } } } } } }""",
            id=run_id,
        )["logsForRun"]
        failures = [
            e for e in data.get("events", []) if e["__typename"] == "ExecutionStepFailureEvent"
        ]
        return "; ".join(f"{e['stepKey']}: {e['error']['message']}" for e in failures) or "?"


@dataclass(frozen=True)
class MovedClock:
    """Every clock of the deployment moved to the 25th of the real current month, 12:00 UTC:
    inside the demo providers' billing window whatever day it is, and in the real month, so
    Dagster's own partitions (which read the machine's clock) still hold it.

    ``here`` is the shift for this (test) process, whose clock libfaketime may fake;
    ``children`` the shift for the deployment's processes, which run on the real clock."""

    here: float
    children: float
    period: str
    past: list[str]  # the three previous periods, newest first


def moved_clock(env: Mapping[str, str]) -> MovedClock:
    """The shifts and periods of :class:`MovedClock`, read from the real and this process's
    clocks."""
    real = real_now(env)
    mine = datetime.now(UTC)
    target = real.replace(day=25, hour=12, minute=0, second=0, microsecond=0)
    year, month = target.year, target.month
    past = []
    for _ in range(3):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        past.append(f"{year:04d}-{month:02d}")
    return MovedClock(
        here=(target - mine).total_seconds(),
        children=(target - real).total_seconds(),
        period=target.strftime("%Y-%m"),
        past=past,
    )


@dataclass(frozen=True)
class Deployment:
    """A running `make demo` + `make ui`: the GraphQL API, the webserver's URL, the periods."""

    ui: GraphQL
    url: str
    period: str
    past: list[str]
    demo_lines: list[str]


@contextmanager
def demo_and_ui(
    folder: Path,
    database_url: str,
    devices: int,
    mobility_devices: int,
    set_env: Callable[[str, str], None],
    reports_url: str | None = None,
) -> Iterator[Deployment]:
    """`make demo` then `make ui` as real processes, with every clock moved (:func:`moved_clock`).

    ``set_env`` sets this process's environment (``monkeypatch.setenv`` in tests): the demo
    runs in this process, against the carriers `make ui` serves."""
    moved = moved_clock(os.environ)
    home = folder / "home"
    ports = (free_port(), free_port())
    web_port = free_port()
    settings = {
        "CARRIER_OPT_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home(home / "dagster_home")),
        "CARRIER_OPT_DATABASE_URL": database_url,
        SHIFT_ENV: f"{moved.here:.0f}",
        demo.PORTS_ENV: f"{ports[0]},{ports[1]}",
    }
    if reports_url:
        settings["CARRIER_OPT_REPORTS_URL"] = reports_url
    for key, value in settings.items():
        set_env(key, value)
    env = real_clock_env({**os.environ, **settings, SHIFT_ENV: f"{moved.children:.0f}"})
    env.pop(demo.USERNAME_ENV, None)
    env.pop(demo.API_KEY_ENV, None)
    carriers = [
        str(BIN / "carrier-opt"),
        "demo-carriers",
        "--devices",
        str(devices),
        "--mobility-devices",
        str(mobility_devices),
    ]
    with process(carriers, env, folder / "carriers.log"):
        urls = [f"http://127.0.0.1:{port}{API_ROOT}" for port in ports]
        wait_for("the demo carriers", lambda: all(map(demo.carrier_answers, urls)), 120)
        # `make demo`, against the carriers `make ui` serves.
        lines = list(demo.run_demo(database_url, devices, mobility_devices))
        # `make ui` sources demo.env: the runs it starts find the demo's credentials.
        env |= read_env_file(home / "demo.env")
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        webserver = [
            str(BIN / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(web_port),
            "-w",
            "workspace.yaml",
        ]
        with (
            process(daemon, env, folder / "daemon.log"),
            process(webserver, env, folder / "webserver.log"),
        ):
            ui = GraphQL(web_port)
            wait_for("the code location to load", ui.load_repository, 180, every_s=2)
            yield Deployment(ui, f"http://127.0.0.1:{web_port}", moved.period, moved.past, lines)


def partition(period: str, provider: str) -> str:
    """A partition key as Dagster writes it."""
    return f"{period}|{provider}"


def partition_tags(period: str, provider: str) -> dict[str, str]:
    """The tags the launchpad adds for a partition (Dagster's own names)."""
    return {
        "dagster/partition/billing_period": period,
        "dagster/partition/service_provider": provider,
    }


def finished_runs(ui: GraphQL, tags: dict[str, str], count: int) -> list[dict] | None:
    """The runs with ``tags`` once at least ``count`` exist and all have finished."""
    runs = ui.runs(tags)
    done = [run for run in runs if run["status"] in TERMINAL]
    return runs if len(runs) >= count and len(done) == len(runs) else None


def finished_run(ui: GraphQL, run_id: str) -> dict | None:
    """The run once it has finished."""
    run = ui.run(run_id)
    return run if run["status"] in TERMINAL else None


def day_of_mistakes(ui: GraphQL, period: str) -> dict[str, str]:
    """What a new operator gets wrong in a day (issue 28), each refused before it starts:
    the refusal's reason → the run. A typo added with "Add partition" and launched, the whole
    job launched without a partition, a period that has not started (the dialog's "Latest"),
    the M2M job for the mobility provider."""
    operator, mobility, typo = demo.DEMO_PROVIDER, demo.MOBILITY_PROVIDER, "demo-operatr"
    year, month = map(int, period.split("-"))
    future = f"{year + month // 12}-{month % 12 + 1:02d}"
    ui.add_partition(M2M_PROVIDERS, typo)

    def launch(provider: str, key: str, job: str = OPTIMIZE_JOB_NAME) -> str:
        return ui.launch_partition_run(job, partition(key, provider), partition_tags(key, provider))

    return {
        f"no service provider named '{typo}'": launch(typo, period),
        "launch it for a partition": ui.launch_run(OPTIMIZE_JOB_NAME, {}),
        f"billing period {future} has not started": launch(operator, future),
        f"{mobility} is a mobility fleet: launch {MOBILITY_JOB_NAME} for it, not "
        f"{OPTIMIZE_JOB_NAME}": launch(mobility, period),
    }
