"""Bad input to ``carrier-opt rate-plans load``, as a table (issue 14): each case is one line
naming file:row:column and what is wrong, never a traceback; nothing is half-written and the
prices already stored stay as they were."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from carrier_opt.cli import cli
from carrier_opt.db.loads.customer_plans import load_customer_rate_plans
from carrier_opt.db.loads.rate_plans import load_rate_plans
from carrier_opt.db.models import (
    JasperCarrierRatePlan,
    JasperCommunicationPlanRatePlan,
    JasperCustomerRatePlan,
)
from carrier_opt_tests.db.customer_support import add_test_provider

pytestmark = pytest.mark.reliability

HEADER = "rate_plan_code,base_rate,data_allowance_mb,overage_rate,data_per_overage_charge_mb,"
HEADER += "sms_rate,pooled"
GOOD_ROW = "SMALL,5.00,10,0.50,1,0.01,false"
PAIRS = "communication_plan,rate_plan_code\nCP,SMALL\n"


def run(database_url: str, *args: str):
    return CliRunner().invoke(cli, [*args, "--database-url", database_url])


def stored(engine) -> list[tuple]:
    """Every stored carrier plan, pair and customer plan."""
    rows = []
    with engine.connect() as connection:
        for model in (
            JasperCarrierRatePlan,
            JasperCommunicationPlanRatePlan,
            JasperCustomerRatePlan,
        ):
            rows += connection.execute(select(*model.__table__.c).order_by(model.id)).all()
    return [tuple(row) for row in rows]


@pytest.fixture
def loaded(migrated_engine, tmp_path):
    """'acme' with one plan and one pair stored by a good load."""
    add_test_provider(migrated_engine, "acme")
    (tmp_path / "good.csv").write_text(f"{HEADER}\n{GOOD_ROW}\n")
    (tmp_path / "pairs.csv").write_text(PAIRS)
    load_rate_plans(migrated_engine, "acme", tmp_path / "good.csv", tmp_path / "pairs.csv")
    load_customer_rate_plans(migrated_engine, "acme", tmp_path / "good.csv")
    return stored(migrated_engine)


def _row(**cells: str) -> str:
    values = dict(zip(HEADER.split(","), GOOD_ROW.split(","), strict=True))
    values.update(cells)
    return ",".join(values.values())


CASES = {
    "huge base rate": (f"{HEADER}\n{_row(base_rate='1e308')}\n", ":2:base_rate: 1e308 is larger"),
    "huge allowance": (
        f"{HEADER}\n{_row(data_allowance_mb='2e9')}\n",
        ":2:data_allowance_mb: 2e9 is larger than the largest allowed, 1,000,000,000",
    ),
    "too many decimals": (
        f"{HEADER}\n{_row(overage_rate='0.000001')}\n",
        ":2:overage_rate: 0.000001 has more than 4 decimals",
    ),
    "NaN": (f"{HEADER}\n{_row(sms_rate='NaN')}\n", ":2:sms_rate: 'NaN' is not a finite number"),
    "infinity": (
        f"{HEADER}\n{_row(base_rate='Infinity')}\n",
        ":2:base_rate: 'Infinity' is not a finite number",
    ),
    "negative": (f"{HEADER}\n{_row(base_rate='-1')}\n", ":2:base_rate: must not be negative"),
    "not a number": (f"{HEADER}\n{_row(base_rate='5,00')}\n", ":2:"),
    "duplicate code": (f"{HEADER}\n{GOOD_ROW}\n{GOOD_ROW}\n", ":3:rate_plan_code: 'SMALL' repeats"),
    "empty file": ("", ":1:rate_plan_code,base_rate"),
    "missing column": (
        "rate_plan_code,base_rate\nX,1\n",
        ":1:data_allowance_mb,overage_rate,data_per_overage_charge_mb,sms_rate,pooled: missing",
    ),
    "semicolons": (HEADER.replace(",", ";") + "\n" + GOOD_ROW.replace(",", ";"), ":1:"),
    "latin-1": (
        f"{HEADER}\n{GOOD_ROW}\n{_row(rate_plan_code='Tarif é')}\n".encode("latin-1"),
        ":3:-: is not UTF-8 text (byte 0xe9); save the file as UTF-8",
    ),
    "one huge field": (
        HEADER + "," + "x" * 200_000,
        ":1:-: not a readable CSV file: field larger than field limit",
    ),
}


@pytest.mark.parametrize("command", ["rate-plans", "customer-plans"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_rate_plans_file_is_one_clear_line_and_changes_nothing(
    loaded, migrated_engine, database_url, tmp_path, case, command
):
    """The carrier's prices and the agent's customer plans share the pricing columns and
    their checks: each bad file is refused by both loaders the same way."""
    content, expected = CASES[case]
    path = tmp_path / "rate_plans.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if command == "rate-plans":
        args = ("--rate-plans", str(path), "--comm-plans", str(tmp_path / "pairs.csv"))
    else:
        args = (str(path),)
    result = run(database_url, command, "load", "acme", *args)
    assert result.exit_code == 1, result.output
    assert f"{path.name}{expected}" in result.output, result.output
    assert "Traceback" not in result.output and "sqlalchemy" not in result.output.lower()
    assert stored(migrated_engine) == loaded


def test_a_bom_is_fine(loaded, migrated_engine, database_url, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(f"{HEADER}\n{_row(base_rate='6.00')}\n".encode("utf-8-sig"))
    result = run(
        database_url,
        "rate-plans",
        "load",
        "acme",
        "--rate-plans",
        str(path),
        "--comm-plans",
        str(tmp_path / "pairs.csv"),
    )
    assert result.exit_code == 0, result.output
    with migrated_engine.connect() as connection:
        assert float(connection.scalar(select(JasperCarrierRatePlan.base_rate))) == 6.0


def test_two_loads_at_once_both_succeed_one_after_the_other(migrated_engine, tmp_path):
    """The provider's row is locked for the load: the second waits instead of failing on the
    unique plan codes both would insert."""
    add_test_provider(migrated_engine, "acme")
    rows = "\n".join(_row(rate_plan_code=f"P{n:03d}") for n in range(200))
    (tmp_path / "plans.csv").write_text(f"{HEADER}\n{rows}\n")
    (tmp_path / "pairs.csv").write_text(
        "communication_plan,rate_plan_code\n" + "\n".join(f"CP,P{n:03d}" for n in range(200))
    )
    errors: list[BaseException] = []

    def load() -> None:
        try:
            load_rate_plans(migrated_engine, "acme", tmp_path / "plans.csv", tmp_path / "pairs.csv")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with migrated_engine.connect() as connection:
        codes = connection.scalars(select(JasperCarrierRatePlan.rate_plan_code)).all()
    assert sorted(codes) == [f"P{n:03d}" for n in range(200)]
