"""Every setting of a registered provider, listed, shown and changed.

``provider add`` takes them all once; operators then need to change them without SQL: turn
automatic rate-plan updates on once they trust the dry runs, move the last-day start hour, fix
a billing cycle, point at a new API host. :func:`change_provider` validates everything first
and writes in one transaction, so a bad value changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select, update

from carrier_opt import clock
from carrier_opt.core.billing import BillingCycle, period_containing
from carrier_opt.core.money import usd_difference, usd_text
from carrier_opt.db.models import (
    AccountType,
    Fleet,
    JasperAuthentication,
    JasperSyncRun,
    OptimizationSession,
    RatePlanPush,
    RatePlanPushMode,
    ServiceProvider,
)
from carrier_opt.db.providers import billing_cycle, checked_jasper_url, checked_variable_name
from carrier_opt.db.push_history import provider_latest_push
from carrier_opt.db.types import utc_now
from carrier_opt.errors import InputError

FLEETS = tuple(fleet.value for fleet in Fleet)
MAX_IDLE_PERIODS = 24
"""Most periods an idle SIM can be asked to have been idle (two years of monthly cycles)."""
ACCOUNT_TYPES = tuple(kind.value for kind in AccountType)


@dataclass(frozen=True)
class ProviderOverview:
    """One provider's settings as an operator reads them (never a credential, only where the
    credentials are read from)."""

    name: str
    fleet: str
    active: bool
    automatic_updates: bool
    bulk_usage: bool
    account_type: str
    """The operator's account type and what was found out, e.g. ``auto: Get Usage by Rate
    Plan refused (GET /usages refused (HTTP 403 ...) ...)``."""
    uses_proration: bool
    time_zone: str
    billing_cycle_end_day: int
    billing_cycle_end_hour: int
    billing_cycle_end_rule: str
    billing_period_now: str
    optimization_start_hour: int | None
    daily_sync_hour: int
    max_rate_plans_per_group: int
    idle_periods: int
    jasper_url: str | None
    username_env: str | None
    api_key_env: str | None
    account_id: str | None
    last_sync: str | None
    last_session: str | None
    last_push: str | None

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for ``provider show``."""
        return [(f.name.replace("_", " "), _text(getattr(self, f.name))) for f in fields(self)]


@dataclass(frozen=True)
class ProviderChanges:
    """What to change; ``None`` leaves a setting as it is. ``clear_*`` empties an optional one."""

    jasper_url: str | None = None
    billing_cycle_end_day: int | None = None
    billing_cycle_end_hour: int | None = None
    billing_cycle_end_rule: str | None = None
    time_zone: str | None = None
    username_env: str | None = None
    api_key_env: str | None = None
    optimization_start_hour: int | None = None
    clear_optimization_start_hour: bool = False
    daily_sync_hour: int | None = None
    account_id: str | None = None
    clear_account_id: bool = False
    fleet: str | None = None
    automatic_updates: bool | None = None
    bulk_usage: bool | None = None
    account_type: str | None = None
    uses_proration: bool | None = None
    max_rate_plans_per_group: int | None = None
    idle_periods: int | None = None
    active: bool | None = None

    def __bool__(self) -> bool:
        """True when anything changes: a value given (``False`` too, e.g. ``--no-proration``)
        or a ``clear_*`` flag set."""
        return any(
            getattr(self, f.name) is True
            if f.name.startswith("clear_")
            else getattr(self, f.name) is not None
            for f in fields(self)
        )


def list_providers(engine: Engine) -> list[ProviderOverview]:
    """Every provider, by name."""
    with engine.connect() as connection:
        names = connection.scalars(select(ServiceProvider.name).order_by(ServiceProvider.name))
        return [_overview(connection, name) for name in names.all()]


def provider_overview(engine: Engine, name: str) -> ProviderOverview:
    """One provider's settings, or :class:`InputError` naming the command that adds it."""
    with engine.connect() as connection:
        return _overview(connection, name)


def change_provider(engine: Engine, name: str, changes: ProviderChanges) -> ProviderOverview:
    """Apply ``changes`` (all validated first, written in one transaction); answers the result."""
    if not changes:
        raise InputError("nothing to change: give at least one setting (see --help)")
    with engine.begin() as connection:
        return apply_changes(connection, name, changes)


def apply_changes(connection: Connection, name: str, changes: ProviderChanges) -> ProviderOverview:
    """:func:`change_provider` inside the caller's transaction (validation before any write)."""
    current = _overview(connection, name)
    provider_values, auth_values = _validated(current, changes)
    provider_id = connection.scalar(select(ServiceProvider.id).where(ServiceProvider.name == name))
    now = utc_now()
    if provider_values:
        connection.execute(
            update(ServiceProvider)
            .where(ServiceProvider.id == provider_id)
            .values(**provider_values, modified_at=now)
        )
    if auth_values:
        connection.execute(
            update(JasperAuthentication)
            .where(JasperAuthentication.service_provider_id == provider_id)
            .values(**auth_values, modified_at=now)
        )
    return _overview(connection, name)


