"""One settings object, chosen from the environment in exactly one place (`Settings.from_env`).

Everything else receives a `Settings` (or plain values taken from it) as an argument.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from foundation.kafka_connection import SECURITY_PROTOCOLS, KafkaConnection

DEFAULT_TOPIC = "playback-events"


# field -> the environment variable it is read from
ENVIRONMENT = {
    "home": "REELHOUSE_HOME",
    "kafka_host": "REELHOUSE_KAFKA_HOST",
    "kafka_port": "REELHOUSE_KAFKA_PORT",
    "kafka_brokers": "REELHOUSE_KAFKA_BROKERS",
    "kafka_bootstrap": "REELHOUSE_KAFKA_BOOTSTRAP",
    "kafka_security": "REELHOUSE_KAFKA_SECURITY",
    "kafka_user": "REELHOUSE_KAFKA_USER",
    "kafka_password_file": "REELHOUSE_KAFKA_PASSWORD_FILE",
    "kafka_ca_file": "REELHOUSE_KAFKA_CA_FILE",
    "topic": "REELHOUSE_TOPIC",
    "topic_partitions": "REELHOUSE_TOPIC_PARTITIONS",
    "spark_master": "REELHOUSE_SPARK_MASTER",
    "spark_secret_file": "REELHOUSE_SPARK_SECRET_FILE",
    "shuffle_partitions": "REELHOUSE_SHUFFLE_PARTITIONS",
    "driver_memory": "REELHOUSE_DRIVER_MEMORY",
    "jars_cache": "REELHOUSE_JARS_CACHE",
    "trigger_seconds": "REELHOUSE_TRIGGER_SECONDS",
    "metastore_host": "REELHOUSE_METASTORE_HOST",
    "metastore_port": "REELHOUSE_METASTORE_PORT",
    "metastore_database": "REELHOUSE_METASTORE_DATABASE",
    "metastore_password_file": "REELHOUSE_METASTORE_PASSWORD_FILE",
    "worker_python": "REELHOUSE_WORKER_PYTHON",
    "verbose": "REELHOUSE_VERBOSE",
    "class_archive": "REELHOUSE_CLASS_ARCHIVE",
    "max_event_lead_seconds": "REELHOUSE_MAX_EVENT_LEAD_SECONDS",
    "max_event_age_days": "REELHOUSE_MAX_EVENT_AGE_DAYS",
}
TRUE = ("1", "true", "yes", "on")
# a JVM heap size as Spark and the JVM take it
MEMORY_AMOUNT = re.compile(r"[1-9][0-9]*[mMgG]")
FALSE = ("0", "false", "no", "off", "")
METASTORE_DATABASES = ("derby", "postgres")


@dataclass(frozen=True)
class Settings:
    home: Path
    """Lakehouse home: every Delta table lives at `<home>/<layer>/<table>`."""
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_brokers: int = 1
    """Brokers of the local cluster (`reelhouse kafka start --brokers N`): ports `kafka_port` on."""
    kafka_bootstrap: str = ""
    """`host:port,...` of a Kafka cluster elsewhere; when set, host, port and brokers are not used."""
    kafka_security: str = "plaintext"
    """"plaintext" (loopback only) or "sasl_ssl": SCRAM-SHA-512 logins over TLS, which `reelhouse kafka
    start` sets up (certificates, user, password) and every client of ours uses."""
    kafka_user: str = "reelhouse"
    """The SCRAM user of sasl_ssl clients (and of the brokers among themselves)."""
    kafka_password_file: str = ""
    """A 0600 file holding the Kafka user's password; empty: the one `reelhouse kafka start`
    generates (`<home>/_kafka/secrets/reelhouse.password`)."""
    kafka_ca_file: str = ""
    """The PEM certificate(s) sasl_ssl clients trust; empty: the CA `reelhouse kafka start` makes
    (`<home>/_kafka/secrets/ca.pem`)."""
    topic: str = DEFAULT_TOPIC
    topic_partitions: int = 3
    spark_master: str = "local[*]"
    spark_secret_file: str = ""
    """A 0600 file holding a standalone cluster's `spark.authenticate` secret (`reelhouse cluster start`
    makes one); empty: the cluster does not authenticate."""
    shuffle_partitions: int = 4
    driver_memory: str = "2g"
    """The Spark driver's heap (`spark.driver.memory`); in local mode the executors share it.
    Spark's 1g left too little for a broadcast join after ALS searches in one long session."""
    jars_cache: Path = Path.home() / ".cache" / "reelhouse" / "jars"
    # 0: each micro-batch starts when the last one ends (Spark's own default); events land in bronze
    # in about one batch's time, where the seed's 3 s interval added up to 3 s more
    trigger_seconds: float = 0.0
    metastore_host: str = "127.0.0.1"
    metastore_port: int = 1527
    metastore_database: str = "derby"
    """What keeps the metastore: "derby" (Apache Derby's network server: no set-up, loopback only)
    or "postgres" (Debian's PostgreSQL with a generated password: for shared use)."""
    metastore_password_file: str = ""
    """A 0600 file holding the PostgreSQL metastore's password; empty: the one `reelhouse
    metastore start` generates under the home (`<home>/_metastore/postgres.password`)."""
    worker_python: str = sys.executable
    """The Python that Spark's Python workers run (UDFs, the recommender's top-k); on a
    cluster, an interpreter with reelhouse's dependencies on every worker."""
    verbose: bool = False
    """Spark, Delta, Hive and Kafka logs on the terminal too; they always go to `<home>/_logs/`."""
    class_archive: bool = True
    """Spark drivers map the class archive `reelhouse jars` recorded (off: every start reads the
    classes from the jars, as `reelhouse bench spark-start` does for its comparison)."""
    max_event_lead_seconds: float = 600.0
    """An event stamped further ahead of its Kafka timestamp is quarantined (implausible_event_time)."""
    max_event_age_days: float = 0.0
    """An event stamped further behind its Kafka timestamp is quarantined; 0: no horizon."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls(home=Path("lakehouse"))
        values = {}
        for name, variable in ENVIRONMENT.items():
            default = getattr(defaults, name)
            try:
                value = default if variable not in env else _parse(name, type(default), env[variable])
            except ValueError as error:
                raise ValueError(f"{variable}: {error}") from None
            values[name] = value.absolute() if isinstance(value, Path) else value
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """The REELHOUSE_* variables that make a child process's `from_env` give these settings."""
        return {variable: str(getattr(self, name)) for name, variable in ENVIRONMENT.items()}

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def bootstrap_servers(self) -> str:
        """Every broker, so that a client starting while one of them is down still connects."""
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        return ",".join(f"{self.kafka_host}:{self.kafka_port + i}" for i in range(self.kafka_brokers))

    @property
    def kafka(self) -> KafkaConnection:
        """How our clients connect to the brokers (`bootstrap_servers`, and the login for sasl_ssl)."""
        return KafkaConnection(self.bootstrap_servers, self.kafka_security, self.kafka_user,
                               self.kafka_password_path, self.kafka_ca_path)

    @property
    def kafka_secrets_dir(self) -> Path:
        return self.kafka_dir / "secrets"

    @property
    def kafka_password_path(self) -> Path:
        return Path(self.kafka_password_file) if self.kafka_password_file \
            else self.kafka_secrets_dir / f"{self.kafka_user}.password"

    @property
    def kafka_ca_path(self) -> Path:
        return Path(self.kafka_ca_file) if self.kafka_ca_file else self.kafka_secrets_dir / "ca.pem"

    def table_path(self, layer: str, table: str) -> Path:
        return self.home / layer / table

    def checkpoint_path(self, name: str) -> Path:
        return self.home / "_checkpoints" / name

    @property
    def kafka_dir(self) -> Path:
        return self.home / "_kafka"

    @property
    def metastore_dir(self) -> Path:
        return self.home / "_metastore"

    @property
    def metastore_password_path(self) -> Path:
        return Path(self.metastore_password_file) if self.metastore_password_file \
            else self.metastore_dir / "postgres.password"

    @property
    def logs_dir(self) -> Path:
        """Where the JVM's and libraries' logs go (Spark, Delta, Hive, Kafka, the services)."""
        return self.home / "_logs"


def parse_memory(text: str) -> str:
    """`512m`, `4g`: a heap size; a bad one would stop the JVM with a message naming no setting."""
    if not MEMORY_AMOUNT.fullmatch(text.strip()):
        raise ValueError(f"expected an amount like 512m or 4g, got {text!r}")
    return text.strip().lower()


def _parse(name: str, kind: type, text: str) -> object:
    if name == "driver_memory":
        return parse_memory(text)
    choices = {"metastore_database": METASTORE_DATABASES, "kafka_security": SECURITY_PROTOCOLS}.get(name)
    if choices:
        if text.strip() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text.strip()
    if kind is bool:
        if text.strip().lower() not in TRUE + FALSE:
            raise ValueError(f"expected one of {', '.join(TRUE + FALSE[:-1])}, got {text!r}")
        return text.strip().lower() in TRUE
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"expected {kind.__name__}, got {text!r}") from None
