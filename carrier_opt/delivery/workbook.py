"""The optimization report as an Excel workbook (xlsxwriter), built in memory.

Sheets: **Summary** (headline figures and a chart of cost by rate plan before/after),
**Statistics** (per rate plan), **Assignments** (per SIM) and **Shared pool** (only when
shared-pool SIMs exist; they are also listed in Assignments — do not add the two sheets up).

Every figure comes from :class:`~carrier_opt.delivery.report_data.ReportData`, already in
cents, so the totals rows are exact sums of the lines and equal the Summary (see
``report_data.py`` for the rounding rule). Totals rows are ``SUM`` formulas with their value
cached, so Excel and readers that do not calculate (openpyxl, pandas) see the same number.

Text from the carrier (ICCIDs, plan names) is always written as text: an ICCID must not turn
into a rounded number, and a plan called ``=HYPERLINK(...)`` must not become a formula.

The "Pool overage share (USD)" column (Assignments, Shared pool) is informational: the pool's
overage spread evenly over its SIMs, as the legacy reports showed it. The charge columns already
contain the pool's overage (split by excess usage), so the share has no totals cell — adding it
to the charges would count the overage twice. Its header carries a note saying so.

Usage per SIM is shown three ways (Assignments, Shared pool): the carrier's cycle-to-date
usage, when it was read (the provider's local time: Excel has no time zones), and the projected
usage every charge is priced on (see ``report_data.py``). The Statistics sheet's usage is the
projected usage.

A detail-only field (the MSISDN) of a SIM whose carrier details are still to come is written
``not read yet`` in grey italics, with a note on its header, never left blank: a blank cell
says the carrier has no value (:mod:`carrier_opt.core.details`). The Summary counts them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from carrier_opt.core.billing import zone_of
from carrier_opt.core.details import NOT_READ_YET, NOT_READ_YET_NOTE
from carrier_opt.core.money import sum_usd, usd_difference
from carrier_opt.core.settlement import Settlement, StoredSettlement
from carrier_opt.db.push_history import PUSH_REFUSED
from carrier_opt.db.sync_facts import SyncFacts
from carrier_opt.delivery.report_data import (
    AUTHORITATIVE_NOTE,
    COMPONENTS,
    POOL_OVERAGE_SHARE_NOTE,
    ReportData,
)

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUMMARY, STATISTICS, ASSIGNMENTS, SHARED_POOL = (
    "Summary",
    "Statistics",
    "Assignments",
    "Shared pool",
)
WITHOUT_USAGE_SHEET = "SIMs without usage"
IDLE_SHEET, NEVER_ACTIVATED_SHEET, TREND_SHEET = "Idle SIMs", "Never activated", "Trend"
SETTLEMENT_SHEET = "Settlement"
SKIPPED_SHEET = "Skipped carrier records"
SKIPPED_HEADERS = ("Endpoint", "Page", "Record", "ICCID", "Identified by", "Field", "Value", "Why")
TOTAL_LABEL = "Total"


@dataclass(frozen=True)
class Column:
    """One column of a table sheet: data field, header, cell kind, width and an optional
    note on the header cell (an Excel note/comment)."""

    field: str
    header: str
    kind: str  # text | money | info_money / info_mb (prices and sizes, never totalled) | mb | ...
    width: float = 14
    note: str | None = None
    detail: bool = False
    """Only Get Device Details answers it: empty for a SIM whose details are still to come
    means not read yet, and is written so."""


_FORMATS = {
    "money": {"num_format": "#,##0.00"},
    "info_money": {"num_format": "#,##0.00"},
    "mb": {"num_format": "#,##0.000"},
    "info_mb": {"num_format": "#,##0.000"},
    "int": {"num_format": "#,##0"},
    "ratio": {"num_format": "0.0000"},
    "percent": {"num_format": "0.00%"},
    "datetime": {"num_format": "yyyy-mm-dd hh:mm"},
    "seconds": {"num_format": "#,##0.0"},
}
_SUMMED_KINDS = {"money", "mb", "int"}
POOL_OVERAGE_SHARE_COLUMN = Column(
    "pool_overage_share", "Pool overage share (USD)", "info_money", 16, POOL_OVERAGE_SHARE_NOTE
)

STATISTICS_COLUMNS: tuple[Column, ...] = (
    Column("rate_plan", "Rate plan", "text", 22),
    Column("pooled", "Pooled", "bool", 8),
    # A plan's price and size per SIM: summing them over plans means nothing, so no total.
    Column("base_rate", "Base rate (USD)", "info_money"),
    Column("data_allowance_mb", "Allowance per SIM (MB)", "info_mb", 16),
    *(
        column
        for side, label in (("before", "before"), ("after", "after"))
        for column in (
            Column(f"devices_{side}", f"Devices {label}", "int", 12),
            Column(f"pool_allowance_mb_{side}", f"Pooled allowance {label} (MB)", "mb", 18),
            Column(f"usage_mb_{side}", f"Projected usage {label} (MB)", "mb", 16),
            Column(f"base_{side}", f"Base charge {label} (USD)", "money", 16),
            Column(f"overage_{side}", f"Overage charge {label} (USD)", "money", 18),
            Column(f"sms_{side}", f"SMS charge {label} (USD)", "money", 16),
            Column(f"cost_{side}", f"Cost {label} (USD)", "money", 16),
        )
    ),
)

CTD_USAGE_NOTE = (
    "Cycle-to-date usage: the data the carrier reported for the billing cycle so far, when it "
    "was read (Usage read at)."
)
USAGE_DATE_NOTE = (
    "When the carrier's cycle-to-date usage was read, in the provider's time zone (the time "
    "zone on the Summary sheet)."
)
PROJECTED_USAGE_NOTE = (
    "Projected usage: the cycle-to-date usage projected to the whole billing period — the "
    "usage every charge in this report is priced on."
)
USAGE_COLUMNS: tuple[Column, ...] = (
    Column("ctd_usage_mb", "Cycle-to-date usage (MB)", "mb", 16, CTD_USAGE_NOTE),
    Column("usage_date", "Usage read at (local)", "datetime", 17, USAGE_DATE_NOTE),
    Column("projected_usage_mb", "Projected usage (MB)", "mb", 16, PROJECTED_USAGE_NOTE),
)

MOVE_REASON_NOTE = (
    "Why it moves: the SIM's projected usage, then what it costs on its current plan today and "
    "on the recommended plan after the change, with the charges behind each (base, overage, "
    "the pool's room), as the cost model prices them; within a cent of the charge columns."
)

ASSIGNMENT_SHEET_COLUMNS: tuple[Column, ...] = (
    Column("iccid", "ICCID", "text", 22),
    Column("msisdn", "MSISDN", "text", 16, detail=True),
    Column("communication_plan", "Communication plan", "text", 22),
    Column("current_rate_plan", "Current rate plan", "text", 20),
    Column("recommended_rate_plan", "Recommended rate plan", "text", 22),
    *USAGE_COLUMNS,
    Column("sms_count", "SMS", "int", 8),
    Column("proration", "Proration", "ratio", 10),
    Column("shared_pool", "Shared pool", "yes_no", 10),
    Column("cost_before", "Cost before (USD)", "money", 15),
    Column("cost_after", "Cost after (USD)", "money", 15),
    Column("saving", "Saving (USD)", "money", 13),
    Column("changed", "Change", "yes_no", 8),
    Column("move_reason", "Why it moves", "text", 60, MOVE_REASON_NOTE),
    *(Column(f"{c}_before", f"{c.capitalize()} before (USD)", "money") for c in COMPONENTS),
    *(Column(f"{c}_after", f"{c.capitalize()} after (USD)", "money") for c in COMPONENTS),
    POOL_OVERAGE_SHARE_COLUMN,
)

SAVING_IF_DEACTIVATED_NOTE = (
    "What the bill loses per period if this SIM alone is deactivated, priced with the cost "
    "model: its base and SMS, and for a pooled SIM the change in its pool's overage once its "
    "allowance leaves the pool (0 or less: the pool needs its allowance)."
)
DEACTIVATION_COLUMNS: tuple[Column, ...] = (
    Column("cost_usd", "Cost per period (USD)", "money", 15),
    Column("saving_usd", "Saving if deactivated (USD)", "money", 17, SAVING_IF_DEACTIVATED_NOTE),
)
"""What an idle or a never-activated SIM costs, and what deactivating it would save."""
IDLE_COLUMNS: tuple[Column, ...] = (
    Column("iccid", "ICCID", "text", 22),
    Column("rate_plan_code", "Rate plan", "text", 22),
    Column("idle_periods", "Periods without usage", "int", 12),
    *DEACTIVATION_COLUMNS,
)
NEVER_ACTIVATED_COLUMNS: tuple[Column, ...] = (
    Column("iccid", "ICCID", "text", 22),
    Column("status", "Status", "text", 16),
    Column("rate_plan_code", "Rate plan", "text", 22),
    *DEACTIVATION_COLUMNS,
)

SETTLED_NOTE = (
    "Settled cost: the plans each SIM had at the close priced on the usage stored for the "
    "closed period (period_settlement or carrier-opt settle; the Settlement sheet says whether "
    "that usage is final). Empty: the period has not been settled."
)
TREND_SHEET_COLUMNS: tuple[Column, ...] = (
    Column("period_key", "Billing period", "text", 14),
    Column("cost_before", "Cost before (USD)", "money", 16),
    Column("optimized_cost", "Optimized cost (USD)", "money", 18),
    Column("legacy_cost", "Legacy strategies (USD)", "money", 18),
    Column("lower_bound", "Lower bound (USD)", "money", 16),
    Column("settled_cost", "Settled cost (USD)", "money", 16, SETTLED_NOTE),
)

SETTLEMENT_POOL_COLUMNS: tuple[Column, ...] = (
    Column("pool", "Rate pool", "text", 24),
    Column("projected_mb", "Projected usage (MB)", "mb", 18, "What the optimizer decided on."),
    Column("final_mb", "Stored usage (MB)", "mb", 18, "What the settlement priced."),
    Column("error_mb", "Projection error (MB)", "mb", 18, "Stored − projected."),
)

SHARED_POOL_COLUMNS: tuple[Column, ...] = (
    Column("iccid", "ICCID", "text", 22),
    Column("msisdn", "MSISDN", "text", 16, detail=True),
    Column("communication_plan", "Communication plan", "text", 22),
    Column("rate_plan", "Rate plan (pool)", "text", 20),
    *USAGE_COLUMNS,
    Column("sms_count", "SMS", "int", 8),
    Column("proration", "Proration", "ratio", 10),
    *(Column(f"{c}_after", f"{c.capitalize()} (USD)", "money") for c in COMPONENTS),
    Column("cost_after", "Cost (USD)", "money"),
    POOL_OVERAGE_SHARE_COLUMN,
)


def build_workbook(data: ReportData) -> bytes:
    """The report as ``.xlsx`` bytes (nothing touches the disk)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    formats = _formats(workbook)
    summary = workbook.add_worksheet(SUMMARY)
    statistics_rows = _write_table(
        workbook.add_worksheet(STATISTICS), data.plan_statistics, STATISTICS_COLUMNS, formats
    )
    zone = zone_of(data.time_zone)
    _write_table(
        workbook.add_worksheet(ASSIGNMENTS),
        _local_times(data.assignments, zone),
        ASSIGNMENT_SHEET_COLUMNS,
        formats,
        not_read=_not_read(data.assignments, data.details_pending),
    )
    if data.shared_pool is not None:
        sheet = workbook.add_worksheet(SHARED_POOL)
        shared = _local_times(data.shared_pool, zone)
        _write_table(
            sheet,
            shared,
            SHARED_POOL_COLUMNS,
            formats,
            first_row=2,
            not_read=_not_read(data.shared_pool, data.details_pending),
        )
        sheet.write_string(
            0,
            0,
            "Shared-pool SIMs are counted in their pool but not optimized. They are "
            "also listed in Assignments: do not add the two sheets up. " + POOL_OVERAGE_SHARE_NOTE,
            formats["note"],
        )
    if data.trend is not None and len(data.trend):
        _write_trend(workbook, data.trend, formats)
    if data.settlement is not None:
        _write_settlement(workbook.add_worksheet(SETTLEMENT_SHEET), data.settlement, formats)
    if data.idle is not None:
        _write_idle(workbook, data, formats)
    if data.sync is not None and data.sync.without_usage:
        _write_without_usage(workbook.add_worksheet(WITHOUT_USAGE_SHEET), data.sync, formats)
    if data.sync is not None and data.sync.skipped.total:
        _write_skipped(workbook.add_worksheet(SKIPPED_SHEET), data.sync, formats)
    _write_summary(summary, data, formats)
    _add_cost_chart(workbook, summary, data, statistics_rows)
    workbook.close()
    return buffer.getvalue()


