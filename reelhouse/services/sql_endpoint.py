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

By default the endpoint is read-only (`foundation/jvm/.../ReadOnlyExtension.java`): queries and
SHOW/DESCRIBE/EXPLAIN run, anything that writes, defines, loads code or reads files by path is
refused for the client that sent it. `--writable` serves dbt's `thrift` target. Off loopback it
serves only with authentication, and LDAP only over TLS. Secrets come from a 0600
`--hiveconf-file`, never a command line; the generated `hive-site.xml` is 0600 in a 0700 folder and
removed when the server ends.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from foundation import jars, processes
from foundation.catalog import register_in_catalog, require_metastore
from foundation.delta import find_delta_tables
from foundation.errors import ReelhouseError
from foundation.secret_files import read_private_text, write_private_text
from foundation.settings import Settings
from reelhouse.services.base import Daemon

LAYERS = ("bronze", "silver", "gold")
DEFAULT_PORT = 10000
MARKER = b"reelhouse.cli\x00serve\x00run"  # in /proc/<pid>/cmdline: how `pid_alive` knows it is ours
SECRET_WORDS = ("password", "secret", "credential")  # a setting whose key holds one is a secret
NO_AUTHENTICATION = ("NONE", "NOSASL")


def is_secret(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_WORDS)


def read_hive_conf_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (blank lines and # comments skipped) from a file only its owner can read."""
    lines = read_private_text(path, "--hiveconf-file").splitlines()
    settings = {}
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ReelhouseError(f"{path}:{number}: expected KEY=VALUE")
            settings[key.strip()] = value.strip()
    return settings


def require_safe_exposure(host: str, hive_conf: dict[str, str]) -> None:
    """Off loopback: authentication on, and where it is LDAP, passwords over TLS both ways."""
    if processes.is_loopback(host):
        return
    authentication = hive_conf.get("hive.server2.authentication", "NONE").upper()
    if authentication in NO_AUTHENTICATION:
        raise ReelhouseError(f"the SQL endpoint listens on {host} only with authentication: pass "
                             "--hiveconf hive.server2.authentication=LDAP (or KERBEROS) with its settings")
    if authentication == "LDAP":
        if hive_conf.get("hive.server2.use.SSL", "false").lower() != "true":
            raise ReelhouseError(f"LDAP passwords would reach {host} in clear: pass --hiveconf "
                                 "hive.server2.use.SSL=true with hive.server2.keystore.path "
                                 "(its password in --hiveconf-file)")
        url = hive_conf.get("hive.server2.authentication.ldap.url", "")
        if not url.lower().startswith("ldaps://"):
            raise ReelhouseError(f"the LDAP server must be reached over TLS off loopback: an ldaps:// "
                                 f"hive.server2.authentication.ldap.url, not {url!r}")


def lakehouse_tables(home: Path) -> dict[str, Path]:
    """`layer.table` -> path for every Delta table under the lakehouse's layers."""
    return {f"{layer}.{name}": path for layer, name, path in find_delta_tables(home, LAYERS) if "/" not in name}


@dataclass(frozen=True)
class SqlEndpoint:
    settings: Settings
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    hive_conf: dict[str, str] = field(default_factory=dict)  # no secrets: they may reach a command line
    hive_conf_file: Path | None = None  # 0600 KEY=VALUE lines, secrets included
    writable: bool = False

    def __post_init__(self):
        if secrets := sorted(key for key in self.hive_conf if is_secret(key)):
            raise ReelhouseError(f"{secrets[0]} is a secret: put it in a 0600 --hiveconf-file, not on the command line")

    def full_hive_conf(self) -> dict[str, str]:
        return {**self.hive_conf, **(read_hive_conf_file(self.hive_conf_file) if self.hive_conf_file else {})}

    @property
    def daemon(self) -> Daemon:
        # one per port: a read-only endpoint for BI and a writable one for dbt can share a lakehouse
        directory = self.settings.home / "_serve"
        return Daemon(f"SQL endpoint on port {self.port}", directory / f"serve-{self.port}.pid",
                      directory / f"serve-{self.port}.log", MARKER)

    @property
    def url(self) -> str:
        return f"jdbc:hive2://{self.host}:{self.port}/default"

    def run(self) -> None:
        """Serve in this process until interrupted."""
        from foundation.spark import build_spark

        settings = self.settings
        hive_conf = self.full_hive_conf()
        require_safe_exposure(self.host, hive_conf)
        processes.require_free_port(self.host, self.port)
        require_metastore(settings.metastore_host, settings.metastore_port)
        conf = {"spark.hadoop.hive.server2.thrift.bind.host": self.host,
                "spark.hadoop.hive.server2.thrift.port": str(self.port),
                # one Spark session per connection: a client's settings and temp views stay its own
                "spark.sql.hive.thriftServer.singleSession": "false",
                "spark.sql.runSQLOnFiles": str(self.writable).lower(),
                # Spark's conf reaches the JVM's command line: secrets only go to hive-site.xml
                **{f"spark.hadoop.{key}": value for key, value in self.hive_conf.items()}}
        classpath = []
        if not self.writable:
            conf["spark.sql.extensions"] = f"io.delta.sql.DeltaSparkSessionExtension,{jars.READ_ONLY_EXTENSION}"
            # the folders a reader's query may scan: the layers' tables, not the home's other files
            conf["spark.reelhouse.sql.readableRoots"] = ",".join(str(settings.home / layer) for layer in LAYERS)
            classpath.append(jars.own_classes_jar(settings.jars_cache))
        # parts of HiveServer2 (the LDAP provider, for one) read a fresh HiveConf, which only sees
        # hive-site.xml on the class path: the settings go there too
        conf_dir = settings.home / "_serve" / f"conf-{self.port}"
        write_hive_site(conf_dir / "hive-site.xml", hive_conf)
        signal.signal(signal.SIGTERM, _interrupt)  # `serve stop` ends it like Ctrl-C, even while starting
        spark = None
        try:
            spark = build_spark(settings, "reelhouse-serve", extra_conf=conf, catalog=True,
                                driver_classpath=[conf_dir, *classpath])
            jvm = spark.sparkContext._jvm
            read_only = None if self.writable else functools.reduce(getattr, jars.READ_ONLY_EXTENSION.split("."), jvm)
            if read_only is not None:
                read_only.enforce(False)  # naming the tables is the server's own write, before clients connect
            names = register_in_catalog(spark, lakehouse_tables(settings.home))
            if read_only is not None:
                read_only.enforce(True)
            server = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2
            server.startWithContext(spark._jsparkSession.sqlContext())
            layers = ", ".join(sorted({n.split(".")[0] for n in names})) or "no layers yet"
            mode = "writable" if self.writable else "read-only"
            print(f"serving {len(names)} tables on {self.url} ({layers}; {mode}); Ctrl-C stops", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            if spark is not None:
                spark.stop()
        finally:
            shutil.rmtree(conf_dir, ignore_errors=True)

    def start(self, timeout: float = 180.0) -> list[str]:
        """Start `serve run` in the background; return once the port answers."""
        if pid := self.daemon.running_pid():
            raise ReelhouseError(f"the SQL endpoint on port {self.port} already runs (pid {pid}); "
                                 "`reelhouse serve stop` ends it")
        require_safe_exposure(self.host, self.full_hive_conf())
        processes.require_free_port(self.host, self.port)
        command = [sys.executable, "-m", "reelhouse.cli", "serve", "run", "--host", self.host, "--port", str(self.port)]
        for key, value in self.hive_conf.items():
            command += ["--hiveconf", f"{key}={value}"]
        if self.hive_conf_file:
            command += ["--hiveconf-file", str(self.hive_conf_file.resolve())]
        if self.writable:
            command.append("--writable")
        self.daemon.start(command, lambda: processes.port_open(self.host, self.port), timeout,
                          f"answer on {self.host}:{self.port}", env={**os.environ, **self.settings.environment()})
        mode = "writable: dbt's thrift target" if self.writable else "read-only"
        return [f"SQL endpoint at {self.url} ({mode}; `reelhouse serve stop` ends it)"]

    def stop(self, timeout: float = 30.0) -> list[str]:
        return [self.daemon.stop(timeout) or "SQL endpoint not running"]

    def status(self) -> list[str] | None:
        pid = self.daemon.running_pid()
        return None if pid is None else [f"SQL endpoint running (pid {pid})"]


@dataclass(frozen=True)
class SqlEndpoints:
    """Every endpoint started in this lakehouse, whatever its port: what `serve stop|status` without
    --port act on."""

    settings: Settings

    def _endpoints(self) -> list[SqlEndpoint]:
        pid_files = sorted((self.settings.home / "_serve").glob("serve-*.pid"))
        return [SqlEndpoint(self.settings, port=int(p.stem.removeprefix("serve-"))) for p in pid_files
                if p.stem.removeprefix("serve-").isdigit()]

    def start(self) -> list[str]:
        raise ReelhouseError("start one endpoint at a time (`reelhouse serve start --port P`)")

    def stop(self, timeout: float = 30.0) -> list[str]:
        lines = [line for endpoint in self._endpoints() for line in endpoint.stop(timeout)
                 if "not running" not in line]
        return lines or ["SQL endpoint not running"]

    def status(self) -> list[str] | None:
        lines = [line for endpoint in self._endpoints() for line in endpoint.status() or []]
        return lines or None


def write_hive_site(path: Path, hive_conf: dict[str, str]) -> None:
    """0600 in a 0700 folder: it may hold the keystore's or LDAP's secrets."""
    from xml.sax.saxutils import escape

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    properties = "".join(f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
                         for k, v in hive_conf.items())
    write_private_text(path, f'<?xml version="1.0"?>\n<configuration>\n{properties}</configuration>\n')


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
