"""`reelhouse serve`: the Spark Thrift Server (HiveServer2 protocol) over the lakehouse.

BI tools and analysts connect with any HiveServer2 / Spark SQL driver (JDBC
`jdbc:hive2://host:port/default`, ODBC "Simba Spark", PyHive, beeline). The server is the one
shipped with pyspark (`org.apache.spark.sql.hive.thriftserver.HiveThriftServer2`), started in
a Spark session built like every other (`foundation.spark.build_spark`, Delta, the shared
metastore), after every Delta table under `<home>/{bronze,silver,gold}` is named
`<layer>.<table>` in the catalog. Each connection gets a session of its own: a failing
statement fails for its client only.

`serve` runs in the foreground; `serve start` runs the same in the background (pid and log in
`<home>/_serve/`), `serve stop` ends it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from foundation import processes
from foundation.catalog import register_in_catalog, require_metastore
from foundation.delta import find_delta_tables
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.services.base import Daemon

LAYERS = ("bronze", "silver", "gold")
DEFAULT_PORT = 10000
MARKER = b"reelhouse.cli\x00serve\x00run"  # in /proc/<pid>/cmdline: how `pid_alive` knows it is ours


def lakehouse_tables(home: Path) -> dict[str, Path]:
    """`layer.table` -> path for every Delta table under the lakehouse's layers."""
    return {f"{layer}.{name}": path for layer, name, path in find_delta_tables(home, LAYERS) if "/" not in name}


@dataclass(frozen=True)
class SqlEndpoint:
    settings: Settings
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    hive_conf: dict[str, str] = field(default_factory=dict)

    @property
    def daemon(self) -> Daemon:
        directory = self.settings.home / "_serve"
        return Daemon("SQL endpoint", directory / "serve.pid", directory / "serve.log", MARKER)

    @property
    def url(self) -> str:
        return f"jdbc:hive2://{self.host}:{self.port}/default"

    def run(self) -> None:
        """Serve in this process until interrupted."""
        from foundation.spark import build_spark

        settings = self.settings
        processes.require_free_port(self.host, self.port)
        require_metastore(settings.metastore_host, settings.metastore_port)
        conf = {"spark.hadoop.hive.server2.thrift.bind.host": self.host,
                "spark.hadoop.hive.server2.thrift.port": str(self.port),
                # one Spark session per connection: a client's settings and temp views stay its own
                "spark.sql.hive.thriftServer.singleSession": "false",
                **{f"spark.hadoop.{key}": value for key, value in self.hive_conf.items()}}
        # parts of HiveServer2 (the LDAP provider, for one) read a fresh HiveConf, which only sees
        # hive-site.xml on the class path: the settings go there too
        conf_dir = settings.home / "_serve" / f"conf-{self.port}"
        write_hive_site(conf_dir / "hive-site.xml", self.hive_conf)
        spark = build_spark(settings, "reelhouse-serve", extra_conf=conf, catalog=True, driver_classpath=[conf_dir])
        names = register_in_catalog(spark, lakehouse_tables(settings.home))
        server = spark.sparkContext._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
        server.startWithContext(spark._jsparkSession.sqlContext())
        layers = ", ".join(sorted({n.split(".")[0] for n in names})) or "no layers yet"
        print(f"serving {len(names)} tables on {self.url} ({layers}); Ctrl-C stops", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)  # `serve stop` ends it like Ctrl-C
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            spark.stop()

    def start(self, timeout: float = 180.0) -> list[str]:
        """Start `serve run` in the background; return once the port answers."""
        if pid := self.daemon.running_pid():
            raise ReelhouseError(f"the SQL endpoint already runs (pid {pid}); `reelhouse serve stop` ends it")
        processes.require_free_port(self.host, self.port)
        command = [sys.executable, "-m", "reelhouse.cli", "serve", "run", "--host", self.host, "--port", str(self.port)]
        for key, value in self.hive_conf.items():
            command += ["--hiveconf", f"{key}={value}"]
        self.daemon.start(command, lambda: processes.port_open(self.host, self.port), timeout,
                          f"answer on {self.host}:{self.port}", env={**os.environ, **self.settings.environment()})
        return [f"SQL endpoint at {self.url} (`reelhouse serve stop` ends it)"]

    def stop(self, timeout: float = 30.0) -> list[str]:
        return [self.daemon.stop(timeout) or "SQL endpoint not running"]

    def status(self) -> list[str] | None:
        pid = self.daemon.running_pid()
        return None if pid is None else [f"SQL endpoint running (pid {pid})"]


def write_hive_site(path: Path, hive_conf: dict[str, str]) -> None:
    from xml.sax.saxutils import escape

    path.parent.mkdir(parents=True, exist_ok=True)
    properties = "".join(f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
                         for k, v in hive_conf.items())
    path.write_text(f'<?xml version="1.0"?>\n<configuration>\n{properties}</configuration>\n')


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