def _write_trend(workbook: Workbook, trend: pd.DataFrame, formats: dict[str, Any]) -> None:
    """The provider's optimized periods and a line chart of them (savings over time)."""
    sheet = workbook.add_worksheet(TREND_SHEET)
    periods = _write_table(sheet, trend, TREND_SHEET_COLUMNS, formats)
    chart = workbook.add_chart({"type": "line"})
    fields = [column.field for column in TREND_SHEET_COLUMNS]
    for field, name in (
        ("cost_before", "Before"),
        ("optimized_cost", "Optimized"),
        ("legacy_cost", "Legacy strategies"),
        ("lower_bound", "Lower bound"),
        ("settled_cost", "Settled"),
    ):
        column = fields.index(field)
        chart.add_series(
            {
                "name": name,
                "categories": [TREND_SHEET, 1, 0, periods, 0],
                "values": [TREND_SHEET, 1, column, periods, column],
                "marker": {"type": "circle"},
            }
        )
    chart.set_title({"name": "Bill per billing period (USD)"})
    chart.set_x_axis({"name": "Billing period"})
    chart.set_y_axis({"name": "USD", "num_format": "#,##0"})
    chart.set_size({"width": 720, "height": 360})
    sheet.insert_chart(periods + 3, 0, chart)


def settlement_rows(stored: StoredSettlement) -> list[tuple[str, Any, str]]:
    """The Settlement sheet's (label, value, kind) rows, in order."""
    settled = stored.settlement
    return [
        ("Usage priced", _usage_state(settled), "text"),
        ("SIMs", settled.sims, "int"),
        ("SIMs on a new plan at the close", settled.pushed, "int"),
        ("Cost before the optimization (USD)", settled.cost_before, "money"),
        ("Cost as billed, plans at the close (USD)", settled.cost_actual, "money"),
        ("Optimizer's assignment (USD)", settled.cost_optimized, "money"),
        (
            f"Optimum on that usage (USD, {settled.optimum_stop_reason})",
            settled.cost_optimum,
            "money",
        ),
        ("Realized saving on the bill (USD)", settled.realized_saving, "money"),
        ("Left on the table (USD)", settled.left_on_table, "money"),
        ("Usage projected (MB)", settled.projected_mb, "mb"),
        ("Usage stored (MB)", settled.final_mb, "mb"),
        ("Projection error (MB)", settled.final_mb - settled.projected_mb, "mb"),
        ("What the projection's error cost (USD)", settled.projection_error_cost, "money"),
    ]


