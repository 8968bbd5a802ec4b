"""The shared catalog kept in PostgreSQL: Debian's server, started and stopped by us, for shared use.

The database cluster lives under `<home>/_metastore/postgres/`, its log beside it. It is created
once (`initdb`) with one role, `reelhouse`, whose password `start` generates into a 0600 file
(`Settings.metastore_password_path`); every login, even from loopback, is checked with
SCRAM-SHA-256, which never sends the password itself. Spark sessions read that file and set the
password inside their JVM (`foundation.spark`), never on a command line.

PostgreSQL refuses to run as root. Run as root (our CI, a fresh machine), the server is started in
a user namespace of its own (`unshare --user`) where our uid maps to an ordinary one: it owns its
files as before and can enter the home's 0700 folders, which the `postgres` account could not.

The metastore's tables are created once, as for Derby (`metastore_schema.py`).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation import processes
from foundation.catalog import POSTGRES_DATABASE, POSTGRES_DRIVER, POSTGRES_USER, postgres_jdbc_url
from foundation.errors import ReelhouseError
from foundation.secret_files import read_secret, write_private_text
from reelhouse.services.base import Daemon
from reelhouse.services.metastore_schema import create_schema

SERVER_DIRS = Path("/usr/lib/postgresql")
INSTALL_HINT = "install Debian's PostgreSQL (`apt-get install postgresql`, or `make postgres`)"
# an ordinary uid for the server inside its user namespace (root's files map to it there)
NAMESPACE_UID = 1000


def server_bin() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps each major version apart)."""
    found = sorted(SERVER_DIRS.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    if not found:
        raise ReelhouseError(f"PostgreSQL not found under {SERVER_DIRS}; {INSTALL_HINT}")
    return found[-1].parent


def as_ordinary_user(command: list[str]) -> list[str]:
    """`command` as is, or, run as root, in a user namespace where it is not root."""
    if os.geteuid() != 0:
        return command
    return ["unshare", "--user", f"--map-user={NAMESPACE_UID}", f"--map-group={NAMESPACE_UID}", *command]


@dataclass(frozen=True)
class PostgresMetastore:
    directory: Path
    host: str
    port: int
    jars_cache: Path
    password_file: Path

    @property
    def data_dir(self) -> Path:
        return self.directory / "postgres"

    @property
    def daemon(self) -> Daemon:
        # the postmaster keeps its command line; its data folder names this lakehouse's server
        return Daemon("metastore", self.directory / "postgres.pid", self.directory / "postgres.log",
                      str(self.data_dir).encode())

    @property
    def jdbc_url(self) -> str:
        return postgres_jdbc_url(self.host, self.port)

    @property
    def schema_marker(self) -> Path:
        """Written once the schema exists, for health checks (compose's): the database is the truth."""
        return self.directory / ".schema-created"

    def running_pid(self) -> int | None:
        return self.daemon.running_pid()

    def start(self, timeout: float = 60.0) -> list[str]:
        said = []
        if not (self.data_dir / "PG_VERSION").exists():
            said.extend(self._create_cluster())
        pid = self.running_pid()
        if pid:
            said.append(f"metastore already running (pid {pid})")
        else:
            processes.require_free_port(self.host, self.port)
            command = as_ordinary_user([
                str(server_bin() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-c", f"listen_addresses={self.host}",
                "-c", "unix_socket_directories=",  # TCP only: every login checks the password
                "-c", "password_encryption=scram-sha-256",
            ])
            pid = self.daemon.start(command, lambda: processes.port_open(self.host, self.port), timeout,
                                    f"open port {self.port}")
            self._wait_accepting(timeout)
            said.append(f"metastore started (pid {pid}) on {self.host}:{self.port} (PostgreSQL)")
        self._ensure_database()
        if not self._schema_exists():
            self._create_schema()
            said.append("metastore schema created")
        self.schema_marker.touch()
        return [*said, f"clients connect with {self.jdbc_url} as {POSTGRES_USER} "
                       f"(password in {self.password_file})"]

    def status(self) -> list[str] | None:
        pid = self.running_pid()
        return None if pid is None else [f"metastore running (pid {pid}, PostgreSQL); "
                                         f"clients connect with {self.jdbc_url}"]

    def stop(self, timeout: float = 30.0) -> list[str]:
        pid = self.running_pid()

        def fast_shutdown() -> None:  # SIGTERM would wait for every client to leave first
            processes.signal_quietly(pid, signal.SIGINT)

        return [self.daemon.stop(timeout, orderly=fast_shutdown) or "metastore not running"]

    # -- once: the cluster, the password, the schema ------------------------------------------

    def _create_cluster(self) -> list[str]:
        said = []
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)  # the password file, the server's log and data: ours alone
        if not self.password_file.exists():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            write_private_text(self.password_file, secrets.token_urlsafe(24) + "\n", exclusive=True)
            said.append(f"metastore password generated in {self.password_file} (0600)")
        read_secret(self.password_file)  # refuses a file others can read
        result = subprocess.run(as_ordinary_user([
            str(server_bin() / "initdb"), "-D", str(self.data_dir), "-U", POSTGRES_USER,
            f"--pwfile={self.password_file}", "--auth=scram-sha-256", "--encoding=UTF8", "--no-instructions",
        ]), capture_output=True, text=True)
        if result.returncode != 0:
            raise ReelhouseError(f"initdb failed: {_last_lines(result.stdout + result.stderr)}")
        return [*said, f"metastore database cluster created in {self.data_dir}"]

    def _psql(self, statement: str, database: str = "postgres") -> subprocess.CompletedProcess:
        # the password in the child's environment only (readable by us and root), never its arguments
        env = {**os.environ, "PGPASSWORD": read_secret(self.password_file)}
        return subprocess.run(
            [str(server_bin() / "psql"), "-h", self.host, "-p", str(self.port), "-U", POSTGRES_USER,
             "-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", statement],
            capture_output=True, text=True, env=env,
        )

    def _wait_accepting(self, timeout: float) -> None:
        """The port opens before recovery (after a crash) is done; wait for a login to work."""
        self.daemon.wait_until(lambda: self._psql("select 1").returncode == 0, timeout, "accept logins")

    def _ensure_database(self) -> None:
        exists = self._psql(f"select 1 from pg_database where datname = '{POSTGRES_DATABASE}'")
        if exists.stdout.strip() != "1":
            created = self._psql(f"create database {POSTGRES_DATABASE}")
            if created.returncode != 0:
                raise ReelhouseError(f"creating the metastore database failed: {created.stderr.strip()}")

    def _schema_exists(self) -> bool:
        tables = self._psql("select to_regclass('public.\"DBS\"') is not null", POSTGRES_DATABASE)
        return tables.stdout.strip() == "t"

    def _create_schema(self) -> None:
        create_schema(self.directory, self.jars_cache, {
            "ConnectionURL": self.jdbc_url, "ConnectionDriverName": POSTGRES_DRIVER,
            "ConnectionUserName": POSTGRES_USER, "ConnectionPassword": read_secret(self.password_file),
        })


def _last_lines(output: str, lines: int = 3) -> str:
    return " / ".join(output.strip().splitlines()[-lines:]) or "no output"
