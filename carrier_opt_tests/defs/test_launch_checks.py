"""Every mistaken launch of issue 15 is refused before its run starts, with one line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carrier_opt.db.providers import add_provider
from carrier_opt.defs.launch_checks import launch_problem

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
M2M, MOBILITY = "optimize_billing_period", "optimize_mobility_period"


@pytest.fixture
def providers(migrated_engine):
    for name, fleet in (("acme", "m2m"), ("phones", "mobility")):
        add_provider(
            migrated_engine,
            name,
            jasper_url="https://jasper.example.com/rws/api/v1/",
            billing_cycle_end_day=31,
            billing_cycle_end_rule="after_end_day",
            time_zone="UTC",
            fleet=fleet,
        )
    return migrated_engine


@pytest.mark.parametrize(
    ("job", "partition", "refused_with"),
    [
        (M2M, None, "launch it for a partition"),
        (M2M, "acme|2026-06", "reads acme|2026-06 the wrong way round"),
        (M2M, "2026-06|ghost", "no service provider named 'ghost': add it with carrier-opt"),
        (M2M, "2026-06|phones", "phones is a mobility fleet: launch optimize_mobility_period"),
        (MOBILITY, "2026-06|acme", "acme is an M2M fleet: launch optimize_billing_period"),
        (M2M, "2026-08|acme", "2026-08 has not started (it starts 2026-08-01 00:00 UTC)"),
    ],
)
def test_a_mistaken_launch_gets_one_line(providers, job, partition, refused_with):
    tags = {} if partition is None else {"dagster/partition": partition}
    problem = launch_problem(job, tags, providers, NOW)
    assert problem is not None and refused_with in problem and "\n" not in problem
    if "has not started" in problem:
        assert problem.endswith("e.g. the current one, 2026-06")


@pytest.mark.parametrize(
    ("job", "partition"),
    [
        (M2M, "2026-06|acme"),  # the current period
        (M2M, "2026-03|acme"),  # a backfill
        (MOBILITY, "2026-06|phones"),
        ("optimize_customer_period", "2026-06|phones"),
        ("setup_database", None),  # not partitioned: nothing to check
    ],
)
def test_a_sound_launch_passes(providers, job, partition):
    tags = {} if partition is None else {"dagster/partition": partition}
    assert launch_problem(job, tags, providers, NOW) is None
