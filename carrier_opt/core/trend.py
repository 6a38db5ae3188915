"""Savings over time: one provider's bill per billing period, before and after optimization,
beside the legacy strategies' cost and the lower bound, drawn as a chart for the Dagster UI.

The UI renders an asset's markdown metadata but no images, so the chart is text: one bar per
figure and period, scaled to the largest bill, in a code block (monospaced). The workbook
draws the same table as a native Excel chart (:mod:`carrier_opt.delivery.workbook`).
"""

from __future__ import annotations

import math

import pandas as pd

TREND_COLUMNS = (
    "period_key",
    "cost_before",
    "optimized_cost",
    "legacy_cost",
    "lower_bound",
    "settled_cost",
)
"""One row per period, oldest first (USD; ``settled_cost`` empty (NaN) for a period not settled)."""

BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: float, largest: float, width: int = BAR_WIDTH) -> str:
    """``value`` as a bar of full blocks and an eighth, ``width`` blocks for ``largest``."""
    if not largest > 0 or not math.isfinite(value) or value <= 0:
        return ""
    eighths = round(8 * width * value / largest)
    return "█" * (eighths // 8) + _EIGHTHS[eighths % 8].strip()


def trend_chart(trend: pd.DataFrame) -> str:
    """The trend as a markdown code block: per period the bill before, optimized and (when
    known) legacy and settled, then the saving, all in USD."""
    if trend.empty:
        return "no optimized period yet"
    figures = trend[["cost_before", "optimized_cost", "legacy_cost", "settled_cost"]]
    largest = float(figures.max().max())
    # Bars start near the smallest bill, or a saving of a few percent would not show.
    floor = _nice_floor(0.9 * float(figures.min().min()))
    lines = [f"bars start at {floor:,.0f} USD"]
    for row in trend.itertuples():
        saving = row.cost_before - row.optimized_cost
        share = 100 * saving / row.cost_before if row.cost_before else 0.0
        for label, value in (
            ("before", row.cost_before),
            ("optimized", row.optimized_cost),
            ("legacy", row.legacy_cost),
            ("settled", row.settled_cost),
        ):
            if pd.isna(value):
                continue
            period = row.period_key if label == "before" else ""
            drawn = bar(value - floor, largest - floor)
            lines.append(f"{period:<8} {label:<9} {drawn:<{BAR_WIDTH}} {value:>12,.2f}")
        lines.append(f"{'':<8} {'saving':<9} {saving:>{BAR_WIDTH + 13},.2f} ({share:.1f} %)")
    return "```\n" + "\n".join(lines) + "\n```"


def _nice_floor(value: float) -> float:
    """``value`` rounded down to one significant digit (0 for none): a round axis start."""
    if not value > 0:
        return 0.0
    step = 10 ** math.floor(math.log10(value))
    return math.floor(value / step) * step


def trend_table(trend: pd.DataFrame) -> str:
    """The trend as a markdown table (USD to the cent; an empty cell: not known)."""
    headers = ("period", "before", "optimized", "legacy", "bound", "settled")
    lines = ["| " + " | ".join(headers) + " |", "|---" + "|---:" * (len(headers) - 1) + "|"]
    for row in trend[list(TREND_COLUMNS)].itertuples(index=False):
        cells = [row[0], *("" if pd.isna(value) else f"{value:,.2f}" for value in row[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
