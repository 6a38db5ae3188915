"""Usage kept per billing period (``DeviceUsagePeriod``), on SQLite and PostgreSQL.

``Device`` holds the last synced period only; these tests check that a past period survives the
next period's sync, can still be exported, and that a period never synced fails plainly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, column, func, insert, select, table
from sqlalchemy.sql.expression import TableClause

from carrier_opt.core.billing import period_for_key
from carrier_opt.db import migrate
from carrier_opt.db.export import export_instance, instance_tables, require_stored_usage
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.merge import MergeCounts
from carrier_opt.db.models import BillingPeriod, Device, DeviceUsagePeriod
from carrier_opt.db.providers import ensure_billing_period, load_provider
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import add_fake_provider, write_fake_price_files
from carrier_opt_tests.jasper.support import client_for

MARCH = datetime(2025, 3, 18, 9, 30, tzinfo=UTC)
APRIL = datetime(2025, 4, 22, 14, 0, tzinfo=UTC)
FLEET = {"devices": 60, "seed": 7}


def sync_at(engine: Engine, moment: datetime, fake: FakeJasper | None = None) -> MergeCounts:
    """Sync 'acme' as if it were ``moment``, from a fake whose clock reads ``moment``."""
    if fake is not None:
        return sync_provider(engine, "acme", client=client_for(fake), now=moment).merge
    with FakeJasper(**FLEET, now=moment) as at_moment:
        return sync_provider(engine, "acme", client=client_for(at_moment), now=moment).merge


@pytest.fixture
def priced_provider(migrated_engine: Engine, tmp_path: Path) -> Engine:
    """'acme' (calendar months in UTC, as the fake bills) with the fake's prices loaded."""
    with FakeJasper(devices=1) as fake:
        add_fake_provider(migrated_engine, fake)
    load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
    return migrated_engine


