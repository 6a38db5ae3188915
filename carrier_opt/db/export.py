"""Write one provider's billing period as an optimizer instance folder (the contract's CSVs).

``rate_plans.csv`` and ``comm_plan_rate_plans.csv`` come from ``JasperCarrierRatePlan`` and
``JasperCommunicationPlan_RatePlan``; ``devices.csv`` from the usage the syncs stored for that
period (``DeviceUsagePeriod``, joined with ``Device`` for the ICCID), with ``usage_mb`` =
projected usage and ``proration`` from the activation date (:mod:`carrier_opt.core.usage`), plus
the extra columns ``ctd_usage_mb, status, msisdn, date_activated, usage_date`` (``usage_date``:
when the carrier's cycle-to-date usage was read, ISO 8601 in UTC). Reading the period's own
rows rather than ``Device`` (which holds the last synced period only) is what lets a past,
closed period be exported and optimized again: the carrier cannot report its usage any more.

Which SIMs: those synced for the period that are ACTIVATED or used data or SMS in it (an
inventory SIM costs nothing and must not be "optimized"). A SIM whose communication plan allows
no rate plan is written ``locked=true``: it stays on its plan but still counts in its pool.

The folder is written to a temporary sibling and renamed into place, so a crash never leaves a
half-written instance and an existing folder is replaced whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, exists, func, or_, select

from carrier_opt.core.billing import BillingPeriodSpan, period_for_key
from carrier_opt.core.usage import BILLED_STATUSES, project_usage_frame, prorations
from carrier_opt.db.loads.rate_plans import PAIR, PAIR_COLUMNS, RATE_PLAN_COLUMNS
from carrier_opt.db.merge import COMM_PLAN, DEVICE, RATE_PLAN, USAGE_PERIOD
from carrier_opt.db.models import BillingPeriod
from carrier_opt.db.providers import ProviderSettings, load_provider
from carrier_opt.errors import InputError

DEVICE_EXPORT_COLUMNS = (
    "iccid",
    "communication_plan",
    "rate_plan_code",
    "usage_mb",
    "sms_count",
    "proration",
    "locked",
    "ctd_usage_mb",
    "status",
    "msisdn",
    "date_activated",
    "usage_date",
)
_MAX_LISTED = 5


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    folder: Path
    period: BillingPeriodSpan
    devices: int
    locked: int
    rate_plans: int
    pairs: int


@dataclass(frozen=True)
class InstanceTables:
    """A provider's billing period as the three contract tables, held in memory."""

    period: BillingPeriodSpan
    billing_period_id: int
    rate_plans: pd.DataFrame
    comm_plan_rate_plans: pd.DataFrame
    devices: pd.DataFrame


def instance_tables(engine: Engine, provider_name: str, period_key: str) -> InstanceTables:
    """Read ``provider_name``'s period ``period_key`` as the contract's three tables.

    Raises :class:`InputError` naming what is missing: no usage stored for the period (never
    synced), no prices, no billable SIMs, SIMs on plans without prices.
    """
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
        period = period_for_key(provider.cycle, period_key)
        period_id = _period_with_usage(connection, provider, period)
        plans = _rate_plans(connection, provider.id)
        pairs = _pairs(connection, provider.id)
        devices = _devices(connection, provider.id, period_id)
    if plans.empty:
        raise InputError(
            f"{provider.name} has no rate plan prices: load them with "
            f"carrier-opt rate-plans load {provider.name} --rate-plans ... --comm-plans ..."
        )
    if devices.empty:
        raise InputError(f"{provider.name} has no billable SIMs synced for {period.key}")
    _require_priced(devices, set(plans["rate_plan_code"]), provider.name)
    frame = _device_frame(devices, pairs, period, prorate=provider.uses_proration)
    return InstanceTables(period, int(period_id), plans, pairs, frame)


def require_stored_usage(engine: Engine, provider_name: str, period_key: str) -> int:
    """Check that usage is stored for ``provider_name``'s period ``period_key``; answers the
    number of SIMs stored for it.

    What a run of a closed period checks first: the carrier only reports cycle-to-date usage,
    so such a run can only use what syncs during the period stored, and must say so plainly
    when there is none. Raises :class:`InputError` otherwise.
    """
    with engine.connect() as connection:
        provider = load_provider(connection, provider_name)
        period = period_for_key(provider.cycle, period_key)
        period_id = _period_with_usage(connection, provider, period)
        stored = connection.scalar(
            select(func.count()).where(USAGE_PERIOD.c.billing_period_id == period_id)
        )
    return int(stored or 0)


