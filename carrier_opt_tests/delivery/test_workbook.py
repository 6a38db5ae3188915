"""The Excel report: every sheet, its layout, and totals equal to the database's to the cent."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import select

from carrier_opt.core.pricing import total_cost
from carrier_opt.core.settlement import Settlement, StoredSettlement
from carrier_opt.db.models import OptimizationInstance, OptimizationInstanceResultFile
from carrier_opt.delivery.report_data import report_data_from
from carrier_opt.delivery.storage import (
    OPTIMIZATION_REPORT,
    LocalResultStore,
    record_result_file,
    report_file_name,
    report_key,
    store_file,
)
from carrier_opt.delivery.workbook import CONTENT_TYPE, build_workbook
from carrier_opt_tests.delivery.support import PERIOD, seed_instance, small_instance

USAGE_HEADERS = ("Cycle-to-date usage (MB)", "Usage read at (local)", "Projected usage (MB)")


def cents(value) -> Decimal:
    """A cell or database amount in cents, rounded half up as the report does."""
    amount = value if isinstance(value, Decimal) else Decimal(repr(value))
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def table(sheet, header_row: int = 1):
    """(headers, data rows, totals row) of a table sheet."""
    rows = list(sheet.iter_rows(min_row=header_row, values_only=True))
    headers, body = list(rows[0]), rows[1:]
    total_index = next(i for i, row in enumerate(body) if row[0] == "Total")
    return (
        headers,
        [dict(zip(headers, row, strict=True)) for row in body[:total_index]],
        dict(zip(headers, body[total_index], strict=True)),
    )


def summary_values(sheet) -> dict:
    return {row[0]: row[1] for row in sheet.iter_rows(min_row=3, max_col=2, values_only=True)}


@pytest.mark.database
def test_report_totals_match_the_database_to_the_cent(migrated_engine, tmp_path):
    instance = small_instance()
    recommended = instance.current_plan.copy()
    recommended[1] = 1
    seeded = seed_instance(
        migrated_engine,
        cost_before=total_cost(instance, instance.current_plan),
        cost_after=total_cost(instance, recommended),
    )
    data = report_data_from(
        instance,
        instance.current_plan,
        recommended,
        provider="acme",
        period=PERIOD,
        legacy_cost=99.5,
        lower_bound=40.0,
        gap=0.02,
        seconds=3.2,
        proven_optimal=True,
    )
    content = build_workbook(data)

    # Stored and recorded, as the pipeline does it.
    store = LocalResultStore(tmp_path / "reports")
    name = report_file_name("acme", PERIOD.key, seeded.instance_id)
    stored = store_file(
        store, report_key("acme", PERIOD.key, seeded.instance_id, name), content, CONTENT_TYPE
    )
    with migrated_engine.begin() as connection:
        record_result_file(
            connection,
            seeded.instance_id,
            name,
            stored,
            kind=OPTIMIZATION_REPORT,
            content_type=CONTENT_TYPE,
        )
    with migrated_engine.connect() as connection:
        db_instance = connection.execute(select(OptimizationInstance)).one()
        db_file = connection.execute(select(OptimizationInstanceResultFile)).one()
    read_back = store.get(db_file.storage_uri)
    assert hashlib.sha256(read_back).hexdigest() == db_file.sha256
    assert db_file.size_bytes == len(content)

    workbook = openpyxl.load_workbook(io.BytesIO(read_back), data_only=True)
    assert workbook.sheetnames == ["Summary", "Statistics", "Assignments", "Shared pool"]

    summary = summary_values(workbook["Summary"])
    assert cents(summary["Cost before (USD)"]) == cents(db_instance.cost_before)
    assert cents(summary["Cost after (USD)"]) == cents(db_instance.cost_after)
    assert cents(summary["Saving (USD)"]) == cents(summary["Cost before (USD)"]) - cents(
        summary["Cost after (USD)"]
    )
    assert summary["Service provider"] == "acme"
    assert summary["Billing period"] == "2026-03"
    assert summary["Time zone"] == "America/Chicago"
    assert summary["Devices"] == 5 and summary["SIMs changing plan"] == 1
    assert summary["Lower bound (USD)"] == 40.0 and summary["Gap to lower bound"] == 0.02
    assert summary["Legacy-strategy cost (USD)"] == 99.5
    assert summary["Proven optimal"] == "yes" and summary["Run time (s)"] == 3.2
    assert summary["Period end (local)"].hour == 0  # local midnight, not UTC

    headers, lines, totals = table(workbook["Assignments"])
    assert len(lines) == 5
    for side in ("before", "after"):
        column = f"Cost {side} (USD)"
        line_sum = sum(cents(line[column]) for line in lines)
        assert line_sum == cents(summary[f"Cost {side} (USD)"]) == cents(totals[column])
        parts = [f"{c} {side} (USD)" for c in ("Base", "Sms", "Overage")]
        for line in lines:
            assert sum(cents(line[p]) for p in parts) == cents(line[column])
    assert [line["ICCID"] for line in lines] == list(instance.iccids)  # text, not 8.9e18
    assert [line["Change"] for line in lines] == ["no", "yes", "no", "no", "no"]
    assert lines[1]["Recommended rate plan"] == "POOL_100MB"
    assert lines[1]["Current rate plan"] == "POOL_10MB"
    # Issue 31, point 5: the changed SIM says why, with its own charges on both sides.
    reason = lines[1]["Why it moves"]
    assert reason.startswith(f"{instance.usage_mb[1]:,.1f} MB: POOL_10MB $")
    assert " → POOL_100MB $" in reason and "in pool POOL_100MB" in reason
    assert [line["Why it moves"] for line in lines if line["Change"] == "no"] == [None] * 4
    assert {"MSISDN", "Communication plan", *USAGE_HEADERS} <= set(headers)

    _, plans, plan_totals = table(workbook["Statistics"])
    assert [plan["Rate plan"] for plan in plans] == ["POOL_10MB", "POOL_100MB", "IND_20MB"]
    # Prices and sizes per SIM are not summed over plans (issue 15): their totals are empty.
    assert plan_totals["Base rate (USD)"] is None
    assert plan_totals["Allowance per SIM (MB)"] is None
    for side in ("before", "after"):
        assert sum(cents(p[f"Cost {side} (USD)"]) for p in plans) == cents(
            summary[f"Cost {side} (USD)"]
        )
        assert cents(plan_totals[f"Cost {side} (USD)"]) == cents(summary[f"Cost {side} (USD)"])
        assert sum(p[f"Devices {side}"] for p in plans) == 5
        for charge in ("Base", "Overage", "SMS"):
            column = f"{charge} charge {side} (USD)"
            per_sim = f"{'Sms' if charge == 'SMS' else charge} {side} (USD)"
            assert sum(cents(p[column]) for p in plans) == sum(cents(x[per_sim]) for x in lines)
    pool = plans[0]
    assert pool["Pooled"] is True
    assert pool["Pooled allowance before (MB)"] == pytest.approx(10 * (1 + 1 + 0.3333))

    _, shared, shared_totals = table(workbook["Shared pool"], header_row=3)
    assert [row["ICCID"] for row in shared] == [instance.iccids[3]]
    assert cents(shared_totals["Cost (USD)"]) == cents(shared[0]["Cost (USD)"])


def test_sheets_have_formats_frozen_headers_filters_and_widths():
    instance = small_instance()
    data = report_data_from(
        instance, instance.current_plan, instance.current_plan, provider="acme", period=PERIOD
    )
    workbook = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    for name, header_row in (("Statistics", 1), ("Assignments", 1), ("Shared pool", 3)):
        sheet = workbook[name]
        assert sheet.freeze_panes == f"B{header_row + 1}", name
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith(f"A{header_row}"), name
        assert sheet.column_dimensions["A"].width > 15, name
    assignments = workbook["Assignments"]
    headers = [cell.value for cell in assignments[1]]
    money = assignments.cell(row=2, column=headers.index("Cost after (USD)") + 1)
    assert money.number_format == "#,##0.00"
    usage = assignments.cell(row=2, column=headers.index("Projected usage (MB)") + 1)
    assert usage.number_format == "#,##0.000"
    total = assignments.cell(row=7, column=headers.index("Cost after (USD)") + 1)
    assert total.value.startswith("=SUM(")  # a live formula, with its value cached
    summary = {row[0].value: row[1] for row in workbook["Summary"].iter_rows(min_row=3, max_col=2)}
    assert summary["Saving (%)"].number_format == "0.00%"
    assert summary["Cost after (USD)"].number_format == "#,##0.00"


def test_no_shared_pool_sheet_without_shared_pool_sims():
    instance = small_instance(locked=False)
    data = report_data_from(
        instance, instance.current_plan, instance.current_plan, provider="acme", period=PERIOD
    )
    workbook = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    assert workbook.sheetnames == ["Summary", "Statistics", "Assignments"]


def test_carrier_text_is_never_a_formula():
    instance = small_instance(locked=False)
    data = report_data_from(
        instance, instance.current_plan, instance.current_plan, provider="=1+1", period=PERIOD
    )
    data.assignments.loc[0, "communication_plan"] = '=HYPERLINK("http://x")'
    workbook = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    assert workbook["Assignments"]["C2"].data_type == "s"
    assert workbook["Summary"]["B3"].value == "=1+1" and workbook["Summary"]["B3"].data_type == "s"


def test_pool_overage_share_is_shown_with_a_note_but_never_totalled_and_scope_on_summary():
    instance = small_instance()
    data = report_data_from(
        instance,
        instance.current_plan,
        instance.current_plan,
        provider="acme",
        period=PERIOD,
        scope="Optimization group Phones",
    )
    workbook = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    assert summary_values(workbook["Summary"])["Scope"] == "Optimization group Phones"
    assert "Optimization group Phones" in workbook["Summary"]["A1"].value
    for name, header_row in (("Assignments", 1), ("Shared pool", 3)):
        headers, lines, totals = table(workbook[name], header_row=header_row)
        column = headers.index("Pool overage share (USD)") + 1
        note = workbook[name].cell(row=header_row, column=column).comment
        assert note is not None and "spread evenly over its SIMs" in note.text
        assert "charge columns already contain" in note.text
        assert totals["Pool overage share (USD)"] is None
        assert all(isinstance(line["Pool overage share (USD)"], int | float) for line in lines)
    assert "as the legacy reports showed it" in workbook["Shared pool"]["A1"].value


def test_usage_is_shown_cycle_to_date_with_its_date_and_projected_apart():
    """Issue 28, point 8: "Usage (MB)" held the projected usage, the very number of "Projected
    usage (MB)" beside it (0.186281 in both for a SIM with 0.0291 MB cycle-to-date)."""
    instance = small_instance()  # its usage is the projected usage the charges are priced on
    read_at = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)  # 08:30 in Chicago (CST)
    info = pd.DataFrame(
        {
            "iccid": instance.iccids,
            "ctd_usage_mb": [0.0291, 40.0, 20.5, 5.0, 9.25],
            "usage_date": [read_at.isoformat()] * 4 + [""],  # as the export writes them
        }
    )
    data = report_data_from(
        instance,
        instance.current_plan,
        instance.current_plan,
        provider="acme",
        period=PERIOD,
        device_info=info,
    )
    workbook = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    headers, lines, totals = table(workbook["Assignments"])
    assert "Usage (MB)" not in headers
    assert headers[5:8] == list(USAGE_HEADERS)
    ctd, read, projected = USAGE_HEADERS
    assert [line[ctd] for line in lines] == [0.0291, 40.0, 20.5, 5.0, 9.25]
    assert [line[projected] for line in lines] == pytest.approx(instance.usage_mb.tolist())
    assert lines[0][ctd] != lines[0][projected]
    # The provider's wall time (Excel has no zones), blank when the reading's date is unknown.
    assert [line[read] for line in lines] == [datetime(2026, 3, 5, 8, 30)] * 4 + [None]
    assert totals[read] is None  # a date is never totalled
    sheet = workbook["Assignments"]
    for header in USAGE_HEADERS:
        assert sheet.cell(row=1, column=headers.index(header) + 1).comment is not None, header
    assert sheet.cell(row=2, column=headers.index(read) + 1).number_format == "yyyy-mm-dd hh:mm"

    pool_headers, pool, _ = table(workbook["Shared pool"], header_row=3)
    assert set(USAGE_HEADERS) <= set(pool_headers) and "Usage (MB)" not in pool_headers
    assert (pool[0][ctd], pool[0][read], pool[0][projected]) == (
        5.0,
        datetime(2026, 3, 5, 8, 30),
        pytest.approx(instance.usage_mb[3]),
    )
    stats_headers = [cell.value for cell in workbook["Statistics"][1]]
    assert {"Projected usage before (MB)", "Projected usage after (MB)"} <= set(stats_headers)


