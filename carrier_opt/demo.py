"""``make demo``: one billing period of each kind of optimization against local fake carriers.

It starts the fake Jasper (20 000 SIMs, realistic plans and prices) on loopback, registers a
demo provider, loads its prices and materializes one partition of ``optimize_billing_period``
in-process through the same definitions the UI uses — optimization, then the Excel report
(stored under ``$CARRIER_OPT_HOME/reports``; its path is printed, and its link when
``CARRIER_OPT_REPORTS_URL`` is set: ``make demo`` sets the address ``make ui`` serves the
reports folder at, so the UI links the demo's reports too), the mail (the local notifier only
logs) and the rate-plan push (a dry run: the demo provider does not allow automatic
updates). It then approves that dry run as an operator would (``push_approved_changes``) and
prints what reached the fake carrier: the expected and the realized saving.
It then re-prices the same provider's period for its customers (``optimize_customer_period``,
on the agent's customer plans, one workbook per customer) and optimizes a second, mobility
provider against its own fake fleet of phones, tablets and hotspots
(``optimize_mobility_period``, one workbook per optimization group). All three runs go to one
Dagster instance: with ``DAGSTER_HOME`` set (``make demo`` sets it to the one ``make ui``
uses) they and their asset metadata then show in the UI. Re-running the demo reuses the
providers (pointed at the new fakes) and re-loads their prices, which the loaders upsert.

Production keeps Jasper's 5 calls/s; the demo raises the client's rate against the fake so
it finishes in seconds, and says so.
"""

from __future__ import annotations

import logging
import os
import posixpath
import tempfile
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import dagster as dg
import requests
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from carrier_opt import clock
from carrier_opt.db import migrate
from carrier_opt.db.engine import display_url
from carrier_opt.db.loads.customer_plans import assign_customer_rate_plans, load_customer_rate_plans
from carrier_opt.db.loads.optimization_groups import load_optimization_groups
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.providers import add_provider, set_jasper_url
from carrier_opt.db.push_history import sent_changes
from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.failures import step_failure_text
from carrier_opt.defs.jobs import (
    CUSTOMER_JOB_NAME,
    MOBILITY_JOB_NAME,
    OPTIMIZE_JOB_NAME,
    PUSH_JOB_NAME,
    SETTLE_JOB_NAME,
    WHAT_IF_JOB_NAME,
)
from carrier_opt.defs.partitions import partition_key, register_providers
from carrier_opt.defs.resources import DatabaseResource, JasperResource, PlatformProgress
from carrier_opt.errors import CarrierOptError
from carrier_opt.jasper.client import JasperClient, RetryPolicy
from carrier_opt.jasper.fake import API_ROOT, DEFAULT_API_KEY, DEFAULT_USERNAME, FakeJasper
from carrier_opt.jasper.fake.endpoints import DeviceEdit
from carrier_opt.jasper.fake.fleet import FakeDevice
from carrier_opt.jasper.fake.prices import write_fake_customer_sims, write_fake_price_list
from carrier_opt.pipeline.past_usage import fetch_past_usage
from carrier_opt.settings import carrier_opt_home

DEMO_PROVIDER = "demo-operator"
DEMO_DEVICES = 20_000
DEMO_SEED = 2026
DEMO_CALLS_PER_SECOND = 2000.0
DEMO_TIME_LIMIT_S = 20.0
MOBILITY_PROVIDER = "demo-mobility"
MOBILITY_DEVICES = 5_000
MOBILITY_SEED = 2027
KIND_TIME_LIMIT_S = 5.0
"""Optimizer seconds of the customer and mobility runs (per customer / optimization group)."""
USERNAME_ENV, API_KEY_ENV = "DEMO_JASPER_USERNAME", "DEMO_JASPER_API_KEY"
DEMO_CREDENTIALS = (DEFAULT_USERNAME, DEFAULT_API_KEY)
"""The fake carriers' own credentials: the demo's, never a real provider's."""
DEMO_HOST = "127.0.0.1"
DEFAULT_DEMO_PORTS = {"m2m": 8941, "mobility": 8942}
PORTS_ENV = "CARRIER_OPT_DEMO_PORTS"
DEMO_ENV_FILE = "demo.env"
PROVIDER_OF_FLEET = {"m2m": DEMO_PROVIDER, "mobility": MOBILITY_PROVIDER}
"""The demo provider whose carrier each demo carrier is."""
DEMO_PAST_PERIODS = 3
DEMO_OFFER = "M2M Data 20MB,2.40,20,0.15,1,false"
"""The plan offer the demo prices (what_if_offer): a 20 MB plan between the carrier's 10 MB and
25 MB ones, on every communication plan."""
"""Previous periods whose usage the demo stores, so that backfills work from the UI."""
NO_RETRY = RetryPolicy(max_attempts=1)
log = logging.getLogger(__name__)
RULE = "-" * 72


