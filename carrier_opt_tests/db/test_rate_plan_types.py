"""The optional ``rate_plan_type`` column of ``rate_plans.csv`` and the provider's fleet."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import JasperCarrierRatePlan, ServiceProvider
from carrier_opt.db.providers import load_provider
from carrier_opt.errors import InputError
from carrier_opt_tests.db.customer_support import add_test_provider, write_csv

HEADER = (
    "rate_plan_code",
    "base_rate",
    "data_allowance_mb",
    "overage_rate",
    "data_per_overage_charge_mb",
    "sms_rate",
    "pooled",
    "rate_plan_type",
)


def stored_types(engine) -> dict[str, str | None]:
    with engine.connect() as connection:
        return dict(
            connection.execute(
                select(JasperCarrierRatePlan.rate_plan_code, JasperCarrierRatePlan.rate_plan_type)
            ).all()
        )


def test_rate_plan_types_are_stored_trimmed_and_empty_is_null(migrated_engine, tmp_path):
    add_test_provider(migrated_engine)
    plans = write_csv(
        tmp_path / "rate_plans.csv",
        HEADER,
        [
            ("PHONE_2GB", 15, 2048, 10, 1024, 0, "false", "  phone "),
            ("TABLET_1GB", 10, 1024, 10, 1024, 0, "false", "tablet"),
            ("LEGACY", 5, 100, 1, 1, 0, "false", ""),
        ],
    )
    pairs = write_csv(tmp_path / "pairs.csv", ("communication_plan", "rate_plan_code"), [])
    load_rate_plans(migrated_engine, "acme", plans, pairs)
    assert stored_types(migrated_engine) == {
        "PHONE_2GB": "phone",
        "TABLET_1GB": "tablet",
        "LEGACY": None,
    }


def test_a_file_without_the_column_loads_plans_without_a_type(migrated_engine, tmp_path):
    add_test_provider(migrated_engine)
    plans = write_csv(
        tmp_path / "rate_plans.csv", HEADER[:-1], [("M2M_5MB", 1, 5, 0.2, 1, 0.02, "no")]
    )
    pairs = write_csv(tmp_path / "pairs.csv", ("communication_plan", "rate_plan_code"), [])
    load_rate_plans(migrated_engine, "acme", plans, pairs)
    assert stored_types(migrated_engine) == {"M2M_5MB": None}


def test_an_overlong_rate_plan_type_is_refused_with_file_row_and_column(migrated_engine, tmp_path):
    add_test_provider(migrated_engine)
    plans = write_csv(
        tmp_path / "rate_plans.csv",
        HEADER,
        [("OK", 1, 5, 0.2, 1, 0, "false", "phone"), ("LONG", 1, 5, 0.2, 1, 0, "false", "x" * 101)],
    )
    pairs = write_csv(tmp_path / "pairs.csv", ("communication_plan", "rate_plan_code"), [])
    with pytest.raises(InputError, match=r"rate_plans.csv:3:rate_plan_type: longer than 100"):
        load_rate_plans(migrated_engine, "acme", plans, pairs)
    assert stored_types(migrated_engine) == {}


def test_provider_fleet_defaults_to_m2m_and_is_read_back(migrated_engine):
    add_test_provider(migrated_engine, "iot")
    add_test_provider(migrated_engine, "phones", fleet="mobility")
    with migrated_engine.connect() as connection:
        assert load_provider(connection, "iot").fleet == "m2m"
        assert load_provider(connection, "phones").fleet == "mobility"


def test_an_unknown_fleet_is_refused_before_anything_is_written(migrated_engine):
    with pytest.raises(InputError, match=r"fleet must be one of m2m, mobility, got 'iot'"):
        add_test_provider(migrated_engine, fleet="iot")
    with migrated_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ServiceProvider)) == 0
