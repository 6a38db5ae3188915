"""The demo runs the real job against the fake carrier and ends with its summary."""

from carrier_opt.demo import run_demo


def test_demo_optimizes_a_period_and_prints_the_summary(database_url, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    lines = list(run_demo(database_url, devices=400))
    text = "\n".join(lines)
    for label in ("devices optimized:", "cost before:", "cost after:", "saving:", "gap"):
        assert label in text
    assert "production keeps Jasper's 5 calls/s" in text
    # A second demo on the same database reuses the provider and completes again.
    again = list(run_demo(database_url, devices=400))
    assert any(line.startswith("cost after:") for line in again)
