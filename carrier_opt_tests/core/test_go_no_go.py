"""The Go/No-Go sentence an operator reads (issue 28, point 6: a closed period read "No Go:
-7079 min left in the billing period")."""

from datetime import UTC, datetime, timedelta

import pytest

from carrier_opt.core.go_no_go import go_no_go

END = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after_the_end", "ago"),
    [
        (timedelta(days=5, hours=3), "5 days ago"),
        (timedelta(hours=30), "30 h ago"),
        (timedelta(minutes=45), "45 min ago"),
        (timedelta(seconds=20), "1 min ago"),
    ],
)
def test_a_closed_period_says_when_it_ended(after_the_end, ago):
    decision = go_no_go(END + after_the_end, END, 120, None)
    assert not decision.go
    assert decision.reason == (
        f"No Go: the billing period ended 2026-11-30 18:00 UTC ({ago}); a change now would be "
        "billed in the next period"
    )


def test_an_open_period_still_counts_its_minutes():
    decision = go_no_go(END - timedelta(minutes=20), END, 600, None)
    assert decision.reason.startswith("Go: 20 min left in the billing period")
    assert go_no_go(END - timedelta(minutes=5), END, 1, None).reason.startswith("No Go: 5 min left")
