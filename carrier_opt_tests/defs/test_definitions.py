"""The Dagster definitions load, validate and run against both databases."""

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg

from carrier_opt.db import migrate
from carrier_opt.db.engine import make_engine
from carrier_opt.definitions import defs
from carrier_opt.defs import catalog
from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.resources import DatabaseResource

ROOT = Path(__file__).resolve().parents[2]


def test_defs_load_and_every_job_resolves():
    repository = defs.get_repository_def()
    assert "setup_database" in {job.name for job in repository.get_all_jobs()}
    for job in repository.get_all_jobs():
        assert job.name
    assert dg.AssetKey("database_schema") in repository.asset_graph.get_all_asset_keys()


def test_every_asset_has_owners_kinds_and_its_carrier_tag():
    """Issue 28, point C: the catalog says who owns each asset, what it touches (kinds, Python
    among them) and whether it changes the carrier."""
    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == catalog.OWNERS, key
        assert {catalog.PYTHON, catalog.DATABASE} <= node.kinds, key
        assert node.tags[catalog.CARRIER_TAG] in (
            catalog.CHANGES_CARRIER,
            catalog.READS_CARRIER,
            catalog.NO_CARRIER,
        ), key
    changes = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).tags[catalog.CARRIER_TAG] == catalog.CHANGES_CARRIER
    }
    assert changes == {"rate_plan_updates", "mobility_rate_plan_updates", "approved_rate_plan_push"}


def test_every_job_has_owners_and_a_run_timeout():
    """Every job's runs carry ``dagster/max_runtime`` (seconds), so run monitoring fails a run
    that hangs instead of letting it hold its provider's one run slot."""
    jobs = [j for j in defs.get_repository_def().get_all_jobs() if not j.name.startswith("__")]
    assert len(jobs) == 10
    for job in jobs:
        assert job.owners == catalog.OWNERS, job.name
        seconds = int(job.run_tags[catalog.MAX_RUNTIME_TAG])
        assert 0 < seconds <= 12 * 3600, job.name  # below a session's staleness
        assert job.run_tags[catalog.CARRIER_TAG] == job.tags[catalog.CARRIER_TAG]
    timeouts = {job.name: int(job.run_tags[catalog.MAX_RUNTIME_TAG]) for job in jobs}
    assert timeouts["optimize_billing_period"] == 8 * 3600
    assert timeouts["check_sync_freshness"] == timeouts["what_if_offer"] == 3600
    assert timeouts["settle_closed_period"] == 3600


def test_descriptions_are_markdown_not_restructured_text():
    """The UI renders asset, check and job descriptions (asset docstrings) as markdown: reST's
    double backticks and roles showed literally in the catalog."""
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    described = {
        key.to_user_string(): graph.get(key).description for key in graph.get_all_asset_keys()
    }
    for check_key in graph.asset_check_keys:
        described[check_key.to_user_string()] = graph.get(check_key).description
    for job in repository.get_all_jobs():
        described[job.name] = job.description
    for name, text in described.items():
        assert "``" not in (text or ""), name
        assert not re.search(r":(mod|func|class|data|meth):`", text or ""), name
    assert all(described[key] for key in ("rate_plan_updates", "winning_assignments"))


def test_the_winners_money_checks_block_the_push():
    """The cost and one-row-per-SIM checks of the kinds that push are blocking (the push waits
    for them and is skipped when one fails: ``test_push_guards``); the others only report."""
    graph = defs.get_repository_def().asset_graph
    blocking = {key.to_user_string() for key in graph.asset_check_keys if graph.get(key).blocking}
    assert blocking == {
        f"{asset}:{check}"
        for asset in ("winning_assignments", "mobility_winning_assignments")
        for check in ("cost_between_bound_and_baselines", "every_sim_assigned_once")
    }


def test_database_schema_asset_creates_the_schema_and_reports_it(database_url):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [database_schema],
            resources={"database": DatabaseResource(database_url=database_url)},
            instance=instance,
        )
    assert result.success
    metadata = result.asset_materializations_for_node("database_schema")[0].metadata
    assert metadata["revision"].value == migrate.head_revision()
    assert metadata["revision_before"].value == "(empty database)"
    assert metadata["tables"].value == 41  # 28 legacy + 12 added tables + alembic_version
    engine = make_engine(database_url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_dagster_validates_the_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