def export_instance(
    engine: Engine, provider_name: str, period_key: str, out_dir: Path
) -> ExportSummary:
    """Write the instance folder of ``provider_name``'s period ``period_key`` to ``out_dir``."""
    tables = instance_tables(engine, provider_name, period_key)
    write_instance_folder(
        Path(out_dir), tables.rate_plans, tables.comm_plan_rate_plans, tables.devices
    )
    return ExportSummary(
        folder=Path(out_dir),
        period=tables.period,
        devices=len(tables.devices),
        locked=int((tables.devices["locked"] == "true").sum()),
        rate_plans=len(tables.rate_plans),
        pairs=len(tables.comm_plan_rate_plans),
    )


def _period_with_usage(
    connection: Connection, provider: ProviderSettings, period: BillingPeriodSpan
) -> int:
    """The id of the provider's ``BillingPeriod`` for ``period`` if usage is stored for it."""
    period_id = connection.scalar(
        select(BillingPeriod.id).where(
            BillingPeriod.service_provider_id == provider.id,
            BillingPeriod.period_key == period.key,
        )
    )
    # A run of the period creates the BillingPeriod row, so the row alone proves no sync.
    stored = period_id is not None and connection.scalar(
        select(exists().where(USAGE_PERIOD.c.billing_period_id == period_id))
    )
    if not stored:
        raise InputError(
            f"{provider.name} has no usage stored for billing period {period.key}: store "
            f"it first with carrier-opt sync {provider.name} (add --past-periods N for a "
            f"closed period N periods back: the carrier still reports past cycles' usage) or "
            f"the Dagster job sync_carrier_data for {period.key}|{provider.name}"
        )
    return int(period_id)  # type: ignore[arg-type]


def _rate_plans(connection: Connection, provider_id: int) -> pd.DataFrame:
    rows = connection.execute(
        select(
            RATE_PLAN.c.rate_plan_code,
            RATE_PLAN.c.base_rate,
            RATE_PLAN.c.data_allowance_mb,
            RATE_PLAN.c.overage_rate,
            RATE_PLAN.c.data_per_overage_charge_mb,
            RATE_PLAN.c.sms_rate,
            RATE_PLAN.c.is_pooled,
            RATE_PLAN.c.charge_type,
        )
        .where(RATE_PLAN.c.service_provider_id == provider_id, RATE_PLAN.c.is_active)
        .order_by(RATE_PLAN.c.rate_plan_code)
    ).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=[*RATE_PLAN_COLUMNS, "charge_type"])
    for column in RATE_PLAN_COLUMNS[1:-1]:
        frame[column] = frame[column].map(_decimal_text)
    frame["pooled"] = frame["pooled"].map(lambda pooled: "true" if pooled else "false")
    return frame


def _pairs(connection: Connection, provider_id: int) -> pd.DataFrame:
    rows = connection.execute(
        select(COMM_PLAN.c.name, RATE_PLAN.c.rate_plan_code)
        .select_from(
            PAIR.join(COMM_PLAN, COMM_PLAN.c.id == PAIR.c.communication_plan_id).join(
                RATE_PLAN, RATE_PLAN.c.id == PAIR.c.carrier_rate_plan_id
            )
        )
        .where(COMM_PLAN.c.service_provider_id == provider_id, RATE_PLAN.c.is_active)
        .order_by(COMM_PLAN.c.name, RATE_PLAN.c.rate_plan_code)
    ).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=list(PAIR_COLUMNS))


