"""`reelhouse serve`: the Spark Thrift Server (HiveServer2 protocol) over the lakehouse.

BI tools and analysts connect with any HiveServer2 / Spark SQL driver (JDBC
`jdbc:hive2://host:port/default`, ODBC "Simba Spark", PyHive, beeline). The server is the one
shipped with pyspark (`org.apache.spark.sql.hive.thriftserver.HiveThriftServer2`), started in
a Spark session built like every other (`reelhouse.spark.build_spark`, Delta, the shared
metastore), after every Delta table under `<home>/{bronze,silver,gold}` is named
`<layer>.<table>` in the catalog. Each connection gets a session of its own: a failing
statement fails for its client only.

`serve` runs in the foreground; `serve start` runs the same in the background (pid and log in
`<home>/_serve/`), `serve stop` ends it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reelhouse import processes
from reelhouse.errors import ReelhouseError
from reelhouse.settings import Settings

LAYERS = ("bronze", "silver", "gold")
DEFAULT_PORT = 10000
MARKER = b"reelhouse.cli\x00serve\x00run"  # in /proc/<pid>/cmdline: how `pid_alive` knows it is ours


def lakehouse_tables(home: Path) -> dict[str, Path]:
    """`layer.table` -> path for every Delta table under the lakehouse's layers."""
    return {
        f"{layer}.{path.name}": path
        for layer in LAYERS
        for path in sorted((home / layer).glob("*"))
        if (path / "_delta_log").is_dir()
    }


def run(settings: Settings, host: str, port: int, hive_conf: dict[str, str]) -> None:
    """Serve in this process until interrupted."""
    from ingestion.io import register_in_catalog
    from reelhouse.metastore import require_metastore
    from reelhouse.spark import build_spark

    processes.require_free_port(host, port)
    require_metastore(settings.metastore_host, settings.metastore_port)
    conf = {"spark.hadoop.hive.server2.thrift.bind.host": host, "spark.hadoop.hive.server2.thrift.port": str(port),
            # one Spark session per connection: a client's settings and temp views stay its own
            "spark.sql.hive.thriftServer.singleSession": "false",
            **{f"spark.hadoop.{key}": value for key, value in hive_conf.items()}}
    # parts of HiveServer2 (the LDAP provider, for one) read a fresh HiveConf, which only sees
    # hive-site.xml on the class path: the settings go there too
    conf_dir = _directory(settings) / f"conf-{port}"
    write_hive_site(conf_dir / "hive-site.xml", hive_conf)
    spark = build_spark(settings, "reelhouse-serve", extra_conf=conf, catalog=True, driver_classpath=[conf_dir])
    names = register_in_catalog(spark, lakehouse_tables(settings.home))
    server = spark.sparkContext._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
    server.startWithContext(spark._jsparkSession.sqlContext())
    print(f"serving {len(names)} tables on jdbc:hive2://{host}:{port}/default "
          f"({', '.join(sorted({n.split('.')[0] for n in names})) or 'no layers yet'}); Ctrl-C stops", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `serve stop` ends it like Ctrl-C
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        spark.stop()


def write_hive_site(path: Path, hive_conf: dict[str, str]) -> None:
    from xml.sax.saxutils import escape

    path.parent.mkdir(parents=True, exist_ok=True)
    properties = "".join(f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
                         for k, v in hive_conf.items())
    path.write_text(f'<?xml version="1.0"?>\n<configuration>\n{properties}</configuration>\n')


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _directory(settings: Settings) -> Path:
    return settings.home / "_serve"


def running_pid(settings: Settings) -> int | None:
    return processes.pid_alive(_directory(settings) / "serve.pid", MARKER)


def start(settings: Settings, host: str, port: int, hive_conf: dict[str, str], timeout: float = 180.0) -> str:
    """Start `serve run` in the background; return its JDBC URL once the port answers."""
    if pid := running_pid(settings):
        raise ReelhouseError(f"the SQL endpoint already runs (pid {pid}); `reelhouse serve stop` ends it")
    processes.require_free_port(host, port)
    directory = _directory(settings)
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "serve.log"
    command = [sys.executable, "-m", "reelhouse.cli", "serve", "run", "--host", host, "--port", str(port)]
    for key, value in hive_conf.items():
        command += ["--hiveconf", f"{key}={value}"]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **settings.environment()})
    (directory / "serve.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while not processes.port_open(host, port):
        if process.poll() is not None:
            last = [line for line in log.read_text().splitlines() if line.strip()][-1:] or ["no output"]
            raise ReelhouseError(f"the SQL endpoint exited at start: {last[0]} (log: {log})")
        if time.monotonic() > deadline:
            processes.terminate(process.pid, 10)
            raise ReelhouseError(f"the SQL endpoint did not answer on {host}:{port} within {timeout:.0f}s (log: {log})")
        time.sleep(0.5)
    return f"jdbc:hive2://{host}:{port}/default"


def stop(settings: Settings, timeout: float = 30.0) -> str:
    pid = running_pid(settings)
    if pid is None:
        return "SQL endpoint not running"
    processes.terminate(pid, timeout)
    (_directory(settings) / "serve.pid").unlink(missing_ok=True)
    return f"SQL endpoint stopped (pid {pid})"

