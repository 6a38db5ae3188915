"""``provider add``'s look at the new account: which carrier functions it may call.

Kept out of ``provider add`` itself so that adding a provider never depends on the carrier:
the probe is a few read-only calls whose failure is one warning line, the provider stays added
and its account type ``auto`` (the first sync or ``carrier-opt jasper check`` finds out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from carrier_opt.errors import CarrierOptError

if TYPE_CHECKING:  # heavy imports stay out of the command line's start-up
    from sqlalchemy import Engine

    from carrier_opt.jasper.transport import RetryPolicy


def probe_carrier_account(engine: Engine, name: str) -> None:
    """Find out whether provider ``name``'s account may call Get Usage by Rate Plan and store
    it (``provider show``), so the first sync plans its calls for the right account type;
    prints one line either way and never raises for the carrier."""
    from carrier_opt import clock
    from carrier_opt.db.providers import jasper_credentials, load_provider
    from carrier_opt.jasper.client import JasperClient
    from carrier_opt.pipeline.capabilities import probe_usage_by_rate_plan

    try:
        with engine.connect() as connection:
            settings = load_provider(connection, name)
        credentials = jasper_credentials(settings)
        with JasperClient(settings.base_url, *credentials, retry_policy=_patient_once()) as client:
            line = probe_usage_by_rate_plan(engine, settings, client, clock.now())
    except CarrierOptError as exc:
        click.echo(
            f"warning: could not ask {name}'s carrier which functions the account may call "
            f"({exc}); its account type stays auto: the first sync or carrier-opt jasper check "
            f"{name} finds out",
            err=True,
        )
        return
    click.echo(f"{name}: {line}")


def _patient_once() -> RetryPolicy:
    """Retries for the probe: one more attempt within seconds, since a carrier that is not
    reachable yet (credentials not issued, a firewall) must not hold up ``provider add``."""
    from carrier_opt.jasper.transport import RetryPolicy

    return RetryPolicy(max_attempts=2, max_total_s=10.0)
