"""Loading and validating instance folders; reading and writing assignment files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from carrier_opt.core.instance import (
    InstanceInputError,
    _csv_bytes,
    load_instance,
    read_assignment,
    write_assignment,
)
from carrier_opt.errors import InputError
from carrier_opt_tests.core.strategies import (
    COMM_PLAN_RATE_PLANS_CSV,
    DEVICES_CSV,
    RATE_PLANS_CSV,
    REFERENCE_NAMES,
    reference_dir,
    write_instance,
)


def problems_of(tmp_path, **files) -> list[str]:
    """The message lines raised when loading an instance written with ``files`` replaced."""
    write_instance(tmp_path, **files)
    with pytest.raises(InputError) as raised:
        load_instance(tmp_path)
    return str(raised.value).splitlines()


def test_small_instance_loads_with_defaults_and_indices(tmp_path):
    instance = load_instance(write_instance(tmp_path))
    assert list(instance.plan_codes) == ["SMALL", "POOL", "BIG"]
    assert list(instance.iccids) == ["D1", "D2", "D3"]
    assert list(instance.plan_codes[instance.current_plan]) == ["SMALL", "POOL", "BIG"]
    assert list(instance.locked) == [False, False, True]
    assert list(instance.pooled) == [False, True, True]
    assert instance.allowed.tolist() == [[True, True, False], [False, True, True]]
    assert instance.dropped_plans == ()


def test_optional_device_columns_default_and_extra_columns_are_ignored(tmp_path):
    devices = "iccid,communication_plan,rate_plan_code,usage_mb,charge_type\nD1,CP-A,SMALL,5,x\n"
    instance = load_instance(write_instance(tmp_path, devices=devices))
    assert instance.proration.tolist() == [1.0]
    assert instance.sms_count.tolist() == [0.0]
    assert instance.locked.tolist() == [False]


@pytest.mark.parametrize(
    ("cell", "value"),
    [("+3", 3.0), (".5", 0.5), ("5.", 5.0), (" 7 ", 7.0), ("1e3", 1000.0), ("-0", 0.0)],
)
def test_numbers_read_by_the_fast_cast_are_pandas_numbers(tmp_path, cell, value):
    """Number cells go through pyarrow's cast when the whole column parses (core/instance.py
    ``_parsed``); every spelling pandas reads reads the same, "-0" as the 0 pandas gives."""
    devices = f"iccid,communication_plan,rate_plan_code,usage_mb\nD1,CP-A,SMALL,{cell}\n"
    usage = load_instance(write_instance(tmp_path, devices=devices)).usage_mb
    assert usage.tolist() == [float(pd.to_numeric(cell.strip()))] == [value]
    assert not np.signbit(usage).any()


@pytest.mark.parametrize("cell", ["0x10", "1_000", "1;5", "inf", "1e400"])
def test_a_cell_the_fast_cast_refuses_or_reads_as_not_finite_is_named(tmp_path, cell):
    devices = f"iccid,communication_plan,rate_plan_code,usage_mb\nD1,CP-A,SMALL,{cell}\n"
    assert problems_of(tmp_path, devices=devices) == [
        f"devices.csv:2:usage_mb: {cell!r} is not a number"
    ]


def test_instance_arrays_are_read_only(tmp_path):
    instance = load_instance(write_instance(tmp_path))
    with pytest.raises(ValueError):
        instance.usage_mb[0] = 1.0


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_reference_instances_load(name):
    folder = reference_dir(name)
    expected = json.loads((folder / "expected.json").read_text())
    instance = load_instance(folder)
    assert instance.n_devices == expected["devices"]
    assert instance.n_plans == expected["plans"]


def test_missing_file_is_reported(tmp_path):
    assert problems_of(tmp_path, devices=None)[0].startswith("devices.csv:-:-: file is missing")


def test_missing_column_is_reported_on_the_header_row(tmp_path):
    devices = DEVICES_CSV.replace(",usage_mb", "", 1)
    assert "devices.csv:1:usage_mb: required column is missing" in problems_of(
        tmp_path, devices=devices
    )


def test_unparsable_number_names_file_row_and_column(tmp_path):
    devices = DEVICES_CSV.replace("D2,CP-A,POOL,150", "D2,CP-A,POOL,lots")
    assert problems_of(tmp_path, devices=devices) == [
        "devices.csv:3:usage_mb: 'lots' is not a number"
    ]


def test_unparsable_rate_plan_number_is_fatal(tmp_path):
    rate_plans = RATE_PLANS_CSV.replace("POOL,5.0,", "POOL,five,")
    assert problems_of(tmp_path, rate_plans=rate_plans) == [
        "rate_plans.csv:3:base_rate: 'five' is not a number"
    ]


def test_negative_number_is_reported(tmp_path):
    devices = DEVICES_CSV.replace("D1,CP-A,SMALL,5,1", "D1,CP-A,SMALL,5,-1")
    assert problems_of(tmp_path, devices=devices) == [
        "devices.csv:2:sms_count: -1 is negative; must be >= 0"
    ]


def test_missing_value_is_reported(tmp_path):
    devices = DEVICES_CSV.replace("D2,CP-A,POOL,150", "D2,CP-A,POOL,")
    assert problems_of(tmp_path, devices=devices) == ["devices.csv:3:usage_mb: value is missing"]


def test_fractional_sms_count_is_reported(tmp_path):
    devices = DEVICES_CSV.replace("D1,CP-A,SMALL,5,1", "D1,CP-A,SMALL,5,1.5")
    assert problems_of(tmp_path, devices=devices) == [
        "devices.csv:2:sms_count: 1.5 is not a whole number"
    ]


@pytest.mark.parametrize("proration", ["0", "1.5", "-0.2"])
def test_proration_outside_zero_one_is_reported(tmp_path, proration):
    devices = DEVICES_CSV.replace("D2,CP-A,POOL,150,0,0.5", f"D2,CP-A,POOL,150,0,{proration}")
    assert problems_of(tmp_path, devices=devices) == [
        f"devices.csv:3:proration: {proration} is outside (0, 1]"
    ]


def test_unparsable_boolean_is_reported(tmp_path):
    rate_plans = RATE_PLANS_CSV.replace("0.01,false", "0.01,maybe")
    assert problems_of(tmp_path, rate_plans=rate_plans) == [
        "rate_plans.csv:2:pooled: 'maybe' is not true or false"
    ]


def test_duplicate_iccid_names_both_rows(tmp_path):
    devices = DEVICES_CSV + "D1,CP-A,POOL,1,0,1,false\n"
    assert problems_of(tmp_path, devices=devices) == [
        "devices.csv:5:iccid: duplicate iccid 'D1' (first on row 2)"
    ]


def test_duplicate_rate_plan_code_is_reported(tmp_path):
    rate_plans = RATE_PLANS_CSV + "POOL,6.0,100,0.1,1,0.01,true\n"
    assert problems_of(tmp_path, rate_plans=rate_plans) == [
        "rate_plans.csv:5:rate_plan_code: duplicate rate_plan_code 'POOL' (first on row 3)"
    ]


def test_device_on_unknown_rate_plan_is_reported(tmp_path):
    devices = DEVICES_CSV.replace("D1,CP-A,SMALL", "D1,CP-A,NOPE")
    assert problems_of(tmp_path, devices=devices) == [
        "devices.csv:2:rate_plan_code: unknown rate plan 'NOPE' (not in rate_plans.csv)"
    ]


def test_unknown_plan_in_comm_plan_rate_plans_is_reported(tmp_path):
    pairs = COMM_PLAN_RATE_PLANS_CSV + "CP-B,NOPE\n"
    assert problems_of(tmp_path, comm_plan_rate_plans=pairs) == [
        "comm_plan_rate_plans.csv:6:rate_plan_code: unknown rate plan 'NOPE' "
        "(not in rate_plans.csv)"
    ]


def test_device_whose_communication_plan_allows_nothing_is_reported(tmp_path):
    devices = DEVICES_CSV + "D4,CP-UNKNOWN,SMALL,1,0,1,false\n"
    assert problems_of(tmp_path, devices=devices) == [
        "devices.csv:5:communication_plan: "
        "communication plan 'CP-UNKNOWN' allows no valid rate plan"
    ]


def test_communication_plan_whose_only_plan_was_dropped_allows_nothing(tmp_path):
    rate_plans = RATE_PLANS_CSV.replace("SMALL,1.0,10,0.5,1,", "SMALL,1.0,10,0.5,0,")
    pairs = COMM_PLAN_RATE_PLANS_CSV + "CP-C,SMALL\n"
    devices = DEVICES_CSV + "D4,CP-C,POOL,1,0,1,false\n"
    assert problems_of(
        tmp_path, rate_plans=rate_plans, comm_plan_rate_plans=pairs, devices=devices
    ) == ["devices.csv:5:communication_plan: communication plan 'CP-C' allows no valid rate plan"]


def test_locked_device_on_invalid_plan_is_reported(tmp_path):
    rate_plans = RATE_PLANS_CSV.replace("BIG,20.0,1000,0.05,10,", "BIG,20.0,1000,0.05,0,")
    assert problems_of(tmp_path, rate_plans=rate_plans) == [
        "devices.csv:4:rate_plan_code: locked device is on rate plan 'BIG', "
        "which is invalid and not offered"
    ]


def test_invalid_plans_are_dropped_and_reported_not_fatal(tmp_path):
    rate_plans = RATE_PLANS_CSV.replace("BIG,20.0,", "BIG,-20.0,").replace(
        "SMALL,1.0,10,0.5,1,", "SMALL,1.0,10,0.5,-1,"
    )
    devices = DEVICES_CSV.replace("true", "false")
    instance = load_instance(write_instance(tmp_path, rate_plans=rate_plans, devices=devices))
    assert list(instance.plan_codes) == ["POOL"]
    reasons = {plan.rate_plan_code: plan.reason for plan in instance.dropped_plans}
    assert reasons == {
        "SMALL": "data_per_overage_charge_mb must be > 0",
        "BIG": "base_rate is negative",
    }
    assert instance.current_plan.tolist() == [-1, 0, -1]


def test_all_problems_in_all_files_are_reported_together(tmp_path):
    lines = problems_of(
        tmp_path,
        rate_plans=RATE_PLANS_CSV.replace("POOL,5.0,", "POOL,five,"),
        comm_plan_rate_plans=COMM_PLAN_RATE_PLANS_CSV + "CP-B,NOPE\n",
        devices=DEVICES_CSV.replace("D2,CP-A,POOL,150", "D2,CP-A,POOL,lots")
        + "D1,CP-A,POOL,1,0,1,false\n",
    )
    assert sorted(lines) == sorted(
        [
            "rate_plans.csv:3:base_rate: 'five' is not a number",
            "comm_plan_rate_plans.csv:6:rate_plan_code: unknown rate plan 'NOPE' "
            "(not in rate_plans.csv)",
            "devices.csv:3:usage_mb: 'lots' is not a number",
            "devices.csv:5:iccid: duplicate iccid 'D1' (first on row 2)",
        ]
    )


def test_blank_lines_do_not_shift_row_numbers(tmp_path):
    header, first, second, third = DEVICES_CSV.splitlines()
    devices = "\n".join([header, "", first, second.replace(",150,", ",x,"), third]) + "\n"
    assert problems_of(tmp_path, devices=devices) == ["devices.csv:4:usage_mb: 'x' is not a number"]


def test_empty_file_is_reported(tmp_path):
    assert problems_of(tmp_path, comm_plan_rate_plans="") == [
        "comm_plan_rate_plans.csv:1:-: file is empty (no header row)"
    ]


def test_error_keeps_structured_problems(tmp_path):
    write_instance(tmp_path, devices=DEVICES_CSV.replace("D1,CP-A,SMALL", "D1,CP-A,NOPE"))
    with pytest.raises(InstanceInputError) as raised:
        load_instance(tmp_path)
    (problem,) = raised.value.problems
    assert (problem.file, problem.row, problem.column) == ("devices.csv", 2, "rate_plan_code")


def test_huge_numbers_of_bad_rows_are_summarised(tmp_path):
    rows = "".join(f"X{i},CP-A,SMALL,bad,0,1,false\n" for i in range(250))
    lines = problems_of(tmp_path, devices=DEVICES_CSV + rows)
    assert len(lines) == 101
    assert (
        lines[-1]
        == "devices.csv:-:usage_mb: ... and 150 more rows with the same problem (not a number)"
    )


# --------------------------------------------------------------------------- assignment files


def test_assignment_round_trips(tmp_path):
    instance = load_instance(write_instance(tmp_path))
    assignment = np.array([1, 1, 2])
    target = tmp_path / "out.csv"
    write_assignment(target, instance, assignment)
    assert target.read_text().splitlines()[0] == "iccid,rate_plan_code"
    assert read_assignment(target, instance).tolist() == [1, 1, 2]


@pytest.mark.parametrize(
    "codes",
    [
        ["SMALL", "POOL", ""],  # plain: Arrow writes the file
        ["A,B", 'say "hi"', "two\nlines"],  # values that need quotes: pandas writes it
        ["Ünïcode", "€", ""],
    ],
)
def test_the_assignment_file_has_the_bytes_pandas_would_write(codes):
    """Arrow writes assignment files (6-7 times faster at 1 M rows) when no value needs
    quoting; either way the bytes are those of pandas' ``to_csv``."""
    columns = {
        "iccid": np.array(["8901", "8902", "8903"], dtype=object),
        "rate_plan_code": np.array(codes, dtype=object),
        "current_rate_plan_code": np.array(["", "X", "Y"], dtype=object),
    }
    expected = pd.DataFrame(columns).to_csv(index=False, lineterminator="\n").encode()
    assert _csv_bytes(columns) == expected


def test_failed_write_leaves_previous_file_untouched(tmp_path):
    instance = load_instance(write_instance(tmp_path))
    target = tmp_path / "out.csv"
    target.write_text("previous\n")
    with pytest.raises(ValueError):
        write_assignment(target, instance, np.array([0, 1, 2]), {"bad": np.arange(5)})
    assert target.read_text() == "previous\n"
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


def test_bad_assignment_file_reports_every_problem(tmp_path):
    instance = load_instance(write_instance(tmp_path))
    target = tmp_path / "out.csv"
    target.write_text("iccid,rate_plan_code\nD1,SMALL\nD1,POOL\nD9,POOL\nD3,NOPE\n")
    with pytest.raises(InputError) as raised:
        read_assignment(target, instance)
    assert str(raised.value).splitlines() == [
        "out.csv:4:iccid: unknown iccid 'D9'",
        "out.csv:3:iccid: duplicate iccid 'D1'",
        "out.csv:5:rate_plan_code: unknown or not offered rate plan 'NOPE'",
        "out.csv:-:iccid: device 'D2' has no row",
    ]
