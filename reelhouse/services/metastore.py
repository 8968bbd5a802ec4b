"""The shared catalog's server: a Hive metastore kept in an Apache Derby network server on loopback.

Every Spark process of the lakehouse (the stream's readers, `reelhouse dbt`, the SQL
endpoint) connects to it over JDBC (`foundation/catalog.py`), so a table created by one is
seen by all, and they can run at the same time (an embedded Derby metastore admits one
process only). The database, its log and pid file live under `<home>/_metastore/`.

The metastore's tables are created once, all together (`metastore_schema.py`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation import jars, processes
from foundation.catalog import DRIVER, jdbc_url
from foundation.settings import Settings
from reelhouse.services.base import Daemon
from reelhouse.services.metastore_schema import create_schema
from reelhouse.services.postgres_metastore import PostgresMetastore

SERVER_CLASS = "org.apache.derby.drda.NetworkServerControl"


@dataclass(frozen=True)
class Metastore:
    directory: Path
    host: str
    port: int
    jars_cache: Path
    heap_mb: int = 384

    @property
    def daemon(self) -> Daemon:
        return Daemon("metastore", self.directory / "derby.pid", self.directory / "server.log",
                      SERVER_CLASS.encode())

    @property
    def schema_marker(self) -> Path:
        return self.directory / ".schema-created"

    @property
    def jdbc_url(self) -> str:
        return jdbc_url(self.host, self.port)

    def running_pid(self) -> int | None:
        return self.daemon.running_pid()

    def _classpath(self) -> str:
        return f"{jars.resolve('metastore', self.jars_cache)[0].parent}/*"

    def start(self, timeout: float = 60.0) -> list[str]:
        said = []
        pid = self.running_pid()
        if pid:
            said.append(f"metastore already running (pid {pid})")
        else:
            processes.require_free_port(self.host, self.port)
            command = processes.java_command(
                self._classpath(), self.heap_mb, f"-Dderby.system.home={self.directory}",
                # a lock held this long is a bug; fail the statement rather than hang a job
                "-Dderby.locks.waitTimeout=30",
            )
            pid = self.daemon.start(
                [*command, SERVER_CLASS, "start", "-h", self.host, "-p", str(self.port), "-noSecurityManager"],
                lambda: processes.port_open(self.host, self.port), timeout, f"open port {self.port}")
            said.append(f"metastore started (pid {pid}) on {self.host}:{self.port}")
        if not self.schema_marker.exists():
            self._create_schema()
            said.append("metastore schema created")
        return [*said, f"clients connect with {self.jdbc_url}"]

    def status(self) -> list[str] | None:
        pid = self.running_pid()
        return None if pid is None else [f"metastore running (pid {pid}); clients connect with {self.jdbc_url}"]

    def _create_schema(self) -> None:
        create_schema(self.directory, self.jars_cache, {
            "ConnectionURL": self.jdbc_url, "ConnectionDriverName": DRIVER,
            # Hive's default metastore credentials (Derby runs without authentication here)
            "ConnectionUserName": "APP", "ConnectionPassword": "mine",
        })

    def stop(self, timeout: float = 30.0) -> list[str]:
        def shutdown() -> None:  # checkpoints the database; SIGTERM is the fallback
            subprocess.run(
                [*processes.java_command(self._classpath(), 128), SERVER_CLASS, "shutdown",
                 "-h", self.host, "-p", str(self.port)],
                capture_output=True, timeout=timeout,
            )

        return [self.daemon.stop(timeout, orderly=shutdown) or "metastore not running"]


def metastore_service(settings: Settings, port: int | None = None) -> Metastore | PostgresMetastore:
    """The metastore server the settings choose (`REELHOUSE_METASTORE_DATABASE`). Derby's network
    server has no login here, so it listens on loopback only; PostgreSQL checks every login."""
    port = port or settings.metastore_port
    if settings.metastore_database == "postgres":
        return PostgresMetastore(settings.metastore_dir, settings.metastore_host, port, settings.jars_cache,
                                 settings.metastore_password_path)
    processes.require_loopback(settings.metastore_host, "Derby metastore",
                               "it has no login; set REELHOUSE_METASTORE_DATABASE=postgres to share the catalog")
    return Metastore(settings.metastore_dir, settings.metastore_host, port, settings.jars_cache)
