"""Mobility optimization groups of a provider, from ``optimization_groups.csv``.

A mobility fleet is optimized per *optimization group*: the SIMs on the group's communication
plans share one pool and may only move between carrier rate plans of the group's rate-plan
types. The file has one row per group::

    optimization_group,communication_plans,rate_plan_types,max_rate_plans
    Phones,MOB_PHONE,phone,15
    Tablets,MOB_TABLET;MOB_TABLET_5G,tablet,

``communication_plans`` and ``rate_plan_types`` are ``;``-separated lists (both required);
``max_rate_plans`` is optional (a whole number above 0, default 15). Every row is validated
first and every problem reported at once as ``file:row:column: what is wrong``; a valid file is
written in one transaction: groups are inserted or updated by name, and the provider's groups
missing from the file are deactivated, not deleted (results refer to them). Lists are stored
normalised: sorted, without repeats, ``;``-joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update

from carrier_opt.db.loads.csv_reader import Problems, csv_rows, read_code
from carrier_opt.db.models import JasperCarrierRatePlan, OptimizationGroup
from carrier_opt.db.providers import load_provider
from carrier_opt.db.types import utc_now

GROUP_COLUMNS = ("optimization_group", "communication_plans", "rate_plan_types")
DEFAULT_MAX_RATE_PLANS = 15
LIST_SEPARATOR = ";"
GROUP = OptimizationGroup.__table__
RATE_PLAN = JasperCarrierRatePlan.__table__
# Room in the columns the normalised lists are stored in.
_MAX_LIST_CHARS = {"communication_plans": 2000, "rate_plan_types": 1000}


@dataclass(frozen=True)
class GroupSettings:
    """An active optimization group, lists split back into tuples."""

    id: int
    name: str
    communication_plans: tuple[str, ...]
    rate_plan_types: tuple[str, ...]
    max_rate_plans: int


@dataclass(frozen=True)
class OptimizationGroupLoad:
    """What a load wrote."""

    inserted: int
    updated: int
    deactivated: int


@dataclass(frozen=True)
class _GroupRow:
    line: int
    name: str
    communication_plans: tuple[str, ...]
    rate_plan_types: tuple[str, ...]
    max_rate_plans: int


def load_optimization_groups(
    engine: Engine, provider_name: str, path: Path
) -> OptimizationGroupLoad:
    """Validate ``optimization_groups.csv``, then write the provider's groups in one transaction.

    Raises :class:`~carrier_opt.errors.InputError` listing every problem (and writes nothing)
    when any row is bad, including a rate-plan type that none of the provider's loaded carrier
    rate plans has.
    """
    path = Path(path)
    problems = Problems()
    groups = read_optimization_groups(path, problems)
    with engine.begin() as connection:
        provider = load_provider(connection, provider_name)
        _check_types(connection, provider.id, provider_name, path, groups, problems)
        problems.raise_any()  # rolls the (still empty) transaction back
        return _write(connection, provider.id, groups)


def read_optimization_groups(path: Path, problems: Problems) -> list[_GroupRow]:
    """Validated rows of ``optimization_groups.csv`` (problems are collected, not raised)."""
    groups: list[_GroupRow] = []
    names: dict[str, int] = {}
    owners: dict[str, tuple[str, int]] = {}  # communication plan → (group, line)
    for line, row in csv_rows(path, GROUP_COLUMNS, problems):
        before = len(problems.lines)
        name = read_code(path, line, "optimization_group", row, problems)
        if name is not None and name in names:
            problems.add(path, line, "optimization_group", f"{name!r} repeats line {names[name]}")
        elif name is not None:
            names[name] = line
        comms = _read_list(path, line, "communication_plans", row, problems)
        for comm in comms:
            if comm in owners and owners[comm][0] != name:
                group, where = owners[comm]
                problems.add(
                    path,
                    line,
                    "communication_plans",
                    f"{comm!r} is already in group {group!r} (line {where}); "
                    "a communication plan belongs to one group",
                )
            elif name is not None:
                owners.setdefault(comm, (name, line))
        types = _read_list(path, line, "rate_plan_types", row, problems)
        max_plans = _read_max(path, line, row, problems)
        if len(problems.lines) == before and name is not None and max_plans is not None:
            groups.append(_GroupRow(line, name, comms, types, max_plans))
    return groups


def active_optimization_groups(connection: Connection, provider_id: int) -> list[GroupSettings]:
    """The provider's active optimization groups, by name."""
    rows = connection.execute(
        select(
            GROUP.c.id,
            GROUP.c.name,
            GROUP.c.communication_plans,
            GROUP.c.rate_plan_types,
            GROUP.c.max_rate_plans,
        )
        .where(GROUP.c.service_provider_id == provider_id, GROUP.c.is_active)
        .order_by(GROUP.c.name)
    ).all()
    return [
        GroupSettings(
            id=int(row.id),
            name=row.name,
            communication_plans=split_list(row.communication_plans),
            rate_plan_types=split_list(row.rate_plan_types),
            max_rate_plans=int(row.max_rate_plans),
        )
        for row in rows
    ]