def _usage_state(settled: Settlement) -> str:
    if settled.final:
        return "final (every SIM read at or after the period's end)"
    return (
        f"PROVISIONAL: {settled.readings_before_end:,} SIMs last read before the period's end, "
        "projected to it"
    )


def _write_settlement(sheet: Worksheet, stored: StoredSettlement, formats: dict[str, Any]) -> None:
    """The provider's latest settled period: its figures, then the projection's error per
    pool (the title says which period, since it is not the report's own)."""
    settled_at = stored.settled_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Settlement of billing period {stored.period_key} (the latest settled period)"
    sheet.write_string(0, 0, title, formats["title"])
    sheet.set_row(1, 30)
    sheet.merge_range(
        1,
        0,
        1,
        3,
        f"Settled {settled_at}: the period's latest optimization priced again on the usage "
        "stored for it once it closed (period_settlement, carrier-opt settle).",
        formats["note"],
    )
    rows = settlement_rows(stored)
    for row, (label, value, kind) in enumerate(rows, start=3):
        sheet.write_string(row, 0, label, formats["label"])
        if kind == "text":
            sheet.write_string(row, 1, str(value))
        else:
            sheet.write_number(row, 1, float(value), formats[kind])
    pools = stored.settlement.pools
    if len(pools):
        _write_table(sheet, pools, SETTLEMENT_POOL_COLUMNS, formats, first_row=len(rows) + 4)
    sheet.set_column(0, 0, 46)  # the labels (the pool table set its own widths)
    sheet.set_column(1, 1, 20)


