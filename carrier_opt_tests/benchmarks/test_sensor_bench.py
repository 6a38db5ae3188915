"""The sensor benchmark runs, and its rows show one query per tick and keyed requests."""

from carrier_opt.bench.sensor_ticks import HEADER, run


def test_each_tick_makes_one_query_and_every_request_is_keyed():
    rows = [row.split() for row in run(60, 1, None)]
    columns = HEADER.split()
    assert columns[-3:] == ["queries", "runs", "keyed"]
    assert [row[2] for row in rows] == ["sensor", "daily_sync"]
    for row in rows:
        assert row[0] == "SQLite" and row[1] == "60"
        assert row[-3] == "1"  # one query of the providers' settings, no carrier call
        assert int(row[-2]) > 0  # some providers are due at the tick
        assert row[-1] == "yes"  # each request has a run key and a partition
