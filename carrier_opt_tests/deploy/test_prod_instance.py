"""Issue 17: the production instance configuration (deploy/dagster.prod.yaml) loads and works.

Loaded as a webserver or daemon would (``DAGSTER_HOME`` holding it), with every deployment
value from the environment: Dagster's storage on a real PostgreSQL database of this machine,
the ECS run launcher and the S3 compute logs against moto's AWS.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from moto import mock_aws

from carrier_opt.defs.launch_checks import CheckedRunCoordinator

REPO = Path(__file__).resolve().parents[2]
PROD_YAML = REPO / "deploy" / "dagster.prod.yaml"
REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch) -> Iterator[dict[str, str]]:
    """moto's AWS with what the configuration points at: a cluster, the run's task
    definition (container "run"), two secrets and the compute-log bucket."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="carrier-opt")
        task = ecs.register_task_definition(
            family="carrier-opt-run",
            containerDefinitions=[{"name": "run", "image": "carrier-opt:latest", "memory": 4096}],
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="4096",
        )["taskDefinition"]
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arns = {
            name: secrets.create_secret(Name=name, SecretString="not-read-here")["ARN"]
            for name in ("carrier-opt/dagster-pg-url", "carrier-opt/database-url")
        }
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="carrier-opt-logs", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield {"task_definition": task["taskDefinitionArn"], **arns}


def test_the_production_instance_loads_with_postgres_queue_ecs_retries_and_s3_logs(
    tmp_path, monkeypatch, dagster_pg_url, aws
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROD_YAML, home / "dagster.yaml")
    for key, value in {
        "DAGSTER_PG_URL": dagster_pg_url,
        "CARRIER_OPT_MAX_CONCURRENT_RUNS": "8",
        "CARRIER_OPT_ECS_TASK_DEFINITION": "carrier-opt-run",
        "CARRIER_OPT_ECS_CLUSTER": "carrier-opt",
        "CARRIER_OPT_PG_URL_SECRET_ARN": aws["carrier-opt/dagster-pg-url"],
        "CARRIER_OPT_DATABASE_URL_SECRET_ARN": aws["carrier-opt/database-url"],
        "CARRIER_OPT_COMPUTE_LOGS_BUCKET": "carrier-opt-logs",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, CheckedRunCoordinator)
        assert coordinator.get_run_queue_config().max_concurrent_runs == 8
        limits = {
            limit["key"]: limit
            for limit in coordinator.get_run_queue_config().tag_concurrency_limits
        }
        assert limits["dagster/partition/service_provider"]["limit"] == 1
        assert limits["dagster/partition/service_provider"]["value"] == {
            "applyLimitPerUniqueValue": True
        }
        launcher = instance.run_launcher
        assert isinstance(launcher, EcsRunLauncher)
        assert launcher.task_definition == aws["task_definition"]  # resolved by ECS
        assert {s["name"] for s in launcher.secrets} == {
            "DAGSTER_PG_URL",
            "CARRIER_OPT_DATABASE_URL",
        }
        assert all(s["valueFrom"].startswith("arn:aws:secretsmanager:") for s in launcher.secrets)
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure

        # The storage is real: what one process writes, another reads.
        instance.add_dynamic_partitions("service_provider", ["acme"])
    with dg.DagsterInstance.get() as again:
        assert again.get_dynamic_partitions("service_provider") == ["acme"]


def test_the_production_file_takes_every_secret_by_reference():
    """The database URL (it holds a password) and the run's secrets are environment
    references, never values written in the file."""
    config = yaml.safe_load(PROD_YAML.read_text(encoding="utf-8"))
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    launcher = config["run_launcher"]["config"]
    assert all(set(secret["valueFrom"]) == {"env"} for secret in launcher["secrets"])
    assert set(launcher["task_definition"]) == {"env"}


def test_the_documented_run_task_definition_registers_with_its_secrets_by_reference(aws):
    text_ = (REPO / "deploy" / "ecs" / "task-definition.json").read_text(encoding="utf-8")
    filled = text_.replace("ACCOUNT_ID", "123456789012").replace("REGION", REGION)
    definition = json.loads(filled.replace("VERSION", "1.0.0"))
    ecs = boto3.client("ecs", region_name=REGION)
    registered = ecs.register_task_definition(**definition)["taskDefinition"]
    [container] = registered["containerDefinitions"]
    assert container["name"] == "run"  # what dagster.prod.yaml's container_name overrides
    names = {secret["name"] for secret in container["secrets"]}
    assert {"DAGSTER_PG_URL", "CARRIER_OPT_DATABASE_URL"} <= names
    assert all(s["valueFrom"].startswith("arn:aws:secretsmanager:") for s in container["secrets"])
    environment = {item["name"] for item in container["environment"]}
    prod = yaml.safe_load(PROD_YAML.read_text(encoding="utf-8"))
    # Every variable the instance configuration reads is given by the task or a secret.
    assert _env_names(prod) <= environment | names | {"AWS_REGION"}


def _env_names(node) -> set[str]:
    """The ``env:`` references anywhere in a configuration."""
    if isinstance(node, dict):
        found = {node["env"]} if set(node) == {"env"} else set()
        return found.union(*(_env_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_env_names(item) for item in node))
    return set()


def test_the_one_vm_compose_file_mounts_what_exists_and_its_instance_loads(
    tmp_path, monkeypatch, dagster_pg_url
):
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yaml").read_text("utf-8"))
    assert {"postgres", "code", "webserver", "daemon"} <= set(compose["services"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO / "deploy" / source).exists(), source
        command = service.get("command") or []
        if "-w" in command:
            assert (REPO / command[command.index("-w") + 1]).exists()
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.vm.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.run_coordinator, CheckedRunCoordinator)
        limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        assert [limit["key"] for limit in limits] == ["dagster/partition/service_provider"]
