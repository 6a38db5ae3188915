"""Charge types travel from the price file through the database into the exported instance."""

import pytest

from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.errors import InputError
from carrier_opt.jasper.fake import FakeJasper
from carrier_opt_tests.db.sync_support import add_fake_provider, write_fake_price_files


def with_charge_types(plans_csv, types: dict[str, str]) -> None:
    lines = plans_csv.read_text().splitlines()
    out = [lines[0] + ",charge_type"]
    for line in lines[1:]:
        out.append(line + "," + types.get(line.split(",")[0], ""))
    plans_csv.write_text("\n".join(out) + "\n")


def test_charge_types_are_stored_and_exported(migrated_engine, tmp_path):
    from sqlalchemy import select

    from carrier_opt.db.export import _rate_plans
    from carrier_opt.db.models import JasperCarrierRatePlan

    with FakeJasper(devices=1) as fake:
        provider_id = add_fake_provider(migrated_engine, fake)
    plans_csv, pairs_csv = write_fake_price_files(tmp_path)
    with_charge_types(plans_csv, {"Pay As You Go": "overage_only", "M2M Data 1GB": "RATE_ONLY"})
    load_rate_plans(migrated_engine, "acme", plans_csv, pairs_csv)
    with migrated_engine.connect() as connection:
        stored = dict(
            connection.execute(
                select(JasperCarrierRatePlan.rate_plan_code, JasperCarrierRatePlan.charge_type)
            ).all()
        )
        exported = _rate_plans(connection, provider_id).set_index("rate_plan_code")["charge_type"]
    assert stored["Pay As You Go"] == "overage_only"
    assert stored["M2M Data 1GB"] == "rate_only"
    assert stored["M2M Data 5MB"] == "rate_and_overage"
    assert exported.to_dict() == stored


def test_an_unknown_charge_type_is_refused_with_its_row(migrated_engine, tmp_path):
    with FakeJasper(devices=1) as fake:
        add_fake_provider(migrated_engine, fake)
    plans_csv, pairs_csv = write_fake_price_files(tmp_path)
    with_charge_types(plans_csv, {"Pay As You Go": "monthly"})
    with pytest.raises(InputError, match=r"rate_plans.csv:\d+:charge_type: 'monthly'"):
        load_rate_plans(migrated_engine, "acme", plans_csv, pairs_csv)
