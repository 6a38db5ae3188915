"""The agent's own plans (customer rate plans and pools) and which SIM is on which, from CSV.

Customer optimization re-prices an agent's SIMs on the plans the agent sells to its customers.
Jasper knows nothing of them, so they come from two files:

- ``customer_rate_plans.csv``: the pricing columns of ``rate_plans.csv`` (parsed by the
  same code, :func:`~carrier_opt.db.loads.rate_plans.read_pricing`) plus ``customer_rate_pool``
  (the pool a pooled plan feeds: required when ``pooled`` is true, empty otherwise) and optional
  ``pool_customer`` (the revenue-system customer number owning the pool; empty: a pool shared by
  all the agent's customers). Several pooled plans may feed one pool, as in the legacy system:
  their allowances add up and the pool's overage is priced once, so they must share
  ``overage_rate`` and ``data_per_overage_charge_mb``. Optional ``auto_change`` (default true;
  false: the plan's SIMs are priced but never moved) and ``plan_family`` (the legacy
  ``RatePlanCode`` several plans share: a SIM moves only among plans of its plan's family with
  the same ``pooled`` flag; empty: the family of all plans without one).
- ``customer_sims.csv``: ``iccid, customer_rate_plan``; sets each listed SIM's customer plan and
  pool (empty plan: clears it). SIMs not listed keep theirs.

As with the carrier prices, every row is validated first, every problem is reported at once as
``file:row:column: what is wrong`` and a valid file is written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from carrier_opt.db.loads.csv_reader import (
    Problems,
    csv_rows,
    read_code,
    read_flag,
    read_optional_text,
)
from carrier_opt.db.loads.rate_plans import (
    RATE_PLAN_COLUMNS,
    RatePlanPrices,
    pricing_values,
    read_pricing,
)
from carrier_opt.db.models import CustomerRatePool, Device, JasperCustomerRatePlan, RevCustomer
from carrier_opt.db.providers import load_provider, lock_provider
from carrier_opt.db.types import utc_now

CUSTOMER_PLAN = JasperCustomerRatePlan.__table__
POOL = CustomerRatePool.__table__
REV_CUSTOMER = RevCustomer.__table__
DEVICE = Device.__table__
SIM_COLUMNS = ("iccid", "customer_rate_plan")
_MAX_CUSTOMER_NUMBER_CHARS = 50
_MAX_ICCID_CHARS = 22


@dataclass(frozen=True)
class CustomerPlanRow:
    """One validated row of ``customer_rate_plans.csv``."""

    line: int
    prices: RatePlanPrices
    pool: str | None
    pool_customer: str | None
    auto_change: bool = True
    plan_family: str | None = None


@dataclass(frozen=True)
class CustomerPlanLoad:
    """What a customer-plan load wrote."""

    plans_inserted: int
    plans_updated: int
    pools_inserted: int
    customers_added: int


@dataclass(frozen=True)
class CustomerSimAssignment:
    """What an assignment changed (SIMs already as the file says are left alone)."""

    assigned: int
    cleared: int
    unchanged: int


# --- customer_rate_plans.csv -----------------------------------------------------------------


def load_customer_rate_plans(engine: Engine, provider_name: str, path: Path) -> CustomerPlanLoad:
    """Validate ``customer_rate_plans.csv``, then write plans, pools and pool owners at once.

    Plans are inserted or updated by code, pools by name; pool owners (``RevCustomer``) are
    added when new. Raises :class:`~carrier_opt.errors.InputError` listing every problem (and
    writes nothing) when any row is bad.
    """
    path = Path(path)
    problems = Problems()
    rows = read_customer_rate_plans(path, problems)
    with engine.begin() as connection:
        provider = load_provider(connection, provider_name)
        lock_provider(connection, provider.id)  # a second load waits instead of colliding
        _check_stored_pools(connection, provider.id, path, rows, problems)
        problems.raise_any()  # rolls the (still empty) transaction back
        now = utc_now()
        customers, customers_added = _rev_customer_ids(connection, rows, now)
        pools, pools_inserted = _upsert_pools(connection, provider.id, rows, customers, now)
        inserted, updated = _upsert_plans(connection, provider.id, rows, pools, now)
        _follow_plan_pools(connection, provider.id)
    return CustomerPlanLoad(inserted, updated, pools_inserted, customers_added)


def read_customer_rate_plans(path: Path, problems: Problems) -> list[CustomerPlanRow]:
    """Validated rows of ``customer_rate_plans.csv`` (problems are collected, not raised)."""
    rows: list[CustomerPlanRow] = []
    codes: dict[str, int] = {}
    pools: dict[str, tuple[str, int, tuple]] = {}  # pool → (first plan, line, overage price)
    for line, row in csv_rows(path, RATE_PLAN_COLUMNS, problems):
        before = len(problems.lines)
        prices = read_pricing(path, line, row, problems)
        code = (row.get("rate_plan_code") or "").strip()
        if code and code in codes:
            problems.add(path, line, "rate_plan_code", f"{code!r} repeats line {codes[code]}")
        elif code:
            codes[code] = line
        pool = read_optional_text(path, line, "customer_rate_pool", row, problems, 255)
        owner = read_optional_text(
            path, line, "pool_customer", row, problems, _MAX_CUSTOMER_NUMBER_CHARS
        )
        _check_pool_cells(path, line, row, pool, owner, problems)
        auto_change = True
        if (row.get("auto_change") or "").strip():
            auto_change = read_flag(path, line, "auto_change", row, problems)
        family = read_optional_text(path, line, "plan_family", row, problems, 255)
        if pool is not None and prices is not None and prices.pooled:
            price = _overage_price(prices.overage_rate, prices.data_per_overage_charge_mb)
            if pool not in pools:
                pools[pool] = (prices.rate_plan_code, line, price)
            elif pools[pool][2] != price:
                other, where, other_price = pools[pool]
                problems.add(
                    path,
                    line,
                    "customer_rate_pool",
                    f"pool {pool!r} is fed by plan {other!r} (line {where}) at "
                    f"{_describe(other_price)}, this plan bills {_describe(price)}; "
                    "plans of one pool must share overage_rate and data_per_overage_charge_mb",
                )
        if prices is not None and len(problems.lines) == before:
            rows.append(CustomerPlanRow(line, prices, pool, owner, bool(auto_change), family))
    return rows


def _check_pool_cells(
    path: Path,
    line: int,
    row: dict,
    pool: str | None,
    owner: str | None,
    problems: Problems,
) -> None:
    """A pooled plan names its pool; a plan that is not pooled names neither pool nor owner."""
    pooled = read_flag(path, line, "pooled", row, Problems())  # a bad flag is reported already
    if pooled is True and pool is None:
        problems.add(path, line, "customer_rate_pool", "is empty; a pooled plan names its pool")
    if pooled is False:
        if pool is not None:
            problems.add(
                path, line, "customer_rate_pool", "must be empty for a plan that is not pooled"
            )
        if owner is not None:
            problems.add(path, line, "pool_customer", "must be empty for a plan that is not pooled")


def _check_stored_pools(
    connection: Connection,
    provider_id: int,
    path: Path,
    rows: list[CustomerPlanRow],
    problems: Problems,
) -> None:
    """A pool of the file fed by stored plans the file does not list must keep their overage
    price (one pool, one price)."""
    in_file = {row.prices.rate_plan_code for row in rows}
    stored = connection.execute(
        select(
            POOL.c.name,
            CUSTOMER_PLAN.c.rate_plan_code,
            CUSTOMER_PLAN.c.overage_rate,
            CUSTOMER_PLAN.c.data_per_overage_charge_mb,
        )
        .join(CUSTOMER_PLAN, CUSTOMER_PLAN.c.customer_rate_pool_id == POOL.c.id)
        .where(
            POOL.c.service_provider_id == provider_id,
            CUSTOMER_PLAN.c.service_provider_id == provider_id,
            CUSTOMER_PLAN.c.is_pooled,
        )
        .order_by(CUSTOMER_PLAN.c.rate_plan_code)
    ).all()
    fed: dict[str, tuple[str, tuple]] = {}
    for name, code, rate, unit in stored:
        if code not in in_file:
            fed.setdefault(name, (code, _overage_price(rate, unit)))
    for row in rows:
        if row.pool is None or not row.prices.pooled or row.pool not in fed:
            continue
        other, price = fed[row.pool]
        mine = _overage_price(row.prices.overage_rate, row.prices.data_per_overage_charge_mb)
        if mine != price:
            problems.add(
                path,
                row.line,
                "customer_rate_pool",
                f"pool {row.pool!r} is fed by stored customer rate plan {other!r} at "
                f"{_describe(price)}, this plan bills {_describe(mine)}; plans of one pool "
                "must share overage_rate and data_per_overage_charge_mb",
            )


def _overage_price(rate, unit) -> tuple[Decimal, Decimal]:
    """A plan's overage price as comparable numbers (``0.20`` and ``0.2`` are one price)."""
    return Decimal(str(rate)).normalize(), Decimal(str(unit)).normalize()