def _write_idle(workbook: Workbook, data: ReportData, formats: dict[str, Any]) -> None:
    """The idle SIMs (and, when any, those billed although never activated), each priced."""
    idle = data.idle
    assert idle is not None
    sheet = workbook.add_worksheet(IDLE_SHEET)
    sheet.write_string(0, 0, idle.summary() + ".", formats["note"])
    _write_table(sheet, idle.idle, IDLE_COLUMNS, formats, first_row=2)
    if len(idle.never_activated):
        orphans = workbook.add_worksheet(NEVER_ACTIVATED_SHEET)
        orphans.write_string(
            0,
            0,
            "SIMs billed this period although the carrier shows no activation date: check "
            "them with the carrier. Nothing is deactivated automatically.",
            formats["note"],
        )
        _write_table(orphans, idle.never_activated, NEVER_ACTIVATED_COLUMNS, formats, first_row=2)


def _not_read(frame: pd.DataFrame, details_pending: frozenset[str]) -> list[bool]:
    """Per row: whether the SIM's carrier details are still to come."""
    return frame["iccid"].astype(str).isin(details_pending).tolist()


def _local_times(frame: pd.DataFrame, zone: ZoneInfo) -> pd.DataFrame:
    """``frame`` with its ``usage_date`` (aware) as wall times in ``zone``: Excel has no time
    zones, so a cell shows the provider's local time, as the Summary's period does."""
    local = [
        None if _missing(moment) else moment.astimezone(zone).replace(tzinfo=None)
        for moment in frame["usage_date"].tolist()
    ]
    return frame.assign(usage_date=pd.Series(local, index=frame.index, dtype=object))


