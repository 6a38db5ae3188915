"""Customer optimization end to end: the fake carrier over HTTP, then the customer job, on
both databases — including a shared pool whose locked SIMs change the customer's optimum."""

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from carrier_opt.cli import cli
from carrier_opt.core.instance import instance_from_frames, load_instance
from carrier_opt.core.optimizer import optimize
from carrier_opt.db.customer_optimization import customer_input
from carrier_opt.db.export import instance_tables
from carrier_opt.db.loads.customer_plans import assign_customer_rate_plans, load_customer_rate_plans
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import (
    Device,
    JasperCarrierRatePlan,
    JasperCustomerRatePlan,
    MobilityDevice,
    OptimizationCustomerProcessing,
    OptimizationDeviceResult,
    OptimizationInstance,
    OptimizationMobilityDeviceResult,
    OptimizationMobilitySharedPoolResult,
    OptimizationSession,
    OptimizationSharedPoolResult,
    OptimizationType,
    RevCustomer,
    RunStatus,
)
from carrier_opt.db.providers import add_provider, load_provider
from carrier_opt.defs import run_context
from carrier_opt.defs.assets import customer
from carrier_opt.defs.checks import carrier_plans_result, customer_checks, latest_completed_run
from carrier_opt.defs.partitions import partition_key
from carrier_opt.defs.resources import DatabaseResource, PlatformProgress
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt.jasper.fake.prices import write_fake_customer_sims, write_fake_price_list
from carrier_opt.pipeline import customer as customer_pipeline
from carrier_opt.pipeline.sync import sync_provider
from carrier_opt_tests.db.sync_support import (
    API_KEY_ENV,
    USERNAME_ENV,
    add_fake_provider,
    write_fake_price_files,
)
from carrier_opt_tests.defs.support import materialize_partition, time_limit
from carrier_opt_tests.jasper.support import client_for

FOCUS = "Acme Metering"
CUSTOMER_PLANS = (
    (
        "rate_plan_code,base_rate,data_allowance_mb,overage_rate,data_per_overage_charge_mb,"
        "sms_rate,pooled,customer_rate_pool,pool_customer\n"
    )
    + """C_SOLO_SMALL,3.00,5,1.00,1,0.01,false,,
C_SOLO_BIG,20.00,2048,0.50,1,0.01,false,,
C_SHARED_POOL,4.00,30,2.00,1,0.01,true,SharedPool,
C_ACME_POOL,3.00,5,1.00,1,0.01,true,AcmePool,Acme Metering
"""
)


