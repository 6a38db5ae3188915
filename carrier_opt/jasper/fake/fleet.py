"""A seeded synthetic SIM fleet for the local fake Jasper server.

Realistic enough to exercise the optimizer and the sync: mostly ACTIVATED SIMs with some
DEACTIVATED, INVENTORY and others; activation dates spread over years with some inside the
current billing cycle (prorated); a dozen rate plans; several communication plans; data usage in
bytes that is heavy-tailed (many idle or light SIMs, a few heavy ones); SMS counts. The same
``(devices, seed, now)`` always gives the same fleet.

``fleet="mobility"`` builds phones, tablets and hotspots instead: one communication plan per
kind (``MOB_PHONE``, ``MOB_TABLET``, ``MOB_HOTSPOT``), carrier plans typed ``phone``,
``tablet`` or ``hotspot`` (:data:`MOBILITY_RATE_PLANS`), usage in gigabytes. About 2 % of them
sit on a plan of another type than their kind (the legacy rule leaves those out of their
group's optimization). The M2M fleet of a seed is the same with or without this option.

The billing cycle of the fake starts on the first day of the month (UTC).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

MB = 1_048_576
"""Bytes in a megabyte, the carrier billing convention (binary)."""

SIM_STATUSES = (
    "ACTIVATED",
    "DEACTIVATED",
    "INVENTORY",
    "ACTIVATION_READY",
    "TEST_READY",
    "RETIRED",
    "PURGED",
    "REPLACED",
)
_STATUS_WEIGHTS = (78, 8, 6, 3, 2, 2, 0.5, 0.5)
_UNACTIVATED = {"INVENTORY", "ACTIVATION_READY", "TEST_READY"}

COMMUNICATION_PLANS = ("CP_Basic_ON", "CP_Data_SMS", "CP_Data_Only", "CP_LTE_M", "CP_NB_IoT")
ACCOUNTS = ("100020620", "100020621", "100020622")
CUSTOMERS = ("Acme Metering", "Northwind Fleet", "Contoso Vending", None)
OVERRIDES = ("DEFAULT", "TEMPORARY_OVERRIDE", "PERMANENT_OVERRIDE")

MALFORMATIONS = ("missing_iccid", "garbage_date", "garbage_number")
"""How a record can be broken: no ICCID, an unparsable date, an unparsable usage number."""


@dataclass(frozen=True)
class FakeRatePlan:
    """A rate plan of the fake operator; ``allowance_mb`` only guides the synthetic usage.

    ``plan_type`` is Jasper's (``INDIVIDUAL`` / ``POOLED``); ``rate_plan_type`` the mobility
    type the price list gives the plan (``phone``, ``tablet``, ``hotspot``; M2M plans: none).
    """

    name: str
    plan_id: int
    allowance_mb: float
    plan_type: str
    rate_plan_type: str | None = None


RATE_PLANS: tuple[FakeRatePlan, ...] = (
    FakeRatePlan("NB-IoT 500KB", 1001, 0.5, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 1MB", 1002, 1, "INDIVIDUAL"),
    FakeRatePlan("LTE-M 2MB", 1003, 2, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 5MB", 1004, 5, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 10MB", 1005, 10, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 25MB", 1006, 25, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 50MB", 1007, 50, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 100MB", 1008, 100, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 250MB", 1009, 250, "INDIVIDUAL"),
    FakeRatePlan("M2M Data 1GB", 1010, 1024, "INDIVIDUAL"),
    FakeRatePlan("Pool 5MB Shared", 1011, 5, "POOLED"),
    FakeRatePlan("Pool 50MB Shared", 1012, 50, "POOLED"),
    FakeRatePlan("Pay As You Go", 1013, 0, "INDIVIDUAL"),
)

FLEETS = ("m2m", "mobility")
GB = 1024.0
"""MB in a gigabyte (binary, as the carrier bills)."""

# Mobility device kinds: communication plan, rate-plan type, share of the fleet, median GB/month.
MOBILITY_KINDS: dict[str, tuple[str, str, float, float]] = {
    "phone": ("MOB_PHONE", "phone", 70, 3.0),
    "tablet": ("MOB_TABLET", "tablet", 20, 1.0),
    "hotspot": ("MOB_HOTSPOT", "hotspot", 10, 12.0),
}
MOBILITY_COMMUNICATION_PLANS = tuple(kind[0] for kind in MOBILITY_KINDS.values())

MOBILITY_RATE_PLANS: tuple[FakeRatePlan, ...] = (
    FakeRatePlan("PHONE_2GB", 2001, 2 * GB, "INDIVIDUAL", "phone"),
    FakeRatePlan("PHONE_5GB", 2002, 5 * GB, "INDIVIDUAL", "phone"),
    FakeRatePlan("PHONE_15GB", 2003, 15 * GB, "INDIVIDUAL", "phone"),
    FakeRatePlan("PHONE_POOL_10GB", 2004, 10 * GB, "POOLED", "phone"),
    FakeRatePlan("PHONE_UNLIMITED", 2005, 50 * GB, "INDIVIDUAL", "phone"),
    FakeRatePlan("TABLET_1GB", 2101, 1 * GB, "INDIVIDUAL", "tablet"),
    FakeRatePlan("TABLET_5GB", 2102, 5 * GB, "INDIVIDUAL", "tablet"),
    FakeRatePlan("TABLET_POOL_20GB", 2103, 20 * GB, "POOLED", "tablet"),
    FakeRatePlan("HOTSPOT_10GB", 2201, 10 * GB, "INDIVIDUAL", "hotspot"),
    FakeRatePlan("HOTSPOT_50GB", 2202, 50 * GB, "INDIVIDUAL", "hotspot"),
    FakeRatePlan("HOTSPOT_100GB", 2203, 100 * GB, "INDIVIDUAL", "hotspot"),
)
MISMATCHED_PLAN_SHARE = 0.02
"""Share of mobility SIMs on a plan of another type than their kind."""


def rate_plans_of(fleet: str) -> tuple[FakeRatePlan, ...]:
    """The fake operator's rate plans for an ``m2m`` or a ``mobility`` fleet."""
    return MOBILITY_RATE_PLANS if _checked(fleet) == "mobility" else RATE_PLANS


