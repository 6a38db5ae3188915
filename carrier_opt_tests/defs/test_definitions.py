"""The Dagster definitions load, validate and run against both databases."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from carrier_opt.db import migrate
from carrier_opt.db.engine import make_engine
from carrier_opt.definitions import defs
from carrier_opt.defs.assets.schema import database_schema
from carrier_opt.defs.resources import DatabaseResource

ROOT = Path(__file__).resolve().parents[2]


def test_defs_load_and_every_job_resolves():
    repository = defs.get_repository_def()
    assert "setup_database" in {job.name for job in repository.get_all_jobs()}
    for job in repository.get_all_jobs():
        assert job.name
    assert dg.AssetKey("database_schema") in repository.asset_graph.get_all_asset_keys()


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
    assert metadata["tables"].value == 38  # 28 legacy + 9 added tables + alembic_version
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
