"""Carrier rate-plan prices and allowed (communication plan → rate plan) pairs, from CSV.

The carrier API exposes no prices, so they are loaded from the optimizer contract's files:
``rate_plans.csv`` (``rate_plan_code, base_rate, data_allowance_mb, overage_rate,
data_per_overage_charge_mb, sms_rate, pooled``, optionally ``charge_type`` and
``rate_plan_type``) and ``comm_plan_rate_plans.csv`` (``communication_plan, rate_plan_code``).
``rate_plan_type`` is free text (mobility plans are typed: ``phone``, ``tablet``, ...); empty
means none. The pricing columns are parsed by :func:`read_pricing`, which the customer-plan
loader (:mod:`carrier_opt.db.loads.customer_plans`) shares.

Every row is validated before anything is written; each problem is one line
``file:row:column: what is wrong`` (``row`` counts the header as line 1, as in
:mod:`carrier_opt.core.instance`), and one :class:`InputError` carries them all. A valid load is
one transaction: rate plans are inserted or updated by code, the provider's allowed pairs are
replaced by the file's, unknown communication plans are added, SIMs are linked to their plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, insert, select, update

from carrier_opt.core.instance import (
    CHARGE_TYPES,
    COMM_PLAN_COLUMNS,
    DEFAULT_CHARGE_TYPE,
    LARGEST,
    POSITIVE_RATE_PLAN_COLUMNS,
    RATE_PLAN_COLUMNS,
)
from carrier_opt.db.loads.csv_reader import (
    Problems,
    csv_rows,
    read_code,
    read_flag,
    read_optional_text,
)
from carrier_opt.db.merge import COMM_PLAN, RATE_PLAN, link_rate_plans
from carrier_opt.db.models import JasperCommunicationPlanRatePlan
from carrier_opt.db.providers import load_provider, lock_provider
from carrier_opt.db.types import utc_now

_NUMBER_COLUMNS = RATE_PLAN_COLUMNS[1:6]
PAIR_COLUMNS = COMM_PLAN_COLUMNS
PAIR = JasperCommunicationPlanRatePlan.__table__
_MAX_TYPE_CHARS = 100
_MB_COLUMNS = {"data_allowance_mb", "data_per_overage_charge_mb"}
_LARGEST = {column: Decimal(LARGEST[column]) for column in _NUMBER_COLUMNS}
"""Largest value per column, the instance files' (:data:`carrier_opt.core.instance.LARGEST`):
USD amounts up to a million (per SIM, MB or SMS), sizes up to 10⁹ MB (a petabyte). Larger
values are typing errors that would overflow the columns or the optimizer."""
_DECIMALS = {"money": 4, "mb": 6}
"""Decimals stored per kind of column: the 4 ``MONEY`` keeps, the 6 of ``DATA_MB``. More would
be rounded away silently when stored (the instance files, read as floats, lose nothing)."""


@dataclass(frozen=True)
class RatePlanPrices:
    """One validated row of ``rate_plans.csv``."""

    rate_plan_code: str
    base_rate: Decimal
    data_allowance_mb: Decimal
    overage_rate: Decimal
    data_per_overage_charge_mb: Decimal
    sms_rate: Decimal
    pooled: bool
    charge_type: str = DEFAULT_CHARGE_TYPE
    rate_plan_type: str | None = None


@dataclass(frozen=True)
class RatePlanLoad:
    """What a load wrote."""

    rate_plans_inserted: int
    rate_plans_updated: int
    pairs: int
    communication_plans_added: int


def read_rate_plans(path: Path, problems: Problems) -> list[RatePlanPrices]:
    """Validated rows of a ``rate_plans.csv`` (problems are collected, not raised)."""
    plans: list[RatePlanPrices] = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(path, RATE_PLAN_COLUMNS, problems):
        plan = read_pricing(path, line, row, problems)
        code = (row.get("rate_plan_code") or "").strip()
        if code and code in seen:
            problems.add(path, line, "rate_plan_code", f"{code!r} repeats line {seen[code]}")
            continue
        if code:
            seen[code] = line
        if plan is not None:
            plans.append(plan)
    return plans


def read_pricing(
    path: Path, line: int, row: dict[str, str], problems: Problems
) -> RatePlanPrices | None:
    """The pricing columns of one row (carrier or customer plan); ``None`` when any is bad.

    Every bad cell is recorded in ``problems``; the row's other cells are still checked.
    """
    before = len(problems.lines)
    code = read_code(path, line, "rate_plan_code", row, problems)
    numbers = {
        column: _number(
            path, line, column, row, problems, positive=column in POSITIVE_RATE_PLAN_COLUMNS
        )
        for column in _NUMBER_COLUMNS
    }
    pooled = read_flag(path, line, "pooled", row, problems)
    charge_type = _charge_type(path, line, row, problems)
    plan_type = read_optional_text(path, line, "rate_plan_type", row, problems, _MAX_TYPE_CHARS)
    if len(problems.lines) > before or code is None or pooled is None or charge_type is None:
        return None
    return RatePlanPrices(
        code,
        pooled=pooled,
        charge_type=charge_type,
        rate_plan_type=plan_type,
        **numbers,  # type: ignore[arg-type]
    )


def read_pairs(path: Path, known_plans: set[str], problems: Problems) -> list[tuple[str, str]]:
    """Validated ``(communication_plan, rate_plan_code)`` pairs of ``comm_plan_rate_plans.csv``."""
    pairs: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in csv_rows(path, PAIR_COLUMNS, problems):
        comm = read_code(path, line, "communication_plan", row, problems)
        plan = read_code(path, line, "rate_plan_code", row, problems)
        if plan is not None and plan not in known_plans:
            problems.add(
                path, line, "rate_plan_code", f"unknown rate plan {plan!r} (not in rate plans)"
            )
            plan = None
        if comm is None or plan is None:
            continue
        if (comm, plan) in seen:
            problems.add(path, line, "-", f"pair repeats line {seen[comm, plan]}")
            continue
        seen[comm, plan] = line
        pairs.append((comm, plan))
    return pairs


def load_rate_plans(
    engine: Engine, provider_name: str, rate_plans_csv: Path, comm_plans_csv: Path
) -> RatePlanLoad:
    """Validate both files, then write them for the provider in one transaction.

    Raises :class:`InputError` listing every problem (and writes nothing) when any row is bad.
    """
    problems = Problems()
    plans = read_rate_plans(Path(rate_plans_csv), problems)
    with engine.begin() as connection:
        provider = load_provider(connection, provider_name)
        lock_provider(connection, provider.id)  # a second load waits instead of colliding
        stored = set(
            connection.scalars(
                select(RATE_PLAN.c.rate_plan_code).where(
                    RATE_PLAN.c.service_provider_id == provider.id
                )
            )
        )
        known = stored | {p.rate_plan_code for p in plans}
        pairs = read_pairs(Path(comm_plans_csv), known, problems)
        problems.raise_any()  # rolls the (still empty) transaction back
        now = utc_now()
        inserted = updated = 0
        for plan in plans:
            values = pricing_values(plan)
            if plan.rate_plan_code in stored:
                connection.execute(
                    update(RATE_PLAN)
                    .where(
                        RATE_PLAN.c.service_provider_id == provider.id,
                        RATE_PLAN.c.rate_plan_code == plan.rate_plan_code,
                    )
                    .values(**values, modified_at=now)
                )
                updated += 1
            else:
                connection.execute(
                    insert(RATE_PLAN).values(
                        service_provider_id=provider.id,
                        rate_plan_code=plan.rate_plan_code,
                        created_at=now,
                        **values,
                    )
                )
                inserted += 1
        plan_ids = dict(
            connection.execute(
                select(RATE_PLAN.c.rate_plan_code, RATE_PLAN.c.id).where(
                    RATE_PLAN.c.service_provider_id == provider.id
                )
            ).all()
        )
        comm_ids, added = _communication_plan_ids(connection, provider.id, pairs, now)
        _remove_provider_pairs(connection, provider.id)
        if pairs:
            connection.execute(
                insert(PAIR),
                [
                    {
                        "communication_plan_id": comm_ids[comm],
                        "carrier_rate_plan_id": plan_ids[plan],
                        "created_at": now,
                    }
                    for comm, plan in pairs
                ],
            )
        link_rate_plans(connection, provider.id)
    return RatePlanLoad(inserted, updated, len(pairs), added)


def pricing_values(plan: RatePlanPrices) -> dict[str, object]:
    """The ``RatePlanPricing`` columns of a validated row (carrier and customer plans)."""
    return {
        "base_rate": plan.base_rate,
        "data_allowance_mb": plan.data_allowance_mb,
        "overage_rate": plan.overage_rate,
        "data_per_overage_charge_mb": plan.data_per_overage_charge_mb,
        "sms_rate": plan.sms_rate,
        "is_pooled": plan.pooled,
        "charge_type": plan.charge_type,
        "rate_plan_type": plan.rate_plan_type,
        "is_active": True,
    }


def _communication_plan_ids(
    connection: Connection, provider_id: int, pairs: list[tuple[str, str]], now: datetime
) -> tuple[dict[str, int], int]:
    """Ids of the pairs' communication plans, adding the ones not yet known."""
    known = dict(
        connection.execute(
            select(COMM_PLAN.c.name, COMM_PLAN.c.id).where(
                COMM_PLAN.c.service_provider_id == provider_id
            )
        ).all()
    )
    added = 0
    for comm in sorted({comm for comm, _plan in pairs} - set(known)):
        known[comm] = connection.execute(
            insert(COMM_PLAN).values(
                service_provider_id=provider_id, name=comm, is_active=True, created_at=now
            )
        ).inserted_primary_key[0]
        added += 1
    return known, added


