"""Customer rate plans and pools (``customer_rate_plans.csv``) and SIM assignment to them
(``customer_sims.csv``): validated whole, written in one transaction."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from carrier_opt.db.customer_optimization import customer_plans
from carrier_opt.db.loads.customer_plans import assign_customer_rate_plans, load_customer_rate_plans
from carrier_opt.db.models import CustomerRatePool, Device, JasperCustomerRatePlan, RevCustomer
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake.prices import CUSTOMER_PLANS, POOL_OWNER, write_fake_price_list
from carrier_opt_tests.db.customer_support import add_test_provider, insert_devices, write_csv

HEADER = (
    "rate_plan_code",
    "base_rate",
    "data_allowance_mb",
    "overage_rate",
    "data_per_overage_charge_mb",
    "sms_rate",
    "pooled",
    "customer_rate_pool",
    "pool_customer",
)
SIMS_HEADER = ("iccid", "customer_rate_plan")
ICCIDS = [f"8901260000000000{n:03d}" for n in range(6)]


@pytest.fixture
def provider_id(migrated_engine) -> int:
    return add_test_provider(migrated_engine)


@pytest.fixture
def fake_plans_csv(tmp_path):
    return write_fake_price_list(tmp_path / "prices").customer_rate_plans


def plans_state(engine) -> dict[str, tuple]:
    """Customer plans by code: prices, charge type and pool (name, owner's number)."""
    plan, pool, owner = JasperCustomerRatePlan, CustomerRatePool, RevCustomer
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                plan.rate_plan_code,
                plan.base_rate,
                plan.data_allowance_mb,
                plan.overage_rate,
                plan.is_pooled,
                plan.charge_type,
                pool.name,
                owner.rev_customer_number,
            )
            .join(pool, pool.id == plan.customer_rate_pool_id, isouter=True)
            .join(owner, owner.id == pool.rev_customer_id, isouter=True)
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(
            connection.scalar(select(func.count()).select_from(table))
            for table in (JasperCustomerRatePlan, CustomerRatePool, RevCustomer)
        )