def _write_without_usage(sheet: Worksheet, facts: SyncFacts, formats: dict[str, Any]) -> None:
    """The ACTIVATED SIMs the run left out for want of usable usage, one ICCID per row."""
    sheet.write_string(
        0,
        0,
        f"{len(facts.without_usage):,} ACTIVATED SIMs have no usable usage for this period "
        "(the carrier's usage record was missing or malformed): they are not in this run. "
        f"The sheet {SKIPPED_SHEET!r}, when present, lists the records the sync skipped and "
        "why; sync again "
        "once the carrier answers for them.",
        formats["note"],
    )
    sheet.set_column(0, 0, 24)
    sheet.write_string(2, 0, "ICCID", formats["header"])
    for row, iccid in enumerate(facts.without_usage, start=3):
        sheet.write_string(row, 0, iccid)


def _write_skipped(sheet: Worksheet, facts: SyncFacts, formats: dict[str, Any]) -> None:
    """The carrier records the last sync went on without, where they came from and why."""
    skipped = facts.skipped
    listed = len(skipped.shown)
    more = f" (the first {listed:,} are listed)" if listed < skipped.total else ""
    sheet.write_string(
        0,
        0,
        f"The last sync skipped {skipped.total:,} carrier record(s){more}: a record it could "
        "not read (a garbage date, no ICCID) or a per-SIM call the carrier refused. A SIM "
        "sent without an ICCID is identified by its other fields. The sync stored everything "
        "else; ask the carrier to correct these records, then sync again.",
        formats["note"],
    )
    for column, (header, width) in enumerate(
        zip(SKIPPED_HEADERS, (28, 6, 7, 22, 60, 18, 30, 50), strict=True)
    ):
        sheet.write_string(2, column, header, formats["header"])
        sheet.set_column(column, column, width)
    for row, record in enumerate(skipped.shown, start=3):
        values = (
            record.endpoint,
            record.page,
            record.record_index,
            record.iccid,
            record.identity,
            record.field,
            record.value,
            record.reason,
        )
        for column, value in enumerate(values):
            if isinstance(value, int):
                sheet.write_number(row, column, value)
            elif value is not None:
                sheet.write_string(row, column, value)


