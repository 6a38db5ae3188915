"""``carrier-opt what-if`` (issue 31, point 4) on an instance folder, as an agent runs it."""

from pathlib import Path

from click.testing import CliRunner

from carrier_opt.cli.main import cli
from carrier_opt_tests.core.test_what_if import PAIRS, PLANS, fleet


def folder_with_the_hand_checked_fleet(tmp_path: Path) -> Path:
    """The fleet of ``core/test_what_if.py`` (50 USD today) as contract files."""
    PLANS.to_csv(tmp_path / "rate_plans.csv", index=False)
    PAIRS.to_csv(tmp_path / "comm_plan_rate_plans.csv", index=False)
    fleet().to_csv(tmp_path / "devices.csv", index=False)
    return tmp_path


def test_what_if_prints_both_optima_the_moves_the_saving_and_the_break_even(tmp_path):
    folder = folder_with_the_hand_checked_fleet(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["what-if", str(folder), "--add-plan", "MID_25MB,8,25,1,1,false", "--allow-on", "CP-A"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "what-if on 4 SIMs: add MID_25MB (base 8.00 USD, 25 MB, 1 USD per 1 MB beyond, not "
        "pooled) on CP-A"
    )
    assert "optimum as it is:" in lines[1] and " 50.00 USD" in lines[1]
    assert "optimum with change:" in lines[2] and " 29.00 USD" in lines[2]
    assert " 21.00 USD per period (42.00 %)" in lines[3]
    assert lines[4].endswith("3 (3 onto MID_25MB)")
    assert lines[5].startswith("  break-even base rate of MID_25MB: 14.99 USD (bisection")


def test_what_if_refuses_bad_offers_and_bad_files_naming_them(tmp_path):
    folder = folder_with_the_hand_checked_fleet(tmp_path)
    runner = CliRunner()
    bad = runner.invoke(cli, ["what-if", str(folder), "--add-plan", "X,1,2,3,1,perhaps"])
    assert bad.exit_code == 2 and "POOLED must be true or false, got 'perhaps'" in bad.output
    lonely = runner.invoke(cli, ["what-if", str(folder), "--allow-on", "CP-A"])
    assert lonely.exit_code == 2 and "--allow-on applies to --add-plan" in lonely.output
    nothing = runner.invoke(cli, ["what-if", str(folder)])
    assert nothing.exit_code == 2 and "give --add-plan, --remove-plan or both" in nothing.output
    devices = (folder / "devices.csv").read_text().replace(",2.0,", ",lots,")
    (folder / "devices.csv").write_text(devices)
    broken = runner.invoke(cli, ["what-if", str(folder), "--remove-plan", "LARGE_1GB"])
    assert broken.exit_code == 2
    assert "devices.csv" in broken.output and "usage_mb" in broken.output
