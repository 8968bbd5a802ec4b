"""The shared catalog: a Hive metastore kept in an Apache Derby network server on loopback.

Every Spark process of the lakehouse (the stream's readers, `reelhouse dbt`, the SQL
endpoint) connects to it over JDBC, so a table created by one is seen by all, and they can
run at the same time (an embedded Derby metastore admits one process only). The database,
its log and pid file live under `<home>/_metastore/`.

The metastore's tables are created once, all together, by DataNucleus' SchemaTool from the
`package.jdo` in pyspark's hive-metastore jar: left to Spark, each process would create
tables lazily on first use, and two processes doing so at once wait on each other's locks.
"""

from __future__ import annotations

import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from reelhouse import jvm, processes
from reelhouse.errors import ReelhouseError

SERVER_CLASS = "org.apache.derby.drda.NetworkServerControl"
DATABASE = "metastore_db"
DRIVER = "org.apache.derby.jdbc.ClientDriver"


@dataclass(frozen=True)
class Metastore:
    directory: Path
    host: str
    port: int
    jars_cache: Path
    heap_mb: int = 384

    @property
    def pid_file(self) -> Path:
        return self.directory / "derby.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    @property
    def schema_marker(self) -> Path:
        return self.directory / ".schema-created"

    @property
    def jdbc_url(self) -> str:
        return jdbc_url(self.host, self.port)

    def running_pid(self) -> int | None:
        return processes.pid_alive(self.pid_file, SERVER_CLASS.encode())

    def _classpath(self) -> str:
        return f"{jvm.resolve('metastore', self.jars_cache)[0].parent}/*"

    def start(self, timeout: float = 60.0) -> list[str]:
        said = []
        pid = self.running_pid()
        if pid:
            said.append(f"metastore already running (pid {pid})")
        else:
            processes.require_free_port(self.host, self.port)
            self.directory.mkdir(parents=True, exist_ok=True)
            command = processes.java_command(
                self._classpath(), self.heap_mb, f"-Dderby.system.home={self.directory}",
                # a lock held this long is a bug; fail the statement rather than hang a job
                "-Dderby.locks.waitTimeout=30",
            )
            with self.log_file.open("ab") as log:
                process = subprocess.Popen(
                    [*command, SERVER_CLASS, "start", "-h", self.host, "-p", str(self.port), "-noSecurityManager"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                )
            self.pid_file.write_text(str(process.pid))
            self._wait_ready(timeout)
            said.append(f"metastore started (pid {process.pid}) on {self.host}:{self.port}")
        if not self.schema_marker.exists():
            self._create_schema()
            said.append("metastore schema created")
        return said

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not processes.port_open(self.host, self.port):
            if self.running_pid() is None:
                raise ReelhouseError(f"the metastore exited during start-up: {processes.log_tail(self.log_file)}")
            if time.monotonic() > deadline:
                raise ReelhouseError(f"the metastore did not open port {self.port} in {timeout:.0f}s")
            time.sleep(0.2)

    def _create_schema(self) -> None:
        from reelhouse.spark import pyspark_jars_dir

        props = self.directory / "schematool.properties"
        props.write_text(
            f"javax.jdo.option.ConnectionURL={self.jdbc_url}\n"
            f"javax.jdo.option.ConnectionDriverName={DRIVER}\n"
            # Hive's default metastore credentials (Derby runs without authentication here)
            "javax.jdo.option.ConnectionUserName=APP\n"
            "javax.jdo.option.ConnectionPassword=mine\n"
            "datanucleus.schema.autoCreateAll=true\n"
            # the identifier and value-generation rules Hive's metastore uses
            "datanucleus.identifierFactory=datanucleus1\n"
            "datanucleus.rdbms.useLegacyNativeValueStrategy=true\n"
        )
        jdo = self.directory / "package.jdo"
        hive_jar = next(pyspark_jars_dir().glob("hive-metastore-*.jar"))
        with zipfile.ZipFile(hive_jar) as jar:
            jdo.write_bytes(jar.read("package.jdo"))
        classpath = f"{pyspark_jars_dir()}/*:{self._classpath()}"
        result = subprocess.run(
            [*processes.java_command(classpath, 512), "org.datanucleus.store.schema.SchemaTool",
             "-create", "-api", "JDO", "-props", str(props), str(jdo)],
            capture_output=True, text=True,
        )
        if result.returncode != 0 or "completed successfully" not in result.stdout:
            detail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            raise ReelhouseError(f"creating the metastore schema failed: {' / '.join(detail)}")
        self.schema_marker.touch()

    def stop(self, timeout: float = 30.0) -> list[str]:
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return ["metastore not running"]
        # an orderly shutdown checkpoints the database; SIGTERM is the fallback
        subprocess.run(
            [*processes.java_command(self._classpath(), 128), SERVER_CLASS, "shutdown",
             "-h", self.host, "-p", str(self.port)],
            capture_output=True, timeout=timeout,
        )
        killed = processes.terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return [f"metastore {'killed' if killed else 'stopped'} (pid {pid})"]


def jdbc_url(host: str, port: int) -> str:
    return f"jdbc:derby://{host}:{port}/{DATABASE};create=true"


def spark_conf(host: str, port: int, jars_cache: Path) -> dict[str, str]:
    """What a SparkSession needs to use this metastore as its catalog."""
    client = next(j for j in jvm.resolve("metastore", jars_cache) if j.name.startswith("derbyclient-"))
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": jdbc_url(host, port),
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": DRIVER,
        "spark.hadoop.hive.metastore.schema.verification": "false",
        "spark.hadoop.datanucleus.schema.autoCreateAll": "false",
        # Delta keeps the real schema in its log and a placeholder in the metastore; without this,
        # every `create or replace` logs a failed "incompatible column types" check
        "spark.hadoop.hive.metastore.disallow.incompatible.col.type.changes": "false",
        # the JDBC driver must be on the driver's own class path, where DataNucleus looks
        "spark.driver.extraClassPath": str(client),
    }


def require_metastore(host: str, port: int) -> None:
    if not processes.port_open(host, port):
        raise ReelhouseError(f"no metastore at {host}:{port}; start it with `reelhouse metastore start`")
