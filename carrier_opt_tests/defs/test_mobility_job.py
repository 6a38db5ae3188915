"""Mobility optimization end to end: a mobility fleet served by the fake carrier over HTTP,
the mobility job per optimization group, on both databases."""

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from carrier_opt.cli import cli
from carrier_opt.core.instance import load_instance
from carrier_opt.core.optimizer import optimize
from carrier_opt.db.loads.optimization_groups import load_optimization_groups
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import (
    JasperCarrierRatePlan,
    MobilityDevice,
    OptimizationGroup,
    OptimizationInstance,
    OptimizationMobilityDeviceResult,
    OptimizationSession,
    RunStatus,
)
from carrier_opt.db.providers import add_provider
from carrier_opt.defs import run_context
from carrier_opt.defs.assets import m2m, mobility
from carrier_opt.defs.checks import mobility_checks, plan_types_result
from carrier_opt.defs.partitions import partition_key
from carrier_opt.defs.resources import DatabaseResource, PlatformProgress
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake.prices import write_fake_price_list
from carrier_opt_tests.db.sync_support import API_KEY_ENV, USERNAME_ENV
from carrier_opt_tests.defs.support import materialize_partition, time_limit

ASSETS = [
    *mobility.mobility_assets,  # its own sync steps first
    *mobility_checks,
]


@pytest.fixture
def mobility_provider(migrated_engine, monkeypatch, tmp_path):
    """'mobi': a mobility fleet of the fake, priced, with its three optimization groups."""
    with FakeJasper(devices=500, seed=3, fleet="mobility") as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_provider(
            migrated_engine,
            "mobi",
            jasper_url=fake.base_url,
            billing_cycle_end_day=31,
            billing_cycle_end_rule="after_end_day",
            time_zone="UTC",
            username_env=USERNAME_ENV,
            api_key_env=API_KEY_ENV,
            fleet="mobility",
        )
        prices = write_fake_price_list(tmp_path / "prices", "mobility")
        load_rate_plans(migrated_engine, "mobi", prices.rate_plans, prices.comm_plan_rate_plans)
        load_optimization_groups(migrated_engine, "mobi", prices.optimization_groups)
        monkeypatch.setattr(run_context, "clock", fake.now)
        yield fake


def materialize(database_url: str, key, assets=ASSETS, progress: PlatformProgress | None = None):
    return materialize_partition(
        database_url,
        assets,
        key,
        provider="mobi",
        progress=progress,
        run_config=time_limit(mobility.mobility_winning_assignments, assets),
    )


def test_a_mobility_partition_is_optimized_per_group(
    mobility_provider, migrated_engine, database_url, httpserver
):
    period = mobility_provider.now().strftime("%Y-%m")
    httpserver.expect_request("/progress", method="POST").respond_with_json({"ok": True})
    progress = PlatformProgress(url=httpserver.url_for("/progress"))
    result = materialize(database_url, partition_key("mobi", period), progress=progress)
    assert result.success, [
        str(e.step_failure_data.error) for e in result.all_events if e.is_step_failure
    ]
    split = result.asset_materializations_for_node("mobility_devices")[0].metadata
    winners = result.asset_materializations_for_node("mobility_winning_assignments")[0].metadata
    assert split["groups"].value == 3
    assert split["excluded_devices"].value > 0  # SIMs on a plan of another type stay put
    assert winners["groups_optimized"].value == 3
    assert winners["cost_after_usd"].value <= winners["legacy_cost_usd"].value + 0.005
    assert winners["lower_bound_usd"].value <= winners["cost_after_usd"].value + 0.005
    assert winners["cost_after_usd"].value < winners["cost_before_usd"].value
    milestones = [request.get_json()["progress"] for request, _ in httpserver.log]
    assert milestones == [0, 20, 30, 40, 50, 100]
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == [
        "cost_between_bound_and_baselines",
        "every_sim_assigned_once",
        "plans_of_the_groups_types",
    ]
    assert all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks]

    with migrated_engine.connect() as connection:
        session = connection.execute(select(OptimizationSession)).one()
        instances = connection.execute(select(OptimizationInstance)).all()
        groups = dict(
            connection.execute(select(OptimizationGroup.id, OptimizationGroup.name)).all()
        )
        types = dict(
            connection.execute(
                select(JasperCarrierRatePlan.id, JasperCarrierRatePlan.rate_plan_type)
            ).all()
        )
        group_types = dict(
            connection.execute(
                select(OptimizationGroup.id, OptimizationGroup.rate_plan_types)
            ).all()
        )
        rows = pd.DataFrame(
            connection.execute(
                select(
                    OptimizationMobilityDeviceResult.optimization_group_id,
                    OptimizationMobilityDeviceResult.assigned_carrier_rate_plan_id,
                    OptimizationMobilityDeviceResult.mobility_device_id,
                )
            ).all(),
            columns=["group_id", "plan_id", "device_id"],
        )
        mobility_devices = connection.scalar(select(func.count()).select_from(MobilityDevice))
    assert session.optimization_type == "mobility"
    assert session.status == RunStatus.COMPLETED.value
    assert {i.optimization_group_id for i in instances} == set(groups)
    assert all(i.status == RunStatus.COMPLETED.value for i in instances)
    assert mobility_devices == split["devices"].value + split["excluded_devices"].value
    # Only the winners' rows are kept: one per optimized SIM, on a plan of its group's types.
    assert len(rows) == rows["device_id"].nunique() == split["devices"].value
    for group_id, plan_id in zip(rows["group_id"], rows["plan_id"], strict=True):
        assert types[plan_id] in group_types[group_id].split(";")