def stored_rows(engine: Engine) -> dict[str, int]:
    """How many ``DeviceUsagePeriod`` rows each period key has."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(BillingPeriod.period_key, func.count())
            .join(DeviceUsagePeriod, DeviceUsagePeriod.billing_period_id == BillingPeriod.id)
            .group_by(BillingPeriod.period_key)
        ).all()
    return {key: int(n) for key, n in rows}


def test_a_past_period_survives_the_next_periods_sync(priced_provider: Engine, tmp_path: Path):
    engine = priced_provider
    first = sync_at(engine, MARCH)
    assert first.period_usage_inserted == FLEET["devices"]
    march = instance_tables(engine, "acme", "2025-03").devices

    second = sync_at(engine, APRIL)
    assert (second.period_usage_inserted, second.period_usage_updated) == (FLEET["devices"], 0)
    assert stored_rows(engine) == {"2025-03": FLEET["devices"], "2025-04": FLEET["devices"]}
    with engine.connect() as connection:
        device_periods = connection.execute(select(Device.billing_period_id).distinct()).all()
    assert len(device_periods) == 1  # Device itself only holds April now

    march_again = instance_tables(engine, "acme", "2025-03").devices
    april = instance_tables(engine, "acme", "2025-04").devices
    pd.testing.assert_frame_equal(march_again, march)
    assert len(april) > 0
    both = march.merge(april, on="iccid", suffixes=("_march", "_april"))
    assert len(both) > 0
    assert (both["ctd_usage_mb_march"] != both["ctd_usage_mb_april"]).any()

    summary = export_instance(engine, "acme", "2025-03", tmp_path / "march")
    assert summary.devices == len(march)
    assert require_stored_usage(engine, "acme", "2025-03") == FLEET["devices"]


def test_a_second_sync_of_a_period_updates_its_rows(priced_provider: Engine):
    engine = priced_provider
    with FakeJasper(**FLEET, now=APRIL) as fake:
        sync_at(engine, APRIL, fake)
        changed = next(device for device in fake.fleet if device.status == "ACTIVATED")
        changed.ctd_data_bytes += 5 * 1_048_576
        again = sync_at(engine, APRIL, fake)
    assert again.period_usage_inserted == 0
    assert again.period_usage_updated >= 1
    assert stored_rows(engine) == {"2025-04": FLEET["devices"]}
    with engine.connect() as connection:
        stored = connection.scalar(
            select(DeviceUsagePeriod.ctd_data_usage_bytes)
            .join(Device, Device.id == DeviceUsagePeriod.device_id)
            .where(Device.iccid == changed.iccid)
        )
    assert stored == changed.ctd_data_bytes


def test_a_period_never_synced_fails_with_its_message(priced_provider: Engine):
    sync_at(priced_provider, MARCH)
    message = "acme has no usage stored for billing period 2025-01"
    with pytest.raises(InputError, match=message):
        instance_tables(priced_provider, "acme", "2025-01")
    with pytest.raises(InputError, match=message):
        require_stored_usage(priced_provider, "acme", "2025-01")
    # A run of the period opens its BillingPeriod row; that alone is no stored usage.
    with priced_provider.begin() as connection:
        provider = load_provider(connection, "acme")
        ensure_billing_period(connection, provider.id, period_for_key(provider.cycle, "2025-01"))
    with pytest.raises(InputError, match=message):
        instance_tables(priced_provider, "acme", "2025-01")


def _table_as_of_0003(name: str, *columns: str) -> TableClause:
    """Just the columns a 0003 database has (the models describe the newest schema)."""
    return table(name, *(column(c) for c in columns))


def test_the_upgrade_keeps_the_usage_device_holds(engine: Engine):
    migrate.upgrade(engine, "0003")
    now = datetime(2025, 3, 20, tzinfo=UTC)
    kind = _table_as_of_0003("IntegrationType", "id", "name", "created_at")
    provider = _table_as_of_0003(
        "ServiceProvider",
        "id",
        "name",
        "integration_type_id",
        "is_active",
        "time_zone",
        "billing_cycle_end_day",
        "billing_cycle_end_hour",
        "allow_automatic_rate_plan_updates",
        "max_rate_plans_per_group",
        "created_at",
    )
    period = _table_as_of_0003(
        "BillingPeriod",
        "id",
        "service_provider_id",
        "period_key",
        "period_start",
        "period_end",
        "time_zone",
        "created_at",
    )
    period_id, provider_id = 7, 3
    with engine.begin() as connection:
        connection.execute(insert(kind).values(id=1, name="Jasper", created_at=now))
        connection.execute(
            insert(provider).values(
                id=provider_id,
                name="acme",
                integration_type_id=1,
                is_active=True,
                time_zone="UTC",
                billing_cycle_end_day=31,
                billing_cycle_end_hour=0,
                allow_automatic_rate_plan_updates=False,
                max_rate_plans_per_group=15,
                created_at=now,
            )
        )
        connection.execute(
            insert(period).values(
                id=period_id,
                service_provider_id=provider_id,
                period_key="2025-03",
                period_start=datetime(2025, 3, 1, tzinfo=UTC),
                period_end=datetime(2025, 4, 1, tzinfo=UTC),
                time_zone="UTC",
                created_at=now,
            )
        )
        common = {"service_provider_id": provider_id, "created_at": now, "is_active": True}
        connection.execute(
            insert(Device.__table__).values(
                **common,
                iccid="8901260000000000001",
                status="ACTIVATED",
                ctd_data_usage_bytes=2_097_152,
                usage_mb=2.0,
                billing_period_id=period_id,
                last_synced_at=now,
            )
        )
        connection.execute(  # never given usage: no period, nothing to copy
            insert(Device.__table__).values(
                **common, iccid="8901260000000000002", status="INVENTORY"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                DeviceUsagePeriod.billing_period_id,
                DeviceUsagePeriod.status,
                DeviceUsagePeriod.usage_mb,
                DeviceUsagePeriod.recorded_at,
            )
        ).all()
    assert [tuple(row) for row in rows] == [(period_id, "ACTIVATED", 2.0, now)]


def test_a_test_ready_sims_usage_is_projected_by_its_carrier_usage_date(priced_provider: Engine):
    """Issue 13, case 4, on the path `carrier-opt export` and the assets take: 100 MB of
    TEST_READY usage dated by the carrier at mid-period is projected to about 202 MB, as the
    legacy system did; a DEACTIVATED SIM's usage is not projected."""
    engine = priced_provider
    sync_at(engine, MARCH)
    period = period_for_key(load_provider_cycle(engine), "2025-03")
    midpoint = period.start + (period.end - period.start) / 2
    with engine.begin() as connection:
        ids = (
            connection.execute(select(DeviceUsagePeriod.id).order_by(DeviceUsagePeriod.id).limit(2))
            .scalars()
            .all()
        )
        for row_id, status in zip(ids, ("TEST_READY", "DEACTIVATED"), strict=True):
            connection.execute(
                DeviceUsagePeriod.__table__.update()
                .where(DeviceUsagePeriod.id == row_id)
                .values(
                    status=status,
                    usage_mb=100.0,
                    ctd_data_usage_bytes=100 * 1_048_576,
                    usage_date=midpoint,
                )
            )
        iccids = connection.execute(
            select(Device.iccid, DeviceUsagePeriod.status)
            .join(Device, Device.id == DeviceUsagePeriod.device_id)
            .where(DeviceUsagePeriod.id.in_(ids))
        ).all()
    devices = instance_tables(engine, "acme", "2025-03").devices.set_index("iccid")
    usage = {status: devices.loc[iccid, "usage_mb"] for iccid, status in iccids}
    assert usage["TEST_READY"] == pytest.approx(202.0)
    assert usage["DEACTIVATED"] == pytest.approx(100.0)


def load_provider_cycle(engine: Engine):
    with engine.connect() as connection:
        return load_provider(connection, "acme").cycle
