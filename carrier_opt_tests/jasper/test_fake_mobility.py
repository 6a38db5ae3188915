"""The fake's mobility fleet, its typed price list and groups, and the agent's customer files."""

from __future__ import annotations

import csv
import hashlib
import statistics
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests
from click.testing import CliRunner

from carrier_opt.cli import fake_jasper as cli
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake.fleet import (
    CUSTOMERS,
    MB,
    MOBILITY_COMMUNICATION_PLANS,
    MOBILITY_RATE_PLANS,
    RATE_PLANS,
    build_fleet,
)
from carrier_opt.jasper.fake.prices import (
    CUSTOMER_PLANS,
    POOL_OWNER,
    write_fake_customer_sims,
    write_fake_price_list,
    write_fake_prices,
)

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
TYPE_OF_PLAN = {plan.name: plan.rate_plan_type for plan in MOBILITY_RATE_PLANS}
TYPE_OF_COMM = {"MOB_PHONE": "phone", "MOB_TABLET": "tablet", "MOB_HOTSPOT": "hotspot"}


def read_rows(path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_m2m_fleet_of_a_seed_is_unchanged() -> None:
    # Pinned from the generator before mobility fleets existed: tests and demos rely on it.
    fleet = build_fleet(300, seed=7, now=NOW, malformed_fraction=0.05, missing_usage_fraction=0.05)
    digest = hashlib.sha256(repr(fleet).encode()).hexdigest()
    assert digest == "73021f0d99a5aa489a409f5c84eec4aaf6624f2194505b22b8c73b5c7bf6880a"
    assert build_fleet(300, seed=7, now=NOW, fleet="m2m") == build_fleet(300, seed=7, now=NOW)


def test_a_mobility_fleet_is_phones_tablets_and_hotspots_on_typed_plans() -> None:
    fleet = build_fleet(5000, seed=3, now=NOW, fleet="mobility")
    comms = Counter(d.communication_plan for d in fleet)
    assert set(comms) == set(MOBILITY_COMMUNICATION_PLANS)
    assert comms["MOB_PHONE"] > comms["MOB_TABLET"] > comms["MOB_HOTSPOT"]
    assert {d.rate_plan for d in fleet} == set(TYPE_OF_PLAN)
    mismatched = [
        d for d in fleet if TYPE_OF_PLAN[d.rate_plan] != TYPE_OF_COMM[d.communication_plan]
    ]
    assert 0.01 < len(mismatched) / len(fleet) < 0.035
    used_gb = [d.monthly_data_bytes / MB / 1024 for d in fleet if d.monthly_data_bytes]
    assert 1 < statistics.median(used_gb) < 6, "GB-scale usage"
    assert max(used_gb) > 10 * statistics.median(used_gb), "heavy-tailed"
    assert {d.customer for d in fleet} <= set(CUSTOMERS)
    assert len({d.iccid for d in fleet}) == 5000


def test_a_mobility_fleet_is_deterministic_and_unlike_the_m2m_one() -> None:
    mobility = build_fleet(200, seed=1, now=NOW, fleet="mobility")
    assert mobility == build_fleet(200, seed=1, now=NOW, fleet="mobility")
    assert mobility != build_fleet(200, seed=2, now=NOW, fleet="mobility")
    assert {d.rate_plan for d in mobility}.isdisjoint(p.name for p in RATE_PLANS)
    with pytest.raises(ValueError, match="fleet must be one of m2m, mobility"):
        build_fleet(1, seed=1, now=NOW, fleet="satellite")


def test_the_fake_serves_a_mobility_fleet_and_its_plans() -> None:
    with FakeJasper(devices=40, seed=2, fleet="mobility") as fake:
        auth = fake.credentials
        plans = requests.get(fake.base_url + "rateplans", auth=auth, timeout=5).json()
        usage = requests.get(
            fake.base_url + "usages", params={"ratePlanName": "PHONE_5GB"}, auth=auth, timeout=5
        )
        m2m_plan = requests.get(
            fake.base_url + "usages", params={"ratePlanName": "M2M Data 5MB"}, auth=auth, timeout=5
        )
    assert fake.rate_plan_names == [plan.name for plan in MOBILITY_RATE_PLANS]
    assert {p["name"] for p in plans["ratePlans"]} <= set(TYPE_OF_PLAN)
    assert usage.status_code == 200
    assert {d.communication_plan for d in fake.fleet} <= set(MOBILITY_COMMUNICATION_PLANS)
    assert m2m_plan.status_code == 400


def test_the_mobility_price_list_is_typed_and_has_one_group_per_kind(tmp_path) -> None:
    written = write_fake_price_list(tmp_path, "mobility")
    assert written.customer_rate_plans is None
    plans = {row["rate_plan_code"]: row for row in read_rows(written.rate_plans)}
    assert set(plans) == set(TYPE_OF_PLAN)
    assert all(plans[code]["rate_plan_type"] == TYPE_OF_PLAN[code] for code in plans)
    assert plans["PHONE_UNLIMITED"]["charge_type"] == "rate_only"
    assert {code for code, row in plans.items() if row["pooled"] == "true"} == {
        "PHONE_POOL_10GB",
        "TABLET_POOL_20GB",
    }
    groups = read_rows(written.optimization_groups)
    assert [
        (g["optimization_group"], g["communication_plans"], g["rate_plan_types"]) for g in groups
    ] == [
        ("Phones", "MOB_PHONE", "phone"),
        ("Tablets", "MOB_TABLET", "tablet"),
        ("Hotspots", "MOB_HOTSPOT", "hotspot"),
    ]
    pairs = read_rows(written.comm_plan_rate_plans)
    assert {p["communication_plan"] for p in pairs} == set(MOBILITY_COMMUNICATION_PLANS)


def test_the_m2m_price_list_keeps_its_files_and_adds_the_agents_plans(tmp_path) -> None:
    assert write_fake_prices(tmp_path / "a") == (
        tmp_path / "a" / "rate_plans.csv",
        tmp_path / "a" / "comm_plan_rate_plans.csv",
    )
    written = write_fake_price_list(tmp_path / "b")
    assert written.optimization_groups is None
    assert written.rate_plans.read_text() == (tmp_path / "a" / "rate_plans.csv").read_text()
    plans = read_rows(written.customer_rate_plans)
    assert 4 <= len(plans) <= 6
    pooled = [p for p in plans if p["pooled"] == "true"]
    assert {p["pool_customer"] for p in pooled} == {POOL_OWNER, ""}
    assert len({p["customer_rate_pool"] for p in pooled}) == len(pooled), "one plan per pool"
    assert all(not p["customer_rate_pool"] for p in plans if p["pooled"] == "false")


def test_customer_sims_put_customers_sims_on_the_agents_plans(tmp_path) -> None:
    fleet = build_fleet(3000, seed=5, now=NOW)
    path = write_fake_customer_sims(tmp_path, fleet)
    assert path.read_bytes() == write_fake_customer_sims(tmp_path / "again", fleet).read_bytes()
    rows = {row["iccid"]: row["customer_rate_plan"] for row in read_rows(path)}
    by_iccid = {d.iccid: d for d in fleet}
    assert set(rows) == {d.iccid for d in fleet if d.customer}
    unassigned = sum(1 for code in rows.values() if not code)
    assert 0.06 < unassigned / len(rows) < 0.14
    assert {code for code in rows.values() if code} == set(CUSTOMER_PLANS)
    owned = [iccid for iccid, code in rows.items() if code == "AGENT_POOL_ACME_50MB"]
    assert owned and {by_iccid[iccid].customer for iccid in owned} == {POOL_OWNER}


@pytest.mark.parametrize(
    ("fleet", "files"),
    [
        ("m2m", {"customer_rate_plans.csv", "customer_sims.csv"}),
        ("mobility", {"optimization_groups.csv"}),
    ],
)
def test_fake_jasper_writes_every_file_of_its_fleet(monkeypatch, tmp_path, fleet, files) -> None:
    def stop_at_once(fake: FakeJasper) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "wait_for_interrupt", stop_at_once)
    result = CliRunner().invoke(
        cli.fake_jasper,
        ["--port", "0", "--devices", "50", "--fleet", fleet, "--write-prices", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    expected = {"rate_plans.csv", "comm_plan_rate_plans.csv", *files}
    assert {path.name for path in tmp_path.iterdir()} == expected
    assert f"serving 50 {fleet} SIMs" in result.output