def _formats(workbook: Workbook) -> dict[str, Any]:
    formats = {kind: workbook.add_format(spec) for kind, spec in _FORMATS.items()}
    formats["header"] = workbook.add_format(
        {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7", "border": 1}
    )
    formats["title"] = workbook.add_format({"bold": True, "font_size": 14})
    formats["label"] = workbook.add_format({"bold": True})
    formats["note"] = workbook.add_format({"italic": True, "text_wrap": True, "valign": "top"})
    formats["not_read"] = workbook.add_format({"italic": True, "font_color": "#808080"})
    for kind in ("money", "mb", "int"):
        formats[f"total_{kind}"] = workbook.add_format({**_FORMATS[kind], "bold": True, "top": 1})
    formats["total_label"] = workbook.add_format({"bold": True, "top": 1})
    return formats


def _write_table(
    sheet: Worksheet,
    frame: pd.DataFrame,
    columns: Sequence[Column],
    formats: dict[str, Any],
    *,
    first_row: int = 0,
    not_read: Sequence[bool] = (),
) -> int:
    """Header, one row per record, then a totals row; frozen header, autofilter, widths.

    ``not_read``: per row, whether the SIM's details are still to come (its empty detail
    cells then say so). Answers the number of data rows. The autofilter covers the data
    only, so sorting never moves the totals row.
    """
    header_row = first_row
    sheet.set_row(header_row, 30)
    any_not_read = any(not_read)
    for index, column in enumerate(columns):
        sheet.write_string(header_row, index, column.header, formats["header"])
        sheet.set_column(index, index, column.width)
        note = NOT_READ_YET_NOTE if column.detail and any_not_read else column.note
        if note:
            sheet.write_comment(header_row, index, note, {"x_scale": 2, "y_scale": 2})
    for index, column in enumerate(columns):
        _write_column(
            sheet,
            header_row + 1,
            index,
            frame[column.field],
            column.kind,
            formats,
            not_read if column.detail else (),
        )
    rows = len(frame)
    total_row = header_row + rows + 1
    sheet.write_string(total_row, 0, TOTAL_LABEL, formats["total_label"])
    for index, column in enumerate(columns[1:], start=1):
        if column.kind not in _SUMMED_KINDS:
            continue
        values = pd.to_numeric(frame[column.field], errors="coerce")
        if values.isna().all():
            continue
        first = xl_rowcol_to_cell(header_row + 1, index)
        last = xl_rowcol_to_cell(max(total_row - 1, header_row + 1), index)
        total = _cached_total(values, column.kind)
        sheet.write_formula(
            total_row, index, f"=SUM({first}:{last})", formats[f"total_{column.kind}"], total
        )
    sheet.freeze_panes(header_row + 1, 1)
    sheet.autofilter(header_row, 0, header_row + max(rows, 1), len(columns) - 1)
    return rows


def _cached_total(values: pd.Series, kind: str) -> float | int:
    """The value a totals-row ``SUM`` shows before Excel recalculates: exact for money."""
    values = values.fillna(0)
    if kind == "money":  # add whole cents, so 0.1 + 0.2 does not show 0.30000000000000004
        return sum_usd(values.to_numpy(dtype=float))
    if kind == "int":
        return int(values.sum())
    return float(values.sum())


def _write_column(
    sheet: Worksheet,
    first_row: int,
    column: int,
    values: pd.Series,
    kind: str,
    formats: dict[str, Any],
    not_read: Sequence[bool] = (),
) -> None:
    """Write one column cell by cell: blanks for missing values (``not read yet`` where the
    row's ``not_read`` says the carrier has not been asked yet), text as text."""
    cell_format = formats.get(kind)
    for offset, value in enumerate(values.tolist()):
        row = first_row + offset
        if _missing(value) or (kind == "text" and value == ""):
            if offset < len(not_read) and not_read[offset]:
                sheet.write_string(row, column, NOT_READ_YET, formats["not_read"])
            continue
        if kind == "text":
            sheet.write_string(row, column, str(value))
        elif kind == "yes_no":
            sheet.write_string(row, column, "yes" if value else "no")
        elif kind == "bool":
            sheet.write_boolean(row, column, bool(value))
        elif kind == "datetime":
            sheet.write_datetime(row, column, value, cell_format)
        else:
            sheet.write_number(row, column, float(value), cell_format)


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or value is pd.NA
        or value is pd.NaT
    )