def _remove_provider_pairs(connection: Connection, provider_id: int) -> None:
    """The file replaces the provider's allowed pairs."""
    provider_comm_plans = select(COMM_PLAN.c.id).where(
        COMM_PLAN.c.service_provider_id == provider_id
    )
    connection.execute(delete(PAIR).where(PAIR.c.communication_plan_id.in_(provider_comm_plans)))


def _charge_type(path: Path, line: int, row: dict[str, str], problems: Problems) -> str | None:
    """The optional ``charge_type`` cell (the optimizer contract's extension); empty: default."""
    value = (row.get("charge_type") or "").strip().lower()
    if not value:
        return DEFAULT_CHARGE_TYPE
    if value not in CHARGE_TYPES:
        problems.add(
            path,
            line,
            "charge_type",
            f"{value!r} is not a charge type; use one of {', '.join(CHARGE_TYPES)}",
        )
        return None
    return value


def _number(
    path: Path, line: int, column: str, row: dict, problems: Problems, *, positive: bool
) -> Decimal | None:
    raw = (row.get(column) or "").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        problems.add(path, line, column, f"{raw!r} is not a number")
        return None
    if not value.is_finite():
        problems.add(path, line, column, f"{raw!r} is not a finite number")
        return None
    if positive and value <= 0:
        problems.add(path, line, column, f"must be greater than 0, got {raw}")
        return None
    if value < 0:
        problems.add(path, line, column, f"must not be negative, got {raw}")
        return None
    largest, decimals = _LARGEST[column], _DECIMALS["mb" if column in _MB_COLUMNS else "money"]
    if value > largest:
        problems.add(path, line, column, f"{raw} is larger than the largest allowed, {largest:,}")
        return None
    if value != value.quantize(Decimal(1).scaleb(-decimals)):
        problems.add(
            path, line, column, f"{raw} has more than {decimals} decimals (they would be lost)"
        )
        return None
    return value
