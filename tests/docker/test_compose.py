"""docker/compose.yaml as a Docker Compose client resolves it (`config`: no Docker engine needed).

Our machines have no engine, so the cluster is checked in the form the client would run it:
the services a small cluster needs, one lakehouse mount for every process of the reelhouse
image, and addresses that point at each other. `make compose` installs a client; without
one these tests fail rather than skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from foundation.jars import pom_path
from foundation.settings import ENVIRONMENT, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "compose.yaml"
SPARK_SERVICES = ("spark-master", "spark-worker", "stream", "monitor", "serve", "cli")
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def _client_environment() -> dict[str, str]:
    # no REELHOUSE_IMAGE, SPARK_WORKER_*, COMPOSE_* of the developer's shell: the file's own defaults
    return {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}


def _compose_client() -> list[str]:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        version = subprocess.run([*command, "version", "--short"], capture_output=True, text=True,
                                 env=_client_environment(), timeout=60)
        # v1 (the Python docker-compose) reads the file by older rules and has no --format json
        if version.returncode == 0 and not version.stdout.strip().lstrip("v").startswith("1."):
            return command
    pytest.fail("no Docker Compose v2 or later (`docker compose` or `docker-compose`) on PATH; "
                "`make compose` installs one")


@pytest.fixture(scope="module")
def config_run() -> subprocess.CompletedProcess:
    # --profile tools: the one-off `cli` service is checked too
    return subprocess.run(
        [*_compose_client(), "-f", str(COMPOSE_FILE), "--profile", "tools", "config", "--format", "json"],
        capture_output=True, text=True, cwd=REPO, env=_client_environment(), timeout=120,
    )


@pytest.fixture(scope="module")
def services(config_run) -> dict[str, dict]:
    if config_run.returncode != 0:
        pytest.fail(f"compose config failed: {config_run.stderr.strip()}")
    return json.loads(config_run.stdout)["services"]


def _settings(service: dict) -> Settings:
    """What `Settings.from_env` reads inside that service's containers."""
    return Settings.from_env(service.get("environment") or {})


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _replicas(service: dict) -> int:
    return (service.get("deploy") or {}).get("replicas") or service.get("scale") or 1


def test_the_compose_client_accepts_the_file_without_warnings(config_run):
    assert config_run.returncode == 0, config_run.stderr
    warnings = [line for line in config_run.stderr.splitlines() if "warn" in line.lower()]
    assert warnings == []


def test_the_cluster_has_three_kafka_brokers_a_spark_master_two_workers_and_the_services(services):
    brokers = {name: s for name, s in services.items() if "broker" in s.get("environment", {}).get(
        "KAFKA_PROCESS_ROLES", "")}
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    node_ids = {s["environment"]["KAFKA_NODE_ID"] for s in brokers.values()}
    assert node_ids == {"1", "2", "3"}
    for broker in brokers.values():  # one quorum of the three, known alike to each
        voters = broker["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert {voter.split("@")[0] for voter in voters} == node_ids

    masters = [name for name, s in services.items() if MASTER_CLASS in (s.get("command") or [])]
    workers = [s for s in services.values() if WORKER_CLASS in (s.get("command") or [])]
    assert masters == ["spark-master"]
    assert sum(_replicas(worker) for worker in workers) >= 2

    assert services["stream"]["command"] == ["reelhouse", "stream"]
    assert services["serve"]["command"][:3] == ["reelhouse", "serve", "run"]
    assert services["dashboard"]["command"][:3] == ["reelhouse", "dashboard", "run"]


def test_every_spark_process_mounts_the_one_lakehouse_volume_at_its_home(services):
    reelhouse_image = services["stream"]["image"]
    reelhouse_services = {name: s for name, s in services.items() if s.get("image") == reelhouse_image}
    assert set(SPARK_SERVICES) <= set(reelhouse_services)
    mounts = {}
    for name, service in reelhouse_services.items():
        lakehouse = [v for v in service.get("volumes", []) if v["type"] == "volume" and v["source"] == "lakehouse"]
        assert len(lakehouse) == 1, f"{name} does not mount the lakehouse volume"
        mounts[name] = lakehouse[0]["target"]
        assert _settings(service).home == Path(mounts[name]), f"{name}: REELHOUSE_HOME is not the mount"
    assert len(set(mounts.values())) == 1, mounts


def test_the_stream_and_the_workers_use_the_master_service(services):
    master = services["spark-master"]["command"]
    master_url = f"spark://{_option(master, '--host')}:{_option(master, '--port')}"
    assert _settings(services["stream"]).spark_master == "spark://spark-master:7077" == master_url
    assert services["spark-worker"]["command"][-1] == master_url
    for name in SPARK_SERVICES[2:]:
        assert _settings(services[name]).spark_master == master_url, name


def test_jobs_bootstrap_from_every_broker_and_wait_for_their_topic(services):
    stream = _settings(services["stream"])
    advertised = {services[f"kafka-{i}"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] for i in (1, 2, 3)}
    assert {f"PLAINTEXT://{server}" for server in stream.bootstrap_servers.split(",")} == advertised

    topics = services["kafka-topics"]
    arguments = [*topics["entrypoint"], *topics["command"]]
    assert _option(arguments, "--topic") == stream.topic == "playback-events"
    assert int(_option(arguments, "--partitions")) == stream.topic_partitions == 3
    assert int(_option(arguments, "--replication-factor")) == 3
    assert set(_option(arguments, "--bootstrap-server").split(",")) == set(stream.bootstrap_servers.split(","))
    for job in ("stream", "monitor"):
        assert services[job]["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"


def test_brokers_run_the_kafka_version_that_reelhouse_resolves_with_maven(services):
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom_version = ET.parse(pom_path("kafka")).getroot().find("m:properties/m:kafka.version", namespace).text
    images = {services[name]["image"] for name in ("kafka-1", "kafka-2", "kafka-3", "kafka-topics")}
    assert images == {f"apache/kafka:{pom_version}"}


@pytest.mark.parametrize(("service", "port"), [("serve", 10000), ("dashboard", 8501)])
def test_the_endpoints_listen_on_every_interface_and_are_published(services, service, port):
    command = services[service]["command"]
    assert _option(command, "--host") == "0.0.0.0"
    assert int(_option(command, "--port")) == port
    assert [(int(p["published"]), p["target"]) for p in services[service]["ports"]] == [(port, port)]


def test_the_sql_endpoint_waits_for_the_metastore_it_is_pointed_at(services):
    serve = services["serve"]
    assert _settings(serve).metastore_host in services
    assert serve["depends_on"][_settings(serve).metastore_host]["condition"] == "service_healthy"


def test_every_reelhouse_variable_set_is_one_that_reelhouse_reads(services):
    read_by_dbt = set()
    for dbt_file in (REPO / "profiles" / "profiles.yml", REPO / "dbt_project.yml"):
        read_by_dbt |= set(re.findall(r"env_var\('(REELHOUSE_\w+)'", dbt_file.read_text()))
    known = set(ENVIRONMENT.values()) | read_by_dbt
    set_here = {name for s in services.values() for name in s.get("environment", {}) if name.startswith("REELHOUSE_")}
    assert set_here - known == set()