def _devices(connection: Connection, provider_id: int, period_id: int) -> pd.DataFrame:
    """The period's billable SIMs as the syncs of that period stored them."""
    stored = USAGE_PERIOD
    columns = (
        DEVICE.c.iccid,
        stored.c.communication_plan,
        stored.c.carrier_rate_plan_code,
        stored.c.usage_mb,
        stored.c.ctd_sms_usage,
        stored.c.status,
        stored.c.msisdn,
        stored.c.date_activated,
        stored.c.usage_date,
    )
    rows = connection.execute(
        select(*columns)
        .select_from(stored.join(DEVICE, DEVICE.c.id == stored.c.device_id))
        .where(
            stored.c.billing_period_id == period_id,
            DEVICE.c.service_provider_id == provider_id,
            or_(
                stored.c.status.in_(sorted(BILLED_STATUSES)),
                stored.c.ctd_data_usage_bytes > 0,
                stored.c.ctd_sms_usage > 0,
            ),
        )
        .order_by(DEVICE.c.iccid)
    ).all()
    names = [column.name for column in columns]
    return pd.DataFrame([tuple(row) for row in rows], columns=names, dtype=object)


def _require_priced(devices: pd.DataFrame, priced: set[str], provider: str) -> None:
    """Every SIM's current plan must have prices, or its cost is unknown: say which are not."""
    unpriced = devices.loc[~devices["carrier_rate_plan_code"].isin(priced)]
    if unpriced.empty:
        return
    counts = unpriced["carrier_rate_plan_code"].fillna("(none)").value_counts()
    listed = ", ".join(f"{code!r} ({count} SIMs)" for code, count in counts[:_MAX_LISTED].items())
    more = f" and {len(counts) - _MAX_LISTED} more" if len(counts) > _MAX_LISTED else ""
    raise InputError(
        f"{provider}: {len(unpriced)} SIMs are on rate plans without prices: {listed}{more}; "
        f"add them to rate_plans.csv and run carrier-opt rate-plans load {provider} ..."
    )


def _device_frame(
    devices: pd.DataFrame, pairs: pd.DataFrame, period: BillingPeriodSpan, *, prorate: bool
) -> pd.DataFrame:
    """The contract's device columns (plus what reports show). ``prorate`` False (the
    provider does not use proration) bills every SIM for the whole period, as the legacy
    system did for such providers."""
    usage_mb = devices["usage_mb"].fillna(0.0).astype(float)
    proration = (
        prorations(devices["date_activated"], period).round(6) if prorate else np.ones(len(devices))
    )
    with_choice = set(pairs["communication_plan"])
    return pd.DataFrame(
        {
            "iccid": devices["iccid"],
            "communication_plan": devices["communication_plan"].fillna(""),
            "rate_plan_code": devices["carrier_rate_plan_code"],
            "usage_mb": project_usage_frame(
                usage_mb, devices["status"], devices["usage_date"], period
            ).round(6),
            "sms_count": devices["ctd_sms_usage"].fillna(0).astype(int),
            "proration": proration,
            "locked": [
                "false" if comm in with_choice else "true" for comm in devices["communication_plan"]
            ],
            "ctd_usage_mb": usage_mb.round(6),
            "status": devices["status"].fillna(""),
            "msisdn": devices["msisdn"].fillna(""),
            "date_activated": _iso_texts(devices["date_activated"]),
            "usage_date": _iso_texts(devices["usage_date"]),
        },
        columns=list(DEVICE_EXPORT_COLUMNS),
    )


def _iso_texts(moments: pd.Series) -> list[str]:
    """Aware datetimes as ISO 8601 text, ``""`` when unknown (as the contract files spell it)."""
    return ["" if moment is None or pd.isna(moment) else moment.isoformat() for moment in moments]


def write_instance_folder(
    out_dir: Path, plans: pd.DataFrame, pairs: pd.DataFrame, devices: pd.DataFrame
) -> None:
    """Write the three contract files into a temporary sibling folder, then rename it into
    place (a crash never leaves a half-written instance; an existing folder is replaced whole).
    Booleans are written ``true``/``false`` as the contract spells them."""
    devices = devices.assign(
        **{c: devices[c].map(_flag) for c in devices.columns if devices[c].dtype == bool}
    )
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        plans.to_csv(staging / "rate_plans.csv", index=False)
        pairs.to_csv(staging / "comm_plan_rate_plans.csv", index=False)
        devices.to_csv(staging / "devices.csv", index=False)
        if out_dir.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, retired / out_dir.name)
            os.replace(staging, out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _decimal_text(value: Decimal | float | None) -> str:
    """A price or size without trailing zeros (``13.3300`` → ``13.33``)."""
    if value is None:
        return ""
    text = format(Decimal(str(value)).normalize(), "f")
    return text
