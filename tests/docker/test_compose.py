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
import signal
import subprocess
import sys
import time
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


LDAP = {"REELHOUSE_LDAP_URL": "ldaps://ldap.example.com", "REELHOUSE_LDAP_BASE_DN": "ou=people,dc=example,dc=com"}


def _client_environment(**extra: str) -> dict[str, str]:
    # no REELHOUSE_IMAGE, SPARK_WORKER_*, COMPOSE_* of the developer's shell: the file's own defaults;
    # the directory the SQL endpoint's logins are checked against is the operator's to give
    return {**{name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}, **LDAP, **extra}


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
    assert {f"SASL_SSL://{server}" for server in stream.bootstrap_servers.split(",")} == advertised

    # `reelhouse kafka topic` makes the stream's topic with its partitions, three copies of each
    topics = services["kafka-topics"]
    assert topics["command"][:3] == ["reelhouse", "kafka", "topic"]
    assert int(_option(topics["command"], "--replication-factor")) == 3
    made = _settings(topics)
    assert (made.bootstrap_servers, made.topic, made.topic_partitions) == \
        (stream.bootstrap_servers, "playback-events", 3) and stream.topic_partitions == 3
    for job in ("stream", "monitor"):
        assert services[job]["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"


def test_brokers_run_the_kafka_version_that_reelhouse_resolves_with_maven(services):
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom_version = ET.parse(pom_path("kafka")).getroot().find("m:properties/m:kafka.version", namespace).text
    images = {services[name]["image"] for name in ("kafka-1", "kafka-2", "kafka-3")}
    assert images == {f"apache/kafka:{pom_version}"}


@pytest.mark.parametrize(("service", "port"), [("serve", 10000), ("dashboard", 8501), ("spark-master", 8080)])
def test_what_is_published_is_published_on_the_hosts_loopback_only(services, service, port):
    assert [(p.get("host_ip"), int(p["published"]), p["target"]) for p in services[service]["ports"]] == [
        ("127.0.0.1", port, port)]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"serve", "dashboard", "spark-master"}


def test_the_sql_endpoint_requires_ldap_logins_over_tls_and_is_read_only(services):
    from reelhouse.services.sql_endpoint import require_safe_exposure

    for name, writable in (("serve", False), ("serve-writable", True)):
        command = services[name]["command"]
        assert command[:3] == ["reelhouse", "serve", "run"] and _option(command, "--port") == "10000"
        hive_conf = dict(value.split("=", 1) for flag, value in zip(command, command[1:], strict=False)
                         if flag == "--hiveconf")
        require_safe_exposure(_option(command, "--host"), hive_conf)  # what `serve` itself checks
        assert hive_conf["hive.server2.authentication"] == "LDAP"
        assert hive_conf["hive.server2.authentication.ldap.url"] == LDAP["REELHOUSE_LDAP_URL"]
        assert ("--writable" in command) == writable
        # secrets in a file, mounted from compose's secrets, never on the command line
        assert not any("password" in value for value in command)
        secret_file = _option(command, "--hiveconf-file")
        assert secret_file.startswith("/run/secrets/")
        assert secret_file.removeprefix("/run/secrets/") in {s["source"] for s in services[name]["secrets"]}
    assert "serve-writable" not in {name for name, s in services.items() if s.get("ports")}
    assert services["cli"]["environment"]["REELHOUSE_SQL_HOST"] == "serve-writable"


def test_the_compose_file_refuses_to_start_without_a_directory_for_logins():
    result = subprocess.run([*_compose_client(), "-f", str(COMPOSE_FILE), "config", "--format", "json"],
                            capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={k: v for k, v in _client_environment().items() if not k.startswith("REELHOUSE_")})
    assert result.returncode != 0 and "REELHOUSE_LDAP_URL" in result.stderr


def test_the_dashboard_reads_the_lakehouse_through_a_read_only_mount(services):
    (mount,) = [v for v in services["dashboard"]["volumes"] if v.get("source") == "lakehouse"]
    assert mount["read_only"] is True
    assert "--trusted-network" in services["dashboard"]["command"]



def test_the_sql_endpoint_waits_for_the_metastore_it_is_pointed_at(services):
    serve = services["serve"]
    assert _settings(serve).metastore_host in services
    assert serve["depends_on"][_settings(serve).metastore_host]["condition"] == "service_healthy"


