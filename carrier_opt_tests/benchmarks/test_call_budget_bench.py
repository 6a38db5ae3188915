"""The call-budget benchmark runs end to end at a small size and keeps its promises: no run
spends more than its budget plus one page, and a full refresh reads every SIM."""

import pytest

from carrier_opt.bench import call_budget


@pytest.mark.slow
def test_the_call_budget_benchmark_keeps_every_budget():
    rows = {row.run: row for row in call_budget.run(400, time_limit_s=2.0)}
    assert rows["no refresh"].calls == 0 and rows["no refresh"].refreshed == 0
    full = rows["full refresh"]
    assert full.refreshed == 400 and full.stale == 0
    for share in call_budget.SHARES:
        for order in ("value first", "stalest first"):
            row = rows[f"{order}, {share:.0%}"]
            assert row.budget == max(1, round(full.calls * share))
            assert row.calls <= row.budget + 1, row.line()
            assert row.refreshed > 0 and row.closed is not None
    assert rows["value first, 50%"].stale < rows["no refresh"].stale
