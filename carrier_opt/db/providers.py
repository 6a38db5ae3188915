"""Service providers: registering one, reading its settings back, reaching its carrier API.

Credentials never enter the database. ``JasperAuthentication`` stores the *names* of the
environment variables holding the username (``username_ref``) and the API key (``secret_ref``,
``secret_source='env'``); :func:`jasper_credentials` reads them at run time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import Connection, Engine, insert, select, update

from carrier_opt.core.billing import AT_END_HOUR, BillingCycle, BillingPeriodSpan
from carrier_opt.db.models import (
    AccountType,
    BillingPeriod,
    Capability,
    Fleet,
    IntegrationType,
    JasperAuthentication,
    SecretSource,
    ServiceProvider,
)
from carrier_opt.db.types import utc_now
from carrier_opt.errors import ConfigurationError, InputError

JASPER_INTEGRATION = "Jasper"
DEFAULT_USERNAME_ENV = "JASPER_USERNAME"
DEFAULT_API_KEY_ENV = "JASPER_API_KEY"
DEFAULT_DAILY_SYNC_HOUR = 2
"""The ``daily_sync`` schedule's local hour for a provider added without one (02:00)."""


@dataclass(frozen=True)
class ProviderSettings:
    """What a sync or an export needs to know about one provider."""

    id: int
    name: str
    cycle: BillingCycle
    base_url: str
    username: str
    username_ref: str | None
    secret_source: str
    secret_ref: str
    account_id: str | None
    fleet: str = Fleet.M2M.value
    bulk_usage: bool = True
    uses_proration: bool = True
    optimization_start_hour: int | None = None
    account_type: str = AccountType.AUTO.value
    usage_by_rate_plan: str | None = None
    capabilities_note: str | None = None
    idle_periods: int = 3

    @property
    def may_read_usage_by_rate_plan(self) -> bool:
        """Whether the account may call Get Usage by Rate Plan: the operator's account type
        when set, else what was found out (unknown: try it)."""
        if self.account_type == AccountType.ESSENTIAL:
            return False
        if self.account_type == AccountType.ADVANTAGE:
            return True
        return self.usage_by_rate_plan != Capability.REFUSED


def record_usage_by_rate_plan(
    engine: Engine, provider_id: int, capability: Capability, note: str, seen_at: datetime
) -> None:
    """Store what was found out about Get Usage by Rate Plan on the provider's account."""
    with engine.begin() as connection:
        connection.execute(
            update(ServiceProvider)
            .where(ServiceProvider.id == provider_id)
            .values(
                usage_by_rate_plan=capability.value,
                capabilities_seen_at=seen_at,
                capabilities_note=note[:500],
            )
        )


FLEETS = tuple(fleet.value for fleet in Fleet)


PROVIDER_NAME_MAX_CHARS = 100
"""``ServiceProvider.name`` is ``String(100)``."""
_NAME_FORBIDDEN = "|,[]/\\"
"""``|``, ``,``, ``[``, ``]``: Dagster's multi-partition keys cannot hold them; ``/`` and ``\\``:
the name is part of report file names and storage keys."""


def checked_provider_name(name: str) -> str:
    """A provider name that works everywhere it goes: the database column, a Dagster partition
    key, a file name. Quotes and any Unicode letters are fine; :class:`InputError` otherwise."""
    if not name or not name.strip():
        raise InputError("the service provider name is empty")
    shown = ascii(name)
    if name != name.strip():
        raise InputError(f"the service provider name {shown} starts or ends with a space")
    if len(name) > PROVIDER_NAME_MAX_CHARS:
        raise InputError(
            f"the service provider name is {len(name)} characters long, "
            f"at most {PROVIDER_NAME_MAX_CHARS} are allowed"
        )
    if not name.isprintable():
        raise InputError(f"the service provider name {shown} holds a control character")
    bad = sorted(set(name) & set(_NAME_FORBIDDEN))
    if bad or ".." in name:
        what = " ".join(bad) if bad else ".."
        raise InputError(
            f"the service provider name {shown} may not contain {what} "
            "(used by Dagster partition keys and file paths)"
        )
    if set(name) == {"."}:
        raise InputError(
            f"the service provider name {shown} is only dots: as a file name it is a folder"
        )
    return name


def checked_jasper_url(url: str) -> str:
    """An http(s) URL with a host, a port (if any) in 1..65535, and no credentials (they would
    be stored and logged): neither ``user:password@`` nor a query string or fragment
    (``?apikey=...``). Messages never repeat the part of the URL that may hold one."""
    url = url.strip()
    if "?" in url or "#" in url:
        raise InputError(
            "the Jasper URL must not have a query string or fragment (?... or #...), which may "
            "hold a credential: they are read from environment variables (--username-env, "
            "--api-key-env)"
        )
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        parts, hostname = None, None
    if parts is None or parts.scheme not in ("http", "https") or not hostname:
        raise InputError(
            f"the Jasper URL must look like https://host/rws/api/v1/, not {url.split('@')[-1]!r}"
        )
    if parts.username or parts.password:
        raise InputError(
            "the Jasper URL must not contain credentials: they are read from environment "
            "variables (--username-env, --api-key-env)"
        )
    _check_port(parts)
    return url


