"""`provider add` makes the provider a Dagster partition when an instance is configured."""

import dagster as dg
from click.testing import CliRunner

from carrier_opt.cli import cli
from carrier_opt.defs.partitions import SERVICE_PROVIDER


def test_provider_add_registers_the_partition(migrated_engine, database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = CliRunner().invoke(
        cli,
        [
            "provider",
            "add",
            "acme",
            "--jasper-url",
            "http://127.0.0.1:1/rws/api/v1/",
            "--billing-cycle-end-day",
            "18",
            "--timezone",
            "America/Chicago",
            "--database-url",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "added acme to the Dagster partitions" in result.output
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions(SERVICE_PROVIDER) == ["acme"]