def _describe(price: tuple[Decimal, Decimal]) -> str:
    return f"{price[0]:f} USD per {price[1]:f} MB"


def _rev_customer_ids(
    connection: Connection, rows: list[CustomerPlanRow], now: datetime
) -> tuple[dict[str, int], int]:
    """Ids of the pool owners by customer number (tenant-less), adding the new ones."""
    numbers = {row.pool_customer for row in rows if row.pool_customer is not None}
    return rev_customer_ids(connection, numbers, now)


def rev_customer_ids(
    connection: Connection, numbers: Iterable[str], now: datetime
) -> tuple[dict[str, int], int]:
    """``RevCustomer`` ids by customer number (tenant-less: the carrier's ``customer`` field
    and the files name customers without a tenant), adding the missing ones; also how many
    were added."""
    numbers = sorted(set(numbers))
    if not numbers:
        return {}, 0
    known = dict(
        connection.execute(
            select(REV_CUSTOMER.c.rev_customer_number, REV_CUSTOMER.c.id).where(
                REV_CUSTOMER.c.tenant_id.is_(None),
                REV_CUSTOMER.c.rev_customer_number.in_(numbers),
            )
        ).all()
    )
    added = 0
    for number in numbers:
        if number not in known:
            known[number] = connection.execute(
                insert(REV_CUSTOMER).values(
                    tenant_id=None,
                    rev_customer_number=number,
                    name=number,
                    is_active=True,
                    created_at=now,
                )
            ).inserted_primary_key[0]
            added += 1
    return known, added


