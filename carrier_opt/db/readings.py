"""Each SIM's last usage reading and its plan's price of a megabyte: what a call budget and
the staleness figures of a run need (:mod:`carrier_opt.core.staleness`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, Engine, Table, select

from carrier_opt.core.staleness import SimReadings
from carrier_opt.db.loads.rate_plans import PAIR
from carrier_opt.db.models import Device, JasperCarrierRatePlan, JasperCommunicationPlan

DEVICE: Table = Device.__table__  # type: ignore[assignment]
PLAN: Table = JasperCarrierRatePlan.__table__  # type: ignore[assignment]
COMM_PLAN: Table = JasperCommunicationPlan.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ProviderReadings:
    """Readings of some SIMs of a provider, in ``iccids`` order."""

    iccids: list[str]
    reading_times: list[datetime | None]
    readings: SimReadings


def provider_readings(
    engine: Engine, provider_id: int, now: datetime, iccids: Iterable[str] | None = None
) -> ProviderReadings:
    """The last reading of ``iccids`` (all the provider's SIMs when None; a SIM ``Device`` does
    not know has no reading), aged at ``now``, with the prices of every plan it may be on (its
    own and those its communication plan allows)."""
    query = select(
        DEVICE.c.iccid,
        DEVICE.c.projected_usage_mb,
        DEVICE.c.usage_mb,
        DEVICE.c.usage_date,
        DEVICE.c.carrier_rate_plan_code,
        DEVICE.c.communication_plan,
        DEVICE.c.status,
    ).where(DEVICE.c.service_provider_id == provider_id)
    with engine.connect() as connection:
        rows = {row.iccid: row for row in connection.execute(query)}
        prices = _plan_prices(connection, provider_id)
        allowed = _allowed_plans(connection, provider_id)
    wanted = list(rows) if iccids is None else list(iccids)
    candidates = [_candidates(rows.get(iccid), allowed) for iccid in wanted]
    width = max((len(plans) for plans in candidates), default=0)
    nan = float("nan")
    plan_columns = np.full((4, len(wanted), width), nan)
    mb, age, times = [], [], []
    for index, iccid in enumerate(wanted):
        row = rows.get(iccid)
        read_at = None if row is None else row.usage_date
        times.append(read_at)
        projected = None if row is None else (row.projected_usage_mb or row.usage_mb)
        mb.append(nan if projected is None or read_at is None else float(projected))
        age.append(nan if read_at is None else (now - read_at).total_seconds())
        for column, code in enumerate(candidates[index]):
            # Another pooled plan's pool state is unknown here: only the SIM's own pool counts.
            if code in prices and (column == 0 or not prices[code][3]):
                plan_columns[:, index, column] = prices[code]
    allowance, price, unit, pooled = plan_columns
    readings = SimReadings(
        projected_mb=np.array(mb, dtype=float),
        reading_age_s=np.array(age, dtype=float),
        allowance_mb=allowance,
        price_per_mb=price,
        overage_unit_mb=np.nan_to_num(unit),
        pooled=np.nan_to_num(pooled).astype(bool),
        active=np.array(
            [
                (row := rows.get(iccid)) is not None and row.status == "ACTIVATED"
                for iccid in wanted
            ],
            dtype=bool,
        ),
    )
    return ProviderReadings(wanted, times, readings)


def _plan_prices(connection: Connection, provider_id: int) -> dict[str, tuple[float, ...]]:
    """(allowance MB, price per MB, overage unit MB, pooled) of each priced plan."""
    rows = connection.execute(
        select(
            PLAN.c.rate_plan_code,
            PLAN.c.data_allowance_mb,
            PLAN.c.overage_rate,
            PLAN.c.data_per_overage_charge_mb,
            PLAN.c.is_pooled,
        ).where(PLAN.c.service_provider_id == provider_id, PLAN.c.is_active)
    )
    prices = {}
    for code, allowance, rate, unit, pooled in rows:
        if rate is not None and unit is not None and float(unit) > 0:
            unit_mb = float(unit)
            prices[code] = (float(allowance), float(rate) / unit_mb, unit_mb, float(bool(pooled)))
    return prices


def _allowed_plans(connection: Connection, provider_id: int) -> dict[str, list[str]]:
    """The plans each communication plan allows, by its name."""
    rows = connection.execute(
        select(COMM_PLAN.c.name, PLAN.c.rate_plan_code)
        .select_from(
            PAIR.join(COMM_PLAN, COMM_PLAN.c.id == PAIR.c.communication_plan_id).join(
                PLAN, PLAN.c.id == PAIR.c.carrier_rate_plan_id
            )
        )
        .where(COMM_PLAN.c.service_provider_id == provider_id)
    )
    allowed: dict[str, list[str]] = {}
    for comm_plan, code in rows:
        allowed.setdefault(comm_plan, []).append(code)
    return allowed


def _candidates(row, allowed: dict[str, list[str]]) -> list[str]:
    """The SIM's own plan, then the others its communication plan allows."""
    if row is None:
        return []
    own = [row.carrier_rate_plan_code] if row.carrier_rate_plan_code else []
    others = allowed.get(row.communication_plan or "", [])
    return own + [code for code in others if code not in own]
