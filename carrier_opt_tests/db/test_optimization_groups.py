"""``optimization_groups.csv``: validated whole, written in one transaction, read back."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from carrier_opt.db.loads.optimization_groups import (
    GroupSettings,
    active_optimization_groups,
    load_optimization_groups,
)
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import OptimizationGroup
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake.prices import write_fake_price_list
from carrier_opt_tests.db.customer_support import add_test_provider, write_csv

HEADER = ("optimization_group", "communication_plans", "rate_plan_types", "max_rate_plans")


@pytest.fixture
def mobility(migrated_engine, tmp_path):
    """A mobility provider with the fake operator's typed plans loaded; answers its id."""
    provider_id = add_test_provider(migrated_engine, fleet="mobility")
    prices = write_fake_price_list(tmp_path / "prices", "mobility")
    load_rate_plans(migrated_engine, "acme", prices.rate_plans, prices.comm_plan_rate_plans)
    return provider_id


def groups_table(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    OptimizationGroup.name,
                    OptimizationGroup.communication_plans,
                    OptimizationGroup.rate_plan_types,
                    OptimizationGroup.max_rate_plans,
                    OptimizationGroup.is_active,
                ).order_by(OptimizationGroup.name)
            )
        ]


def active(engine, provider_id: int) -> list[GroupSettings]:
    with engine.connect() as connection:
        return active_optimization_groups(connection, provider_id)


def test_the_fake_operators_groups_load_and_read_back(migrated_engine, mobility, tmp_path):
    groups_csv = tmp_path / "prices" / "optimization_groups.csv"
    loaded = load_optimization_groups(migrated_engine, "acme", groups_csv)
    assert (loaded.inserted, loaded.updated, loaded.deactivated) == (3, 0, 0)
    groups = active(migrated_engine, mobility)
    assert [
        (g.name, g.communication_plans, g.rate_plan_types, g.max_rate_plans) for g in groups
    ] == [
        ("Hotspots", ("MOB_HOTSPOT",), ("hotspot",), 15),
        ("Phones", ("MOB_PHONE",), ("phone",), 15),
        ("Tablets", ("MOB_TABLET",), ("tablet",), 15),
    ]
    assert all(isinstance(g.id, int) for g in groups)


def test_lists_are_stored_sorted_without_repeats_and_max_defaults_to_15(
    migrated_engine, mobility, tmp_path
):
    groups_csv = write_csv(
        tmp_path / "optimization_groups.csv",
        HEADER,
        [("Big screens", " MOB_TABLET;MOB_HOTSPOT ; MOB_TABLET;", "tablet; hotspot", "")],
    )
    load_optimization_groups(migrated_engine, "acme", groups_csv)
    assert groups_table(migrated_engine) == [
        ("Big screens", "MOB_HOTSPOT;MOB_TABLET", "hotspot;tablet", 15, True)
    ]


def test_reloading_the_same_file_changes_nothing(migrated_engine, mobility, tmp_path):
    groups_csv = tmp_path / "prices" / "optimization_groups.csv"
    load_optimization_groups(migrated_engine, "acme", groups_csv)
    first = groups_table(migrated_engine)
    ids = [g.id for g in active(migrated_engine, mobility)]
    again = load_optimization_groups(migrated_engine, "acme", groups_csv)
    assert (again.inserted, again.updated, again.deactivated) == (0, 3, 0)
    assert groups_table(migrated_engine) == first
    assert [g.id for g in active(migrated_engine, mobility)] == ids


def test_groups_missing_from_the_file_are_deactivated_not_deleted(
    migrated_engine, mobility, tmp_path
):
    load_optimization_groups(
        migrated_engine, "acme", tmp_path / "prices" / "optimization_groups.csv"
    )
    fewer = write_csv(
        tmp_path / "fewer.csv",
        HEADER,
        [("Phones", "MOB_PHONE;MOB_HOTSPOT", "phone;hotspot", "8")],
    )
    loaded = load_optimization_groups(migrated_engine, "acme", fewer)
    assert (loaded.inserted, loaded.updated, loaded.deactivated) == (0, 1, 2)
    assert [row[0] for row in groups_table(migrated_engine) if not row[4]] == [
        "Hotspots",
        "Tablets",
    ]
    assert [(g.name, g.max_rate_plans) for g in active(migrated_engine, mobility)] == [
        ("Phones", 8)
    ]
    back = load_optimization_groups(
        migrated_engine, "acme", tmp_path / "prices" / "optimization_groups.csv"
    )
    assert (back.inserted, back.updated) == (0, 3)
    assert len(active(migrated_engine, mobility)) == 3


