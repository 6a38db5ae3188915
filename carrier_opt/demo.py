"""``make demo``: the whole optimization of one billing period against a local fake carrier.

It starts the fake Jasper (20 000 SIMs, realistic plans and prices) on loopback, registers a
demo provider, loads its prices and materializes one partition of ``optimize_billing_period``
in-process through the same definitions the UI uses — optimization, then the Excel report
(stored under ``$CARRIER_OPT_HOME/reports``; its path is printed), the mail (the local notifier
only logs) and the rate-plan updates (a dry run: the demo provider does not allow them).
With ``DAGSTER_HOME`` set (``make demo`` sets it to the one ``make ui`` uses) the run and its
asset metadata then show in the UI.

Production keeps Jasper's 5 calls/s; the demo raises the client's rate against the fake so
it finishes in seconds, and says so.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from carrier_opt.db import migrate
from carrier_opt.db.engine import display_url
from carrier_opt.db.providers import add_provider, set_jasper_url
from carrier_opt.db.rate_plans import load_rate_plans
from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.partitions import SERVICE_PROVIDER, partition_key
from carrier_opt.defs.resources import DatabaseResource, JasperResource, PlatformProgress
from carrier_opt.errors import CarrierOptError
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake_prices import write_fake_prices

DEMO_PROVIDER = "demo-operator"
DEMO_DEVICES = 20_000
DEMO_SEED = 2026
DEMO_CALLS_PER_SECOND = 200.0
DEMO_TIME_LIMIT_S = 20.0
USERNAME_ENV, API_KEY_ENV = "DEMO_JASPER_USERNAME", "DEMO_JASPER_API_KEY"


def run_demo(database_url: str | None = None, devices: int = DEMO_DEVICES) -> Iterator[str]:
    """Run the demo and yield the lines it prints."""
    started = time.monotonic()
    database = DatabaseResource(database_url=database_url)
    engine = database.engine()
    yield f"database: {display_url(engine.url)}"
    _materialize([database_schema], {"database": database}, dg.DagsterInstance.ephemeral())
    tables = len(migrate.table_names(engine))
    yield f"schema revision {migrate.current_revision(engine)}: {tables} tables"
    with FakeJasper(devices=devices, seed=DEMO_SEED) as fake:
        yield f"fake Jasper with {devices:,} SIMs at {fake.base_url}"
        os.environ[USERNAME_ENV], os.environ[API_KEY_ENV] = fake.credentials
        _register_provider(engine, fake.base_url)
        period = fake.now().strftime("%Y-%m")
        yield (
            f"optimizing {DEMO_PROVIDER} billing period {period} (the demo calls the fake at "
            f"{DEMO_CALLS_PER_SECOND:.0f} calls/s; production keeps Jasper's 5 calls/s)"
        )
        result = _run_partition(database, period)
    yield from _closing_summary(result, time.monotonic() - started)


def _register_provider(engine, base_url: str) -> None:
    """Add the demo provider (or point it at this run's fake) and load its prices."""
    try:
        add_provider(
            engine, DEMO_PROVIDER, jasper_url=base_url, billing_cycle_end_day=31,
            time_zone="UTC", username_env=USERNAME_ENV, api_key_env=API_KEY_ENV,
            optimization_start_hour=8,
        )  # fmt: skip
    except CarrierOptError:
        set_jasper_url(engine, DEMO_PROVIDER, base_url)
    with tempfile.TemporaryDirectory() as folder:
        load_rate_plans(engine, DEMO_PROVIDER, *write_fake_prices(Path(folder)))


def _run_partition(database: DatabaseResource, period: str) -> dg.ExecuteInProcessResult:
    """One partition of the real job, on the UI's instance when DAGSTER_HOME is set."""
    from carrier_opt.definitions import defs

    instance = (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )
    if not instance.has_dynamic_partition(SERVICE_PROVIDER, DEMO_PROVIDER):
        instance.add_dynamic_partitions(SERVICE_PROVIDER, [DEMO_PROVIDER])
    job = defs.resolve_job_def("optimize_billing_period")
    result = job.execute_in_process(
        partition_key=partition_key(DEMO_PROVIDER, period),
        instance=instance,
        resources={
            "database": database,
            "jasper": JasperResource(calls_per_second=DEMO_CALLS_PER_SECOND),
            "progress": PlatformProgress(),
        },
        run_config={
            "ops": {"queue_results": {"config": {"time_limit_s": DEMO_TIME_LIMIT_S}}},
            "loggers": {"console": {"config": {"log_level": "INFO"}}},
        },
        raise_on_error=False,
    )
    if not result.success:
        raise CarrierOptError(_failure_message(result))
    return result


def _materialize(assets, resources, instance) -> None:
    result = dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)
    if not result.success:
        raise CarrierOptError(_failure_message(result))


def _closing_summary(result: dg.ExecuteInProcessResult, seconds: float) -> Iterator[str]:
    meta = {k: v.value for k, v in _metadata(result, "winning_assignments").items()}
    queues = {k: v.value for k, v in _metadata(result, "queue_results").items()}
    yield "-" * 72
    yield f"devices optimized:     {meta['devices']:,}"
    yield f"cost before:           {meta['cost_before']:,.2f} USD"
    yield f"cost after:            {meta['cost_after']:,.2f} USD ({meta['winning_queue']} wins)"
    yield f"saving:                {meta['saving']:,.2f} USD ({meta['saving_pct']:.1f} %)"
    yield f"legacy strategies:     {meta['legacy_cost']:,.2f} USD"
    yield f"lower bound:           {meta['lower_bound']:,.2f} USD, gap {meta['gap_pct']:.4f} %"
    yield f"SIMs changing plan:    {meta['devices_changing_plan']:,}"
    yield f"optimizer seconds:     {queues['optimizer_seconds']}"
    yield from _delivery_summary(result)
    yield f"demo seconds in all:   {seconds:.1f}"


def _delivery_summary(result: dg.ExecuteInProcessResult) -> Iterator[str]:
    """Where the workbook is, and what the rate-plan updates did (a dry run by default)."""
    report = {k: v.value for k, v in _metadata(result, "optimization_report").items()}
    updates = {k: v.value for k, v in _metadata(result, "rate_plan_updates").items()}
    yield f"report workbook:       {report['report']}"
    if updates["enabled"]:
        yield f"rate-plan updates:     {updates['sent']:,} sent ({updates['decision']})"
    else:
        yield (
            f"rate-plan updates:     dry run, {updates['dry_run']:,} saving changes recorded "
            "(automatic updates are off for the provider)"
        )


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return result.asset_materializations_for_node(asset)[0].metadata


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            cause = error.cause or error
            return f"demo run failed in {event.step_key}: {cause.message.strip().splitlines()[-1]}"
    return "demo run failed (see the Dagster logs above)"