def split_list(stored: str | None) -> tuple[str, ...]:
    """A stored ``;``-joined list back as a tuple (``None`` or empty: no items)."""
    return tuple(item.strip() for item in (stored or "").split(LIST_SEPARATOR) if item.strip())


def join_list(items: tuple[str, ...]) -> str:
    """The stored form of a list: sorted, without repeats, ``;``-joined."""
    return LIST_SEPARATOR.join(sorted(set(items)))


def _read_list(
    path: Path, line: int, column: str, row: dict, problems: Problems
) -> tuple[str, ...]:
    items = split_list(row.get(column))
    if not items:
        problems.add(path, line, column, f"is empty; list one or more, separated by {';'!r}")
        return ()
    joined = join_list(items)
    if len(joined) > _MAX_LIST_CHARS[column]:
        problems.add(path, line, column, f"longer than {_MAX_LIST_CHARS[column]} characters")
        return ()
    return tuple(joined.split(LIST_SEPARATOR))


def _read_max(path: Path, line: int, row: dict, problems: Problems) -> int | None:
    raw = (row.get("max_rate_plans") or "").strip()
    if not raw:
        return DEFAULT_MAX_RATE_PLANS
    try:
        value = int(raw)
    except ValueError:
        problems.add(path, line, "max_rate_plans", f"{raw!r} is not a whole number")
        return None
    if value <= 0:
        problems.add(path, line, "max_rate_plans", f"must be greater than 0, got {raw}")
        return None
    return value


def _check_types(
    connection: Connection,
    provider_id: int,
    provider_name: str,
    path: Path,
    groups: list[_GroupRow],
    problems: Problems,
) -> None:
    """Each group's rate-plan types must be the type of at least one loaded carrier plan."""
    known = set(
        connection.scalars(
            select(RATE_PLAN.c.rate_plan_type)
            .where(
                RATE_PLAN.c.service_provider_id == provider_id,
                RATE_PLAN.c.rate_plan_type.is_not(None),
            )
            .distinct()
        )
    )
    hint = ", ".join(sorted(known)) if known else "none: load rate plans with a rate_plan_type"
    for group in groups:
        for plan_type in group.rate_plan_types:
            if plan_type not in known:
                problems.add(
                    path,
                    group.line,
                    "rate_plan_types",
                    f"no carrier rate plan of {provider_name} has type {plan_type!r} "
                    f"(known types: {hint})",
                )


def _write(
    connection: Connection, provider_id: int, groups: list[_GroupRow]
) -> OptimizationGroupLoad:
    now = utc_now()
    stored = dict(
        connection.execute(
            select(GROUP.c.name, GROUP.c.id).where(GROUP.c.service_provider_id == provider_id)
        ).all()
    )
    inserted = updated = 0
    for group in groups:
        values = {
            "communication_plans": join_list(group.communication_plans),
            "rate_plan_types": join_list(group.rate_plan_types),
            "max_rate_plans": group.max_rate_plans,
            "is_active": True,
        }
        if group.name in stored:
            connection.execute(
                update(GROUP)
                .where(GROUP.c.id == stored[group.name])
                .values(**values, modified_at=now)
            )
            updated += 1
        else:
            connection.execute(
                insert(GROUP).values(
                    service_provider_id=provider_id, name=group.name, created_at=now, **values
                )
            )
            inserted += 1
    absent = [stored[name] for name in stored.keys() - {group.name for group in groups}]
    deactivated = 0
    if absent:
        deactivated = connection.execute(
            update(GROUP)
            .where(GROUP.c.id.in_(absent), GROUP.c.is_active)
            .values(is_active=False, modified_at=now)
        ).rowcount
    return OptimizationGroupLoad(inserted, updated, deactivated)