def communication_plans_of(fleet: str) -> tuple[str, ...]:
    """The communication plans SIMs of an ``m2m`` or a ``mobility`` fleet are on."""
    return MOBILITY_COMMUNICATION_PLANS if _checked(fleet) == "mobility" else COMMUNICATION_PLANS


def _checked(fleet: str) -> str:
    if fleet not in FLEETS:
        raise ValueError(f"fleet must be one of {', '.join(FLEETS)}, got {fleet!r}")
    return fleet


@dataclass
class FakeDevice:
    """One SIM of the fake fleet; mutable because ``PUT /devices/{iccid}`` edits it.

    ``modification_seq`` orders modifications that share a timestamp; ``malformation`` says how
    the fake breaks this SIM's records (``None``: never), ``in_bulk_usage`` whether the SIM is
    listed by ``GET /usages``.
    """

    iccid: str
    imsi: str
    msisdn: str
    imei: str | None
    status: str
    rate_plan: str
    communication_plan: str
    customer: str | None
    end_consumer_id: str | None
    account_id: str
    date_added: datetime
    date_shipped: datetime | None
    date_activated: datetime | None
    date_updated: datetime
    monthly_data_bytes: int
    monthly_sms: int
    monthly_voice_s: int
    ctd_data_bytes: int
    ctd_sms: int
    ctd_voice_s: int
    ctd_sessions: int
    overage_limit_reached: bool = False
    overage_limit_override: str = "DEFAULT"
    device_id: str | None = None
    modem_id: str | None = None
    sim_notes: str | None = None
    modification_seq: int = 0
    malformation: str | None = None
    in_bulk_usage: bool = True
    extra: dict[str, str | None] = field(default_factory=dict)


def cycle_start(moment: datetime) -> date:
    """First day of the billing cycle containing ``moment`` (the fake bills by calendar month)."""
    return moment.astimezone(UTC).date().replace(day=1)


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of ``digits`` (ICCIDs and IMEIs end with one)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            value = value - 9 if value > 9 else value
        total += value
    return str((10 - total % 10) % 10)


def past_cycle_factor(seed: int, iccid: str, cycle: date) -> float:
    """A stable factor in [0.5, 1.5] that makes a past cycle's usage differ from this one's."""
    digest = hashlib.sha256(f"{seed}:{iccid}:{cycle.isoformat()}".encode()).digest()
    return 0.5 + int.from_bytes(digest[:4], "big") / 2**32