def test_the_catalog_is_kept_in_postgres_unpublished_and_every_client_reads_its_password_from_secrets(services):
    for name in ("metastore", *SPARK_SERVICES):
        settings = _settings(services[name])
        assert (settings.metastore_database, settings.metastore_host) == ("postgres", "metastore"), name
        secret = settings.metastore_password_path
        assert secret.parent == Path("/run/secrets"), name
        assert secret.name in {s["source"] for s in services[name].get("secrets", [])}, name
    assert not services["metastore"].get("ports")  # the compose network only
    assert "postgresql" in (REPO / "docker" / "Dockerfile").read_text().split()  # Debian's server in the image


def test_kafka_takes_only_scram_logins_over_tls_and_every_kafka_client_logs_in_with_secrets(services):
    for i in (1, 2, 3):
        broker = services[f"kafka-{i}"]
        environment = broker["environment"]
        protocols = dict(pair.split(":") for pair in environment["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert protocols == {"CONTROLLER": "SSL", "SASL_SSL": "SASL_SSL"}  # nothing in plain text
        assert environment["KAFKA_LISTENER_NAME_CONTROLLER_SSL_CLIENT_AUTH"] == "required"
        assert environment["KAFKA_INTER_BROKER_LISTENER_NAME"] == "SASL_SSL"
        assert environment["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
        assert broker["entrypoint"] == ["/opt/reelhouse/kafka-broker.sh"]
        mounted = {m["target"]: m["source"] for m in broker["volumes"]}
        assert Path(mounted["/opt/reelhouse/kafka-broker.sh"]) == REPO / "docker" / "kafka-broker.sh"
        secret_targets = {s["target"] for s in broker["secrets"]}
        assert {"/run/secrets/kafka_password", "/etc/kafka/secrets/broker.p12"} <= secret_targets
        assert not broker.get("ports")  # the compose network only
        assert not any("PASSWORD" in name and not name.endswith("CREDENTIALS") for name in environment)
    for name in ("stream", "monitor", "cli", "kafka-topics"):
        settings = _settings(services[name])
        assert settings.kafka.secured and settings.kafka_user == "reelhouse", name
        secrets = {s["source"]: s["target"] for s in services[name]["secrets"]}
        assert {str(settings.kafka_password_path), str(settings.kafka_ca_path)} == \
            {secrets["kafka_password"], secrets["kafka_ca"]}, name


def test_every_reelhouse_variable_set_is_one_that_reelhouse_reads(services):
    read_by_dbt = set()
    for dbt_file in (REPO / "profiles" / "profiles.yml", REPO / "dbt_project.yml"):
        read_by_dbt |= set(re.findall(r"env_var\('(REELHOUSE_\w+)'", dbt_file.read_text()))
    known = set(ENVIRONMENT.values()) | read_by_dbt
    set_here = {name for s in services.values() for name in s.get("environment", {}) if name.startswith("REELHOUSE_")}
    assert set_here - known == set()


def test_every_spark_process_proves_the_clusters_secret_and_the_daemons_ask_for_it(services):
    for name in SPARK_SERVICES:
        assert "spark_secret" in {secret["source"] for secret in services[name].get("secrets", [])}, name
        assert services[name]["environment"]["REELHOUSE_SPARK_SECRET_FILE"] == "/run/secrets/spark_secret", name
    for name, variable in (("spark-master", "SPARK_MASTER_OPTS"), ("spark-worker", "SPARK_WORKER_OPTS")):
        options = services[name]["environment"][variable].split()
        assert {"-Dspark.authenticate=true", "-Dspark.ui.killEnabled=false"} <= set(options), name
    assert not services["dashboard"].get("secrets")  # it runs no Spark
    entrypoint = (REPO / "docker" / "entrypoint.sh").read_text()
    assert "_SPARK_AUTH_SECRET=$(cat /run/secrets/spark_secret)" in entrypoint  # the daemons' way to it


# the apache/kafka image's start, as far as our brokers' settings need it: KAFKA_* variables become
# server.properties (KAFKA_ dropped, "_" a dot, "__" an underscore, "___" a dash), the keystore and its
# password come from files in the secrets folder, KAFKA_OPTS reaches the JVM
IMAGE_START = '''
import os, sys
env = os.environ
secrets = env["BROKER_SECRETS_DIR"]
not_settings = {"KAFKA_OPTS", "KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS",
                "KAFKA_SSL_KEY_CREDENTIALS"}
settings = {name[6:].lower().replace("___", "-").replace("__", "\\0").replace("_", ".").replace("\\0", "_"): value
            for name, value in env.items() if name.startswith("KAFKA_") and name not in not_settings}
settings["ssl.keystore.location"] = os.path.join(secrets, env["KAFKA_SSL_KEYSTORE_FILENAME"])
settings["ssl.keystore.password"] = open(os.path.join(secrets, env["KAFKA_SSL_KEYSTORE_CREDENTIALS"])).read().strip()
settings["ssl.key.password"] = open(os.path.join(secrets, env["KAFKA_SSL_KEY_CREDENTIALS"])).read().strip()
config = os.path.join(env["BROKER_PRIVATE_DIR"], "server.properties")
with open(os.open(config, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
    out.writelines(f"{key}={value}\\n" for key, value in settings.items())
os.execvp("java", ["java", "-Xmx512m", *env["KAFKA_OPTS"].split(), "-cp", env["BROKER_KAFKA_HOME"] + "/libs/*",
                   "kafka.Kafka", config])
'''


@pytest.mark.integration
def test_a_compose_broker_stores_the_users_scram_login_and_serves_our_clients_only_over_tls(services, settings,
                                                                                          tmp_path):
    from secrets_in_sight import command_lines_with

    from foundation import jars, processes
    from foundation.kafka_connection import KafkaConnection
    from ingestion.generator import GeneratorOptions
    from ingestion.producer import produce
    from reelhouse.services.kafka import end_offsets, ensure_topic, free_broker_port
    from reelhouse.services.kafka_secrets import KafkaSecrets

    # the operator's step of docker/README.md: `reelhouse kafka secrets --names kafka-1,kafka-2,kafka-3`
    secrets = KafkaSecrets(tmp_path / "secrets", "reelhouse", tmp_path / "secrets" / "reelhouse.password",
                           tmp_path / "secrets" / "ca.pem")
    secrets.ensure(["kafka-1", "kafka-2", "kafka-3"])
    kafka_home = tmp_path / "kafka-home"
    kafka_home.mkdir()
    (kafka_home / "libs").symlink_to(jars.resolve("kafka", settings.jars_cache)[0].parent)
    private = tmp_path / "private"

    # kafka-1's environment as compose gives it; one node, on free loopback ports instead of the network's
    port = free_broker_port(39800)
    single_node = {"KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{port + 100}",
                   "KAFKA_LISTENERS": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 100}",
                   "KAFKA_ADVERTISED_LISTENERS": f"SASL_SSL://localhost:{port}",
                   "KAFKA_LOG_DIRS": str(tmp_path / "data"),
                   "KAFKA_SSL_TRUSTSTORE_LOCATION": str(secrets.ca_file)}
    broker_environment = services["kafka-1"]["environment"]
    for name in broker_environment:
        if name.endswith(("REPLICATION_FACTOR", "MIN_ISR", "MIN_INSYNC_REPLICAS")):
            single_node[name] = "1"
    environment = {
        "PATH": os.environ["PATH"], **broker_environment, **single_node,
        "BROKER_PASSWORD_FILE": str(secrets.password_file), "BROKER_SECRETS_DIR": str(secrets.directory),
        "BROKER_PRIVATE_DIR": str(private), "BROKER_KAFKA_HOME": str(kafka_home),
        "BROKER_RUN": str(tmp_path / "image-start.py"),
    }
    (tmp_path / "image-start.py").write_text(f"#!{sys.executable}\n{IMAGE_START}")
    (tmp_path / "image-start.py").chmod(0o755)
    log = (tmp_path / "broker.log").open("w")
    broker = subprocess.Popen([str(REPO / "docker" / "kafka-broker.sh")], env=environment, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not processes.port_open("127.0.0.1", port):
            assert broker.poll() is None, (tmp_path / "broker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "broker.log").read_text()[-3000:]
            time.sleep(0.5)
        password = secrets.password()
        assert command_lines_with(password) == []
        assert not (private / "format.args").exists()
        assert private.stat().st_mode & 0o777 == 0o700
        assert {p.name: p.stat().st_mode & 0o777 for p in private.iterdir()} == \
            {p.name: 0o600 for p in private.iterdir()}

        # our clients log in as compose's services do; a client without a login gets nothing
        login = KafkaConnection(f"localhost:{port}", "sasl_ssl", "reelhouse", secrets.password_file, secrets.ca_file)
        assert ensure_topic(login, "compose", 3, 1)
        assert produce(GeneratorOptions(events=300, seed=3), login, "compose").sent == 300
        assert sum(end_offsets(login, "compose").values()) == 300
        with pytest.raises(Exception):  # noqa: B017 - kafka-python's error for a refused handshake varies
            end_offsets(f"localhost:{port}", "compose")
    finally:
        if broker.poll() is None:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait(timeout=30)
        log.close()
