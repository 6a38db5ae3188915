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
