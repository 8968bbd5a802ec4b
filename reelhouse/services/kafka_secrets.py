"""What a sasl_ssl Kafka cluster of `reelhouse kafka start` needs: a password and TLS certificates.

Under `<home>/_kafka/secrets/` (0700), every file 0600: the user's password (generated unless the
user brought one), a CA (`ca.p12`, its certificate `ca.pem` for the clients), the brokers' key and
certificate (`broker.p12`, signed by the CA for every address the brokers answer on) and the
keystores' password. Made with the JDK's `keytool`, which reads the store password from a file.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation import jars
from foundation.errors import ReelhouseError
from foundation.secret_files import read_secret, write_private_text
from foundation.settings import Settings

# what Kafka's `--add-scram name=...,password=...` and a JAAS line both carry without quoting
SAFE_SECRET = re.compile(r"[A-Za-z0-9_.~+/=-]+")
CERTIFICATE_DAYS = 825  # the longest a server certificate should live (CA/Browser Forum)


@dataclass(frozen=True)
class KafkaSecrets:
    directory: Path
    user: str
    password_file: Path
    ca_file: Path

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def keystore_password_file(self) -> Path:
        return self.directory / "keystore.password"

    @classmethod
    def of(cls, settings: Settings) -> KafkaSecrets:
        return cls(settings.kafka_secrets_dir, settings.kafka_user, settings.kafka_password_path,
                   settings.kafka_ca_path)

    def password(self) -> str:
        password = read_secret(self.password_file)
        if not SAFE_SECRET.fullmatch(password) or not SAFE_SECRET.fullmatch(self.user):
            raise ReelhouseError(f"the Kafka user name and the password in {self.password_file} may hold letters, "
                                 "digits and _.~+/=- only (Kafka's SCRAM set-up takes them unquoted)")
        return password

    def keystore_password(self) -> str:
        return read_secret(self.keystore_password_file)

    def ensure(self, hosts: list[str]) -> list[str]:
        """Create what is missing: the password, the CA, a broker certificate valid for every name in
        `hosts` (and loopback). Returns what it made, one line each."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        made = []
        if not self.password_file.exists():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            write_private_text(self.password_file, secrets.token_urlsafe(24) + "\n", exclusive=True)
            made.append(f"Kafka password of user {self.user} generated in {self.password_file} (0600)")
        if not self.keystore_password_file.exists():
            write_private_text(self.keystore_password_file, secrets.token_urlsafe(24) + "\n", exclusive=True)
        ca_store = self.directory / "ca.p12"
        if not ca_store.exists():
            self._keytool("-genkeypair", "-keystore", ca_store, "-alias", "ca", "-dname", "CN=reelhouse Kafka CA",
                          "-ext", "bc:c", "-validity", "3650")
            self._keytool("-exportcert", "-rfc", "-keystore", ca_store, "-alias", "ca", "-file", self.ca_file)
            ca_store.chmod(0o600)
            self.ca_file.chmod(0o600)
            made.append(f"Kafka CA made; clients trust {self.ca_file}")
        names = self._subject_alternative_names(hosts)
        names_file = self.directory / "broker.names"
        if not self.keystore.exists() or not names_file.exists() or names_file.read_text() != names:
            self._issue_broker_certificate(ca_store, hosts[0], names)
            write_private_text(names_file, names)
            made.append(f"broker certificate issued for {names}")
        return made

    def _issue_broker_certificate(self, ca_store: Path, host: str, names: str) -> None:
        request, certificate = self.directory / "broker.csr", self.directory / "broker.pem"
        self.keystore.unlink(missing_ok=True)
        try:
            self._keytool("-genkeypair", "-keystore", self.keystore, "-alias", "broker", "-dname", f"CN={host}",
                          "-validity", str(CERTIFICATE_DAYS))
            self._keytool("-certreq", "-keystore", self.keystore, "-alias", "broker", "-file", request)
            self._keytool("-gencert", "-keystore", ca_store, "-alias", "ca", "-infile", request, "-outfile",
                          certificate, "-rfc", "-ext", f"SAN={names}", "-validity", str(CERTIFICATE_DAYS))
            self._keytool("-importcert", "-noprompt", "-keystore", self.keystore, "-alias", "ca", "-file", self.ca_file)
            self._keytool("-importcert", "-keystore", self.keystore, "-alias", "broker", "-file", certificate)
        finally:
            request.unlink(missing_ok=True)
            certificate.unlink(missing_ok=True)
        self.keystore.chmod(0o600)

    @staticmethod
    def _subject_alternative_names(hosts: list[str]) -> str:
        names = ["dns:localhost", "ip:127.0.0.1"]
        for host in hosts:
            try:
                ipaddress.ip_address(host)
                names.append(f"ip:{host}")
            except ValueError:
                names.append(f"dns:{host}")
        return ",".join(dict.fromkeys(names))

    def _keytool(self, command: str, *arguments: object) -> None:
        keytool = jars.require_tool("keytool", "install Java 17 (e.g. `apt-get install openjdk-17-jdk-headless`)")
        # the store password from its 0600 file, never on the command line; EC keys: small and fast
        key = ["-keyalg", "EC", "-groupname", "secp256r1"] if command == "-genkeypair" else []
        result = subprocess.run(
            [keytool, command, *map(str, arguments), *key, "-storetype", "PKCS12",
             "-storepass:file", str(self.keystore_password_file)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise ReelhouseError(f"keytool {command} failed: {(result.stdout + result.stderr).strip()[-300:]}")
