"""How every Kafka client of ours connects: the brokers, and for a cluster off loopback its login.

`plaintext` (the loopback default) or `sasl_ssl`: SCRAM-SHA-512 over TLS, the user's password read
from a 0600 file when a client connects, the brokers' certificate checked against a CA file. The
same connection gives kafka-python's keyword arguments and the Spark Kafka source's options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundation.secret_files import read_secret

SECURITY_PROTOCOLS = ("plaintext", "sasl_ssl")
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
# kafka-python retries its first connection until this runs out (30 s by default): a broker that
# refuses our login, or speaks TLS to a plaintext client, is reported after 10 s instead
BOOTSTRAP_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str
    security: str = "plaintext"
    user: str = ""
    password_file: Path | None = None
    ca_file: Path | None = None

    @property
    def secured(self) -> bool:
        return self.security == "sasl_ssl"

    def client_options(self) -> dict[str, object]:
        """Keyword arguments of kafka-python's producer, consumer and admin client."""
        options: dict[str, object] = {"bootstrap_servers": self.bootstrap_servers,
                                      "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS}
        if self.secured:
            options.update(
                security_protocol="SASL_SSL", sasl_mechanism=SCRAM_MECHANISM, sasl_plain_username=self.user,
                sasl_plain_password=self._password(), ssl_cafile=str(self.ca_file), ssl_check_hostname=True,
            )
        return options

    def spark_options(self) -> dict[str, str]:
        """Options of Spark's Kafka source (`kafka.`-prefixed client settings). The password goes in
        the JAAS option, which Spark redacts from its logs; it never reaches a command line."""
        options = {"kafka.bootstrap.servers": self.bootstrap_servers}
        if self.secured:
            options.update({
                "kafka.security.protocol": "SASL_SSL",
                "kafka.sasl.mechanism": SCRAM_MECHANISM,
                "kafka.sasl.jaas.config": jaas_login(self.user, self._password()),
                "kafka.ssl.truststore.type": "PEM",
                "kafka.ssl.truststore.location": str(self.ca_file),
            })
        return options

    def _password(self) -> str:
        if self.password_file is None:
            raise ValueError("a sasl_ssl Kafka connection needs a password file")
        return read_secret(self.password_file)


def jaas_login(user: str, password: str) -> str:
    """Kafka's JAAS line for a SCRAM login; quotes and backslashes escaped as its parser reads them."""
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"{SCRAM_LOGIN_MODULE} required username={quoted(user)} password={quoted(password)};"


def as_connection(kafka: KafkaConnection | str) -> KafkaConnection:
    """A bare `host:port,...` string stands for a plaintext connection (tests, loopback tools)."""
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)
