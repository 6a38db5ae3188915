"""One rounding rule and one way of writing money (issue 15: the same saving read 52330.78 on
one asset and 52330.79 on the next)."""

from decimal import Decimal

import numpy as np
import pytest

from carrier_opt.core.money import (
    cents,
    cents_of,
    cost_figures,
    shown_as_stored,
    sum_usd,
    usd,
    usd_difference,
    usd_text,
)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(0.005, 1), (1.005, 101), (2.675, 268), (-0.005, -1), (Decimal("78042.9952"), 7804300)],
)
def test_cents_round_half_up_as_written(amount, expected):
    assert cents(amount) == expected  # float round() gives 1.0 for 1.005 and 2.67 for 2.675


def test_usd_text_has_currency_and_thousands_separators():
    assert usd_text(52330.785) == "$52,330.79"
    assert usd_text(-1.5) == "-$1.50"
    assert usd_text(None) == "n/a"
    assert usd(Decimal("78042.9952")) == 78043.0


def test_the_saving_is_the_difference_of_the_rounded_costs():
    figures = cost_figures(before=1.005, after=0.0, legacy=2.0, bound=0.0)
    assert round(1.005 - 0.0, 2) == 1.0  # what the metadata used to say
    assert figures["saving_usd"] == 1.01 == figures["cost_before_usd"] - figures["cost_after_usd"]
    # Issue 28: one name per amount, a number with the currency in its name, no text copy.
    assert set(figures) == {
        "cost_before_usd",
        "cost_after_usd",
        "saving_usd",
        "saving_pct",
        "legacy_cost_usd",
        "lower_bound_usd",
        "gap_pct",
    }
    assert figures["gap_pct"] == 0.0


def test_many_amounts_round_to_the_cent_as_one_does():
    """cents_of (vectorized, for the workbook's totals) keeps cents' rule: half up, away
    from zero, float noise dropped."""
    amounts = [0.005, 1.005, 2.675, -0.005, -1.015, 0.1 + 0.2, 1e-9, 12345.675, 0.0, 99.995]
    rng = np.random.default_rng(7)
    amounts += list(np.round(rng.uniform(-500, 500, 2_000), 3))
    assert cents_of(amounts).tolist() == [cents(a) for a in amounts]


def test_a_sum_reads_as_the_sum_of_the_figures_shown():
    assert sum_usd([0.1, 0.2]) == 0.3
    assert sum_usd([0.005, 0.005]) == 0.02  # each rounded half up, then added
    assert sum_usd([]) == 0.0
    assert usd_difference(10.005, 0.004) == 10.01  # 10.01 − 0.00
    assert usd_difference(Decimal("1.005"), 1.0) == 0.01


def test_a_shown_amount_matches_its_stored_figure_across_the_storage_rounding():
    """The demo's past period: its float cost 86,079.764999… reads 86,079.76 and is stored as
    86,079.7650 (4 decimals), which alone would round to .77: the two are one amount. A cent
    apart beyond that is not."""
    shown = usd(86_079.76499999)
    assert shown == 86_079.76
    assert usd(Decimal("86079.7650")) == 86_079.77  # why a plain comparison warned
    assert shown_as_stored(shown, Decimal("86079.7650"))
    assert shown_as_stored(27_070.23, Decimal("27070.2300"))
    assert not shown_as_stored(shown, Decimal("86079.7700"))
    assert shown_as_stored(shown, Decimal("86079.7550"))  # the other end of .76
    assert not shown_as_stored(shown, Decimal("86079.7549"))  # reads .75 however it was
