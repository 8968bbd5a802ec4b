"""Start, stop and inspect a real Apache Kafka cluster (KRaft mode).

Each node is a combined broker + controller running `kafka.Kafka` from the Maven-resolved
jars, with its data, config and log under `<home>/_kafka/node-<id>/`. Broker `i` (from 0)
listens on `port + i` and its controller on 127.0.0.1 at `port + 100 + i` (the nodes share
one machine). Plaintext brokers listen on loopback only; sasl_ssl brokers may listen on any
address, every client logging in with SCRAM-SHA-512 over TLS (see `kafka_secrets`).
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from foundation import jars, processes
from foundation.errors import ReelhouseError
from foundation.kafka_connection import SCRAM_MECHANISM, KafkaConnection, as_connection, jaas_login
from foundation.secret_files import write_private_text
from foundation.settings import Settings
from reelhouse.services.base import Daemon
from reelhouse.services.kafka_secrets import KafkaSecrets

CONTROLLER_PORT_OFFSET = 100
CONTROLLER_HOST = "127.0.0.1"
LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


@dataclass(frozen=True)
class Node:
    node_id: int
    host: str
    port: int
    controller_port: int
    directory: Path

    @property
    def daemon(self) -> Daemon:
        return Daemon(f"broker {self.node_id}", self.directory / "broker.pid", self.directory / "server.log",
                      b"kafka.Kafka")

    @property
    def config_file(self) -> Path:
        return self.directory / "server.properties"


@dataclass(frozen=True)
class ClusterLayout:
    kafka_dir: Path
    host: str
    port: int
    brokers: int
    security: str = "plaintext"

    @property
    def nodes(self) -> list[Node]:
        return [
            Node(i + 1, self.host, self.port + i, self.port + CONTROLLER_PORT_OFFSET + i,
                 self.kafka_dir / f"node-{i + 1}")
            for i in range(self.brokers)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{n.host}:{n.port}" for n in self.nodes)

    @property
    def replication_factor(self) -> int:
        return min(3, self.brokers)

    @property
    def listener(self) -> str:
        return self.security.upper()


def server_properties(layout: ClusterLayout, node: Node, secrets: KafkaSecrets | None = None) -> str:
    """The node's config. With `secrets` (sasl_ssl), it holds the brokers' own login and keystore
    password: written 0600 and removed on stop."""
    voters = ",".join(f"{n.node_id}@{CONTROLLER_HOST}:{n.controller_port}" for n in layout.nodes)
    rf = layout.replication_factor
    listener = layout.listener
    settings = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"{listener}://{node.host}:{node.port},CONTROLLER://{CONTROLLER_HOST}:{node.controller_port}",
        "advertised.listeners": f"{listener}://{node.host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": listener,
        "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{listener}:{listener}",
        "log.dirs": node.directory / "data",
        "num.partitions": 3,
        "default.replication.factor": rf,
        "min.insync.replicas": max(1, rf - 1),
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": max(1, rf - 1),
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": max(1, rf - 1),
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "false",
        "log.retention.hours": 168,
        "log.segment.bytes": 256 * 1024 * 1024,
    }
    if layout.security == "sasl_ssl":
        if secrets is None:
            raise ValueError("a sasl_ssl node needs its secrets")
        settings.update({
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config":
                jaas_login(secrets.user, secrets.password()),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": secrets.keystore,
            "ssl.keystore.password": secrets.keystore_password(),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": secrets.ca_file,
        })
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _cluster_id() -> str:
    """A random id as Kafka makes them: never starting with "-", which its tools would read as
    an option (one start in 64 failed with "argument --cluster-id/-t: expected one argument")."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def free_broker_port(first: int, host: str = "127.0.0.1", span: int = 500, brokers: int = 1,
                     is_free: Callable[[str, int], bool] = processes.port_free) -> int:
    """A port from `first` on where `brokers` brokers find their ports and controller ports (+100) free."""
    for port in range(first, first + span):
        wanted = [p + offset for p in range(port, port + brokers) for offset in (0, CONTROLLER_PORT_OFFSET)]
        if all(is_free(host, p) for p in wanted):
            return port
    raise ReelhouseError(f"no free ports for {brokers} Kafka broker(s) from {first} to {first + span}")


def _java_command(classpath_dir: Path, log_config: Path, heap_mb: int) -> list[str]:
    return processes.java_command(f"{classpath_dir}/*", heap_mb, f"-Dlog4j2.configurationFile={log_config}")


