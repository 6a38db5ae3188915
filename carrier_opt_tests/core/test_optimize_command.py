"""`carrier-opt optimize` per the contract: files out, summary fields, bad input is harmless."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from carrier_opt.cli import cli
from carrier_opt.core.instance import load_instance, read_assignment
from carrier_opt.core.pricing import total_cost
from carrier_opt_tests.core.strategies import (
    COMM_PLAN_RATE_PLANS_CSV,
    DEVICES_CSV,
    RATE_PLANS_CSV,
    reference_dir,
    write_instance,
)

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


def test_the_assignment_file_names_each_sims_current_plan_empty_where_it_is_not_offered(
    tmp_path,
):
    # D1's plan, SMALL, has a negative base rate: the contract leaves it out.
    rate_plans = RATE_PLANS_CSV.replace("SMALL,1.0,", "SMALL,-1.0,")
    folder = write_instance(tmp_path, rate_plans=rate_plans)
    out = tmp_path / "a.csv"
    assert invoke("optimize", str(folder), "--out", str(out)).exit_code == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("iccid")
    assert frame["current_rate_plan_code"].to_dict() == {"D1": "", "D2": "POOL", "D3": "BIG"}


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


def optimize_fails(folder, tmp_path) -> list[str]:
    """Run optimize on ``folder``; assert it failed without a traceback and wrote nothing, and
    answer its standard error's lines."""
    out, summary = tmp_path / "assignments.csv", tmp_path / "summary.json"
    result = invoke("optimize", str(folder), "--out", str(out), "--summary", str(summary))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not summary.exists()
    return result.stderr.splitlines()


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("SMALL,1.0,", "SMALL,NaN,", "rate_plans.csv:2:base_rate: 'NaN' is not a number"),
        ("SMALL,1.0,", "SMALL,Infinity,", "rate_plans.csv:2:base_rate: 'Infinity' is not a number"),
        ("SMALL,1.0,", "SMALL,2e6,", "rate_plans.csv:2:base_rate: 2e6 is larger than 1,000,000"),
    ],
    ids=["NaN", "inf", "huge"],
)
def test_a_plan_number_that_is_no_price_fails_optimize(tmp_path, old, new, expected):
    folder = write_instance(tmp_path, rate_plans=RATE_PLANS_CSV.replace(old, new))
    lines = optimize_fails(folder, tmp_path)
    assert len(lines) == 1 and expected in lines[0], lines


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("SMALL,1.0,", "SMALL,-1.0,", "base_rate is negative"),
        ("SMALL,1.0,10,0.5,1,0.01", "SMALL,1.0,10,0.5,1,-0.01", "sms_rate is negative"),
        ("SMALL,1.0,10,0.5,1,", "SMALL,1.0,10,0.5,0,", "data_per_overage_charge_mb must be > 0"),
    ],
    ids=["negative base", "negative sms", "zero unit"],
)
def test_a_plan_the_contract_leaves_out_is_named_on_stderr_not_only_in_the_summary(
    tmp_path, old, new, reason
):
    """Issue 26 found such a plan dropped with exit 0 and its only trace in the summary JSON.
    The fixed contract (optimizer-contract.md: such plans "are not offered to the optimizer;
    the run reports them") keeps exit 0, so the run now names the plan on standard error."""
    folder = write_instance(tmp_path, rate_plans=RATE_PLANS_CSV.replace(old, new))
    out = tmp_path / "out.csv"
    result = invoke("optimize", str(folder), "--out", str(out))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: rate_plans.csv: plan 'SMALL' is not offered: {reason} (the contract leaves "
        "such plans out; `rate-plans load` refuses them)"
    ]
    assert "SMALL" not in out.read_text().split("\n", 1)[1]


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"devices": DEVICES_CSV.splitlines()[0] + "\n"},
            "devices.csv:-:-: has no devices, only a header row; an instance needs at least one",
        ),
        (
            {"rate_plans": RATE_PLANS_CSV.splitlines()[0] + "\n"},
            "rate_plans.csv:-:-: has no rate plans, only a header row; "
            "an instance needs at least one",
        ),
        ({"rate_plans": None}, "rate_plans.csv:-:-: is a directory, not a file (looked for "),
        (
            {"devices": DEVICES_CSV.replace("D3,", "D\xe9,").encode("latin-1")},
            "devices.csv:4:-: is not UTF-8 text (byte 0xe9); save the file as UTF-8 (CSV UTF-8)",
        ),
        (
            {"rate_plans": RATE_PLANS_CSV.replace("SMALL,1.0,", "SMALL,1,0,")},
            "rate_plans.csv:2:-: has 8 values but the header has 7 columns "
            "(quote a value that holds a comma)",
        ),
    ],
    ids=["header-only devices", "header-only rate plans", "directory", "latin-1", "comma"],
)
def test_an_unusable_contract_file_is_one_line_naming_it(tmp_path, files, expected):
    """Issue 26: a header-only devices.csv optimized "0 devices" with exit 0; a directory was
    "file is missing"; latin-1 gave the codec's message; "1,0" for 1.0 shifted every column
    of the file and came with 100 lines about rows that were fine."""
    encoded = {name: text for name, text in files.items() if isinstance(text, bytes)}
    texts = {name: text for name, text in files.items() if name not in encoded}
    folder = write_instance(tmp_path, **texts)
    if "rate_plans" in files and files["rate_plans"] is None:
        (folder / "rate_plans.csv").mkdir()
    for name, content in encoded.items():
        (folder / f"{name}.csv").write_bytes(content)
    lines = optimize_fails(folder, tmp_path)
    assert len(lines) == 1 and expected in lines[0], lines