def build_fleet(
    devices: int,
    seed: int,
    now: datetime,
    *,
    fleet: str = "m2m",
    malformed_fraction: float = 0.0,
    missing_usage_fraction: float = 0.0,
) -> list[FakeDevice]:
    """``devices`` synthetic SIMs of an ``m2m`` or a ``mobility`` fleet, deterministic given
    ``seed`` and ``now``."""
    profile = _MOBILITY if _checked(fleet) == "mobility" else _M2M
    rng = random.Random(seed)
    block = rng.randrange(10_000, 99_999)
    start = datetime.combine(cycle_start(now), datetime.min.time(), tzinfo=UTC)
    sims = [_make_device(rng, index, block, now, start, profile) for index in range(devices)]
    _mark(rng, sims, malformed_fraction, _set_malformation(rng))
    _mark(rng, sims, missing_usage_fraction, _leave_out_of_bulk_usage)
    for seq, device in enumerate(sorted(sims, key=lambda d: d.date_updated), start=1):
        device.modification_seq = seq
    return sims


def _mark(rng: random.Random, fleet: list[FakeDevice], fraction: float, apply) -> None:
    count = min(len(fleet), round(len(fleet) * max(0.0, fraction)))
    for device in rng.sample(fleet, count):
        apply(device)


def _set_malformation(rng: random.Random):
    def apply(device: FakeDevice) -> None:
        device.malformation = rng.choice(MALFORMATIONS)

    return apply


def _leave_out_of_bulk_usage(device: FakeDevice) -> None:
    device.in_bulk_usage = False


@dataclass(frozen=True)
class _Profile:
    """What differs between M2M and mobility SIMs, drawn in the M2M fleet's original order.

    ``kind`` picks the device kind (M2M: none, drawing nothing); ``monthly_bytes`` the usage of
    an active SIM; ``rate_plan`` and ``communication_plan`` the plans. The M2M profile draws
    exactly what the generator always drew, so M2M fleets stay the same for a seed.
    """

    kind: Callable[[random.Random], str | None]
    monthly_bytes: Callable[[random.Random, str | None], int]
    rate_plan: Callable[[random.Random, int, str | None], str]
    communication_plan: Callable[[random.Random, str | None], str]


def _make_device(
    rng: random.Random,
    index: int,
    block: int,
    now: datetime,
    cycle_start_at: datetime,
    profile: _Profile,
) -> FakeDevice:
    status = rng.choices(SIM_STATUSES, _STATUS_WEIGHTS)[0]
    date_added = now - timedelta(days=rng.uniform(20, 1500), seconds=rng.uniform(0, 86_400))
    date_shipped = date_added + timedelta(days=rng.uniform(1, 10)) if rng.random() < 0.9 else None
    date_activated = _activation(rng, status, date_added, now, cycle_start_at)
    newest = max(date_added, date_activated or date_added)
    date_updated = max(newest, now - timedelta(days=rng.uniform(0.01, 330)))
    date_updated = min(date_updated, now - timedelta(seconds=1))
    kind = profile.kind(rng)
    monthly = profile.monthly_bytes(rng, kind) if status not in _UNACTIVATED else 0
    monthly_sms = _monthly_sms(rng) if status not in _UNACTIVATED else 0
    monthly_voice = rng.randrange(60, 1800) if status == "ACTIVATED" and rng.random() < 0.05 else 0
    share = _cycle_share(status, date_activated, date_updated, now, cycle_start_at)
    ctd_data = round(monthly * share)
    serial = f"{block:05d}{index:07d}"
    return FakeDevice(
        iccid=f"8901260{serial}" + luhn_digit(f"8901260{serial}"),
        imsi=f"310260{(block * 7919 + index) % 10**9:09d}",
        msisdn=f"1555{(block + index) % 10**7:07d}",
        imei=None if status in _UNACTIVATED else _imei(block, index),
        status=status,
        rate_plan=profile.rate_plan(rng, monthly, kind),
        communication_plan=profile.communication_plan(rng, kind),
        customer=rng.choice(CUSTOMERS),
        end_consumer_id=f"EC{rng.randrange(1000, 9999)}" if rng.random() < 0.3 else None,
        account_id=rng.choices(ACCOUNTS, (70, 20, 10))[0],
        date_added=date_added,
        date_shipped=date_shipped,
        date_activated=date_activated,
        date_updated=date_updated,
        monthly_data_bytes=monthly,
        monthly_sms=monthly_sms,
        monthly_voice_s=monthly_voice,
        ctd_data_bytes=ctd_data,
        ctd_sms=round(monthly_sms * share),
        ctd_voice_s=round(monthly_voice * share),
        ctd_sessions=0 if ctd_data == 0 else 1 + ctd_data // (2 * MB),
        overage_limit_reached=rng.random() < 0.01,
        overage_limit_override=rng.choices(OVERRIDES, (95, 3, 2))[0],
        device_id=f"DEV-{index:06d}" if rng.random() < 0.5 else None,
        modem_id=f"MDM-{rng.randrange(10**6):06d}" if rng.random() < 0.3 else None,
    )