def sims_state(engine) -> dict[str, tuple]:
    """``iccid → (customer plan code, pool name)``."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(Device.iccid, JasperCustomerRatePlan.rate_plan_code, CustomerRatePool.name)
            .join(
                JasperCustomerRatePlan,
                JasperCustomerRatePlan.id == Device.customer_rate_plan_id,
                isouter=True,
            )
            .join(
                CustomerRatePool, CustomerRatePool.id == Device.customer_rate_pool_id, isouter=True
            )
        ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


# --- customer_rate_plans.csv -----------------------------------------------------------------


def test_the_fake_agents_plans_load_with_their_pools_and_owner(
    migrated_engine, provider_id, fake_plans_csv
):
    loaded = load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    assert (loaded.plans_inserted, loaded.plans_updated) == (len(CUSTOMER_PLANS), 0)
    assert (loaded.pools_inserted, loaded.customers_added) == (2, 1)
    state = plans_state(migrated_engine)
    assert set(state) == set(CUSTOMER_PLANS)
    assert state["AGENT_POOL_ACME_50MB"][-2:] == ("ACME_POOL", POOL_OWNER)
    assert state["AGENT_POOL_SHARED_10MB"][-2:] == ("SHARED_POOL", None)
    assert state["AGENT_BASIC_5MB"] == (
        Decimal("2.4"),
        Decimal(5),
        Decimal("0.45"),
        False,
        "rate_and_overage",
        None,
        None,
    )
    assert state["AGENT_FLAT_1GB"][4] == "rate_only"
    with migrated_engine.connect() as connection:
        customer = connection.execute(select(RevCustomer)).one()
    assert (customer.rev_customer_number, customer.name, customer.tenant_id) == (
        POOL_OWNER,
        POOL_OWNER,
        None,
    )


def test_reloading_the_same_file_changes_nothing(migrated_engine, provider_id, fake_plans_csv):
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    before, tables = plans_state(migrated_engine), counts(migrated_engine)
    again = load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    assert (again.plans_inserted, again.plans_updated) == (0, len(CUSTOMER_PLANS))
    assert (again.pools_inserted, again.customers_added) == (0, 0)
    assert plans_state(migrated_engine) == before
    assert counts(migrated_engine) == tables


def test_every_bad_row_is_reported_at_once_with_file_row_and_column(
    migrated_engine, provider_id, tmp_path
):
    plans_csv = write_csv(
        tmp_path / "customer_rate_plans.csv",
        HEADER,
        [
            ("GOOD_POOL", 5, 50, 0.2, 1, 0, "true", "P1", "C-1"),  # 2: fine
            ("NO_POOL", 5, 50, 0.2, 1, 0, "true", "", ""),  # 3: pooled, no pool
            ("SINGLE", 5, 50, 0.2, 1, 0, "false", "P2", "C-2"),  # 4: not pooled, pool + owner
            ("SECOND", 6, 60, 0.3, 1, 0, "true", "P1", ""),  # 5: P1 fed at another price
            ("BAD_PRICE", "cheap", 50, 0.2, 0, 0, "false", "", ""),  # 6: shared parser
            ("GOOD_POOL", 5, 50, 0.2, 1, 0, "false", "", ""),  # 7: code repeats
            ("LONG_OWNER", 5, 50, 0.2, 1, 0, "true", "P3", "x" * 51),  # 8: owner too long
        ],
    )
    with pytest.raises(InputError) as raised:
        load_customer_rate_plans(migrated_engine, "acme", plans_csv)
    message = str(raised.value)
    expected = [
        r"customer_rate_plans.csv:3:customer_rate_pool: is empty; a pooled plan names its pool",
        r"customer_rate_plans.csv:4:customer_rate_pool: must be empty for a plan that is not "
        r"pooled",
        r"customer_rate_plans.csv:4:pool_customer: must be empty",
        r"customer_rate_plans.csv:5:customer_rate_pool: pool 'P1' is fed by plan "
        r"'GOOD_POOL' \(line 2\) at 0.2 USD per 1 MB, this plan bills 0.3 USD per 1 MB; plans of "
        r"one pool must share overage_rate and data_per_overage_charge_mb",
        r"customer_rate_plans.csv:6:base_rate: 'cheap' is not a number",
        r"customer_rate_plans.csv:6:data_per_overage_charge_mb: must be greater than 0",
        r"customer_rate_plans.csv:7:rate_plan_code: 'GOOD_POOL' repeats line 2",
        r"customer_rate_plans.csv:8:pool_customer: longer than 50 characters",
    ]
    for pattern in expected:
        assert re.search(pattern, message), (pattern, message)
    assert message.startswith(f"{len(expected)} problem(s), nothing loaded")
    assert counts(migrated_engine) == (0, 0, 0)


def test_a_bad_file_leaves_the_loaded_plans_untouched(
    migrated_engine, provider_id, fake_plans_csv, tmp_path
):
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    before, tables = plans_state(migrated_engine), counts(migrated_engine)
    bad = write_csv(
        tmp_path / "bad.csv",
        HEADER,
        [
            ("AGENT_BASIC_5MB", 99, 5, 0.45, 1, 0, "false", "", ""),  # would change a price
            ("NEW_POOL_PLAN", 1, 5, 0.45, 1, 0, "true", "NEW_POOL", "Someone"),
            ("BROKEN", 1, 5, 0.45, 1, 0, "maybe", "", ""),
        ],
    )
    with pytest.raises(InputError, match=r"bad.csv:4:pooled: 'maybe' is not true or false"):
        load_customer_rate_plans(migrated_engine, "acme", bad)
    assert plans_state(migrated_engine) == before
    assert counts(migrated_engine) == tables


def test_a_pool_fed_by_a_stored_plan_takes_another_plan_only_at_its_overage_price(
    migrated_engine, provider_id, fake_plans_csv, tmp_path
):
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    rival = write_csv(
        tmp_path / "rival.csv", HEADER, [("RIVAL", 1, 5, 0.3, 1, 0, "true", "ACME_POOL", "")]
    )
    with pytest.raises(
        InputError,
        match=r"rival.csv:2:customer_rate_pool: pool 'ACME_POOL' is fed by stored "
        r"customer rate plan 'AGENT_POOL_ACME_50MB' at 0.2 USD per 1 MB, this plan bills 0.3 "
        r"USD per 1 MB",
    ):
        load_customer_rate_plans(migrated_engine, "acme", rival)
    partner = write_csv(
        tmp_path / "partner.csv", HEADER, [("PARTNER", 1, 5, 0.2, 1, 0, "true", "ACME_POOL", "")]
    )
    load_customer_rate_plans(migrated_engine, "acme", partner)
    with migrated_engine.connect() as connection:
        plans = customer_plans(connection, provider_id).set_index("rate_plan_code")
    assert plans.loc["PARTNER", "customer_rate_pool"] == "ACME_POOL"
    assert plans.loc["AGENT_POOL_ACME_50MB", "customer_rate_pool"] == "ACME_POOL"


# --- customer_sims.csv -----------------------------------------------------------------------


def test_sims_are_put_on_their_plan_and_pool_and_an_empty_plan_clears(
    migrated_engine, provider_id, fake_plans_csv, tmp_path
):
    insert_devices(migrated_engine, provider_id, ICCIDS)
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    sims_csv = write_csv(
        tmp_path / "customer_sims.csv",
        SIMS_HEADER,
        [
            (ICCIDS[0], "AGENT_BASIC_5MB"),
            (ICCIDS[1], "AGENT_POOL_ACME_50MB"),
            (ICCIDS[2], "AGENT_POOL_SHARED_10MB"),
            (ICCIDS[3], ""),
        ],
    )
    done = assign_customer_rate_plans(migrated_engine, "acme", sims_csv)
    assert (done.assigned, done.cleared, done.unchanged) == (3, 0, 1)
    state = sims_state(migrated_engine)
    assert state[ICCIDS[0]] == ("AGENT_BASIC_5MB", None)
    assert state[ICCIDS[1]] == ("AGENT_POOL_ACME_50MB", "ACME_POOL")
    assert state[ICCIDS[2]] == ("AGENT_POOL_SHARED_10MB", "SHARED_POOL")
    assert state[ICCIDS[3]] == state[ICCIDS[4]] == (None, None)

    again = assign_customer_rate_plans(migrated_engine, "acme", sims_csv)
    assert (again.assigned, again.cleared, again.unchanged) == (0, 0, 4)
    clear = write_csv(tmp_path / "clear.csv", SIMS_HEADER, [(ICCIDS[1], "")])
    cleared = assign_customer_rate_plans(migrated_engine, "acme", clear)
    assert (cleared.assigned, cleared.cleared) == (0, 1)
    assert sims_state(migrated_engine)[ICCIDS[1]] == (None, None)
    assert sims_state(migrated_engine)[ICCIDS[0]] == ("AGENT_BASIC_5MB", None)  # not listed


def test_assignment_problems_are_reported_at_once_and_nothing_changes(
    migrated_engine, provider_id, fake_plans_csv, tmp_path
):
    insert_devices(migrated_engine, provider_id, ICCIDS)
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    sims_csv = write_csv(
        tmp_path / "customer_sims.csv",
        SIMS_HEADER,
        [
            (ICCIDS[0], "AGENT_BASIC_5MB"),  # 2: fine, but the file is refused
            ("8901260999999999999", "AGENT_BASIC_5MB"),  # 3: not a SIM of acme
            (ICCIDS[1], "NO_SUCH_PLAN"),  # 4: unknown plan
            (ICCIDS[0], "AGENT_PLUS_100MB"),  # 5: ICCID repeats
            ("", "AGENT_PLUS_100MB"),  # 6: no ICCID
        ],
    )
    with pytest.raises(InputError) as raised:
        assign_customer_rate_plans(migrated_engine, "acme", sims_csv)
    message = str(raised.value)
    expected = [
        r"customer_sims.csv:3:iccid: acme has no SIM '8901260999999999999': sync the provider "
        r"first \(carrier-opt sync acme\)",
        r"customer_sims.csv:4:customer_rate_plan: unknown customer rate plan 'NO_SUCH_PLAN'",
        rf"customer_sims.csv:5:iccid: '{ICCIDS[0]}' repeats line 2",
        r"customer_sims.csv:6:iccid: is empty",
    ]
    for pattern in expected:
        assert re.search(pattern, message), (pattern, message)
    assert message.startswith(f"{len(expected)} problem(s), nothing loaded")
    assert set(sims_state(migrated_engine).values()) == {(None, None)}


def test_sims_of_another_provider_are_unknown(
    migrated_engine, provider_id, fake_plans_csv, tmp_path
):
    other = add_test_provider(migrated_engine, "other")
    insert_devices(migrated_engine, other, ICCIDS[:1])
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    sims_csv = write_csv(tmp_path / "s.csv", SIMS_HEADER, [(ICCIDS[0], "AGENT_BASIC_5MB")])
    with pytest.raises(InputError, match=r"s.csv:2:iccid: acme has no SIM"):
        assign_customer_rate_plans(migrated_engine, "acme", sims_csv)


def test_sims_follow_their_plan_into_its_new_pool(
    migrated_engine, provider_id, fake_plans_csv, tmp_path
):
    insert_devices(migrated_engine, provider_id, ICCIDS[:2])
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    sims_csv = write_csv(
        tmp_path / "s.csv",
        SIMS_HEADER,
        [(ICCIDS[0], "AGENT_POOL_SHARED_10MB"), (ICCIDS[1], "AGENT_BASIC_5MB")],
    )
    assign_customer_rate_plans(migrated_engine, "acme", sims_csv)
    moved = write_csv(
        tmp_path / "moved.csv",
        HEADER,
        [
            ("AGENT_POOL_SHARED_10MB", 2.8, 10, 0.35, 1, 0, "true", "EVERYONE_POOL", ""),
            ("AGENT_BASIC_5MB", 2.4, 5, 0.45, 1, 0, "true", "BASIC_POOL", ""),
        ],
    )
    load_customer_rate_plans(migrated_engine, "acme", moved)
    state = sims_state(migrated_engine)
    assert state[ICCIDS[0]] == ("AGENT_POOL_SHARED_10MB", "EVERYONE_POOL")
    assert state[ICCIDS[1]] == ("AGENT_BASIC_5MB", "BASIC_POOL")


def test_a_large_fleet_is_assigned_in_bulk(migrated_engine, provider_id, fake_plans_csv, tmp_path):
    iccids = [f"89012601{n:011d}" for n in range(3000)]
    insert_devices(migrated_engine, provider_id, iccids)
    load_customer_rate_plans(migrated_engine, "acme", fake_plans_csv)
    codes = sorted(CUSTOMER_PLANS)
    sims_csv = write_csv(
        tmp_path / "s.csv", SIMS_HEADER, [(i, codes[n % len(codes)]) for n, i in enumerate(iccids)]
    )
    done = assign_customer_rate_plans(migrated_engine, "acme", sims_csv)
    assert done.assigned == len(iccids)
    state = sims_state(migrated_engine)
    assert all(state[i][0] == codes[n % len(codes)] for n, i in enumerate(iccids))


def test_automatic_change_is_loaded_per_plan_and_bad_values_are_refused(
    migrated_engine, provider_id, tmp_path
):
    """The legacy AutoChangeRatePlan, as an optional ``auto_change`` column (default true)."""
    header = (*HEADER, "auto_change")
    plans_csv = write_csv(
        tmp_path / "plans.csv",
        header,
        [
            ("KEPT", 5, 50, 0.2, 1, 0, "false", "", "", "false"),
            ("FREE", 5, 50, 0.2, 1, 0, "false", "", "", ""),
        ],
    )
    load_customer_rate_plans(migrated_engine, "acme", plans_csv)
    with migrated_engine.connect() as connection:
        stored = customer_plans(connection, provider_id).set_index("rate_plan_code")
    assert stored.loc["KEPT", "auto_change"] is False or stored.loc["KEPT", "auto_change"] == 0
    assert bool(stored.loc["FREE", "auto_change"]) is True
    bad = write_csv(
        tmp_path / "bad.csv", header, [("KEPT", 5, 50, 0.2, 1, 0, "false", "", "", "maybe")]
    )
    with pytest.raises(InputError, match=r"bad.csv:2:auto_change: 'maybe' is not true or false"):
        load_customer_rate_plans(migrated_engine, "acme", bad)
