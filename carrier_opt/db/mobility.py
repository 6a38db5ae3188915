"""Mobility fleets in the database: ``MobilityDevice`` rows per optimization group, and the
per-group optimizer input.

A mobility provider's SIMs are synced like any other (staging → ``Device``, with rate-plan
history and per-period usage, so closed periods can be re-run). ``MobilityDevice`` is the
mobility view of them for one billing period: each SIM with its optimization group, the type
of its current plan and the usage the optimizer priced. It is refreshed by every mobility run
and referenced by ``OptimizationMobilityDeviceResult``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from carrier_opt.core.billing import BillingPeriodSpan
from carrier_opt.core.mobility import GroupDefinition, GroupTables, split_into_groups
from carrier_opt.db.export import InstanceTables, instance_tables, write_instance_folder
from carrier_opt.db.loads.optimization_groups import active_optimization_groups
from carrier_opt.db.models import Fleet, JasperCarrierRatePlan, MobilityDevice
from carrier_opt.db.optimization_runs import carrier_plan_ids, ids_by_name
from carrier_opt.db.providers import load_provider
from carrier_opt.errors import InputError


@dataclass(frozen=True)
class MobilityGroups:
    """The provider's groups split for one period, with their database ids."""

    groups: list[GroupTables]
    group_ids: dict[str, int]
    period: BillingPeriodSpan | None = None

    def group(self, name: str) -> GroupTables:
        """The group called ``name``; :class:`InputError` listing the groups otherwise."""
        for group in self.groups:
            if group.group.name == name:
                return group
        known = ", ".join(g.group.name for g in self.groups)
        raise InputError(f"no active optimization group {name!r}; the groups are: {known}")


def period_groups(engine: Engine, provider_name: str, period_key: str) -> MobilityGroups:
    """A mobility provider's period split into its optimization groups (what a mobility run
    optimizes); refuses an M2M provider, which is optimized per communication group."""
    tables = instance_tables(engine, provider_name, period_key)
    with engine.connect() as connection:
        settings = load_provider(connection, provider_name)
        if settings.fleet != Fleet.MOBILITY.value:
            raise InputError(
                f"{provider_name} is an {settings.fleet} fleet: run optimize_billing_period for "
                "it (or re-add it with carrier-opt provider add --fleet mobility)"
            )
        split = mobility_groups(connection, settings.id, provider_name, tables)
    return dataclasses.replace(split, period=tables.period)


def mobility_groups(
    connection: Connection, provider_id: int, provider_name: str, tables: InstanceTables
) -> MobilityGroups:
    """Split the period's SIMs into the provider's active optimization groups.

    Raises :class:`InputError` when the provider has no active group (a mobility run has
    nothing to optimize without them).
    """
    settings = active_optimization_groups(connection, provider_id)
    if not settings:
        raise InputError(
            f"{provider_name} has no optimization groups: load them with "
            f"carrier-opt optimization-groups load {provider_name} optimization_groups.csv"
        )
    definitions = [
        GroupDefinition(s.name, s.communication_plans, s.rate_plan_types, s.max_rate_plans)
        for s in settings
    ]
    devices = tables.devices.copy()
    devices["locked"] = "false"  # membership decides; plans are typed, not paired
    devices["proration"] = 1.0  # the legacy mobility runs never prorated
    split = split_into_groups(
        definitions, tables.rate_plans, plan_types(connection, provider_id), devices
    )
    return MobilityGroups(split, {s.name: s.id for s in settings})


def plan_types(connection: Connection, provider_id: int) -> dict[str, str | None]:
    """Rate-plan code → type, for the provider's carrier plans."""
    rows = connection.execute(
        select(JasperCarrierRatePlan.rate_plan_code, JasperCarrierRatePlan.rate_plan_type).where(
            JasperCarrierRatePlan.service_provider_id == provider_id
        )
    ).all()
    return {code: kind for code, kind in rows}