class KafkaCluster:
    def __init__(self, layout: ClusterLayout, jars_cache: Path, heap_mb: int = 512,
                 topic: tuple[str, int] | None = None, secrets: KafkaSecrets | None = None):
        """`topic` (name, partitions): created by `start` when absent. `secrets`: where a sasl_ssl
        cluster keeps its password and certificates (made by `start` when missing)."""
        if layout.security == "sasl_ssl" and secrets is None:
            raise ValueError("a sasl_ssl cluster needs its secrets")
        self.layout = layout
        self.jars_cache = jars_cache
        self.heap_mb = heap_mb
        self.topic = topic
        self.secrets = secrets if layout.security == "sasl_ssl" else None
        self.meta_file = layout.kafka_dir / "cluster.json"

    @property
    def connection(self) -> KafkaConnection:
        """How this cluster's own checks (and its topic's creation) connect."""
        if self.secrets is None:
            return KafkaConnection(self.layout.bootstrap_servers)
        return KafkaConnection(self.layout.bootstrap_servers, "sasl_ssl", self.secrets.user,
                               self.secrets.password_file, self.secrets.ca_file)

    def running_nodes(self) -> dict[int, int]:
        """node id -> pid for every node whose process is alive."""
        return {n.node_id: pid for n in self.layout.nodes if (pid := n.daemon.running_pid())}

    def _check_layout(self) -> None:
        recorded = _recorded(self.layout.kafka_dir)
        # clusters formatted before `security` was recorded were plaintext
        if recorded and (recorded["brokers"] != self.layout.brokers or recorded["port"] != self.layout.port
                         or recorded.get("security", "plaintext") != self.layout.security):
            raise ReelhouseError(
                f"the Kafka data under {self.layout.kafka_dir} belongs to a {recorded.get('security', 'plaintext')} "
                f"cluster of {recorded['brokers']} broker(s) on port {recorded['port']}; stop it and remove "
                "that folder to start a different one"
            )

    def start(self, timeout: float = 90.0) -> list[str]:
        """Start every node not yet running; returns what it did, one line each."""
        if self.layout.security == "plaintext":
            processes.require_loopback(self.layout.host, "Kafka cluster", "its listeners are PLAINTEXT; set "
                                       "REELHOUSE_KAFKA_SECURITY=sasl_ssl for SCRAM logins over TLS")
        elif self.layout.host in ("0.0.0.0", "::"):
            raise ReelhouseError(f"REELHOUSE_KAFKA_HOST is the address clients reach the brokers at (their TLS "
                                 f"certificate names it), not a wildcard like {self.layout.host}")
        self._check_layout()
        classpath_dir = jars.resolve("kafka", self.jars_cache)[0].parent
        kafka_dir = self.layout.kafka_dir
        kafka_dir.mkdir(parents=True, exist_ok=True)
        kafka_dir.chmod(0o700)  # the nodes' configs may hold the brokers' login
        said = self.secrets.ensure([self.layout.host]) if self.secrets else []
        log_config = kafka_dir / "log4j2.properties"
        log_config.write_text(LOG4J2)
        if not self.meta_file.exists():
            self.meta_file.write_text(json.dumps(
                {"cluster_id": _cluster_id(), "brokers": self.layout.brokers, "port": self.layout.port,
                 "security": self.layout.security}
            ))
        cluster_id = _recorded(self.layout.kafka_dir)["cluster_id"]
        base = _java_command(classpath_dir, log_config, self.heap_mb)
        running = self.running_nodes()
        for node in self.layout.nodes:
            if node.node_id in running:
                said.append(f"broker {node.node_id} already running (pid {running[node.node_id]})")
                continue
            for port in (node.port, node.controller_port):
                processes.require_free_port(node.host, port)
            node.directory.mkdir(parents=True, exist_ok=True)
            write_private_text(node.config_file, server_properties(self.layout, node, self.secrets))
            if not (node.directory / "data" / "meta.properties").exists():
                self._format(base, node, cluster_id)
            pid = node.daemon.spawn([*base, "kafka.Kafka", str(node.config_file)])
            said.append(f"broker {node.node_id} started (pid {pid}) on {self.layout.listener} "
                        f"{node.host}:{node.port}")
        self.wait_ready(timeout)
        if self.topic:
            name, partitions = self.topic
            created = ensure_topic(self.connection, name, partitions, self.layout.replication_factor)
            said.append(f"topic {name} {'created' if created else 'exists'}; bootstrap {self.layout.bootstrap_servers}")
        return said

    def _format(self, base: list[str], node: Node, cluster_id: str) -> None:
        """Kafka's storage format; for sasl_ssl it also stores the user's SCRAM credential. The
        arguments go through a 0600 argument file (`java @file`), so the password is on no command line."""
        arguments = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.config_file),
                     "--ignore-formatted"]
        if self.secrets:
            arguments += ["--add-scram",
                          f"{SCRAM_MECHANISM}=[name={self.secrets.user},password={self.secrets.password()}]"]
        argument_file = node.directory / "format.args"
        write_private_text(argument_file, "\n".join(f'"{a}"' for a in arguments) + "\n")
        try:
            fmt = subprocess.run([*base, f"@{argument_file}"], capture_output=True, text=True)
        finally:
            argument_file.unlink(missing_ok=True)
        if fmt.returncode != 0:
            raise ReelhouseError(f"formatting Kafka storage failed: {fmt.stderr.strip()[-300:]}")

    def wait_ready(self, timeout: float) -> None:
        for node in self.layout.nodes:
            node.daemon.wait_until(lambda n=node: processes.port_open(n.host, n.port), timeout,
                                   f"open port {node.port}")
        # the last node's daemon stands for the cluster: the quorum needs every node anyway
        self.layout.nodes[-1].daemon.wait_until(self._all_brokers_registered, timeout,
                                                f"see {self.layout.brokers} broker(s) registered")

    def _all_brokers_registered(self) -> bool:
        from kafka import KafkaAdminClient  # imported late: only start/status talk to the cluster

        try:
            admin = KafkaAdminClient(**self.connection.client_options(), request_timeout_ms=5000)
            try:
                return len(admin.describe_cluster()["brokers"]) >= self.layout.brokers
            finally:
                admin.close()
        except Exception:  # noqa: BLE001 - not ready yet: asked again until the deadline
            return False

    def stop(self, timeout: float = 30.0) -> list[str]:
        # every broker is signalled before any is waited for: a quorum shuts down together
        for pid in self.running_nodes().values():
            processes.signal_quietly(pid)
        said = [line for node in self.layout.nodes if (line := node.daemon.stop(timeout))]
        for node in self.layout.nodes:
            if not node.daemon.running_pid():  # written again by every start
                with suppress(FileNotFoundError):
                    node.config_file.unlink()
        return said or ["no broker running"]

    def status(self) -> list[str] | None:
        running = self.running_nodes()
        return [*(f"broker {node_id} running (pid {pid})" for node_id, pid in sorted(running.items())),
                f"bootstrap {self.layout.bootstrap_servers}"] if running else None


