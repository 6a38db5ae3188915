"""provider add --fleet, optimization-groups load, customer-plans load / assign, end to end
against the fake carrier through the real ``carrier-opt`` group."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from carrier_opt.cli import cli
from carrier_opt.db.loads.optimization_groups import active_optimization_groups
from carrier_opt.db.models import CustomerRatePool, Device, JasperCustomerRatePlan
from carrier_opt.db.providers import load_provider
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake.prices import write_fake_customer_sims, write_fake_price_list
from carrier_opt_tests.db.sync_support import API_KEY_ENV, USERNAME_ENV


def run(*args: str, database_url: str, env: dict | None = None):
    return CliRunner().invoke(cli, [*args, "--database-url", database_url], env=env)


def add_and_sync(fake: FakeJasper, database_url: str, fleet: str) -> None:
    added = run(
        *("provider", "add", "acme", "--jasper-url", fake.base_url, "--fleet", fleet),
        *("--billing-cycle-end-day", "31", "--timezone", "UTC"),
        *("--billing-cycle-end-rule", "after_end_day"),
        *("--username-env", USERNAME_ENV, "--api-key-env", API_KEY_ENV),
        database_url=database_url,
    )
    assert added.exit_code == 0, added.output
    assert f"added {fleet} service provider acme" in added.output
    env = {USERNAME_ENV: fake.credentials[0], API_KEY_ENV: fake.credentials[1]}
    synced = run("sync", "acme", "--calls-per-second", "1000", database_url=database_url, env=env)
    assert synced.exit_code == 0, synced.output


def test_a_mobility_provider_gets_its_groups(migrated_engine, database_url, tmp_path):
    with FakeJasper(devices=150, seed=12, fleet="mobility") as fake:
        add_and_sync(fake, database_url, "mobility")
    prices = write_fake_price_list(tmp_path, "mobility")
    loaded = run(
        *("rate-plans", "load", "acme", "--rate-plans", str(prices.rate_plans)),
        *("--comm-plans", str(prices.comm_plan_rate_plans)),
        database_url=database_url,
    )
    assert loaded.exit_code == 0, loaded.output
    groups = run(
        "optimization-groups",
        "load",
        "acme",
        str(prices.optimization_groups),
        database_url=database_url,
    )
    assert groups.exit_code == 0, groups.output
    assert "acme: 3 optimization groups added, 0 updated, 0 deactivated" in groups.output
    with migrated_engine.connect() as connection:
        provider = load_provider(connection, "acme")
        names = [g.name for g in active_optimization_groups(connection, provider.id)]
    assert (provider.fleet, names) == ("mobility", ["Hotspots", "Phones", "Tablets"])

    bad = tmp_path / "bad.csv"
    bad.write_text("optimization_group,communication_plans,rate_plan_types\nWatches,W,watch\n")
    refused = run("optimization-groups", "load", "acme", str(bad), database_url=database_url)
    assert refused.exit_code == 1
    assert "bad.csv:2:rate_plan_types: no carrier rate plan of acme has type 'watch'" in (
        refused.output
    )
    assert "Traceback" not in refused.output


def test_an_m2m_agent_puts_its_customers_sims_on_its_plans(migrated_engine, database_url, tmp_path):
    with FakeJasper(devices=300, seed=21) as fake:
        add_and_sync(fake, database_url, "m2m")
        fleet = list(fake.fleet)
    prices = write_fake_price_list(tmp_path)
    sims_csv = write_fake_customer_sims(tmp_path, fleet)
    loaded = run(
        "customer-plans",
        "load",
        "acme",
        str(prices.customer_rate_plans),
        database_url=database_url,
    )
    assert loaded.exit_code == 0, loaded.output
    assert "acme: 6 customer rate plans added, 0 updated, 2 new pools" in loaded.output
    assigned = run("customer-plans", "assign", "acme", str(sims_csv), database_url=database_url)
    assert assigned.exit_code == 0, assigned.output
    with migrated_engine.connect() as connection:
        rows = connection.execute(
            select(Device.customer, JasperCustomerRatePlan.rate_plan_code, CustomerRatePool.name)
            .join(JasperCustomerRatePlan, JasperCustomerRatePlan.id == Device.customer_rate_plan_id)
            .join(
                CustomerRatePool, CustomerRatePool.id == Device.customer_rate_pool_id, isouter=True
            )
        ).all()
    with_customer = sum(1 for device in fleet if device.customer)
    assert 0.8 * with_customer < len(rows) < with_customer
    assert f"acme: {len(rows)} SIMs assigned, 0 cleared" in assigned.output
    assert all(customer for customer, _code, _pool in rows), "only SIMs with a customer"
    acme_pool = {customer for customer, code, _pool in rows if code == "AGENT_POOL_ACME_50MB"}
    assert acme_pool <= {"Acme Metering"}

    unknown = tmp_path / "unknown.csv"
    unknown.write_text("iccid,customer_rate_plan\n8901260000000000001,AGENT_BASIC_5MB\n")
    refused = run("customer-plans", "assign", "acme", str(unknown), database_url=database_url)
    assert refused.exit_code == 1
    assert "unknown.csv:2:iccid: acme has no SIM '8901260000000000001': sync the provider" in (
        refused.output
    )


def test_an_unknown_fleet_is_refused_by_the_command_line(migrated_engine, database_url):
    result = run(
        *("provider", "add", "acme", "--jasper-url", "http://127.0.0.1:9/rws/api/v1/"),
        *("--billing-cycle-end-day", "31", "--timezone", "UTC", "--fleet", "iot"),
        database_url=database_url,
    )
    assert result.exit_code == 2
    assert "'iot' is not one of 'm2m', 'mobility'" in result.output