def refresh_mobility_devices(
    engine: Engine,
    provider_id: int,
    billing_period_id: int,
    split: MobilityGroups,
    now: datetime,
) -> dict[str, int]:
    """Upsert one ``MobilityDevice`` row per SIM of every group (optimized or excluded) with
    its group, plan, plan type and the period's usage; answers ICCID → ``MobilityDevice.id``.

    Rows are updated in place (results of earlier periods reference them), in one transaction.
    """
    frames = [
        frame.assign(optimization_group_id=split.group_ids[group.group.name])
        for group in split.groups
        for frame in (group.devices, group.excluded)
        if not frame.empty
    ]
    sims = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return upsert_mobility_devices(engine, provider_id, billing_period_id, sims, now)


def upsert_mobility_devices(
    engine: Engine, provider_id: int, billing_period_id: int, sims: pd.DataFrame, now: datetime
) -> dict[str, int]:
    """Upsert ``MobilityDevice`` rows for ``sims`` (the contract's device columns plus
    ``ctd_usage_mb``, ``status``, ``msisdn`` and, optionally, ``optimization_group_id``; a SIM
    without that column keeps the group it has). Answers ICCID → ``MobilityDevice.id``."""
    with engine.begin() as connection:
        plan_ids = carrier_plan_ids(connection, provider_id)
        types = plan_types(connection, provider_id)
        if not sims.empty:
            rows = [
                _mobility_row(row, provider_id, billing_period_id, plan_ids, types, now)
                for row in sims.itertuples(index=False)
            ]
            known = mobility_device_ids(connection, provider_id)
            updates = [
                {**row, "row_id": known[row["iccid"]]} for row in rows if row["iccid"] in known
            ]
            inserts = [{**row, "created_at": now} for row in rows if row["iccid"] not in known]
            if updates:
                connection.execute(
                    update(MobilityDevice)
                    .where(MobilityDevice.id == bindparam("row_id"))
                    .values({name: bindparam(name) for name in rows[0] if name != "iccid"}),
                    updates,
                )
            if inserts:
                connection.execute(insert(MobilityDevice), inserts)
        return mobility_device_ids(connection, provider_id)


def _mobility_row(row, provider_id, period_id, plan_ids, types, now) -> dict:
    values = {
        "iccid": row.iccid,
        "service_provider_id": provider_id,
        "billing_period_id": period_id,
        "status": row.status,
        "communication_plan": row.communication_plan,
        "carrier_rate_plan_code": row.rate_plan_code,
        "carrier_rate_plan_id": plan_ids.get(row.rate_plan_code),
        "rate_plan_type": types.get(row.rate_plan_code),
        "msisdn": row.msisdn if isinstance(row.msisdn, str) else None,
        "usage_mb": float(row.ctd_usage_mb),
        "projected_usage_mb": float(row.usage_mb),
        "ctd_sms_usage": int(row.sms_count),
        "is_active": True,
        "last_synced_at": now,
        "modified_at": now,
    }
    if hasattr(row, "optimization_group_id"):
        values["optimization_group_id"] = int(row.optimization_group_id)
    return values


def mobility_device_ids(connection: Connection, provider_id: int) -> dict[str, int]:
    """ICCID → ``MobilityDevice.id``, for the provider."""
    return ids_by_name(connection, MobilityDevice, MobilityDevice.iccid, provider_id)


def export_group_instance(
    engine: Engine, provider_name: str, period_key: str, group_name: str, out_dir: Path
) -> GroupTables:
    """Write one optimization group's instance of the period as an instance folder — what the
    mobility run solves for that group, for ``carrier-opt optimize``."""
    group = period_groups(engine, provider_name, period_key).group(group_name)
    if group.skipped_reason:
        raise InputError(
            f"optimization group {group_name!r} is not optimized: {group.skipped_reason}"
        )
    write_instance_folder(
        out_dir, group.rate_plans, group.comm_plan_rate_plans, group.instance_devices
    )
    return group