def _validated(current: ProviderOverview, changes: ProviderChanges) -> tuple[dict, dict]:
    """(ServiceProvider values, JasperAuthentication values) after every check."""
    provider: dict[str, object] = {}
    auth: dict[str, object] = {}
    day = changes.billing_cycle_end_day or current.billing_cycle_end_day
    hour = (
        current.billing_cycle_end_hour
        if changes.billing_cycle_end_hour is None
        else changes.billing_cycle_end_hour
    )
    zone = changes.time_zone or current.time_zone
    rule = changes.billing_cycle_end_rule or current.billing_cycle_end_rule
    BillingCycle(day, hour, zone, rule)  # validates them together
    if changes.billing_cycle_end_rule is not None:
        provider["billing_cycle_end_rule"] = rule
    if changes.billing_cycle_end_day is not None:
        provider["billing_cycle_end_day"] = day
    if changes.billing_cycle_end_hour is not None:
        provider["billing_cycle_end_hour"] = hour
    if changes.time_zone is not None:
        provider["time_zone"] = zone
    if changes.optimization_start_hour is not None and changes.clear_optimization_start_hour:
        raise InputError("give an optimization start hour or clear it, not both")
    if changes.optimization_start_hour is not None:
        if not 0 <= changes.optimization_start_hour <= 23:
            raise InputError(
                f"optimization start hour must be 0..23, got {changes.optimization_start_hour}"
            )
        provider["optimization_start_hour_local"] = changes.optimization_start_hour
    if changes.clear_optimization_start_hour:
        provider["optimization_start_hour_local"] = None
    if changes.daily_sync_hour is not None:
        if not 0 <= changes.daily_sync_hour <= 23:
            raise InputError(f"daily sync hour must be 0..23, got {changes.daily_sync_hour}")
        provider["daily_sync_hour_local"] = changes.daily_sync_hour
    if changes.fleet is not None:
        if changes.fleet not in FLEETS:
            raise InputError(f"fleet must be one of {', '.join(FLEETS)}, got {changes.fleet!r}")
        provider["fleet"] = changes.fleet
    if changes.automatic_updates is not None:
        provider["allow_automatic_rate_plan_updates"] = changes.automatic_updates
    if changes.active is not None:
        provider["is_active"] = changes.active
    if changes.bulk_usage is not None:
        provider["bulk_usage"] = changes.bulk_usage
    if changes.account_type is not None:
        provider.update(_account_type_values(changes.account_type))
    if changes.uses_proration is not None:
        provider["uses_proration"] = changes.uses_proration
    if changes.idle_periods is not None:
        if not 1 <= changes.idle_periods <= MAX_IDLE_PERIODS:
            raise InputError(
                f"idle periods must be 1..{MAX_IDLE_PERIODS}, got {changes.idle_periods}"
            )
        provider["idle_periods"] = changes.idle_periods
    if changes.max_rate_plans_per_group is not None:
        if changes.max_rate_plans_per_group < 1:
            raise InputError("max rate plans per group must be at least 1")
        provider["max_rate_plans_per_group"] = changes.max_rate_plans_per_group
    if changes.jasper_url is not None:
        auth["base_url"] = checked_jasper_url(changes.jasper_url)
    for attribute, column in (("username_env", "username_ref"), ("api_key_env", "secret_ref")):
        variable = getattr(changes, attribute)
        if variable is not None:
            auth[column] = checked_variable_name(variable)
    if changes.account_id is not None and changes.clear_account_id:
        raise InputError("give an account id or clear it, not both")
    if changes.account_id is not None:
        auth["account_id"] = changes.account_id.strip() or None
    if changes.clear_account_id:
        auth["account_id"] = None
    return provider, auth


def _account_type_values(account_type: str) -> dict[str, object]:
    """The columns ``--account-type`` sets: ``auto`` forgets what was found out, so the next
    sync, ``jasper check`` or onboarding asks the carrier again."""
    if account_type not in ACCOUNT_TYPES:
        raise InputError(
            f"account type must be one of {', '.join(ACCOUNT_TYPES)}, got {account_type!r}"
        )
    values: dict[str, object] = {"account_type": account_type}
    if account_type == AccountType.AUTO:
        values.update(usage_by_rate_plan=None, capabilities_seen_at=None, capabilities_note=None)
    return values


def _account_type_text(provider) -> str:
    """``auto: Get Usage by Rate Plan refused (how it was found out)`` for ``provider show``."""
    found = provider.usage_by_rate_plan
    if found is None:
        detected = "Get Usage by Rate Plan not tried yet (the next sync finds out)"
    else:
        detected = f"Get Usage by Rate Plan {found} ({provider.capabilities_note})"
    if provider.account_type == AccountType.AUTO:
        return f"auto: {detected}"
    return f"{provider.account_type} (set by the operator); carrier: {detected}"


