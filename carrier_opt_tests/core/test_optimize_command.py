"""`carrier-opt optimize` per the contract: files out, summary fields, bad input is harmless."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from carrier_opt.cli import cli
from carrier_opt.core.instance import load_instance, read_assignment
from carrier_opt.core.pricing import total_cost
from carrier_opt_tests.core.strategies import DEVICES_CSV, RATE_PLANS_CSV, write_instance

CONTRACT_SUMMARY_KEYS = {
    "current_cost",
    "optimized_cost",
    "lower_bound",
    "gap",
    "legacy_cost",
    "devices",
    "seconds",
}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_optimize_writes_the_assignment_and_the_summary(tmp_path):
    folder = write_instance(tmp_path)
    out, summary_path = tmp_path / "assignments.csv", tmp_path / "summary.json"
    result = invoke(
        "optimize",
        str(folder),
        "--out",
        str(out),
        "--summary",
        str(summary_path),
        "--time-limit",
        "5",
    )
    assert result.exit_code == 0, result.output
    instance = load_instance(folder)
    assignment = read_assignment(out, instance)
    summary = json.loads(summary_path.read_text())
    assert set(summary) >= CONTRACT_SUMMARY_KEYS
    assert summary["devices"] == 3
    assert summary["optimized_cost"] == round(total_cost(instance, assignment), 2)
    assert summary["lower_bound"] <= summary["optimized_cost"] <= summary["current_cost"]
    assert summary["optimized_cost"] <= summary["legacy_cost"]
    assert "devices:" in result.output


def test_bad_input_reports_each_problem_and_writes_nothing(tmp_path):
    bad_devices = DEVICES_CSV.replace("D2,CP-A,POOL,150", "D2,CP-A,POOL,-150").replace(
        "D3,CP-B,BIG,900,2,1,true", "D1,CP-B,NOPE,900,2,1,true"
    )
    folder = write_instance(tmp_path, devices=bad_devices)
    out = tmp_path / "assignments.csv"
    out.write_text("previous,content\n")
    result = CliRunner().invoke(
        cli, ["optimize", str(folder), "--out", str(out), "--summary", str(tmp_path / "s.json")]
    )
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("devices.csv:3:usage_mb" in line for line in lines), lines
    assert any("devices.csv:4:iccid" in line and "duplicate" in line for line in lines), lines
    assert any("devices.csv:4:rate_plan_code" in line for line in lines), lines
    assert "Traceback" not in result.output
    assert out.read_text() == "previous,content\n"
    assert not (tmp_path / "s.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_output_folder_fails_before_computing(tmp_path):
    folder = write_instance(tmp_path)
    result = invoke("optimize", str(folder), "--out", str(tmp_path / "nowhere" / "a.csv"))
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_assignment_file_has_one_row_per_device(tmp_path):
    folder = write_instance(tmp_path)
    out = tmp_path / "a.csv"
    assert invoke("optimize", str(folder), "--out", str(out)).exit_code == 0
    frame = pd.read_csv(out, dtype=str)
    assert list(frame.columns[:2]) == ["iccid", "rate_plan_code"]
    assert sorted(frame["iccid"]) == ["D1", "D2", "D3"]


def test_the_legacy_strategy_can_be_reproduced(tmp_path):
    from carrier_opt.core.legacy import legacy_baseline

    folder = write_instance(tmp_path)
    out, summary_path = tmp_path / "legacy.csv", tmp_path / "s.json"
    result = invoke(
        "optimize",
        str(folder),
        "--out",
        str(out),
        "--summary",
        str(summary_path),
        "--strategy",
        "legacy",
    )
    assert result.exit_code == 0, result.output
    instance = load_instance(folder)
    written = read_assignment(out, instance)
    assert total_cost(instance, written) == pytest.approx(legacy_baseline(instance).cost)
    assert json.loads(summary_path.read_text())["strategy_written"] == "legacy"


@pytest.mark.parametrize(
    ("rate_plans", "devices", "expected"),
    [
        (
            RATE_PLANS_CSV.replace("SMALL,1.0,", "SMALL,1e308,"),
            DEVICES_CSV,
            "rate_plans.csv:2:base_rate: 1e308 is larger than 1,000,000",
        ),
        (
            RATE_PLANS_CSV,
            DEVICES_CSV.replace("D2,CP-A,POOL,150", "D2,CP-A,POOL,1e300"),
            "devices.csv:3:usage_mb: 1e300 is larger than 1,000,000,000",
        ),
        (
            RATE_PLANS_CSV,
            DEVICES_CSV.replace("D2,CP-A,POOL,150", "D2,CP-A,POOL,1e12"),
            "devices.csv:3:usage_mb: 1e12 is larger than 1,000,000,000",
        ),
        (
            RATE_PLANS_CSV.replace("BIG,20.0,1000,", "BIG,20.0,5e9,"),
            DEVICES_CSV,
            "rate_plans.csv:4:data_allowance_mb: 5e9 is larger than 1,000,000,000",
        ),
    ],
)
def test_absurd_magnitudes_are_refused_not_priced(tmp_path, rate_plans, devices, expected):
    """Issue 14: 1e308 used to write Infinity into summary.json, 1e300 MB gave "gap 400 %,
    proven optimal" and 1e12 MB fell back to the legacy answer for the whole fleet."""
    folder = write_instance(tmp_path, rate_plans=rate_plans, devices=devices)
    out, summary = tmp_path / "assignments.csv", tmp_path / "summary.json"
    result = invoke("optimize", str(folder), "--out", str(out), "--summary", str(summary))
    assert result.exit_code != 0
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() and not summary.exists()
