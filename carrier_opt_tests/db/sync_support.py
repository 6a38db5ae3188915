"""Helpers shared by the sync, export and command tests."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import Device
from carrier_opt.db.providers import add_provider
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake.fleet import COMMUNICATION_PLANS, MB, RATE_PLANS
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.jasper.support import client_for

USERNAME_ENV = "TEST_JASPER_USERNAME"
API_KEY_ENV = "TEST_JASPER_API_KEY"


def add_fake_provider(engine: Engine, fake: FakeJasper, name: str = "acme") -> int:
    """A provider billing by calendar month in UTC, as the fake does, pointing at ``fake``."""
    return add_provider(
        engine,
        name,
        jasper_url=fake.base_url,
        billing_cycle_end_day=31,
        billing_cycle_end_rule="after_end_day",
        time_zone="UTC",
        username_env=USERNAME_ENV,
        api_key_env=API_KEY_ENV,
    )


def synced_priced_provider(engine: Engine, fake: FakeJasper, monkeypatch, folder: Path) -> None:
    """'acme' pointing at ``fake`` (its credentials in the environment), the fake's prices
    loaded and the open period synced: a provider a period's insights can be read from."""
    monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
    monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
    add_fake_provider(engine, fake)
    load_rate_plans(engine, "acme", *write_fake_price_files(folder))
    sync_provider(engine, "acme", client=client_for(fake), now=fake.now())


def device_state(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """Every ``Device`` row as comparable values, by ICCID."""
    columns = (
        Device.iccid,
        Device.status,
        Device.carrier_rate_plan_code,
        Device.communication_plan,
        Device.ctd_data_usage_bytes,
        Device.ctd_sms_usage,
        Device.usage_mb,
        Device.projected_usage_mb,
        Device.date_updated,
    )
    with engine.connect() as connection:
        rows = connection.execute(select(*columns)).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def assert_device_matches_fleet(engine: Engine, fake: FakeJasper) -> None:
    """``Device`` holds exactly the fake's SIMs, with their status, plans and usage."""
    state = device_state(engine)
    fleet = {device.iccid: device for device in fake.fleet}
    assert set(state) == set(fleet)
    for iccid, device in fleet.items():
        status, plan, comm, data_bytes, sms, usage_mb, projected, _updated = state[iccid]
        assert (status, plan, comm) == (
            device.status,
            device.rate_plan,
            device.communication_plan,
        ), iccid
        assert (data_bytes, sms) == (device.ctd_data_bytes, device.ctd_sms), iccid
        assert usage_mb == data_bytes / MB
        if status != "ACTIVATED":
            assert projected == usage_mb
        else:
            assert projected >= usage_mb
    assert_details_match_fleet(engine, fake)


def assert_details_match_fleet(engine: Engine, fake: FakeJasper) -> None:
    """The fields only Get Device Details answers reached ``Device`` for every SIM whose
    details are readable: activation date, customer, msisdn, imsi, account."""
    columns = (
        Device.iccid,
        Device.date_activated,
        Device.customer,
        Device.msisdn,
        Device.imsi,
        Device.account_id,
    )
    with engine.connect() as connection:
        rows = {row[0]: tuple(row[1:]) for row in connection.execute(select(*columns))}
    for device in fake.fleet:
        if device.malformation or device.iccid not in rows:
            continue
        activated = None if device.date_activated is None else device.date_activated
        expected = (device.customer, device.msisdn, device.imsi, device.account_id)
        assert rows[device.iccid][1:] == expected, device.iccid
        if activated is None:
            assert rows[device.iccid][0] is None, device.iccid
        else:  # the carrier's date text keeps milliseconds
            assert abs(rows[device.iccid][0] - activated).total_seconds() < 0.001, device.iccid


def write_fake_price_files(folder: Path) -> tuple[Path, Path]:
    """``rate_plans.csv`` for every plan of the fake and every (comm plan, plan) pair."""
    folder.mkdir(parents=True, exist_ok=True)
    plans_csv, pairs_csv = folder / "rate_plans.csv", folder / "comm_plan_rate_plans.csv"
    with plans_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "rate_plan_code",
                "base_rate",
                "data_allowance_mb",
                "overage_rate",
                "data_per_overage_charge_mb",
                "sms_rate",
                "pooled",
            ]
        )
        for index, plan in enumerate(RATE_PLANS):
            pooled = plan.plan_type == "POOLED"
            writer.writerow(
                [
                    plan.name,
                    f"{1 + index * 1.5:.2f}",
                    plan.allowance_mb,
                    "0.25",
                    "1",
                    "0.05",
                    pooled,
                ]
            )
    with pairs_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["communication_plan", "rate_plan_code"])
        for comm in COMMUNICATION_PLANS:
            for plan in RATE_PLANS:
                writer.writerow([comm, plan.name])
    return plans_csv, pairs_csv