def _upsert_pools(
    connection: Connection,
    provider_id: int,
    rows: list[CustomerPlanRow],
    customers: dict[str, int],
    now: datetime,
) -> tuple[dict[str, int], int]:
    """Ids of the file's pools by name; new pools inserted, existing ones get their owner."""
    stored = dict(
        connection.execute(
            select(POOL.c.name, POOL.c.id).where(POOL.c.service_provider_id == provider_id)
        ).all()
    )
    inserted = 0
    for row in rows:
        if row.pool is None or not row.prices.pooled:
            continue
        owner = customers.get(row.pool_customer) if row.pool_customer is not None else None
        if row.pool in stored:
            connection.execute(
                update(POOL)
                .where(POOL.c.id == stored[row.pool])
                .values(rev_customer_id=owner, is_active=True, modified_at=now)
            )
        else:
            stored[row.pool] = connection.execute(
                insert(POOL).values(
                    service_provider_id=provider_id,
                    name=row.pool,
                    rev_customer_id=owner,
                    is_active=True,
                    created_at=now,
                )
            ).inserted_primary_key[0]
            inserted += 1
    return stored, inserted


def _upsert_plans(
    connection: Connection,
    provider_id: int,
    rows: list[CustomerPlanRow],
    pools: dict[str, int],
    now: datetime,
) -> tuple[int, int]:
    stored = dict(
        connection.execute(
            select(CUSTOMER_PLAN.c.rate_plan_code, CUSTOMER_PLAN.c.id).where(
                CUSTOMER_PLAN.c.service_provider_id == provider_id
            )
        ).all()
    )
    inserted = updated = 0
    for row in rows:
        code = row.prices.rate_plan_code
        values = {
            **pricing_values(row.prices),
            "customer_rate_pool_id": pools[row.pool] if row.pool is not None else None,
            "auto_change_rate_plan": row.auto_change,
            "plan_family": row.plan_family,
        }
        if code in stored:
            connection.execute(
                update(CUSTOMER_PLAN)
                .where(CUSTOMER_PLAN.c.id == stored[code])
                .values(**values, modified_at=now)
            )
            updated += 1
        else:
            connection.execute(
                insert(CUSTOMER_PLAN).values(
                    service_provider_id=provider_id, rate_plan_code=code, created_at=now, **values
                )
            )
            inserted += 1
    return inserted, updated


