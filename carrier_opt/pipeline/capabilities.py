"""What a carrier account may call, found out from the carrier's own answers.

Cisco's role matrix ("REST API/Account Type/Role Matrix") gives Essential accounts Search
Devices, Get Device Details, Edit Device Details, Get Device Usage (``ctdUsages``), Get Session
Details and Echo, but not Get Usage by Rate Plan (``/usages``). The status of such a refusal is
not published (403, or even 401 while the same credentials work for every other call), so a
refusal of ``/usages`` is a fact about the account only once Echo shows the credentials work;
it is stored (``provider show``) and the sync reads usage per SIM without asking again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine

from carrier_opt.db.models import AccountType, Capability
from carrier_opt.db.providers import ProviderSettings, record_usage_by_rate_plan
from carrier_opt.jasper.client import JasperClient
from carrier_opt.jasper.transport import JasperApiError

REFUSAL_STATUSES = frozenset({401, 403})
"""How a carrier refuses a function the account type lacks (the status is not published)."""

PROBE_SEARCH_DAYS = 364
"""How far back the probe's one search page looks (the API's oldest ``modifiedSince``)."""

PLANS_TO_CONCLUDE = 2
"""Refused plans, with none answered, that make a refusal the account's (one refused plan may
be an operator-shared plan, which ``/usages`` refuses on any account)."""


def is_refusal(exc: JasperApiError) -> bool:
    """Whether a final error could be the account type's refusal of the function."""
    return not exc.retryable and exc.status in REFUSAL_STATUSES


def refusal_text(exc: JasperApiError) -> str:
    """``HTTP 403 10000024: Not allowed`` — the carrier's words, never a credential."""
    code = f" {exc.error_code}" if exc.error_code else ""
    message = f": {exc.carrier_message}" if exc.carrier_message else ""
    return f"HTTP {exc.status}{code}{message}"


def confirm_credentials(client: JasperClient) -> None:
    """Echo, to tell a function refused from credentials refused: a 401 here propagates as
    the credentials failure it is."""
    client.echo("carrier-opt")


def record_refused(
    engine: Engine, provider: ProviderSettings, exc: JasperApiError, plans: int, now: datetime
) -> str:
    """Store that the account refuses ``/usages`` and answer the one warning to show."""
    note = (
        f"GET /usages refused ({refusal_text(exc)}) for {plans} rate plan(s) while Echo and "
        f"Search Devices worked, {now:%Y-%m-%d %H:%M} UTC"
    )
    record_usage_by_rate_plan(engine, provider.id, Capability.REFUSED, note, now)
    return (
        f"the account may not call Get Usage by Rate Plan ({note}): an Essential account in "
        "Cisco's role matrix; usage is read per SIM (ctdUsages), one call each; recorded "
        "(provider show; `provider set --account-type advantage|auto` overrides)"
    )


def record_allowed(engine: Engine, provider: ProviderSettings, now: datetime) -> None:
    """Store that ``/usages`` answered, once (a later refusal of one plan is that plan's)."""
    if provider.usage_by_rate_plan != Capability.ALLOWED:
        note = f"GET /usages answered, {now:%Y-%m-%d %H:%M} UTC"
        record_usage_by_rate_plan(engine, provider.id, Capability.ALLOWED, note, now)


def no_bulk_usage_reason(provider: ProviderSettings) -> str | None:
    """Why usage is read per SIM for this provider without asking ``/usages``, or None."""
    if not provider.bulk_usage:
        return "bulk usage is off for this provider: usage is read per SIM"
    if provider.account_type == AccountType.ESSENTIAL:
        return (
            "an Essential account (provider set --account-type essential) may not call Get "
            "Usage by Rate Plan: usage is read per SIM (ctdUsages)"
        )
    if not provider.may_read_usage_by_rate_plan:
        return (
            f"the account refused Get Usage by Rate Plan ({provider.capabilities_note}): usage "
            "is read per SIM (ctdUsages); `provider set --account-type auto` asks again"
        )
    return None


def probe_usage_by_rate_plan(
    engine: Engine, provider: ProviderSettings, client: JasperClient, now: datetime
) -> str:
    """At ``provider add``: whether the account may call Get Usage by Rate Plan, found out
    before its first sync, because an Essential account reads usage one call per SIM and that
    changes what every sync can do within its budget.

    At most four read-only calls: Echo (the credentials), one page of Search Devices (the
    plans in use), then one page of ``/usages`` for up to :data:`PLANS_TO_CONCLUDE` of those
    plans, concluding as the sync does. Stores what it found and answers the line to show;
    stores nothing when it cannot tell. A :class:`~carrier_opt.errors.CarrierApiError` (the
    carrier unreachable, the credentials refused) propagates for the caller to report."""
    confirm_credentials(client)
    plans = _plans_listed(client, now)
    refused: list[JasperApiError] = []
    for plan in plans:
        params = {"ratePlanName": plan, "pageSize": "50", "pageNumber": "1"}
        try:
            client.raw_get("usages", params)
        except JasperApiError as exc:
            if exc.retryable:
                raise
            if is_refusal(exc):
                refused.append(exc)
            continue  # not a refusal: the carrier does not know the plan; try the next
        record_allowed(engine, provider, now)
        return (
            "the account may call Get Usage by Rate Plan: syncs read usage per rate plan; "
            "recorded (provider show)"
        )
    if refused and len(refused) >= min(PLANS_TO_CONCLUDE, len(plans)):
        return record_refused(engine, provider, refused[-1], len(refused), now)
    why = "the search listed no SIM" if not plans else "no rate plan gave a clear answer"
    return (
        f"which functions the account may call is not known yet ({why}): the account type "
        "stays auto and the first sync finds out"
    )


def _plans_listed(client: JasperClient, now: datetime) -> list[str]:
    """Up to :data:`PLANS_TO_CONCLUDE` distinct rate plans of one page of Search Devices."""
    since = (now - timedelta(days=PROBE_SEARCH_DAYS)).isoformat(timespec="seconds")
    body = client.raw_get("devices", {"modifiedSince": since, "pageSize": "50", "pageNumber": "1"})
    records = body.get("devices") if isinstance(body, Mapping) else None
    plans: list[str] = []
    for record in records if isinstance(records, list) else []:
        plan = record.get("ratePlan") if isinstance(record, Mapping) else None
        if isinstance(plan, str) and plan and plan not in plans:
            plans.append(plan)
    return plans[:PLANS_TO_CONCLUDE]
