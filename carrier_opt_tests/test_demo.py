"""The demo runs the real job against the fake carrier and ends with its summary."""

from pathlib import Path

from carrier_opt.demo import run_demo


def test_demo_optimizes_a_period_and_prints_the_summary(database_url, monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("CARRIER_OPT_HOME", str(tmp_path / "home"))
    lines = list(run_demo(database_url, devices=400))
    text = "\n".join(lines)
    for label in ("devices optimized:", "cost before:", "cost after:", "saving:", "gap"):
        assert label in text
    # The workbook is left on disk, under CARRIER_OPT_HOME/reports, and its path printed.
    report = Path(next(line for line in lines if line.startswith("report workbook:")).split()[-1])
    assert report.is_file() and report.suffix == ".xlsx"
    assert report.is_relative_to(tmp_path / "home" / "reports")
    assert "rate-plan updates:     dry run" in text
    assert "production keeps Jasper's 5 calls/s" in text
    # A second demo on the same database reuses the provider and completes again.
    again = list(run_demo(database_url, devices=400))
    assert any(line.startswith("cost after:") for line in again)
