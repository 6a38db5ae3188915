"""What the results mail tells about the data behind a run: the last syncs and SIM counts.

The legacy results mail named the last device-sync and usage-sync dates and the total SIM
count, and a separate alert fired when a run held fewer SIMs than expected ("SIM counts not
expected"). :func:`sync_facts` reads those figures for one provider and billing period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, case, func, select

from carrier_opt.db.models import Device, DeviceUsagePeriod, JasperSyncRun, SyncStatus
from carrier_opt.db.skipped_records import SkippedRecords, skipped_by_last_sync

ACTIVATED = "ACTIVATED"

NO_SKIPPED = SkippedRecords((), 0)

WORKBOOK_SKIPPED = 5_000
"""Skipped carrier records listed in the workbook; more are counted, not listed."""


@dataclass(frozen=True)
class SyncFacts:
    """What the results mail says about the data behind the run (the legacy mail did): when
    devices and usage were last synced, how many SIMs the provider has, how many of them the
    carrier shows ACTIVATED, and how many of those the run optimized."""

    last_device_sync: datetime | None
    last_usage_sync: datetime | None
    total_sims: int
    activated_sims: int
    optimized_sims: int
    """ACTIVATED SIMs of the run that it could move (not locked)."""
    without_usage: tuple[str, ...] = ()
    """ICCIDs of ACTIVATED SIMs with no usage stored for the period (the carrier's usage
    record was missing or unusable, see the sync's skipped records): not in the run."""
    usage_age: str | None = None
    """How old the usage behind the decision is, in one sentence (an open period's run:
    :meth:`carrier_opt.core.staleness.Staleness.line`)."""
    skipped: SkippedRecords = NO_SKIPPED
    """The carrier records the last completed sync went on without (the first
    :data:`WORKBOOK_SKIPPED` of them, and their count)."""

    @property
    def sims_missing(self) -> int:
        """ACTIVATED SIMs the run did not optimize (the legacy "SIM counts not expected")."""
        return max(self.activated_sims - self.optimized_sims, 0)


def sync_facts(
    connection: Connection, provider_id: int, billing_period_id: int, optimized_sims: int
) -> SyncFacts:
    """The provider's last completed device sync, the period's last usage sync, its SIMs (all,
    and ACTIVATED by the last sync), with ``optimized_sims`` (the run's unlocked ACTIVATED
    SIMs)."""
    last_device_sync = connection.scalar(
        select(func.max(JasperSyncRun.finished_at)).where(
            JasperSyncRun.service_provider_id == provider_id,
            JasperSyncRun.status == SyncStatus.COMPLETED.value,
        )
    )
    last_usage_sync = connection.scalar(
        select(func.max(DeviceUsagePeriod.recorded_at)).where(
            DeviceUsagePeriod.billing_period_id == billing_period_id
        )
    )
    counts = connection.execute(
        select(
            func.count(),
            func.sum(case((Device.status == ACTIVATED, 1), else_=0)),
        ).where(Device.service_provider_id == provider_id)
    ).one()
    stored = (
        select(DeviceUsagePeriod.id)
        .where(
            DeviceUsagePeriod.device_id == Device.id,
            DeviceUsagePeriod.billing_period_id == billing_period_id,
        )
        .exists()
    )
    without_usage = connection.scalars(
        select(Device.iccid)
        .where(Device.service_provider_id == provider_id, Device.status == ACTIVATED, ~stored)
        .order_by(Device.iccid)
    ).all()
    return SyncFacts(
        last_device_sync=last_device_sync,
        last_usage_sync=last_usage_sync,
        total_sims=int(counts[0] or 0),
        activated_sims=int(counts[1] or 0),
        optimized_sims=optimized_sims,
        without_usage=tuple(without_usage),
        skipped=skipped_by_last_sync(connection, provider_id, limit=WORKBOOK_SKIPPED),
    )