def test_an_msisdn_not_read_yet_says_so_and_an_empty_one_stays_blank():
    """Issue 27: a SIM whose carrier details a call budget left for a later sync has no MSISDN
    yet; the report says so instead of showing a blank that reads as "the carrier has none"."""
    instance = small_instance()
    iccids = instance.iccids.tolist()
    info = pd.DataFrame(
        {"iccid": iccids, "msisdn": ["15550000", None, "", None, "15550004"]}
    )  # SIMs 1 and 3 not read yet (3 is the shared-pool SIM), SIM 2 read: no MSISDN
    data = report_data_from(
        instance,
        instance.current_plan,
        instance.current_plan,
        provider="acme",
        period=PERIOD,
        device_info=info,
        details_pending=frozenset({iccids[1], iccids[3], "8901999999999999999"}),
    )
    workbook = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    _, rows, _ = table(workbook["Assignments"])
    assert [row["MSISDN"] for row in rows] == [
        "15550000",
        "not read yet",
        None,
        "not read yet",
        "15550004",
    ]
    _, shared, _ = table(workbook["Shared pool"], header_row=3)
    assert [row["MSISDN"] for row in shared] == ["not read yet"]
    header = next(c for c in workbook["Assignments"][1] if c.value == "MSISDN")
    assert "still to come" in header.comment.text and "blank cell" in header.comment.text
    assert summary_values(workbook["Summary"])["SIMs with details not read yet"] == 2