def _period_now(provider, now: datetime) -> str:
    """The billing period containing ``now`` and its end, in the provider's local time (what
    an operator checks after setting the cycle), or why it cannot be computed."""
    try:
        cycle = billing_cycle(provider)
        period = period_containing(cycle, now)
    except InputError as error:
        return f"unknown ({error})"
    end = period.end.astimezone(cycle.zone)
    return f"{period.key}, ends {end:%Y-%m-%d %H:%M} {provider.time_zone}"


def _overview(connection: Connection, name: str) -> ProviderOverview:
    now = clock.now()
    provider = connection.execute(
        select(ServiceProvider.__table__).where(ServiceProvider.name == name)
    ).first()
    if provider is None:
        raise InputError(
            f"no service provider named {name!r}: add it with carrier-opt provider add {name} ..."
        )
    auth = connection.execute(
        select(JasperAuthentication.__table__).where(
            JasperAuthentication.service_provider_id == provider.id
        )
    ).first()
    return ProviderOverview(
        name=provider.name,
        fleet=provider.fleet,
        active=bool(provider.is_active),
        automatic_updates=bool(provider.allow_automatic_rate_plan_updates),
        bulk_usage=bool(provider.bulk_usage),
        account_type=_account_type_text(provider),
        uses_proration=bool(provider.uses_proration),
        time_zone=provider.time_zone,
        billing_cycle_end_day=provider.billing_cycle_end_day,
        billing_cycle_end_hour=provider.billing_cycle_end_hour,
        billing_cycle_end_rule=provider.billing_cycle_end_rule,
        billing_period_now=_period_now(provider, now),
        optimization_start_hour=provider.optimization_start_hour_local,
        daily_sync_hour=provider.daily_sync_hour_local,
        max_rate_plans_per_group=provider.max_rate_plans_per_group,
        idle_periods=provider.idle_periods,
        jasper_url=auth.base_url if auth else None,
        username_env=auth.username_ref if auth else None,
        api_key_env=auth.secret_ref if auth else None,
        account_id=auth.account_id if auth else None,
        last_sync=last_sync_text(connection, provider.id),
        last_session=_last_session(connection, provider.id),
        last_push=_last_push(connection, provider.id),
    )


def last_sync_text(connection: Connection, provider_id: int) -> str | None:
    """The provider's last sync and its outcome, e.g. ``completed 2026-12-01 02:04 UTC`` or
    ``failed 2026-12-01 02:01 UTC: CarrierApiError: ...`` (None before any sync)."""
    run = JasperSyncRun
    row = connection.execute(
        select(run.status, run.started_at, run.finished_at, run.error)
        .where(run.service_provider_id == provider_id)
        .order_by(run.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    when = row.finished_at or row.started_at
    text = f"{row.status} {when:%Y-%m-%d %H:%M} UTC"
    if row.error:
        first = row.error.splitlines()[0] if row.error.strip() else ""
        text += f": {first[:117] + '...' if len(first) > 120 else first}"
    return text


def _last_session(connection: Connection, provider_id: int) -> str | None:
    row = connection.execute(
        select(
            OptimizationSession.session_guid,
            OptimizationSession.status,
            OptimizationSession.started_at,
        )
        .where(OptimizationSession.service_provider_id == provider_id)
        .order_by(OptimizationSession.id.desc())
    ).first()
    if row is None:
        return None
    started = f"{row.started_at:%Y-%m-%d %H:%M} UTC" if row.started_at else "?"
    return f"{row.status} (started {started}, session {row.session_guid})"


def _last_push(connection: Connection, provider_id: int) -> str | None:
    """The provider's latest push that ran (:mod:`carrier_opt.db.push_history`) with what it
    sent and saved, and a push refused the lock after it."""
    latest = provider_latest_push(connection, provider_id)
    if latest is None:
        return None
    total = connection.scalar(
        select(func.count())
        .select_from(RatePlanPush)
        .where(RatePlanPush.service_provider_id == provider_id)
    )
    row = latest.row
    if not latest.ran:
        return f"{row['mode']} push {_refusal(row)}; {total} push(es) in all"
    text = (
        f"{row['mode']} push {row['id']}: {row['status']}, {row['sent']} of {row['changes']} "
        f"sent, realized saving {_realized_saving(row)} ({row['started_at']:%Y-%m-%d %H:%M} "
        f"UTC); {total} push(es) in all"
    )
    if latest.refused_later is not None:
        text += f"; a later push {_refusal(latest.refused_later)}"
    return text


def _realized_saving(push: dict) -> str:
    """Cost before optimization minus the bill read back after the push (``n/a`` unknown)."""
    before, after = push["cost_before_usd"], push["realized_bill_usd"]
    if push["mode"] == RatePlanPushMode.DRY_RUN.value or before is None or after is None:
        return "n/a"
    return usd_text(usd_difference(before, after))


def _refusal(push: dict) -> str:
    """``12 refused (when): <the lock's holder>`` (the reason up to its advice)."""
    reason = (push["stop_reason"] or "another push held the lock").split(";")[0]
    return f"{push['id']} refused ({push['started_at']:%Y-%m-%d %H:%M} UTC): {reason}"


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
