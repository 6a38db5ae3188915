"""The sync-calls benchmark runs, and its rows say what the real API would cost."""

from carrier_opt.bench.sync_calls import HEADER, run


def test_the_benchmark_counts_the_calls_of_a_first_sync_and_of_re_syncs():
    first, idle, four = (row.split() for row in run(300))
    columns = HEADER.split()
    assert columns[:2] == ["SIMs", "sync"]
    # search pages, details, usage pages, per-SIM usage, calls: the last seven columns
    assert first[-7:-2] == ["6", "300", first[-5], "0", first[-3]]
    assert idle[-7] == "1" and idle[-6] == "0"  # nothing modified: one page, no details
    assert four[-6] == "4"  # four SIMs moved: four details calls
    assert float(first[-2]) == round(int(first[-3].replace(",", "")) / 5 / 60, 1)


def test_a_first_sync_within_its_budget_is_optimization_ready():
    """Issue 27's target at test size: search pages + this period's SIMs' details + usage
    pages, and every SIM modified since the period began has its details."""
    from carrier_opt.bench.sync_calls import optimization_ready

    row = optimization_ready(600)
    assert "all with details: True" in row and "details left for later syncs" in row
    calls = int(row.split()[8].replace(",", ""))
    budget = int(row.split("budget ")[-1].split(":")[0].replace(",", ""))
    assert calls <= budget + 1