def _write_summary(sheet: Worksheet, data: ReportData, formats: dict[str, Any]) -> None:
    """Label/value pairs in columns A and B (a reader can find a figure by its label)."""
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 26)
    sheet.set_column(2, 2, 60)
    title = " — ".join(
        part for part in ("Rate-plan optimization", data.provider, data.scope) if part
    )
    sheet.write_string(0, 0, title, formats["title"])
    for row, (label, value, kind) in enumerate(summary_rows(data), start=2):
        sheet.write_string(row, 0, label, formats["label"])
        if _missing(value):
            sheet.write_string(row, 1, "n/a")
        elif kind == "text":
            sheet.write_string(row, 1, str(value))
        elif kind == "datetime":
            sheet.write_datetime(row, 1, value, formats["datetime"])
        else:
            sheet.write_number(row, 1, float(value), formats.get(kind))
    note_row = 2 + len(summary_rows(data)) + 1
    sheet.merge_range(note_row, 0, note_row + 2, 2, AUTHORITATIVE_NOTE, formats["note"])


def summary_rows(data: ReportData) -> list[tuple[str, Any, str]]:
    """The Summary sheet's (label, value, kind) rows, in order; also handy for e-mail bodies."""

    def local(moment: datetime) -> datetime:  # Excel has no time zones: local wall time
        return moment.replace(tzinfo=None)

    gap = None if data.gap is None else max(data.gap, 0.0)
    saving_vs_legacy = (
        None if data.legacy_cost is None else usd_difference(data.legacy_cost, data.cost_after)
    )
    dropped = "; ".join(f"{code} ({reason})" for code, reason in data.dropped_plans) or "none"
    scope = [("Scope", data.scope, "text")] if data.scope else []
    unassigned = (
        [("SIMs on no customer plan (at $0)", data.unassigned_sims, "int")]
        if data.unassigned_sims
        else []
    )
    not_read = len(data.details_pending_iccids)
    missing = [
        *([(f"SIMs with details {NOT_READ_YET}", not_read, "int")] if not_read else []),
        *(
            [
                (
                    "SIMs in no customer's report (customer not read yet)",
                    data.customer_not_read,
                    "int",
                )
            ]
            if data.customer_not_read
            else []
        ),
    ]
    return [
        ("Service provider", data.provider, "text"),
        *scope,
        ("Billing period", data.period_key, "text"),
        ("Period start (local)", local(data.period_start_local), "datetime"),
        ("Period end (local)", local(data.period_end_local), "datetime"),
        ("Time zone", data.time_zone, "text"),
        ("Devices", data.devices, "int"),
        *unassigned,
        *missing,
        ("SIMs changing plan", data.devices_changed, "int"),
        ("Cost before (USD)", data.cost_before, "money"),
        ("Cost after (USD)", data.cost_after, "money"),
        ("Saving (USD)", data.saving, "money"),
        (
            "Saving (%)",
            None if data.saving_percent is None else data.saving_percent / 100,
            "percent",
        ),
        ("Lower bound (USD)", data.lower_bound, "money"),
        ("Gap to lower bound", gap, "percent"),
        ("Proven optimal", "yes" if data.proven_optimal else "no", "text"),
        ("Legacy-strategy cost (USD)", data.legacy_cost, "money"),
        ("Saving vs legacy strategy (USD)", saving_vs_legacy, "money"),
        ("Run time (s)", None if data.seconds is None else round(data.seconds, 1), "seconds"),
        ("Plans dropped as invalid", dropped, "text"),
        *(
            [("Usage age", data.sync.usage_age, "text")]
            if data.sync is not None and data.sync.usage_age
            else []
        ),
        *_push_rows(data),
    ]


