"""The partitioned jobs run their steps in the run worker's process (issue 29), which costs no
parallelism only while each of them is a strict chain: these tests hold both."""

import dagster as dg
import pytest

from carrier_opt.definitions import defs
from carrier_opt.defs.jobs import (
    CUSTOMER_JOB_NAME,
    MOBILITY_JOB_NAME,
    OPTIMIZE_JOB_NAME,
    SYNC_JOB_NAME,
)

CHAINS = (OPTIMIZE_JOB_NAME, MOBILITY_JOB_NAME, CUSTOMER_JOB_NAME, SYNC_JOB_NAME)


@pytest.mark.parametrize("name", CHAINS)
def test_the_partitioned_jobs_run_in_process(name):
    job = defs.resolve_job_def(name)
    assert job.executor_def.name == dg.in_process_executor.name


@pytest.mark.parametrize("name", CHAINS)
def test_the_in_process_jobs_are_chains_of_their_assets(name):
    """No two assets of the job could run side by side: each one after the one before, so a
    multiprocess executor would only add a process start per step."""
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def(name)
    keys = [key for key in job.asset_layer.selected_asset_keys if graph.has(key)]
    chain = sorted(keys, key=lambda key: len(graph.get(key).parent_keys & set(keys)))
    assert len(keys) >= 1
    upstream = {key: graph.get(key).parent_keys & set(keys) for key in keys}
    assert [len(upstream[key]) for key in chain] == [0] + [1] * (len(keys) - 1), upstream
    downstream = {key: graph.get(key).child_keys & set(keys) for key in keys}
    assert all(len(children) <= 1 for children in downstream.values()), downstream