@pytest.fixture
def customer_provider(migrated_engine, monkeypatch, tmp_path):
    """'acme' synced from the fake, with customer plans; Acme Metering's SIMs in its own pool,
    the lightest half of the other customers' SIMs in the shared pool, the rest small."""
    with FakeJasper(devices=300, seed=11) as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_fake_provider(migrated_engine, fake)
        load_rate_plans(migrated_engine, "acme", *write_fake_price_files(tmp_path / "prices"))
        monkeypatch.setattr(run_context, "clock", fake.now)
        plans = tmp_path / "customer_rate_plans.csv"
        plans.write_text(CUSTOMER_PLANS)
        load_customer_rate_plans(migrated_engine, "acme", plans)
        others = sorted(
            (d for d in fake.fleet if d.customer and d.customer != FOCUS),
            key=lambda d: d.ctd_data_bytes,
        )
        shared = {d.iccid for d in others[: len(others) // 2]}
        lines = ["iccid,customer_rate_plan"]
        for device in fake.fleet:
            if device.customer == FOCUS:
                lines.append(f"{device.iccid},C_ACME_POOL")
            elif device.customer:
                plan = "C_SHARED_POOL" if device.iccid in shared else "C_SOLO_SMALL"
                lines.append(f"{device.iccid},{plan}")
        yield fake, lines


@pytest.fixture
def synced_customers(customer_provider, migrated_engine, tmp_path):
    """``customer_provider`` synced, its SIMs on their customer plans."""
    fake, lines = customer_provider
    sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
    sims = tmp_path / "customer_sims.csv"
    sims.write_text("\n".join(lines) + "\n")
    assign_customer_rate_plans(migrated_engine, "acme", sims)
    return fake, lines


def materialize(database_url: str, assets, key, progress: PlatformProgress | None = None):
    return materialize_partition(
        database_url,
        assets,
        key,
        progress=progress,
        run_config=time_limit(customer.customer_winning_assignments, assets),
    )


def run_customer_job(database_url: str, period: str):
    """The customer job's partition of 'acme', which must succeed, its checks too."""
    result = materialize(
        database_url, [*customer.customer_assets, *customer_checks], partition_key("acme", period)
    )
    assert result.success, [
        str(e.step_failure_data.error) for e in result.all_events if e.is_step_failure
    ]
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 3 and all(c.passed for c in checks), [
        (c.check_name, c.metadata) for c in checks
    ]
    # Each evaluation carries its partition, so the UI's check page names it (issue 15).
    assert {c.partition for c in checks} == {str(partition_key("acme", period))}
    return result


def test_customer_optimization_end_to_end(
    customer_provider, migrated_engine, database_url, tmp_path, httpserver
):
    fake, lines = customer_provider
    period = fake.now().strftime("%Y-%m")
    key = partition_key("acme", period)
    sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
    sims = tmp_path / "customer_sims.csv"
    sims.write_text("\n".join(lines) + "\n")
    assign_customer_rate_plans(migrated_engine, "acme", sims)

    httpserver.expect_request("/progress", method="POST").respond_with_json({"ok": True})
    progress = PlatformProgress(url=httpserver.url_for("/progress"))
    result = materialize(database_url, [*customer.customer_assets, *customer_checks], key, progress)
    assert result.success, [
        str(e.step_failure_data.error) for e in result.all_events if e.is_step_failure
    ]
    pools = result.asset_materializations_for_node("customer_rate_pools")[0].metadata
    winners = result.asset_materializations_for_node("customer_winning_assignments")[0].metadata
    assert pools["customers"].value == winners["customers_optimized"].value >= 2
    assert pools["locked_shared_pool_devices"].value > 0
    assert winners["cost_after_usd"].value <= winners["legacy_cost_usd"].value + 0.005
    assert winners["lower_bound_usd"].value <= winners["cost_after_usd"].value + 0.005
    assert winners["cost_after_usd"].value < winners["cost_before_usd"].value
    assert winners["carrier_changes_pushed"].value == 0
    assert fake.edits == []  # customer optimization never changes anything at the carrier
    milestones = [request.get_json()["progress"] for request, _ in httpserver.log]
    assert milestones == [0, 40, 50, 100]
    checks = result.get_asset_check_evaluations()
    assert sorted(c.check_name for c in checks) == [
        "carrier_plans_unchanged",
        "cost_between_bound_and_baselines",
        "every_sim_assigned_once",
    ]
    assert all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks]

    with migrated_engine.connect() as connection:
        session = connection.execute(select(OptimizationSession)).all()[-1]
        processing = connection.execute(select(OptimizationCustomerProcessing)).all()
        instances = connection.execute(
            select(OptimizationInstance).where(OptimizationInstance.rev_customer_id.is_not(None))
        ).all()
        rows = connection.scalar(
            select(func.count())
            .select_from(OptimizationDeviceResult)
            .where(OptimizationDeviceResult.assigned_customer_rate_plan_id.is_not(None))
        )
        shared_rows = connection.execute(select(OptimizationSharedPoolResult)).all()
    assert session.optimization_type == "customer"
    assert session.status == RunStatus.COMPLETED.value
    assert len(processing) == len(instances) == winners["customers_optimized"].value
    assert all(p.status == RunStatus.COMPLETED.value for p in processing)
    assert rows == pools["devices"].value  # the winners' rows, own SIMs only
    assert len(shared_rows) == winners["shared_pool_rows"].value > 0
    # The pool's overage is spread evenly: every SIM of one pool carries the same share.
    shares = {}
    for row in shared_rows:
        shares.setdefault((row.optimization_instance_id, row.customer_rate_pool_id), set()).add(
            row.pool_overage_share_amount
        )
    assert all(len(values) == 1 for values in shares.values())


def test_locked_shared_pool_sims_change_the_customers_optimum(
    customer_provider, migrated_engine, database_url, tmp_path
):
    fake, lines = customer_provider
    period = fake.now().strftime("%Y-%m")
    sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
    sims = tmp_path / "customer_sims.csv"
    sims.write_text("\n".join(lines) + "\n")
    assign_customer_rate_plans(migrated_engine, "acme", sims)
    tables = instance_tables(migrated_engine, "acme", period)
    with migrated_engine.connect() as connection:
        provider_id = load_provider(connection, "acme").id
        found = customer_input(connection, provider_id, "acme", tables)
    focus = next(c for c in found.customers if c.customer == FOCUS)
    assert focus.devices["locked"].any()
    with_pool = instance_from_frames(focus.rate_plans, focus.comm_plan_rate_plans, focus.devices)
    own = focus.devices[~focus.devices["locked"].astype(bool)]
    alone = instance_from_frames(focus.rate_plans, focus.comm_plan_rate_plans, own)
    shared = optimize(with_pool, time_limit_s=5).assignment[: len(own)]
    ignoring = optimize(alone, time_limit_s=5).assignment
    # The idle SIMs of other customers bring spare allowance to the shared pool: with them,
    # Acme's light SIMs no longer need to join the pool to carry its heavy ones.
    assert list(with_pool.plan_codes) == list(alone.plan_codes)
    assert (shared != ignoring).sum() >= 5
    pool = list(with_pool.plan_codes).index("C_SHARED_POOL")
    assert (shared == pool).sum() < (ignoring == pool).sum()


def test_customer_optimization_of_a_mobility_fleet(
    migrated_engine, database_url, monkeypatch, tmp_path
):
    """A mobility fleet's customers: rows go to the mobility tables (MobilityDevice ids)."""
    with FakeJasper(devices=300, seed=4, fleet="mobility") as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_provider(
            migrated_engine,
            "acme",
            jasper_url=fake.base_url,
            billing_cycle_end_day=31,
            billing_cycle_end_rule="after_end_day",
            time_zone="UTC",
            username_env=USERNAME_ENV,
            api_key_env=API_KEY_ENV,
            fleet="mobility",
        )
        prices = write_fake_price_list(tmp_path / "prices", "mobility")
        load_rate_plans(migrated_engine, "acme", prices.rate_plans, prices.comm_plan_rate_plans)
        monkeypatch.setattr(run_context, "clock", fake.now)
        plans = tmp_path / "customer_rate_plans.csv"
        plans.write_text(CUSTOMER_PLANS)
        load_customer_rate_plans(migrated_engine, "acme", plans)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
        lines = ["iccid,customer_rate_plan"]
        for index, device in enumerate(d for d in fake.fleet if d.customer):
            plan = "C_ACME_POOL" if device.customer == FOCUS else "C_SHARED_POOL"
            lines.append(f"{device.iccid},{plan if index % 3 else 'C_SOLO_BIG'}")
        sims = tmp_path / "customer_sims.csv"
        sims.write_text("\n".join(lines) + "\n")
        assign_customer_rate_plans(migrated_engine, "acme", sims)
        period = fake.now().strftime("%Y-%m")
        result = run_customer_job(database_url, period)
    pools = result.asset_materializations_for_node("customer_rate_pools")[0].metadata
    winners = result.asset_materializations_for_node("customer_winning_assignments")[0].metadata
    with migrated_engine.connect() as connection:
        mobility_rows = connection.scalar(
            select(func.count())
            .select_from(OptimizationMobilityDeviceResult)
            .where(OptimizationMobilityDeviceResult.assigned_customer_rate_plan_id.is_not(None))
        )
        shared = connection.scalar(
            select(func.count()).select_from(OptimizationMobilitySharedPoolResult)
        )
        m2m_rows = connection.scalar(select(func.count()).select_from(OptimizationDeviceResult))
        mobility_devices = connection.scalar(select(func.count()).select_from(MobilityDevice))
    assert mobility_rows == pools["devices"].value > 0
    assert shared == winners["shared_pool_rows"].value > 0
    assert m2m_rows == 0
    assert mobility_devices >= mobility_rows


def test_the_fakes_own_customer_data_runs_end_to_end(
    migrated_engine, database_url, monkeypatch, tmp_path
):
    """What a user gets from ``fake-jasper --write-prices``: the agent's plans and SIMs."""
    with FakeJasper(devices=400, seed=8) as fake:
        monkeypatch.setenv(USERNAME_ENV, fake.credentials[0])
        monkeypatch.setenv(API_KEY_ENV, fake.credentials[1])
        add_fake_provider(migrated_engine, fake)
        prices = write_fake_price_list(tmp_path / "prices", "m2m")
        load_rate_plans(migrated_engine, "acme", prices.rate_plans, prices.comm_plan_rate_plans)
        load_customer_rate_plans(migrated_engine, "acme", prices.customer_rate_plans)
        monkeypatch.setattr(run_context, "clock", fake.now)
        sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
        sims = write_fake_customer_sims(tmp_path / "prices", fake.fleet)
        assign_customer_rate_plans(migrated_engine, "acme", sims)
        period = fake.now().strftime("%Y-%m")
        result = run_customer_job(database_url, period)
    winners = result.asset_materializations_for_node("customer_winning_assignments")[0].metadata
    assert winners["customers_optimized"].value == 3  # the fake's three named customers
    assert winners["lower_bound_usd"].value <= winners["cost_after_usd"].value + 0.005
    assert winners["cost_after_usd"].value <= winners["legacy_cost_usd"].value + 0.005
    assert winners["cost_after_usd"].value <= winners["cost_before_usd"].value
    assert winners["shared_pool_rows"].value > 0


def test_a_failing_customer_is_recorded_and_the_others_still_run(
    synced_customers, migrated_engine, database_url, monkeypatch, tmp_path
):
    fake, _lines = synced_customers
    real_solve = customer_pipeline.solve_instance

    def solve_but_fail_for_the_focus(engine, ids, instance, **kwargs):
        if "C_ACME_POOL" in set(instance.plan_codes.tolist()):
            raise RuntimeError("solver crashed")
        return real_solve(engine, ids, instance, **kwargs)

    monkeypatch.setattr(customer_pipeline, "solve_instance", solve_but_fail_for_the_focus)
    period = fake.now().strftime("%Y-%m")
    result = materialize(database_url, customer.customer_assets, partition_key("acme", period))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "failed for 1 of" in str(failure.step_failure_data.error)
    assert f"{FOCUS}: RuntimeError: solver crashed" in str(failure.step_failure_data.error)
    with migrated_engine.connect() as connection:
        statuses = dict(
            connection.execute(
                select(RevCustomer.rev_customer_number, OptimizationCustomerProcessing.status).join(
                    RevCustomer, RevCustomer.id == OptimizationCustomerProcessing.rev_customer_id
                )
            ).all()
        )
        session = connection.execute(select(OptimizationSession)).one()
    assert statuses.pop(FOCUS) == RunStatus.FAILED.value
    assert statuses and set(statuses.values()) == {RunStatus.COMPLETED.value}
    assert session.status == RunStatus.FAILED.value  # so it does not block the next run


def test_sims_on_an_inactive_customer_plan_are_left_out_and_counted(
    synced_customers, migrated_engine, tmp_path
):
    fake, lines = synced_customers
    with migrated_engine.begin() as connection:
        connection.execute(
            update(JasperCustomerRatePlan)
            .where(JasperCustomerRatePlan.rate_plan_code == "C_SOLO_SMALL")
            .values(is_active=False)
        )
    tables = instance_tables(migrated_engine, "acme", fake.now().strftime("%Y-%m"))
    with migrated_engine.connect() as connection:
        found = customer_input(connection, load_provider(connection, "acme").id, "acme", tables)
    on_small = sum(1 for line in lines if line.endswith(",C_SOLO_SMALL"))
    assert 0 < found.on_inactive_plan <= on_small
    for tables_ in found.customers:
        assert "C_SOLO_SMALL" not in set(tables_.devices["rate_plan_code"])
        assert "C_SOLO_SMALL" not in set(tables_.rate_plans["rate_plan_code"])


def test_a_run_whose_customers_are_all_still_to_read_says_so_and_names_sims(
    synced_customers, migrated_engine
):
    """Issue 27: before later syncs read the details, no SIM has a customer: the run's one
    line says that, with SIMs to look up, not only "assign them"."""
    fake, _lines = synced_customers
    with migrated_engine.begin() as connection:
        connection.execute(update(Device).values(customer=None, details_at=None))
    tables = instance_tables(migrated_engine, "acme", fake.now().strftime("%Y-%m"))
    with migrated_engine.connect() as connection:
        provider_id = load_provider(connection, "acme").id
        with pytest.raises(InputError, match="is not read yet") as refused:
            customer_input(connection, provider_id, "acme", tables)
    assert f"the customer of {len(tables.devices):,} SIMs (" in str(refused.value)
    assert "carrier-opt sync acme" in str(refused.value)


def test_a_customers_exported_instance_gives_the_runs_cost(
    synced_customers, migrated_engine, database_url, tmp_path
):
    """``instance export --customer`` writes what the run solved: optimizing that folder with
    the contract's optimizer reaches the cost the run stored for the customer."""
    fake, _lines = synced_customers
    period = fake.now().strftime("%Y-%m")
    run_customer_job(database_url, period)
    folder = tmp_path / "focus"
    exported = CliRunner().invoke(
        cli,
        [
            "instance",
            "export",
            "acme",
            "--billing-period",
            period,
            "--out",
            str(folder),
            "--customer",
            FOCUS,
            "--database-url",
            database_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert f"customer {FOCUS}" in exported.output and "locked" in exported.output
    offline = optimize(load_instance(folder), time_limit_s=10)
    with migrated_engine.connect() as connection:
        stored = connection.scalar(
            select(OptimizationInstance.cost_after)
            .join(RevCustomer, RevCustomer.id == OptimizationInstance.rev_customer_id)
            .where(RevCustomer.rev_customer_number == FOCUS)
        )
    assert float(stored) == pytest.approx(offline.cost, abs=0.01)
    unknown = CliRunner().invoke(
        cli,
        [
            "instance",
            "export",
            "acme",
            "--billing-period",
            period,
            "--out",
            str(folder),
            "--customer",
            "Nobody Inc",
            "--database-url",
            database_url,
        ],
    )
    assert unknown.exit_code != 0 and "no customer 'Nobody Inc'" in unknown.output


def test_the_carrier_plan_check_fails_when_a_carrier_plan_changed(
    synced_customers, migrated_engine, database_url, tmp_path
):
    fake, _lines = synced_customers
    period = fake.now().strftime("%Y-%m")
    run_customer_job(database_url, period)
    database = DatabaseResource(database_url=database_url)
    assert carrier_plans_result(database, partition_key("acme", period)).passed
    with migrated_engine.begin() as connection:
        row = connection.scalar(select(func.min(OptimizationDeviceResult.id)))
        current = connection.scalar(
            select(OptimizationDeviceResult.current_carrier_rate_plan_id).where(
                OptimizationDeviceResult.id == row
            )
        )
        other = connection.scalar(
            select(func.min(JasperCarrierRatePlan.id)).where(JasperCarrierRatePlan.id != current)
        )
        connection.execute(
            update(OptimizationDeviceResult)
            .where(OptimizationDeviceResult.id == row)
            .values(assigned_carrier_rate_plan_id=other)
        )
    result = carrier_plans_result(database, partition_key("acme", period))
    assert not result.passed and result.metadata["carrier_plan_changes"].value == 1


def test_the_m2m_checks_do_not_read_a_customer_session(
    synced_customers, migrated_engine, database_url, tmp_path
):
    """A customer run of a partition must not be mistaken for its M2M run by the M2M checks."""
    fake, _lines = synced_customers
    period = fake.now().strftime("%Y-%m")
    run_customer_job(database_url, period)
    database = DatabaseResource(database_url=database_url)
    key = partition_key("acme", period)
    assert latest_completed_run(database, key) is None  # no M2M run of the partition yet
    assert latest_completed_run(database, key, OptimizationType.CUSTOMER) is not None


def _stored_moves(engine) -> list[tuple[str, str]]:
    """(current, assigned) customer plan codes of every stored winning row."""
    current, assigned = JasperCustomerRatePlan.__table__.alias(), JasperCustomerRatePlan.__table__
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(current.c.rate_plan_code, assigned.c.rate_plan_code)
                .select_from(OptimizationDeviceResult)
                .join(
                    current, current.c.id == OptimizationDeviceResult.current_customer_rate_plan_id
                )
                .join(
                    assigned,
                    assigned.c.id == OptimizationDeviceResult.assigned_customer_rate_plan_id,
                )
            ).all()
        ]


FAMILY_PLANS = (
    "rate_plan_code,base_rate,data_allowance_mb,overage_rate,data_per_overage_charge_mb,"
    "sms_rate,pooled,customer_rate_pool,pool_customer,plan_family\n"
    "C_SOLO_SMALL,3.00,5,1.00,1,0.01,false,,,{small}\n"
    "C_SOLO_BIG,20.00,2048,0.50,1,0.01,false,,,{big}\n"
    "C_SHARED_POOL,4.00,30,2.00,1,0.01,true,SharedPool,,\n"
    "C_ACME_POOL,3.00,5,1.00,1,0.01,true,AcmePool,Acme Metering,\n"
)


@pytest.mark.parametrize("same_family", [True, False])
def test_customer_sims_move_only_among_plans_of_their_family_and_pooling_flag(
    customer_provider, migrated_engine, database_url, tmp_path, same_family
):
    """Legacy customer rule (issue 13, case 7): a SIM moves only among plans with its plan's
    rate-plan code (our ``plan_family``) and pooling flag. Heavy SIMs on the small plan would
    be cheaper in the shared pool (pooled: never offered to them) or, when the big plan is of
    their family, on the big plan."""
    fake, lines = customer_provider
    small, big = ("SOLO", "SOLO") if same_family else ("SMALL", "BIG")
    plans = tmp_path / "family_plans.csv"
    plans.write_text(FAMILY_PLANS.format(small=small, big=big))
    load_customer_rate_plans(migrated_engine, "acme", plans)
    sync_provider(migrated_engine, "acme", client=client_for(fake), now=fake.now())
    sims = tmp_path / "customer_sims.csv"
    # Every other customer's SIM on the small plan, heavy ones too.
    sims.write_text("\n".join(line.replace(",C_SHARED_POOL", ",C_SOLO_SMALL") for line in lines))
    assign_customer_rate_plans(migrated_engine, "acme", sims)
    result = run_customer_job(database_url, fake.now().strftime("%Y-%m"))
    winners = result.asset_materializations_for_node("customer_winning_assignments")[0].metadata
    moves = _stored_moves(migrated_engine)
    pooled = {"C_SHARED_POOL", "C_ACME_POOL"}
    assert moves and all((a in pooled) == (b in pooled) for a, b in moves)
    to_big = sum(1 for a, b in moves if (a, b) == ("C_SOLO_SMALL", "C_SOLO_BIG"))
    if same_family:
        assert to_big > 0 and winners["cost_after_usd"].value < winners["cost_before_usd"].value
    else:
        assert to_big == 0
        assert all(a == b for a, b in moves if a.startswith("C_SOLO"))