def test_the_rate_plan_limit_per_group_skips_the_group(
    mobility_provider, migrated_engine, database_url
):
    with migrated_engine.begin() as connection:
        connection.execute(
            OptimizationGroup.__table__.update()
            .where(OptimizationGroup.name == "Phones")
            .values(max_rate_plans=2)
        )
    period = mobility_provider.now().strftime("%Y-%m")
    result = materialize(database_url, partition_key("mobi", period))
    assert result.success
    split = result.asset_materializations_for_node("mobility_devices")[0].metadata
    winners = result.asset_materializations_for_node("mobility_winning_assignments")[0].metadata
    assert split["skipped_groups"].value == 1
    assert "exceed the group's limit of 2" in split["groups_table"].value
    assert winners["groups_optimized"].value == 2


def test_an_m2m_provider_is_refused_by_the_mobility_job(
    mobility_provider, migrated_engine, database_url
):
    with migrated_engine.begin() as connection:
        connection.exec_driver_sql("UPDATE \"ServiceProvider\" SET fleet = 'm2m'")
    period = mobility_provider.now().strftime("%Y-%m")
    result = materialize(database_url, partition_key("mobi", period))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "is an m2m fleet" in str(failure.step_failure_data.error)


def test_the_m2m_job_refuses_a_mobility_provider(mobility_provider, database_url):
    period = mobility_provider.now().strftime("%Y-%m")
    result = materialize(database_url, partition_key("mobi", period), m2m.optimization_assets)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "is a mobility fleet" in str(failure.step_failure_data.error)