def test_a_report_without_missing_details_has_no_marker_nor_note():
    instance = small_instance()
    data = report_data_from(
        instance, instance.current_plan, instance.current_plan, provider="acme", period=PERIOD
    )
    workbook = openpyxl.load_workbook(io.BytesIO(build_workbook(data)))
    header = next(c for c in workbook["Assignments"][1] if c.value == "MSISDN")
    assert header.comment is None
    assert "SIMs with details not read yet" not in summary_values(workbook["Summary"])


def provisional_settlement() -> StoredSettlement:
    """A small settlement, figures by hand: 3 SIMs, one moved at the close; two pools."""
    pools = pd.DataFrame(
        {"pool": ["POOL_10MB", "POOL_5MB"], "projected_mb": [12.0, 4.5], "final_mb": [9.0, 7.0]}
    ).assign(error_mb=lambda frame: frame["final_mb"] - frame["projected_mb"])
    settled = Settlement(
        final=False,
        readings_before_end=2,
        sims=3,
        cost_before=30.0,
        cost_actual=27.5,
        cost_optimized=26.0,
        cost_optimum=25.25,
        optimum_stop_reason="proven optimal",
        pushed=1,
        pools=pools,
        projected_mb=16.5,
        final_mb=16.0,
    )
    return StoredSettlement("2026-05", datetime(2026, 6, 3, 9, 30, tzinfo=UTC), settled)


