"""The runs benchmark drives a real daemon: every run it submits succeeds, and its table has a
row per run with each column, the parts adding up to the run's wall time."""

import io

import pytest

from carrier_opt.bench.runs import COLUMNS, HEADER, JOBS, Sizes, run, union_length
from carrier_opt.defs.jobs import (
    CUSTOMER_JOB_NAME,
    MOBILITY_JOB_NAME,
    OPTIMIZE_JOB_NAME,
    SYNC_JOB_NAME,
)


def test_overlapping_steps_count_once():
    assert union_length([]) == 0
    assert union_length([(0, 2), (1, 3), (5, 6)]) == 4
    assert union_length([(0, 10), (2, 3)]) == 10


@pytest.mark.slow
def test_every_run_through_the_daemon_succeeds_and_is_accounted_for(postgres_server_url):
    out = io.StringIO()
    sizes = Sizes(sims=60, jobs=JOBS, providers=2, periods=1, backfill_sims=30)
    rows = run(sizes, postgres_server_url, out=out)

    assert [row.label for row in rows] == [f"single {job}" for job in JOBS] + [
        "backfill 1",
        "backfill 2",
    ]
    assert [row.status for row in rows] == ["SUCCESS"] * len(rows)
    assert [row.job for row in rows] == [
        SYNC_JOB_NAME,
        OPTIMIZE_JOB_NAME,
        CUSTOMER_JOB_NAME,
        MOBILITY_JOB_NAME,
        OPTIMIZE_JOB_NAME,
        OPTIMIZE_JOB_NAME,
    ]
    assert rows[1].partition.endswith("|bench-m2m")
    assert rows[3].partition.endswith("|bench-mobility")
    assert sorted(row.partition.split("|")[1] for row in rows[4:]) == [
        "bench-fill-0",
        "bench-fill-1",
    ]
    for row in rows:
        assert row.steps == len(row.step_s) > 0  # every step's start and end were read
        parts = row.queue_s + row.worker_start_s + row.steps_s + row.between_s
        assert parts == pytest.approx(row.wall_s, abs=0.01), row
        assert row.longest.split()[0] in row.step_s
    assert "queue_results" in rows[1].step_s  # the M2M optimizer's own step is timed

    lines = out.getvalue().splitlines()
    assert HEADER in lines
    assert all(column in HEADER for column in COLUMNS)
    for row in rows:
        assert row.row() in lines
    assert any(line.startswith("backfill 2 providers x 1 periods: 2 runs") for line in lines)
