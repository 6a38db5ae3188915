"""``carrier-opt fake-jasper``: serve the local fake Jasper API from a terminal until Ctrl-C.

For demos and manual testing: point the sync (or curl) at the printed base URL with the
printed credentials. Registered in ``carrier_opt/cli.py`` with one ``add_command`` line.
"""

from __future__ import annotations

import threading
from pathlib import Path

import click

from carrier_opt.jasper.fake import DEFAULT_API_KEY, DEFAULT_USERNAME, FakeFaults, FakeJasper
from carrier_opt.jasper.fake.prices import write_fake_customer_sims, write_fake_price_list


@click.command("fake-jasper")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8089, show_default=True, help="Port (0: any free port).")
@click.option("--devices", default=1000, show_default=True, help="SIMs in the synthetic fleet.")
@click.option("--seed", default=0, show_default=True, help="Seed of the fleet and the faults.")
@click.option("--username", default=DEFAULT_USERNAME, show_default=True)
@click.option("--api-key", default=DEFAULT_API_KEY, show_default=True)
@click.option("--error-rate", default=0.0, show_default=True, help="Share of calls answered 500.")
@click.option(
    "--throttle-rate",
    default=0.0,
    show_default=True,
    help="Share of calls answered 400/40000029 or 429.",
)
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to every answer.")
@click.option(
    "--duplicates",
    default=0,
    show_default=True,
    help="SIMs modified mid-search so they appear on two pages.",
)
@click.option(
    "--malformed-fraction",
    default=0.0,
    show_default=True,
    help="Share of SIMs with broken records.",
)
@click.option(
    "--missing-usage-fraction",
    default=0.0,
    show_default=True,
    help="Share of SIMs left out of bulk usage.",
)
@click.option(
    "--usage-shape",
    type=click.Choice(["usages", "zones", "unknown"]),
    default="usages",
    show_default=True,
    help="Shape of GET /usages answers (both known shapes, or one no client knows).",
)
@click.option(
    "--ignore-page-number", is_flag=True, help="Serve page 1 whatever page is asked (broken)."
)
@click.option(
    "--account-type",
    type=click.Choice(["advantage", "essential"]),
    default="advantage",
    show_default=True,
    help="Essential: Get Usage by Rate Plan is refused, as Cisco's role matrix says.",
)
@click.option(
    "--refusal-status",
    type=click.Choice(["403", "401"]),
    default="403",
    show_default=True,
    help="How an Essential account's refusal is answered (401: like bad credentials).",
)
@click.option(
    "--empty-search-page",
    type=click.IntRange(min=1),
    default=None,
    help="Answer this page of GET /devices empty with lastPage false (a carrier glitch).",
)
@click.option(
    "--replay",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Serve the answers `carrier-opt jasper check --record` saved, instead of a fleet.",
)
@click.option(
    "--fleet",
    type=click.Choice(["m2m", "mobility"]),
    default="m2m",
    show_default=True,
    help="IoT SIMs (m2m) or phones, tablets and hotspots on typed plans (mobility).",
)
@click.option(
    "--write-prices",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the fake operator's price list (rate_plans.csv, comm_plan_rate_plans.csv; "
    "m2m: customer_rate_plans.csv and customer_sims.csv; mobility: optimization_groups.csv) "
    "into this folder for `carrier-opt rate-plans load` and friends, then serve.",
)
def fake_jasper(
    host: str,
    port: int,
    devices: int,
    seed: int,
    username: str,
    api_key: str,
    error_rate: float,
    throttle_rate: float,
    latency: float,
    duplicates: int,
    malformed_fraction: float,
    missing_usage_fraction: float,
    usage_shape: str,
    ignore_page_number: bool,
    account_type: str,
    refusal_status: str,
    empty_search_page: int | None,
    replay: Path | None,
    fleet: str,
    write_prices: Path | None,
) -> None:
    """Serve a fake Jasper API with a seeded synthetic fleet (or a recording) until Ctrl-C."""
    try:
        faults = FakeFaults(
            error_rate=error_rate,
            throttle_rate=throttle_rate,
            latency_s=latency,
            duplicates_per_search=duplicates,
            malformed_fraction=malformed_fraction,
            missing_usage_fraction=missing_usage_fraction,
            usage_shape=usage_shape,
            ignore_page_number=ignore_page_number,
            empty_search_page=empty_search_page,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    options = dict(host=host, port=port, username=username, api_key=api_key, faults=faults)
    if replay is not None:
        from carrier_opt.jasper.fake.replay import ReplayJasper

        fake: FakeJasper = ReplayJasper(replay, **options)
    else:
        fake = FakeJasper(
            devices,
            seed,
            fleet=fleet,
            account_type=account_type,
            refusal_status=int(refusal_status),
            **options,
        )
    if write_prices is not None:
        click.echo("prices written: " + ", ".join(map(str, write_price_files(write_prices, fake))))
    try:
        fake.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"fake Jasper serving {devices} {fleet} SIMs (seed {seed}) at {fake.base_url}")
    click.echo(f"credentials: username {username!r}, API key {api_key!r}")
    click.echo(f"try: curl -u {username}:{api_key} {fake.base_url}echo/hello")
    click.echo("Ctrl-C to stop")
    try:
        wait_for_interrupt(fake)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        click.echo(f"stopped after {len(fake.request_log)} calls")


def write_price_files(folder: Path, fake: FakeJasper) -> list[Path]:
    """Every price file of the fake's fleet (and, for m2m, its SIMs' customer plans)."""
    written = write_fake_price_list(folder, fake.fleet_type)
    files = [written.rate_plans, written.comm_plan_rate_plans]
    if written.optimization_groups is not None:
        files.append(written.optimization_groups)
    if written.customer_rate_plans is not None:
        files += [written.customer_rate_plans, write_fake_customer_sims(folder, fake.fleet)]
    return files


def wait_for_interrupt(fake: FakeJasper) -> None:
    """Block until Ctrl-C (``KeyboardInterrupt``) while ``fake`` serves in its own thread."""
    threading.Event().wait()