MANY_ON_CP_C = "".join(f"C{i},CP-C,SMALL,1,0,1,{'true' if i % 2 else 'false'}\n" for i in range(50))


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("rate_plans", "expected"),
    [
        (
            RATE_PLANS_CSV.replace("SMALL,1.0,", "SMALL,1.0O,"),
            ["rate_plans.csv:2:base_rate: '1.0O' is not a number"],
        ),
        (
            RATE_PLANS_CSV.replace("SMALL,1.0,", ",1.0,"),
            [
                "rate_plans.csv:2:rate_plan_code: value is missing",
                "comm_plan_rate_plans.csv:2:rate_plan_code: unknown rate plan 'SMALL' (not in "
                "rate_plans.csv, where a row has no rate_plan_code); 2 rows name it, the first "
                "is this one",
                "devices.csv:2:rate_plan_code: unknown rate plan 'SMALL' (not in rate_plans.csv, "
                "where a row has no rate_plan_code); 51 rows name it, the first is this one",
            ],
        ),
    ],
    ids=["refused plan", "plan row without code"],
)
def test_a_refused_plan_is_reported_once_not_by_every_row_naming_it(tmp_path, rate_plans, expected):
    """Issue 26: one bad plan row came with a line for each of 50 SIMs of a communication plan
    that allows only that plan (and for each locked SIM on it), though those files were fine."""
    folder = write_instance(
        tmp_path,
        rate_plans=rate_plans,
        comm_plan_rate_plans=COMM_PLAN_RATE_PLANS_CSV + "CP-C,SMALL\n",
        devices=DEVICES_CSV + MANY_ON_CP_C,
    )
    assert [line.removeprefix("error: ") for line in optimize_fails(folder, tmp_path)] == expected


def optimize_summary(folder, tmp_path, *options: str) -> tuple[dict, str]:
    """Run optimize on ``folder`` with ``options``; answer its summary and its output line."""
    out, summary = tmp_path / "assignments.csv", tmp_path / "summary.json"
    result = invoke("optimize", str(folder), "--out", str(out), "--summary", str(summary), *options)
    assert result.exit_code == 0, result.output
    return json.loads(summary.read_text()), result.stdout


def proven_gap_pct(summary: dict) -> float:
    """The gap the target is held to, from the summary's own figures (rounded to cents)."""
    bound = summary["proven_lower_bound"]
    return 100 * (summary["optimized_cost"] - bound) / bound


def test_an_answer_at_its_bound_stops_as_optimal_under_the_contract_default(tmp_path):
    summary, output = optimize_summary(write_instance(tmp_path), tmp_path)
    assert summary["gap_target"] == 0.001  # the contract's default
    assert summary["stopped_by"] == "optimal"
    assert summary["stop_reason"] in {
        "cost at the proven bound",
        "proven optimal by the exact MILP",
    }
    assert summary["proven_optimal"] is True
    assert summary["optimized_cost"] == pytest.approx(summary["proven_lower_bound"], abs=0.01)
    assert "stopped by optimal" in output


def test_a_met_gap_target_stops_the_search_before_the_proof(tmp_path):
    """p02's priced start is within 0.001 % of its bound (the LP bound is 0.14 USD below its
    optimum, so the answer cannot stop as `optimal` without the MILP): with a target of 0.01 %
    the search stops there and the MILP never runs."""
    folder = reference_dir("p02-small-mixed")
    summary, output = optimize_summary(folder, tmp_path, "--gap-target", "0.01")
    assert summary["stopped_by"] == "gap_target"
    assert summary["gap_target"] == 0.01
    assert 0 < proven_gap_pct(summary) <= 0.01
    assert summary["stop_reason"].startswith("proven within 0.0")
    assert summary["stop_reason"].endswith("% of the optimum (target 0.01 %)")
    assert summary["proven_optimal"] is False
    stages = [stage["name"] for stage in summary["stages"]]
    assert "MILP" not in stages and "re-split around the polished answer" not in stages
    assert summary["optimized_cost"] <= summary["legacy_cost"]
    assert "stopped by gap target" in output


def test_a_gap_target_of_zero_runs_to_the_time_limit_on_an_instance_it_cannot_prove(tmp_path):
    """p03's optimum is at least 9 USD above its LP bound and the MILP cannot prove it within
    30 s (docs/benchmarks.md): with no gap allowed and the shortest time limit, only the time
    limit can end the search."""
    folder = reference_dir("p03-small-tiered")
    summary, output = optimize_summary(
        folder, tmp_path, "--gap-target", "0", "--time-limit", "0.1", "--legacy-sequences", "5"
    )
    assert summary["stopped_by"] == "time_limit"
    assert summary["stop_reason"].startswith("time limit of 0.1 s reached ")
    assert summary["gap_target"] == 0
    assert proven_gap_pct(summary) > 0 and summary["proven_optimal"] is False
    assert summary["optimized_cost"] <= min(summary["current_cost"], summary["legacy_cost"])
    assert "stopped by time limit" in output


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("-0.5", "-0.5 is not in the range x>=0"),
        ("abc", "'abc' is not a valid float"),
        ("nan", "nan is not a finite number of percent"),
        ("inf", "inf is not a finite number of percent"),
    ],
)
def test_a_gap_target_that_is_no_percentage_is_refused_before_anything_runs(tmp_path, value, why):
    folder = write_instance(tmp_path)
    out = tmp_path / "assignments.csv"
    result = invoke("optimize", str(folder), "--out", str(out), "--gap-target", value)
    assert result.exit_code == 2  # as click refuses a bad --time-limit
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "'--gap-target'" in errors[0] and why in errors[0], errors
    assert "Traceback" not in result.output
    assert not out.exists()
