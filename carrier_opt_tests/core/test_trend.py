"""Savings over time (issue 31, point 3): the chart and the table, by hand."""

import pandas as pd

from carrier_opt.core.trend import bar, trend_chart, trend_table


def trend() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period_key": ["2026-09", "2026-10"],
            "cost_before": [110.0, 120.0],
            "optimized_cost": [100.0, 105.0],
            "legacy_cost": [104.0, None],
            "lower_bound": [99.5, 104.9],
            "settled_cost": [None, None],
        }
    )


def test_bars_are_whole_blocks_and_eighths_of_the_largest():
    assert bar(40, 40) == "█" * 40
    assert bar(10, 40, width=8) == "██"
    assert bar(11.25, 40, width=8) == "██▎"  # 2.25 blocks: two and two eighths
    assert bar(0, 40) == bar(-3, 40) == bar(5, 0) == ""


def test_the_chart_starts_its_bars_at_a_round_floor_and_states_every_figure():
    chart = trend_chart(trend()).splitlines()
    assert chart[0] == "```" and chart[-1] == "```"
    # 0.9 × 100 = 90, so bars start at 90: 120 USD is 40 blocks, 100 USD is 10 × 40 / 30.
    assert chart[1] == "bars start at 90 USD"
    assert chart[2].startswith("2026-09  before    ") and chart[2].endswith("110.00")
    assert chart[3].split()[:2] == ["optimized", "█" * 13 + "▍"]  # 13.33 blocks: 3 eighths
    assert chart[5].split() == ["saving", "10.00", "(9.1", "%)"]
    assert not any("legacy" in line for line in chart[6:])  # 2026-10 has no legacy figure
    assert chart[8].split() == ["saving", "15.00", "(12.5", "%)"]
    assert trend_chart(trend().iloc[0:0]) == "no optimized period yet"


def test_the_table_leaves_unknown_figures_empty():
    table = trend_table(trend()).splitlines()
    assert table[0] == "| period | before | optimized | legacy | bound | settled |"
    assert table[2] == "| 2026-09 | 110.00 | 100.00 | 104.00 | 99.50 |  |"
    assert table[3] == "| 2026-10 | 120.00 | 105.00 |  | 104.90 |  |"


def test_a_settled_period_draws_and_lists_its_settled_cost():
    settled = trend().assign(settled_cost=[101.5, None])
    chart = trend_chart(settled).splitlines()
    # After before, optimized and legacy: 101.50 settled, 11.5 / 30 × 40 = 15.33 blocks (15
    # and 3 eighths, rounded).
    assert chart[5].split() == ["settled", "█" * 15 + "▍", "101.50"]
    assert chart[6].split() == ["saving", "10.00", "(9.1", "%)"]  # the promised saving
    assert not any("settled" in line for line in chart[7:])  # 2026-10 is not settled
    table = trend_table(settled).splitlines()
    assert table[2] == "| 2026-09 | 110.00 | 100.00 | 104.00 | 99.50 | 101.50 |"
    assert table[3] == "| 2026-10 | 120.00 | 105.00 |  | 104.90 |  |"