def run_demo(
    database_url: str | None = None,
    devices: int = DEMO_DEVICES,
    mobility_devices: int = MOBILITY_DEVICES,
) -> Iterator[str]:
    """Run the demo and yield the lines it prints."""
    started = time.monotonic()
    database = DatabaseResource(database_url=database_url)
    engine = database.engine()
    yield f"database: {display_url(engine.url)}"
    _materialize([database_schema], {"database": database}, dg.DagsterInstance.ephemeral())
    tables = len(migrate.table_names(engine))
    yield f"schema revision {migrate.current_revision(engine)}: {tables} tables"
    instance = _instance()
    summaries: list[str] = []  # printed at the end, after the three runs' Dagster logs
    os.environ[USERNAME_ENV], os.environ[API_KEY_ENV] = DEMO_CREDENTIALS
    yield f"credentials of the demo carriers written to {write_demo_env()} (make ui loads it)"
    with demo_carrier("m2m", devices, engine) as (base_url, fleet):
        yield f"fake Jasper with {len(fleet):,} SIMs at {base_url}"
        _register_provider(engine, DEMO_PROVIDER, base_url, "m2m")
        period = clock.now().astimezone(UTC).strftime("%Y-%m")
        yield (
            f"optimizing {DEMO_PROVIDER} billing period {period} (the demo calls the fake at "
            f"{DEMO_CALLS_PER_SECOND:.0f} calls/s; production keeps Jasper's 5 calls/s)"
        )
        result = _run_partition(
            database,
            instance,
            OPTIMIZE_JOB_NAME,
            DEMO_PROVIDER,
            period,
            {"queue_results": {"config": {"time_limit_s": DEMO_TIME_LIMIT_S}}},
        )
        summaries += _m2m_summary(result, f"{DEMO_PROVIDER} {period}")
        past = yield from _store_past_periods(engine, DEMO_PROVIDER, base_url)
        yield f"approving the dry run of {DEMO_PROVIDER} {period} ({PUSH_JOB_NAME})"
        result = _run_partition(
            database,
            instance,
            PUSH_JOB_NAME,
            DEMO_PROVIDER,
            period,
            {"approved_rate_plan_push": {"config": {"approved_by": "make demo"}}},
        )
        summaries += _approval_summary(result)
        if past is not None:
            yield f"optimizing, then settling, {DEMO_PROVIDER}'s closed period {past}"
            summaries += settle_past_period(database, instance, past)
        summaries += materialize_insights(database, instance, DEMO_PROVIDER, period)
        _load_customer_plans(engine, fleet)
        yield f"re-pricing {DEMO_PROVIDER} billing period {period} on its customers' plans"
        result = _run_partition(
            database,
            instance,
            CUSTOMER_JOB_NAME,
            DEMO_PROVIDER,
            period,
            {"customer_winning_assignments": {"config": {"time_limit_s": KIND_TIME_LIMIT_S}}},
        )
        summaries += _customer_summary(result, f"{DEMO_PROVIDER} {period}")
        yield f"pricing a plan offer on {DEMO_PROVIDER} billing period {period}"
        offer = {"add_plan": DEMO_OFFER, "time_limit_s": KIND_TIME_LIMIT_S}
        result = _run_partition(
            database,
            instance,
            WHAT_IF_JOB_NAME,
            DEMO_PROVIDER,
            period,
            {"rate_plan_offer_what_if": {"config": offer}},
        )
        summaries += _what_if_summary(result, f"{DEMO_PROVIDER} {period}")
    with demo_carrier("mobility", mobility_devices, engine) as (base_url, fleet):
        yield f"fake Jasper with {len(fleet):,} mobility SIMs at {base_url}"
        _register_provider(engine, MOBILITY_PROVIDER, base_url, "mobility")
        yield f"optimizing {MOBILITY_PROVIDER} billing period {period} per optimization group"
        result = _run_partition(
            database,
            instance,
            MOBILITY_JOB_NAME,
            MOBILITY_PROVIDER,
            period,
            {"mobility_winning_assignments": {"config": {"time_limit_s": KIND_TIME_LIMIT_S}}},
        )
        summaries += _mobility_summary(result, f"{MOBILITY_PROVIDER} {period}")
        yield from _store_past_periods(engine, MOBILITY_PROVIDER, base_url)
    yield from summaries
    yield RULE
    yield f"demo seconds in all:   {time.monotonic() - started:.1f}"


