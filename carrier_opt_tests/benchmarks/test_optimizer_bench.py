"""The optimizer benchmark's generated rows (mobility, customer) on tiny sizes."""

import pytest

from carrier_opt.bench import optimizer as bench

COLUMNS = [key for key, _ in bench.COLUMNS]


@pytest.mark.parametrize("kind", ["synthetic", "mobility", "customer", "shared_pool"])
def test_a_generated_row_is_measured_with_every_column(kind):
    row = bench.measure(f"{kind}:300", time_limit_s=1.0)
    assert list(row) == COLUMNS
    assert row["instance"] == f"{kind}-300" and row["devices"] == 300
    assert row["bound"] <= row["cost"] + 1e-6
    assert 0 <= row["proven_gap_pct"] <= row["gap_pct"] + 1e-9
    assert row["cost"] <= row["legacy_cost"] + 1e-6 and row["saving_vs_legacy_pct"] >= 0
    assert 0 < row["to_quality_s"] <= row["seconds"]
    assert row["instance"] in bench.format_table([row])


def test_size_flags_choose_the_generated_rows(monkeypatch, tmp_path, capsys):
    measured = []
    monkeypatch.setattr(
        bench, "run_row", lambda source, *_: measured.append(source) or fake_row(source)
    )
    bench.main(
        [
            "--sizes",
            "2000",
            "--mobility-sizes",
            "300,4000",
            "--customer-sizes",
            "500",
            "--shared-pool-sizes",
            "700",
            "--instances",
            str(tmp_path / "none"),
            "--time-limit",
            "1",
        ]
    )
    assert measured == [
        "synthetic:2000",
        "mobility:300",
        "mobility:4000",
        "customer:500",
        "shared_pool:700",
    ]
    table = capsys.readouterr().out
    assert "mobility:4000" in table and "customer:500" in table
    bench.main(["--instances", str(tmp_path / "none"), "--time-limit", "1"])
    assert measured[5:] == [
        *(f"synthetic:{n}" for n in bench.DEFAULT_SIZES),
        *(f"mobility:{n}" for n in bench.DEFAULT_MOBILITY_SIZES),
        *(f"customer:{n}" for n in bench.DEFAULT_CUSTOMER_SIZES),
        *(f"shared_pool:{n}" for n in bench.DEFAULT_SHARED_POOL_SIZES),
    ]


def fake_row(source: str) -> dict:
    return {key: 0 for key in COLUMNS} | {"instance": source, "proven": "no"}