def local_cluster(settings: Settings, brokers: int | None = None, topic: tuple[str, int] | None = None,
                  heap_mb: int = 512) -> KafkaCluster:
    """The cluster `reelhouse kafka start` runs under the home, as the settings describe it."""
    layout = ClusterLayout(settings.kafka_dir, settings.kafka_host, settings.kafka_port,
                           brokers or settings.kafka_brokers, settings.kafka_security)
    return KafkaCluster(layout, settings.jars_cache, heap_mb, topic, KafkaSecrets.of(settings))


def recorded_brokers(kafka_dir: Path, port: int) -> int | None:
    """How many brokers the local cluster under `kafka_dir` was started with (None: none there
    or one on another port), so that later commands bootstrap from all of them."""
    recorded = _recorded(kafka_dir)
    return recorded["brokers"] if recorded and recorded["port"] == port else None


def _recorded(kafka_dir: Path) -> dict | None:
    """What `start` wrote in `cluster.json` (cluster id, brokers, first port), None before any start."""
    meta_file = kafka_dir / "cluster.json"
    return json.loads(meta_file.read_text()) if meta_file.exists() else None


def require_broker(kafka: KafkaConnection | str) -> None:
    """Fail fast, with the command to run, when no broker listens at the connection's servers."""
    bootstrap_servers = as_connection(kafka).bootstrap_servers
    for server in bootstrap_servers.split(","):
        host, port = server.rsplit(":", 1)
        if processes.port_open(host, int(port)):
            return
    raise ReelhouseError(f"no Kafka broker at {bootstrap_servers}; start one with `reelhouse kafka start`")


def ensure_topic(kafka: KafkaConnection | str, topic: str, partitions: int, replication_factor: int) -> bool:
    """Create `topic` if absent; True when it was created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(**as_connection(kafka).client_options(), request_timeout_ms=15000)
    try:
        if topic in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(topic, partitions, replication_factor)])
        except TopicAlreadyExistsError:
            return False
        return True
    finally:
        admin.close()


def end_offsets(kafka: KafkaConnection | str, topic: str) -> dict[int, int]:
    """partition -> next offset to be written (the log end offset)."""
    from ingestion.io import kafka_offset_bounds

    return {partition: end for partition, (_, end) in kafka_offset_bounds(kafka, topic).items()}