def _instance() -> dg.DagsterInstance:
    """The UI's instance when DAGSTER_HOME is set (``make demo``), else an ephemeral one."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _register_provider(engine, name: str, base_url: str, fleet: str) -> None:
    """Add a demo provider (or point it at this run's fake) and load its prices: the rate
    plans, and a mobility provider's optimization groups (the loaders upsert)."""
    try:
        add_provider(
            engine,
            name,
            jasper_url=base_url,
            billing_cycle_end_day=31,
            time_zone="UTC",
            billing_cycle_end_rule="after_end_day",
            username_env=USERNAME_ENV,
            api_key_env=API_KEY_ENV,
            optimization_start_hour=8,
            fleet=fleet,
        )
    except CarrierOptError:
        set_jasper_url(engine, name, base_url)
    with tempfile.TemporaryDirectory() as folder:
        prices = write_fake_price_list(Path(folder), fleet)
        load_rate_plans(engine, name, prices.rate_plans, prices.comm_plan_rate_plans)
        if prices.optimization_groups is not None:
            load_optimization_groups(engine, name, prices.optimization_groups)


def _load_customer_plans(engine, fleet: list[FakeDevice]) -> None:
    """The agent's customer plans, and its synced SIMs put on them (both upserted)."""
    with tempfile.TemporaryDirectory() as folder:
        prices = write_fake_price_list(Path(folder), "m2m")
        load_customer_rate_plans(engine, DEMO_PROVIDER, prices.customer_rate_plans)
        sims = write_fake_customer_sims(Path(folder), fleet)
        assign_customer_rate_plans(engine, DEMO_PROVIDER, sims)


def _store_past_periods(engine, provider: str, base_url: str) -> Generator[str, None, str | None]:
    """The provider's previous periods' usage, read by cycleStartDate, so that a backfill of
    them works from the UI at once; answers the latest one stored (None: none)."""
    client = JasperClient(base_url, *DEMO_CREDENTIALS, calls_per_second=DEMO_CALLS_PER_SECOND)
    with client:
        report = fetch_past_usage(engine, provider, DEMO_PAST_PERIODS, client=client)
    yield from report.lines()
    yield from (f"warning: {warning}" for warning in report.warnings)
    return report.periods[0].period_key if report.periods else None


def settle_past_period(
    database: DatabaseResource, instance: dg.DagsterInstance, period: str
) -> list[str]:
    """Optimize the demo provider's closed ``period`` on its stored (final) usage, as a backfill
    does, then settle it (settle_closed_period); answer the settlement's summary lines."""
    started = time.monotonic()
    for job, ops in (
        (OPTIMIZE_JOB_NAME, "queue_results"),
        (SETTLE_JOB_NAME, "period_settlement"),
    ):
        config = {ops: {"config": {"time_limit_s": KIND_TIME_LIMIT_S}}}
        result = _run_partition(database, instance, job, DEMO_PROVIDER, period, config)
    meta = _metadata(result, "period_settlement")
    return [
        RULE,
        f"settled saving of a past period, {DEMO_PROVIDER} {period} ({SETTLE_JOB_NAME}; "
        "carrier-opt settle; the report's Settlement sheet)",
        *meta["report"].strip("`\n").splitlines(),
        f"seconds to optimize and settle it: {time.monotonic() - started:.1f}",
    ]


# --- the demo carriers ------------------------------------------------------------------------


def demo_ports() -> dict[str, int]:
    """Fixed ports of the demo carriers (``CARRIER_OPT_DEMO_PORTS=M2M,MOBILITY`` moves them):
    the providers' stored URLs must still answer when ``make ui`` runs later."""
    raw = os.environ.get(PORTS_ENV, "")
    if not raw:
        return dict(DEFAULT_DEMO_PORTS)
    try:
        m2m, mobility = (int(part) for part in raw.split(","))
    except ValueError:
        raise CarrierOptError(
            f"{PORTS_ENV}={raw!r}: expected two port numbers, e.g. 8941,8942"
        ) from None
    return {"m2m": m2m, "mobility": mobility}


def demo_fake(fleet: str, devices: int | None = None, port: int = 0) -> FakeJasper:
    """The demo carrier of ``fleet`` (same seed, same SIMs every time), not yet serving; its
    clock is carrier_opt's (``CARRIER_OPT_CLOCK_SHIFT`` moves both)."""
    options = {"port": port, "host": DEMO_HOST, "now": clock.now()}
    if fleet == "m2m":
        return FakeJasper(devices or DEMO_DEVICES, DEMO_SEED, **options)
    return FakeJasper(devices or MOBILITY_DEVICES, MOBILITY_SEED, fleet="mobility", **options)


@contextmanager
def demo_carrier(
    fleet: str, devices: int, engine: Engine | None = None
) -> Iterator[tuple[str, list[FakeDevice]]]:
    """``(base URL, SIMs)`` of the demo carrier of ``fleet`` on its fixed port.

    When ``make ui`` already serves it (``carrier-opt demo-carriers``), the demo uses that one,
    so the runs it starts and the UI's later runs talk to the same carrier. Otherwise one is
    served here for the demo's duration, showing the changes pushed to it before (read from
    ``engine``'s database, when given)."""
    port = demo_ports()[fleet]
    url = f"http://{DEMO_HOST}:{port}{API_ROOT}"
    if carrier_answers(url):
        # The served carrier's SIMs, rebuilt from its seed (same size on both sides: `make ui`
        # and `make demo` both use the defaults).
        yield url, demo_fake(fleet, devices).fleet
        return
    fake = demo_fake(fleet, devices, port)
    if engine is not None:
        log.info("%s", replay_pushed_changes(engine, fake, PROVIDER_OF_FLEET[fleet]))
    try:
        fake.start()
    except OSError as exc:
        raise CarrierOptError(
            f"the demo carrier cannot listen on {DEMO_HOST}:{port} ({exc.strerror}): another "
            f"program holds the port; free it or move the demo carriers with "
            f"{PORTS_ENV}=M2M_PORT,MOBILITY_PORT"
        ) from None
    try:
        yield fake.base_url, fake.fleet
    finally:
        fake.stop()


def carrier_answers(url: str) -> bool:
    """Whether a demo carrier answers at ``url`` (one echo call, one attempt)."""
    try:
        with JasperClient(url, *DEMO_CREDENTIALS, retry_policy=NO_RETRY) as client:
            client.echo("carrier_opt demo")
    except (CarrierOptError, OSError, requests.RequestException):
        return False
    return True


def serve_demo_carriers(
    stop: threading.Event | None = None,
    devices: int = DEMO_DEVICES,
    mobility_devices: int = MOBILITY_DEVICES,
    engine: Engine | None = None,
) -> Iterator[str]:
    """Serve both demo carriers on their fixed ports until ``stop`` is set (or the process is
    interrupted): what ``make ui`` runs beside the webserver and the daemon. With ``engine``
    each carrier first replays the changes pushed to it (:func:`replay_pushed_changes`)."""
    stop = stop or threading.Event()
    sizes = {"m2m": devices, "mobility": mobility_devices}
    started = []
    try:
        for fleet, port in demo_ports().items():
            fake = demo_fake(fleet, sizes[fleet], port)
            replayed = ""
            if engine is not None:
                replayed = "; " + replay_pushed_changes(engine, fake, PROVIDER_OF_FLEET[fleet])
            fake.start()
            started.append(fake)
            yield f"demo carrier ({len(fake.fleet):,} SIMs) at {fake.base_url}{replayed}"
        stop.wait()
    finally:
        for fake in started:
            fake.stop()


def replay_pushed_changes(engine: Engine, fake: FakeJasper, provider: str) -> str:
    """Carry out on ``fake`` every rate-plan change pushed to ``provider`` (its ``sent``
    ``RatePlanUpdate`` rows, each at the moment the carrier accepted it); answers one line
    saying how many.

    A demo carrier is rebuilt from its seed whenever it starts (``make ui``, ``make demo``):
    without this it would show none of the pushes made to it, and each push's re-checks would
    find every change missing. A database that cannot be read replays nothing, and says so."""
    try:
        with engine.connect() as connection:
            changes = sent_changes(connection, provider)
    except (SQLAlchemyError, CarrierOptError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"no pushed change of {provider} replayed: the database cannot be read ({reason})"
    replayed = fake.replay(
        DeviceEdit(change.iccid, {"ratePlan": change.rate_plan}, change.at) for change in changes
    )
    return f"{replayed:,} rate-plan change(s) pushed to {provider} replayed"


def write_demo_env(home: Path | None = None) -> Path:
    """Write ``$CARRIER_OPT_HOME/demo.env``: the demo carriers' credentials, which ``make ui``
    exports so that runs launched from the UI can reach them. Only the demo's own fake
    credentials go there, never a real provider's."""
    path = (home or carrier_opt_home()) / DEMO_ENV_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    username, api_key = DEMO_CREDENTIALS
    path.write_text(
        "# Written by `make demo`: the local demo carriers' credentials (not secrets).\n"
        f"{USERNAME_ENV}={username}\n{API_KEY_ENV}={api_key}\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def _run_partition(
    database: DatabaseResource,
    instance: dg.DagsterInstance,
    job_name: str,
    provider: str,
    period: str,
    ops: dict,
) -> dg.ExecuteInProcessResult:
    """One partition of one of the real jobs, on ``instance``."""
    from carrier_opt.definitions import defs

    register_providers(instance, {provider: "mobility" if provider == MOBILITY_PROVIDER else "m2m"})
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        partition_key=partition_key(provider, period),
        instance=instance,
        resources={
            "database": database,
            "jasper": JasperResource(calls_per_second=DEMO_CALLS_PER_SECOND),
            "progress": PlatformProgress(),
        },
        run_config={"ops": ops, "loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )
    if not result.success:
        raise CarrierOptError(_failure_message(result))
    return result


def _materialize(
    assets, resources, instance, partition: str | dg.MultiPartitionKey | None = None
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets,
        partition_key=partition,
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    if not result.success:
        raise CarrierOptError(_failure_message(result))
    return result


def _m2m_summary(result: dg.ExecuteInProcessResult, partition: str) -> Iterator[str]:
    meta = _metadata(result, "winning_assignments")
    queues = _metadata(result, "queue_results")
    yield RULE
    yield f"M2M optimization of {partition} ({OPTIMIZE_JOB_NAME})"
    yield f"devices optimized:     {meta['devices']:,}"
    yield f"cost before:           {meta['cost_before_usd']:,.2f} USD"
    yield f"cost after:            {meta['cost_after_usd']:,.2f} USD ({meta['winning_queue']} wins)"
    yield f"saving:                {meta['saving_usd']:,.2f} USD ({meta['saving_pct']:.1f} %)"
    yield f"legacy strategies:     {meta['legacy_cost_usd']:,.2f} USD"
    yield f"lower bound:           {meta['lower_bound_usd']:,.2f} USD, gap {meta['gap_pct']:.4f} %"
    yield f"SIMs changing plan:    {meta['devices_changing_plan']:,}"
    yield f"optimizer seconds:     {queues['optimizer_seconds']}"
    yield from _delivery_summary(result)


def _delivery_summary(result: dg.ExecuteInProcessResult) -> Iterator[str]:
    """Where the workbook is (and its link, when the reports folder's address is known: `make
    demo` gives the one `make ui` serves), and what the rate-plan push did (a dry run by
    default)."""
    report = _metadata(result, "optimization_report")
    yield f"report workbook:       {_shown(report['storage_uri'])}"
    if report["report"].startswith(("http://", "https://")):
        yield f"report link:           {report['report']} (while make ui serves the reports)"
    changing = _metadata(result, "winning_assignments")["devices_changing_plan"]
    yield from _updates_summary(_metadata(result, "rate_plan_updates"), changing)


def _updates_summary(updates: dict, changing: int | None = None) -> Iterator[str]:
    """The push of a run: what was recorded (dry run) or sent, against the SIMs changing plan
    and those the carrier already showed on their target."""
    already = updates["already_on_target"]
    origin = f"{changing:,} SIMs changing plan − " if changing is not None else ""
    count = f"{updates['changes']:,} = {origin}{already:,} already on their target at the carrier"
    if updates["mode"] == "dry_run":
        yield f"rate-plan push:        dry run, changes recorded for the push: {count}"
        yield "                       (automatic updates are off: approve to send them)"
    else:
        yield (
            f"rate-plan push:        {updates['mode']}, {updates['decision']}: "
            f"{updates['sent']:,} sent of {count}"
        )


def _approval_summary(result: dg.ExecuteInProcessResult) -> Iterator[str]:
    """What the approved push sent, and the saving read back from the carrier."""
    push = _metadata(result, "approved_rate_plan_push")
    yield (
        f"approved push:         by {push['approved_by']}, {push['decision']}: {push['sent']:,} "
        f"of {push['changes']:,} changes sent in {push['batches']} batches "
        f"({push['already_on_target']:,} already on target, {push['failed']:,} failed, "
        f"{push['held_back']:,} held back)"
    )
    yield f"expected saving:       {_usd(push.get('expected_saving_usd'))}"
    yield f"realized saving:       {_usd(push.get('realized_saving_usd'))} (the carrier read back)"


def _usd(amount: float | None) -> str:
    """An amount of the metadata (left out there when not known)."""
    return "n/a" if amount is None else f"{amount:,.2f} USD"


def _customer_summary(result: dg.ExecuteInProcessResult, partition: str) -> Iterator[str]:
    pools = _metadata(result, "customer_rate_pools")
    meta = _metadata(result, "customer_winning_assignments")
    yield RULE
    yield f"customer optimization of {partition} ({CUSTOMER_JOB_NAME})"
    yield f"customers optimized:   {meta['customers_optimized']:,} ({pools['devices']:,} SIMs)"
    yield from _costs(meta)
    yield (
        f"shared-pool SIMs:      {pools['locked_shared_pool_devices']:,} of other customers "
        f"locked ({meta['shared_pool_rows']:,} shared-pool rows)"
    )
    yield _workbooks("customer workbooks:", _metadata(result, "customer_reports")["files"])
    yield "carrier changes:       none (customer plans are the agent's own)"


def materialize_insights(
    database: DatabaseResource, instance: dg.DagsterInstance, provider: str, period: str
) -> list[str]:
    """Materialize the provider's ``idle_sims`` (of ``period``) and ``savings_trend`` on
    ``instance``, so the UI shows them, and answer their summary lines."""
    from carrier_opt.defs.assets.insights import idle_sims, savings_trend

    register_providers(instance, {provider: "m2m"})
    resources = {"database": database}
    idle = _materialize([idle_sims], resources, instance, partition_key(provider, period))
    trend = _materialize([savings_trend], resources, instance, provider)
    found = _metadata(idle, "idle_sims")
    chart = _metadata(trend, "savings_trend")["chart"]
    return [
        RULE,
        f"idle SIMs of {provider} {period} (asset idle_sims; carrier-opt idle-sims)",
        found["summary"],
        RULE,
        f"savings over time of {provider} (asset savings_trend; the report's Trend sheet)",
        *chart.strip("`\n").splitlines(),
    ]


def _what_if_summary(result: dg.ExecuteInProcessResult, partition: str) -> Iterator[str]:
    meta = _metadata(result, "rate_plan_offer_what_if")
    yield RULE
    yield f"what-if of {partition} ({WHAT_IF_JOB_NAME}; carrier-opt what-if on a folder)"
    yield from meta["report"].strip("`\n").splitlines()


def _mobility_summary(result: dg.ExecuteInProcessResult, partition: str) -> Iterator[str]:
    devices = _metadata(result, "mobility_devices")
    meta = _metadata(result, "mobility_winning_assignments")
    yield RULE
    yield f"mobility optimization of {partition} ({MOBILITY_JOB_NAME})"
    yield (
        f"groups optimized:      {meta['groups_optimized']:,} ({devices['devices']:,} SIMs, "
        f"{devices['excluded_devices']:,} left on plans of another type)"
    )
    yield from _costs(meta)
    yield _workbooks("group workbooks:", _metadata(result, "mobility_report")["files"])
    push = _metadata(result, "mobility_rate_plan_updates")
    if push["modes"] == "dry_run":
        yield (
            f"rate-plan push:        dry run, changes recorded for the push: {push['changes']:,} "
            f"({push['already_on_target']:,} already on their target at the carrier)"
        )
    else:
        sent = f"{push['sent']:,} of {push['changes']:,} sent"
        yield f"rate-plan push:        {push['modes']}: {sent}"


def _costs(meta: dict) -> Iterator[str]:
    """Cost lines of a customer or mobility run (totals over its groups or customers)."""
    before, after, bound = meta["cost_before_usd"], meta["cost_after_usd"], meta["lower_bound_usd"]
    saving_pct = 100 * (before - after) / before if before else 0.0
    gap_pct = meta["gap_pct"]
    yield f"cost before:           {before:,.2f} USD"
    yield f"cost after:            {after:,.2f} USD"
    yield f"saving:                {meta['saving_usd']:,.2f} USD ({saving_pct:.1f} %)"
    yield f"legacy strategies:     {meta['legacy_cost_usd']:,.2f} USD"
    yield f"lower bound:           {bound:,.2f} USD, gap {gap_pct:.4f} %"


def _workbooks(label: str, files: dict[str, str]) -> str:
    """``label``, how many workbooks and the folder they are under: a local path, or the
    address of the served reports folder when they are linked (their URIs when they are in
    different places)."""
    uris = list(files.values())
    places = {urlsplit(uri)[:2] for uri in uris}
    if len(places) != 1:
        return f"{label:<23}{len(uris)}: {', '.join(uris) or 'none'}"
    (scheme, netloc), paths = places.pop(), [unquote(urlsplit(uri).path) for uri in uris]
    folder = posixpath.commonpath([posixpath.dirname(path) for path in paths])
    where = folder if scheme == "file" else f"{scheme}://{netloc}{quote(folder)}/"
    return f"{label:<23}{len(uris)} under {where}"


def _shown(uri: str) -> str:
    """A stored file as a person finds it: a local path, or its URI."""
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme == "file" else uri


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    metadata = result.asset_materializations_for_node(asset)[0].metadata
    return {key: value.value for key, value in metadata.items()}


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            message, _ = step_failure_text(event.step_failure_data)
            return f"demo run failed in {event.step_key}: {message.strip().splitlines()[0]}"
    return "demo run failed (see the Dagster logs above)"