def _activation(
    rng: random.Random, status: str, added: datetime, now: datetime, cycle_start_at: datetime
) -> datetime | None:
    if status in _UNACTIVATED:
        return None
    if status == "ACTIVATED" and rng.random() < 0.1 and cycle_start_at > added:
        # Activated mid-cycle: the bill prorates it.
        return cycle_start_at + (now - cycle_start_at) * rng.random()
    return added + (now - added) * rng.uniform(0.0, 0.5)


def _monthly_data_bytes(rng: random.Random) -> int:
    """Heavy-tailed: a quarter idle, most light (median ~2 MB), about 3 % heavy (~200 MB)."""
    draw = rng.random()
    if draw < 0.25:
        return 0
    median_mb = 200.0 if draw > 0.97 else 2.0
    return round(MB * median_mb * math.exp(rng.gauss(0.0, 1.4)))


def _monthly_sms(rng: random.Random) -> int:
    if rng.random() < 0.4:
        return 0
    return round(5 * math.exp(rng.gauss(0.0, 1.2)))


def _cycle_share(
    status: str,
    activated: datetime | None,
    updated: datetime,
    now: datetime,
    cycle_start_at: datetime,
) -> float:
    """How much of a month's usage has happened in this cycle so far."""
    if activated is None or status in ("RETIRED", "PURGED", "REPLACED"):
        return 0.0
    end = updated if status == "DEACTIVATED" else now
    begin = max(activated, cycle_start_at)
    if end <= begin:
        return 0.0
    return (end - begin) / timedelta(days=30)


def _pick_rate_plan(rng: random.Random, monthly_bytes: int) -> str:
    """Mostly a plan near the SIM's usage (with slack), sometimes any plan: room to optimize."""
    individual = [plan for plan in RATE_PLANS if plan.allowance_mb > 0]
    if rng.random() < 0.4:
        return rng.choice(RATE_PLANS).name
    usage_mb = monthly_bytes / MB * rng.uniform(0.6, 1.6)
    fitting = [plan for plan in individual if plan.allowance_mb >= usage_mb]
    return (fitting[0] if fitting else individual[-1]).name


def _mobility_kind(rng: random.Random) -> str:
    return rng.choices(list(MOBILITY_KINDS), [kind[2] for kind in MOBILITY_KINDS.values()])[0]


def _mobility_monthly_bytes(rng: random.Random, kind: str | None) -> int:
    """Gigabytes, heavy-tailed around the kind's median; about one SIM in ten idle."""
    if rng.random() < 0.1:
        return 0
    median_gb = MOBILITY_KINDS[kind or "phone"][3]
    return round(MB * GB * median_gb * math.exp(rng.gauss(0.0, 1.0)))


def _pick_mobility_plan(rng: random.Random, monthly_bytes: int, kind: str | None) -> str:
    """A plan of the kind's type near the usage (sometimes any of the type, rarely another
    type's plan: a SIM the legacy rule leaves out of its group's optimization)."""
    plan_type = MOBILITY_KINDS[kind or "phone"][1]
    if rng.random() < MISMATCHED_PLAN_SHARE:
        others = [plan for plan in MOBILITY_RATE_PLANS if plan.rate_plan_type != plan_type]
        return rng.choice(others).name
    typed = [plan for plan in MOBILITY_RATE_PLANS if plan.rate_plan_type == plan_type]
    if rng.random() < 0.3:
        return rng.choice(typed).name
    usage_mb = monthly_bytes / MB * rng.uniform(0.7, 1.5)
    individual = sorted(
        (plan for plan in typed if plan.plan_type == "INDIVIDUAL"), key=lambda p: p.allowance_mb
    )
    fitting = [plan for plan in individual if plan.allowance_mb >= usage_mb]
    return (fitting[0] if fitting else individual[-1]).name


_M2M = _Profile(
    kind=lambda rng: None,
    monthly_bytes=lambda rng, kind: _monthly_data_bytes(rng),
    rate_plan=lambda rng, monthly, kind: _pick_rate_plan(rng, monthly),
    communication_plan=lambda rng, kind: rng.choices(COMMUNICATION_PLANS, (40, 25, 20, 10, 5))[0],
)
_MOBILITY = _Profile(
    kind=_mobility_kind,
    monthly_bytes=_mobility_monthly_bytes,
    rate_plan=_pick_mobility_plan,
    communication_plan=lambda rng, kind: MOBILITY_KINDS[kind or "phone"][0],
)


def _imei(block: int, index: int) -> str:
    body = f"35693803{(block + index) % 10**6:06d}"
    return body + luhn_digit(body)