def _push_rows(data: ReportData) -> list[tuple[str, Any, str]]:
    """The carrier push beside the expected saving: what was sent and the realized saving."""
    push = data.push
    if push is None:
        return []
    rows = [
        ("Carrier push", push.headline, "text"),
        ("Go/No-Go", _DECISIONS.get(push.decision or "", "n/a"), "text"),
        ("Changes for the push", push.changes, "int"),
        ("Already on target at the carrier", push.already_on_target, "int"),
        ("Changes sent", push.sent, "int"),
        ("Changes failed", push.failed, "int"),
        ("Changes not sent", push.not_sent + push.held_back, "int"),
        ("Expected saving (USD)", push.expected_saving, "money"),
        ("Realized saving (USD)", push.realized_saving, "money"),
    ]
    if push.note:
        rows.append(("Push note", push.note, "text"))
    if push.refused_later:
        rows.append(("A later push was refused", push.refused_later, "text"))
    return rows


_DECISIONS = {"go": "Go", "no_go": "No Go", PUSH_REFUSED: "Refused"}


def _add_cost_chart(workbook: Workbook, summary: Worksheet, data: ReportData, plans: int) -> None:
    """A column chart of cost by rate plan, before and after, read from the Statistics sheet."""
    if plans == 0:
        return
    fields = [column.field for column in STATISTICS_COLUMNS]
    chart = workbook.add_chart({"type": "column"})
    categories = [STATISTICS, 1, 0, plans, 0]
    for side, label in (("before", "Before"), ("after", "After")):
        if side == "before" and data.cost_before is None:
            continue
        column = fields.index(f"cost_{side}")
        chart.add_series(
            {
                "name": label,
                "categories": categories,
                "values": [STATISTICS, 1, column, plans, column],
            }
        )
    chart.set_title({"name": "Cost by rate plan (USD)"})
    chart.set_x_axis({"name": "Rate plan"})
    chart.set_y_axis({"name": "USD", "num_format": "#,##0"})
    chart.set_size({"width": 720, "height": 360})
    summary.insert_chart(2, 3, chart)
