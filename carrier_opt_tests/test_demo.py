"""The demo runs the three real jobs against fake carriers and ends with their summaries."""

import re
from pathlib import Path

from carrier_opt.demo import DEMO_PROVIDER, MOBILITY_PROVIDER, run_demo


def block(lines: list[str], title: str) -> list[str]:
    """The summary lines of the run whose title starts with ``title`` (up to the next rule)."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("---"))
    return lines[start:end]


def value(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(label))[len(label) :].strip()


def workbooks(lines: list[str], label: str, reports: Path) -> list[Path]:
    """The workbooks under the folder a ``N under FOLDER`` line names, checked against N."""
    count, folder = value(lines, label).split(" under ")
    found = sorted(Path(folder).rglob("*.xlsx"))
    assert Path(folder).is_relative_to(reports)
    assert len(found) >= int(count) > 0
    return found


def test_demo_optimizes_a_period_and_prints_the_summary(database_url, monkeypatch, tmp_path):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("CARRIER_OPT_HOME", str(tmp_path / "home"))
    reports = tmp_path / "home" / "reports"
    lines = list(run_demo(database_url, devices=400, mobility_devices=300))
    text = "\n".join(lines)
    for label in ("devices optimized:", "cost before:", "cost after:", "saving:", "gap"):
        assert label in text
    # The workbook is left on disk, under CARRIER_OPT_HOME/reports, and its path printed.
    report = Path(next(line for line in lines if line.startswith("report workbook:")).split()[-1])
    assert report.is_file() and report.suffix == ".xlsx"
    assert report.is_relative_to(reports)
    # The run's push is a dry run; its change set is every SIM changing plan, less those the
    # carrier already shows on their target. The demo then approves it and pushes.
    recorded = value(lines, "rate-plan push:")
    assert recorded.startswith("dry run, changes recorded for the push:")
    counts = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", recorded)]
    changes, changing, already = counts[:3]
    assert changes == changing - already > 0
    assert changing == int(value(lines, "SIMs changing plan:").replace(",", ""))
    approved = value(lines, "approved push:")
    assert approved.startswith("by make demo, Go:") and f"of {changes:,} changes" in approved
    expected = value(lines, "expected saving:")
    assert value(lines, "realized saving:").startswith(expected)
    assert expected.split()[0] == value(lines, "saving:").split()[0]
    assert "production keeps Jasper's 5 calls/s" in text

    # Then the same provider and period re-priced on its customers' plans ...
    customers = block(lines, f"customer optimization of {DEMO_PROVIDER} ")
    assert int(value(customers, "customers optimized:").split()[0]) >= 2
    for label in ("cost before:", "cost after:", "saving:", "lower bound:"):
        assert value(customers, label)
    assert " gap " in value(customers, "lower bound:")
    assert int(value(customers, "shared-pool SIMs:").split()[0]) > 0
    customer_books = workbooks(customers, "customer workbooks:", reports / DEMO_PROVIDER)
    assert any("Customer_" in book.name for book in customer_books)
    # ... and a mobility provider optimized per optimization group, all three shown.
    mobility = block(lines, f"mobility optimization of {MOBILITY_PROVIDER} ")
    assert value(mobility, "groups optimized:").startswith("3 ")
    assert " gap " in value(mobility, "lower bound:")
    cost = {label: float(value(mobility, label).split()[0].replace(",", "")) for label in (
        "cost before:", "cost after:", "lower bound:",
    )}  # fmt: skip
    assert cost["lower bound:"] <= cost["cost after:"] + 0.005 < cost["cost before:"]
    mobility_books = workbooks(mobility, "group workbooks:", reports / MOBILITY_PROVIDER)
    assert len(mobility_books) == 3
    assert value(mobility, "rate-plan push:").startswith("dry run")
    assert lines[-1].startswith("demo seconds in all:")

    # A second demo on the same database reuses the providers, re-loads their prices and
    # customer plans, and completes the three runs again.
    again = list(run_demo(database_url, devices=400, mobility_devices=300))
    assert sum(line.startswith("cost after:") for line in again) == 3
    assert block(again, f"customer optimization of {DEMO_PROVIDER} ")
    assert value(
        block(again, f"mobility optimization of {MOBILITY_PROVIDER} "), "groups optimized:"
    )