def _check_port(parts: SplitResult) -> None:
    """A port, when the URL names one, is a number from 1 to 65535."""
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = -1
    if port is not None and not 1 <= port <= 65535:
        given = parts.netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
        raise InputError(f"the Jasper URL's port must be a number from 1 to 65535, not {given!r}")


def checked_variable_name(variable: str) -> str:
    """An environment variable name (letters, digits, underscores)."""
    if not variable or not variable.replace("_", "").isalnum():
        raise InputError(f"{variable!r} is not an environment variable name")
    return variable


def add_provider(
    engine: Engine,
    name: str,
    *,
    jasper_url: str,
    billing_cycle_end_day: int,
    time_zone: str,
    billing_cycle_end_hour: int = 0,
    billing_cycle_end_rule: str = AT_END_HOUR,
    username_env: str = DEFAULT_USERNAME_ENV,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    optimization_start_hour: int | None = None,
    account_id: str | None = None,
    fleet: str = Fleet.M2M.value,
    daily_sync_hour: int = DEFAULT_DAILY_SYNC_HOUR,
) -> int:
    """Register a Jasper provider and how to reach it; answers its id.

    ``fleet`` is ``m2m`` (IoT devices, optimized per communication group) or ``mobility``
    (phones and tablets, optimized per optimization group). Only the environment variable
    names are stored; raises :class:`InputError` when the name is taken or a setting is out of
    range.
    """
    if fleet not in FLEETS:
        # SQLite databases upgraded by migration 0005 have no CHECK on the column: refuse here.
        raise InputError(f"fleet must be one of {', '.join(FLEETS)}, got {fleet!r}")
    BillingCycle(  # validates
        billing_cycle_end_day, billing_cycle_end_hour, time_zone, billing_cycle_end_rule
    )
    if optimization_start_hour is not None and not 0 <= optimization_start_hour <= 23:
        raise InputError(f"optimization start hour must be 0..23, got {optimization_start_hour}")
    if not 0 <= daily_sync_hour <= 23:
        raise InputError(f"daily sync hour must be 0..23, got {daily_sync_hour}")
    for variable in (username_env, api_key_env):
        checked_variable_name(variable)
    checked_provider_name(name)
    jasper_url = checked_jasper_url(jasper_url)
    now = utc_now()
    with engine.begin() as connection:
        if connection.scalar(select(ServiceProvider.id).where(ServiceProvider.name == name)):
            raise InputError(f"service provider {name!r} already exists")
        integration_id = _jasper_integration_id(connection)
        provider_id = connection.execute(
            insert(ServiceProvider).values(
                name=name,
                integration_type_id=integration_id,
                is_active=True,
                time_zone=time_zone,
                billing_cycle_end_day=billing_cycle_end_day,
                billing_cycle_end_hour=billing_cycle_end_hour,
                billing_cycle_end_rule=billing_cycle_end_rule,
                optimization_start_hour_local=optimization_start_hour,
                allow_automatic_rate_plan_updates=False,
                max_rate_plans_per_group=15,
                fleet=fleet,
                daily_sync_hour_local=daily_sync_hour,
                created_at=now,
            )
        ).inserted_primary_key[0]
        connection.execute(
            insert(JasperAuthentication).values(
                service_provider_id=provider_id,
                base_url=jasper_url,
                username="",
                username_ref=username_env,
                secret_source=SecretSource.ENV.value,
                secret_ref=api_key_env,
                account_id=account_id,
                created_at=now,
            )
        )
    return int(provider_id)


def set_jasper_url(engine: Engine, name: str, jasper_url: str) -> None:
    """Point an existing provider at another Jasper base URL (the demo's fake moves ports)."""
    jasper_url = checked_jasper_url(jasper_url)
    with engine.begin() as connection:
        provider_id = connection.scalar(
            select(ServiceProvider.id).where(ServiceProvider.name == name)
        )
        if provider_id is None:
            raise InputError(f"unknown service provider {name!r}")
        connection.execute(
            JasperAuthentication.__table__.update()
            .where(JasperAuthentication.service_provider_id == provider_id)
            .values(base_url=jasper_url, modified_at=utc_now())
        )


def lock_provider(connection: Connection, provider_id: int) -> None:
    """Hold the provider's row until the transaction ends, so that two loads of its plans, or
    two starts of its runs, go one after the other instead of both passing a check and then
    colliding. A no-op UPDATE locks the row on every dialect (SQLite takes its write lock)."""
    connection.execute(
        update(ServiceProvider)
        .where(ServiceProvider.id == provider_id)
        .values(modified_at=ServiceProvider.modified_at)  # as it was (no onupdate stamp)
    )