def test_a_groups_exported_instance_gives_the_runs_cost(
    mobility_provider, migrated_engine, database_url, tmp_path
):
    """``instance export --optimization-group`` writes what the run solved for the group."""
    period = mobility_provider.now().strftime("%Y-%m")
    assert materialize(database_url, partition_key("mobi", period)).success
    folder = tmp_path / "tablets"
    exported = CliRunner().invoke(
        cli,
        [
            "instance",
            "export",
            "mobi",
            "--billing-period",
            period,
            "--out",
            str(folder),
            "--optimization-group",
            "Tablets",
            "--database-url",
            database_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    offline = optimize(load_instance(folder), time_limit_s=10)
    with migrated_engine.connect() as connection:
        stored = connection.scalar(
            select(OptimizationInstance.cost_after)
            .join(
                OptimizationGroup,
                OptimizationGroup.id == OptimizationInstance.optimization_group_id,
            )
            .where(OptimizationGroup.name == "Tablets")
        )
    assert float(stored) == pytest.approx(offline.cost, abs=0.01)
    both = CliRunner().invoke(
        cli,
        [
            "instance",
            "export",
            "mobi",
            "--billing-period",
            period,
            "--out",
            str(folder),
            "--optimization-group",
            "Tablets",
            "--customer",
            "x",
            "--database-url",
            database_url,
        ],
    )
    assert both.exit_code != 0 and "not both" in both.output


def test_the_type_check_fails_when_a_sim_is_on_a_plan_of_another_type(
    mobility_provider, migrated_engine, database_url
):
    """The check reads the database: a winner row moved to another type's plan fails it."""
    period = mobility_provider.now().strftime("%Y-%m")
    assert materialize(database_url, partition_key("mobi", period)).success
    with migrated_engine.begin() as connection:
        hotspot_plan = connection.scalar(
            select(JasperCarrierRatePlan.id).where(
                JasperCarrierRatePlan.rate_plan_type == "hotspot"
            )
        )
        tablets = connection.scalar(
            select(OptimizationGroup.id).where(OptimizationGroup.name == "Tablets")
        )
        row = connection.scalar(
            select(func.min(OptimizationMobilityDeviceResult.id)).where(
                OptimizationMobilityDeviceResult.optimization_group_id == tablets
            )
        )
        connection.execute(
            OptimizationMobilityDeviceResult.__table__.update()
            .where(OptimizationMobilityDeviceResult.id == row)
            .values(assigned_carrier_rate_plan_id=hotspot_plan)
        )
    database = DatabaseResource(database_url=database_url)
    result = plan_types_result(database, partition_key("mobi", period))
    assert not result.passed
    assert result.metadata["sims_on_a_plan_of_another_type"].value == 1


def test_a_phone_sim_stays_on_phone_plans_when_a_hotspot_plan_is_its_cheapest_line(
    mobility_provider, migrated_engine, database_url, tmp_path
):
    """Issue 13, case 6: a group allowing phone and hotspot plans keeps each SIM on plans of
    its own type, as the legacy system did, even where a hotspot plan would be cheaper."""
    prices = write_fake_price_list(tmp_path / "cheap", "mobility")
    cheap = prices.rate_plans.read_text().replace(
        "HOTSPOT_10GB,30.0,10240.0", "HOTSPOT_10GB,1.0,10240.0"
    )
    prices.rate_plans.write_text(cheap)
    load_rate_plans(migrated_engine, "mobi", prices.rate_plans, prices.comm_plan_rate_plans)
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "optimization_group,communication_plans,rate_plan_types,max_rate_plans\n"
        "Phones,MOB_PHONE,phone;hotspot,15\nTablets,MOB_TABLET,tablet,15\n"
    )
    load_optimization_groups(migrated_engine, "mobi", groups)
    period = mobility_provider.now().strftime("%Y-%m")
    result = materialize(database_url, partition_key("mobi", period))
    assert result.success
    check = plan_types_result(
        DatabaseResource(database_url=database_url), partition_key("mobi", period)
    )
    assert check.passed, check.metadata
    assert check.metadata["sims_moved_to_another_plan_type"].value == 0
    with migrated_engine.connect() as connection:
        rows = connection.execute(
            select(MobilityDevice.rate_plan_type, JasperCarrierRatePlan.rate_plan_type)
            .join(
                OptimizationMobilityDeviceResult,
                OptimizationMobilityDeviceResult.mobility_device_id == MobilityDevice.id,
            )
            .join(
                JasperCarrierRatePlan,
                JasperCarrierRatePlan.id
                == OptimizationMobilityDeviceResult.assigned_carrier_rate_plan_id,
            )
            .join(OptimizationGroup, OptimizationGroup.id == MobilityDevice.optimization_group_id)
            .where(OptimizationGroup.name == "Phones")
        ).all()
    phones = [assigned for own, assigned in rows if own == "phone"]
    assert phones and set(phones) <= {"phone"}
    # The hotspot plan is the cheapest line of these phone SIMs: $1 for 10 GB.
    folder = tmp_path / "phones"
    exported = CliRunner().invoke(
        cli,
        [
            "instance",
            "export",
            "mobi",
            "--billing-period",
            period,
            "--out",
            str(folder),
            "--optimization-group",
            "Phones",
            "--database-url",
            database_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    instance = load_instance(folder)
    hotspot = list(instance.plan_codes).index("HOTSPOT_10GB")
    phone_rows = [i for i, comm in enumerate(instance.comm_plan_codes) if comm.endswith("[phone]")]
    assert phone_rows and not instance.allowed[phone_rows, hotspot].any()
    phone_sims = [d for d, comm in enumerate(instance.comm_plan) if comm in phone_rows]
    phone_plans = [p for p in range(instance.n_plans) if instance.allowed[phone_rows[0], p]]
    light = [d for d in phone_sims if instance.usage_mb[d] <= 10240]
    assert light and min(instance.base_rate[phone_plans]) > 1.0  # hotspot: $1, no overage