def _follow_plan_pools(connection: Connection, provider_id: int) -> None:
    """SIMs on a customer plan are in that plan's pool (it may have changed with the load)."""
    plan_pool = (
        select(CUSTOMER_PLAN.c.customer_rate_pool_id)
        .where(CUSTOMER_PLAN.c.id == DEVICE.c.customer_rate_plan_id)
        .scalar_subquery()
    )
    connection.execute(
        update(DEVICE)
        .where(
            DEVICE.c.service_provider_id == provider_id,
            DEVICE.c.customer_rate_plan_id.is_not(None),
        )
        .values(customer_rate_pool_id=plan_pool)
    )


# --- customer_sims.csv -----------------------------------------------------------------------


def assign_customer_rate_plans(
    engine: Engine, provider_name: str, path: Path
) -> CustomerSimAssignment:
    """Put the provider's SIMs listed in ``customer_sims.csv`` on their customer plan and pool.

    An empty ``customer_rate_plan`` clears the SIM's customer plan and pool. Raises
    :class:`~carrier_opt.errors.InputError` listing every problem (and changes nothing) for an
    ICCID the provider does not have, an unknown plan code or a repeated ICCID.
    """
    path = Path(path)
    problems = Problems()
    wanted = read_customer_sims(path, problems)
    with engine.begin() as connection:
        provider = load_provider(connection, provider_name)
        plans = {
            row.rate_plan_code: (row.id, row.customer_rate_pool_id)
            for row in connection.execute(
                select(
                    CUSTOMER_PLAN.c.rate_plan_code,
                    CUSTOMER_PLAN.c.id,
                    CUSTOMER_PLAN.c.customer_rate_pool_id,
                ).where(CUSTOMER_PLAN.c.service_provider_id == provider.id)
            )
        }
        devices = {
            row.iccid: (row.id, row.customer_rate_plan_id, row.customer_rate_pool_id)
            for row in connection.execute(
                select(
                    DEVICE.c.iccid,
                    DEVICE.c.id,
                    DEVICE.c.customer_rate_plan_id,
                    DEVICE.c.customer_rate_pool_id,
                ).where(DEVICE.c.service_provider_id == provider.id)
            )
        }
        changes: list[dict[str, int | None]] = []
        assigned = cleared = unchanged = 0
        for line, iccid, code in wanted:
            if iccid not in devices:
                problems.add(
                    path,
                    line,
                    "iccid",
                    f"{provider_name} has no SIM {iccid!r}: sync the provider first "
                    f"(carrier-opt sync {provider_name})",
                )
            if code is not None and code not in plans:
                problems.add(
                    path,
                    line,
                    "customer_rate_plan",
                    f"unknown customer rate plan {code!r} (load it with "
                    "carrier-opt customer-plans load)",
                )
            if iccid not in devices or (code is not None and code not in plans):
                continue
            device_id, *current = devices[iccid]
            target = list(plans[code]) if code is not None else [None, None]
            if current == target:
                unchanged += 1
                continue
            changes.append({"b_id": device_id, "b_plan": target[0], "b_pool": target[1]})
            if code is None:
                cleared += 1
            else:
                assigned += 1
        problems.raise_any()  # rolls back; nothing was written yet
        if changes:
            connection.execute(
                update(DEVICE)
                .where(DEVICE.c.id == bindparam("b_id"))
                .values(
                    customer_rate_plan_id=bindparam("b_plan"),
                    customer_rate_pool_id=bindparam("b_pool"),
                    modified_at=utc_now(),
                ),
                changes,
            )
    return CustomerSimAssignment(assigned, cleared, unchanged)


def read_customer_sims(path: Path, problems: Problems) -> list[tuple[int, str, str | None]]:
    """``(line, iccid, customer plan code or None)`` of ``customer_sims.csv``."""
    wanted: list[tuple[int, str, str | None]] = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(path, SIM_COLUMNS, problems):
        iccid = read_code(path, line, "iccid", row, problems)
        if iccid is not None and len(iccid) > _MAX_ICCID_CHARS:
            problems.add(path, line, "iccid", f"longer than {_MAX_ICCID_CHARS} characters")
            continue
        code = read_optional_text(path, line, "customer_rate_plan", row, problems, 255)
        if iccid is None:
            continue
        if iccid in seen:
            problems.add(path, line, "iccid", f"{iccid!r} repeats line {seen[iccid]}")
            continue
        seen[iccid] = line
        wanted.append((line, iccid, code))
    return wanted