def test_every_bad_row_is_reported_at_once_with_file_row_and_column(
    migrated_engine, mobility, tmp_path
):
    groups_csv = write_csv(
        tmp_path / "optimization_groups.csv",
        HEADER,
        [
            ("Phones", "MOB_PHONE", "phone", "15"),  # 2: fine
            ("", "MOB_X", "phone", ""),  # 3: no name
            ("Phones", "MOB_Y", "phone", ""),  # 4: name repeats line 2
            ("Tablets", "MOB_TABLET;MOB_PHONE", "tablet", ""),  # 5: MOB_PHONE is in Phones
            ("Watches", "MOB_WATCH", "watch", ""),  # 6: no plan has type watch
            ("Hotspots", "MOB_HOTSPOT", "hotspot", "0"),  # 7: max not > 0
            ("Cars", "MOB_CAR", "hotspot", "many"),  # 8: max not a number
            ("Empty", " ; ", "", "3"),  # 9: both lists empty
        ],
    )
    with pytest.raises(InputError) as raised:
        load_optimization_groups(migrated_engine, "acme", groups_csv)
    message = str(raised.value)
    expected = [
        r"optimization_groups.csv:3:optimization_group: is empty",
        r"optimization_groups.csv:4:optimization_group: 'Phones' repeats line 2",
        r"optimization_groups.csv:5:communication_plans: 'MOB_PHONE' is already in group "
        r"'Phones' \(line 2\)",
        r"optimization_groups.csv:6:rate_plan_types: no carrier rate plan of acme has type "
        r"'watch' \(known types: hotspot, phone, tablet\)",
        r"optimization_groups.csv:7:max_rate_plans: must be greater than 0, got 0",
        r"optimization_groups.csv:8:max_rate_plans: 'many' is not a whole number",
        r"optimization_groups.csv:9:communication_plans: is empty",
        r"optimization_groups.csv:9:rate_plan_types: is empty",
    ]
    for pattern in expected:
        assert re.search(pattern, message), (pattern, message)
    assert message.startswith(f"{len(expected)} problem(s), nothing loaded")
    assert groups_table(migrated_engine) == []


def test_a_bad_file_leaves_the_loaded_groups_untouched(migrated_engine, mobility, tmp_path):
    load_optimization_groups(
        migrated_engine, "acme", tmp_path / "prices" / "optimization_groups.csv"
    )
    before = groups_table(migrated_engine)
    bad = write_csv(
        tmp_path / "bad.csv",
        HEADER,
        [("Phones", "MOB_PHONE", "phone", "3"), ("Watches", "MOB_WATCH", "watch", "")],
    )
    with pytest.raises(InputError, match=r"bad.csv:3:rate_plan_types: .*'watch'"):
        load_optimization_groups(migrated_engine, "acme", bad)
    assert groups_table(migrated_engine) == before


def test_types_need_typed_carrier_plans_and_columns_are_checked(migrated_engine, tmp_path):
    add_test_provider(migrated_engine)  # no rate plans loaded at all
    groups_csv = write_csv(tmp_path / "g.csv", HEADER, [("Phones", "MOB_PHONE", "phone", "")])
    with pytest.raises(InputError, match=r"g.csv:2:rate_plan_types: .*known types: none"):
        load_optimization_groups(migrated_engine, "acme", groups_csv)
    no_types = write_csv(tmp_path / "h.csv", HEADER[:2], [("Phones", "MOB_PHONE")])
    with pytest.raises(InputError, match=r"h.csv:1:rate_plan_types: missing column"):
        load_optimization_groups(migrated_engine, "acme", no_types)
    with pytest.raises(InputError, match=r"no service provider named 'nobody'"):
        load_optimization_groups(migrated_engine, "nobody", groups_csv)