def test_the_latest_settlement_gets_a_sheet_naming_its_period():
    instance = small_instance()
    data = report_data_from(
        instance, instance.current_plan, instance.current_plan, provider="acme", period=PERIOD
    )
    assert "Settlement" not in openpyxl.load_workbook(io.BytesIO(build_workbook(data))).sheetnames
    settled = dataclasses.replace(data, settlement=provisional_settlement())
    sheet = openpyxl.load_workbook(io.BytesIO(build_workbook(settled)))["Settlement"]
    assert sheet["A1"].value == "Settlement of billing period 2026-05 (the latest settled period)"
    assert sheet["A2"].value.startswith("Settled 2026-06-03 09:30 UTC: ")
    figures = {row[0]: row[1] for row in sheet.iter_rows(min_row=4, max_row=16, values_only=True)}
    assert figures["Usage priced"].startswith("PROVISIONAL: 2 SIMs last read before")
    assert figures["SIMs on a new plan at the close"] == 1
    assert figures["Realized saving on the bill (USD)"] == pytest.approx(2.5)  # 30 − 27.50
    assert figures["Left on the table (USD)"] == pytest.approx(1.5)  # 27.50 − 26
    assert figures["What the projection's error cost (USD)"] == pytest.approx(0.75)
    assert figures["Projection error (MB)"] == pytest.approx(-0.5)
    assert figures["Optimum on that usage (USD, proven optimal)"] == pytest.approx(25.25)
    assert sheet.cell(row=5, column=2).number_format == "#,##0"
    assert sheet.cell(row=7, column=2).number_format == "#,##0.00"
    headers, pools, total = table(sheet, header_row=18)
    assert headers == [
        "Rate pool",
        "Projected usage (MB)",
        "Stored usage (MB)",
        "Projection error (MB)",
    ]
    assert [(p["Rate pool"], p["Projection error (MB)"]) for p in pools] == [
        ("POOL_10MB", -3.0),
        ("POOL_5MB", 2.5),
    ]
    assert total["Rate pool"] == "Total" and total["Projected usage (MB)"].startswith("=SUM(")
