"""Every mistaken launch of issues 15 and 28 is refused before its run starts, with one line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carrier_opt.defs.launch_checks import launch_problem
from carrier_opt_tests.defs.launch_support import add_providers, store_usage

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
M2M, MOBILITY = "optimize_billing_period", "optimize_mobility_period"
SETTLE = "settle_closed_period"


@pytest.fixture
def providers(migrated_engine):
    """acme (M2M) and phones (mobility), with usage stored for 2026-03 (acme) and 2026-06
    (phones) as the daily sync stores it."""
    add_providers(migrated_engine)
    store_usage(migrated_engine, "acme", "2026-03")
    store_usage(migrated_engine, "phones", "2026-06")
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
        (
            M2M,
            "2026-04|acme",
            "acme has no usage stored for billing period 2026-04, which is closed: run "
            "sync_carrier_data for 2026-04|acme (or carrier-opt sync acme --past-periods 2) first",
        ),
        (
            "optimize_customer_period",
            "2026-06|acme",
            "acme has no usage stored for billing period 2026-06: run sync_carrier_data for "
            "2026-06|acme (or carrier-opt sync acme) first",
        ),
        (
            "what_if_offer",
            "2026-06|phones",
            "phones is a mobility fleet: what_if_offer runs on an M2M fleet",
        ),
        ("what_if_offer", "2026-06|acme", "acme has no usage stored for billing period 2026-06"),
        (SETTLE, "2026-06|acme", "acme 2026-06 has not closed (it ends 2026-07-01T00:00:00+00:00)"),
        (SETTLE, "2026-03|acme", "acme 2026-03: no completed optimization to settle; run (or "),
        (SETTLE, "2026-03|phones", "phones is a mobility fleet: settle_closed_period runs on an"),
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
        (M2M, "2026-06|acme"),  # the current period: the run syncs it
        (M2M, "2026-03|acme"),  # a backfill of a period whose usage is stored
        (MOBILITY, "2026-06|phones"),
        ("optimize_customer_period", "2026-06|phones"),  # on the usage stored
        ("what_if_offer", "2026-03|acme"),  # an offer priced on a stored period
        ("setup_database", None),  # not partitioned: nothing to check
    ],
)
def test_a_sound_launch_passes(providers, job, partition):
    tags = {} if partition is None else {"dagster/partition": partition}
    assert launch_problem(job, tags, providers, NOW) is None