def load_provider(connection: Connection, name: str) -> ProviderSettings:
    """The settings of provider ``name``, or :class:`InputError` if there is none."""
    row = connection.execute(
        select(
            ServiceProvider.id,
            ServiceProvider.name,
            ServiceProvider.billing_cycle_end_day,
            ServiceProvider.billing_cycle_end_hour,
            ServiceProvider.billing_cycle_end_rule,
            ServiceProvider.time_zone,
            ServiceProvider.fleet,
            ServiceProvider.bulk_usage,
            ServiceProvider.uses_proration,
            ServiceProvider.optimization_start_hour_local,
            ServiceProvider.account_type,
            ServiceProvider.usage_by_rate_plan,
            ServiceProvider.capabilities_note,
            ServiceProvider.idle_periods,
            JasperAuthentication.id.label("auth_id"),
            JasperAuthentication.base_url,
            JasperAuthentication.username,
            JasperAuthentication.username_ref,
            JasperAuthentication.secret_source,
            JasperAuthentication.secret_ref,
            JasperAuthentication.account_id,
        )
        .join(
            JasperAuthentication,
            JasperAuthentication.service_provider_id == ServiceProvider.id,
            isouter=True,
        )
        .where(ServiceProvider.name == name)
    ).first()
    if row is None:
        raise InputError(
            f"no service provider named {name!r}: add it with carrier-opt provider add {name} ..."
        )
    if row.auth_id is None:
        raise ConfigurationError(f"service provider {name!r} has no Jasper API settings")
    return ProviderSettings(
        id=row.id,
        name=row.name,
        cycle=billing_cycle(row),
        base_url=row.base_url,
        username=row.username,
        username_ref=row.username_ref,
        secret_source=row.secret_source,
        secret_ref=row.secret_ref,
        account_id=row.account_id,
        fleet=row.fleet,
        bulk_usage=bool(row.bulk_usage),
        uses_proration=bool(row.uses_proration),
        optimization_start_hour=row.optimization_start_hour_local,
        account_type=row.account_type,
        usage_by_rate_plan=row.usage_by_rate_plan,
        capabilities_note=row.capabilities_note,
        idle_periods=row.idle_periods,
    )


def billing_cycle(row) -> BillingCycle:
    """The cycle of a provider row (anything with the four ``ServiceProvider`` cycle columns
    and ``time_zone``); :class:`InputError` when they do not make a cycle."""
    return BillingCycle(
        row.billing_cycle_end_day,
        row.billing_cycle_end_hour,
        row.time_zone,
        row.billing_cycle_end_rule,
    )


def jasper_credentials(provider: ProviderSettings) -> tuple[str, str]:
    """``(username, api_key)`` read from where the provider's settings point (never logged)."""
    if provider.secret_source != SecretSource.ENV.value:
        raise ConfigurationError(
            f"provider {provider.name!r}: secret source {provider.secret_source!r} is not "
            "supported by the command line yet; use environment variables"
        )
    username = _from_env(provider.username_ref, provider) if provider.username_ref else None
    api_key = _from_env(provider.secret_ref, provider)
    return username or provider.username, api_key


def ensure_billing_period(connection: Connection, provider_id: int, span: BillingPeriodSpan) -> int:
    """The ``BillingPeriod`` row of ``span`` (inserted on first use); answers its id."""
    existing = connection.execute(
        select(BillingPeriod.id, BillingPeriod.period_start, BillingPeriod.period_end).where(
            BillingPeriod.service_provider_id == provider_id,
            BillingPeriod.period_key == span.key,
        )
    ).first()
    if existing is not None:
        if (existing.period_start, existing.period_end) != (span.start, span.end):
            connection.execute(
                BillingPeriod.__table__.update()
                .where(BillingPeriod.id == existing.id)
                .values(
                    period_start=span.start,
                    period_end=span.end,
                    time_zone=span.time_zone,
                    modified_at=utc_now(),
                )
            )
        return int(existing.id)
    return int(
        connection.execute(
            insert(BillingPeriod).values(
                service_provider_id=provider_id,
                period_key=span.key,
                period_start=span.start,
                period_end=span.end,
                time_zone=span.time_zone,
                created_at=utc_now(),
            )
        ).inserted_primary_key[0]
    )


def _from_env(variable: str, provider: ProviderSettings) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigurationError(
            f"provider {provider.name!r}: environment variable {variable} is not set "
            "(it holds the Jasper credential)"
        )
    return value


def _jasper_integration_id(connection: Connection) -> int:
    found = connection.scalar(
        select(IntegrationType.id).where(IntegrationType.name == JASPER_INTEGRATION)
    )
    if found is not None:
        return int(found)
    return int(
        connection.execute(
            insert(IntegrationType).values(
                name=JASPER_INTEGRATION,
                description="Cisco Jasper / IoT Control Center REST API",
                created_at=utc_now(),
            )
        ).inserted_primary_key[0]
    )
