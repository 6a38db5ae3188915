"""The database benchmark fills the shape it is asked for and explains every hot query."""

from carrier_opt.bench.database_plans import HOT_QUERIES, Shape, run


def test_the_filled_database_has_the_shape_and_every_hot_query_is_explained(postgres_server_url):
    shape = Shape(providers=4, periods=3, sims=10, runs=2, queues=5)
    counts, rows = run(shape, postgres_server_url)
    assert counts["Device"] == 4 * 10
    assert counts["DeviceUsagePeriod"] == 4 * 3 * 10
    assert counts["OptimizationSession"] == 4 * 3 * 2
    assert counts["OptimizationQueue"] == 4 * 3 * 2 * 5
    assert counts["OptimizationDeviceResult"] == 4 * 3 * 2 * 10  # the winners' SIMs
    assert [row[:36].strip() for row in rows] == [name for name, _, _ in HOT_QUERIES]
    returned = {row[:36].strip(): int(row[36:44].replace(",", "")) for row in rows}
    assert returned["sensor tick"] == 4
    assert returned["period's usage (export)"] == 10
    assert returned["the winner's SIMs (report)"] == 10
    assert returned["an instance's queues"] == 5
    assert all("Scan" in row[55:] for row in rows)  # each row shows its plan's scans
