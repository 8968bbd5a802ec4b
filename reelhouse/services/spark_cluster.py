"""Start, stop and inspect a Spark standalone cluster (one master, N workers) on one machine.

Both are pyspark's own daemons, run through its `bin/spark-class`; nothing here is a Spark of
our own. Jobs reach the cluster with `REELHOUSE_SPARK_MASTER=spark://HOST:PORT`. A cluster of
several machines starts the same two classes on each of them (see docker/compose.yaml).
Files live under `<home>/_spark/`: the master as `master/`, worker `i` as `worker-<i>/`.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from foundation import jars, processes
from foundation.secret_files import read_secret, write_private_text
from reelhouse.services.base import Daemon

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def ensure_secret(path: Path) -> None:
    """A random secret, made once, readable by its owner only."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(path, secrets.token_hex(32), exclusive=True)


@dataclass(frozen=True)
class SparkDaemon:
    """A master or worker: its pyspark class and arguments, in a folder of its own."""
    name: str
    directory: Path
    main_class: str
    arguments: tuple[str, ...]

    @property
    def daemon(self) -> Daemon:
        return Daemon(self.name, self.directory / "daemon.pid", self.directory / "daemon.log",
                      self.main_class.encode())


@dataclass(frozen=True)
class StandaloneLayout:
    directory: Path
    host: str = "127.0.0.1"
    port: int = 7077
    web_port: int = 8080
    workers: int = 1
    cores_per_worker: int = 2
    memory_per_worker: str = "4g"

    @classmethod
    def recorded(cls, directory: Path) -> StandaloneLayout | None:
        """The layout the cluster under `directory` was last started with."""
        record = directory / "cluster.json"
        return cls(directory, **json.loads(record.read_text())) if record.exists() else None

    def record(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fields = ("host", "port", "web_port", "workers", "cores_per_worker", "memory_per_worker")
        (self.directory / "cluster.json").write_text(json.dumps({f: getattr(self, f) for f in fields}))

    @property
    def secret_file(self) -> Path:
        """The cluster's shared `spark.authenticate` secret, 0600: daemons and applications prove it."""
        return self.directory / "secret"

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def master(self) -> SparkDaemon:
        return SparkDaemon("master", self.directory / "master", MASTER_CLASS,
                      ("--host", self.host, "--port", str(self.port), "--webui-port", str(self.web_port)))

    @property
    def worker_daemons(self) -> list[SparkDaemon]:
        return [
            SparkDaemon(f"worker {i}", self.directory / f"worker-{i}", WORKER_CLASS,
                   ("--host", self.host, "--port", "0", "--webui-port", "0",
                    "--cores", str(self.cores_per_worker), "--memory", self.memory_per_worker,
                    "--work-dir", str(self.directory / f"worker-{i}" / "work"), self.master_url))
            for i in range(1, self.workers + 1)
        ]


class StandaloneCluster:
    def __init__(self, layout: StandaloneLayout):
        self.layout = layout

    def _start_daemon(self, spark_daemon: SparkDaemon) -> str:
        daemon = spark_daemon.daemon
        if pid := daemon.running_pid():
            return f"{daemon.name} already running (pid {pid})"
        home = jars.pyspark_home()
        environment = {
            **os.environ,
            "SPARK_HOME": str(home),
            # the daemons bind where they are told; this keeps their other sockets on the same host
            "SPARK_LOCAL_IP": self.layout.host,
            "SPARK_LOG_DIR": str(spark_daemon.directory),
            "SPARK_WORKER_DIR": str(spark_daemon.directory / "work"),
            # only applications that know the secret are run; a visitor of the web UIs cannot
            # kill the stream. The secret travels in the environment (Spark's own variable, which
            # workers hand on to executors the same way), never on a command line
            "SPARK_MASTER_OPTS": "-Dspark.authenticate=true -Dspark.ui.killEnabled=false",
            "SPARK_WORKER_OPTS": "-Dspark.authenticate=true -Dspark.ui.killEnabled=false",
            "_SPARK_AUTH_SECRET": read_secret(self.layout.secret_file),
        }
        pid = daemon.spawn([str(home / "bin" / "spark-class"), spark_daemon.main_class, *spark_daemon.arguments],
                           env=environment)
        return f"{daemon.name} started (pid {pid})"

    def start(self, timeout: float = 90.0) -> list[str]:
        """Start the master and every worker not yet running; wait until all workers are registered."""
        layout = self.layout
        ensure_secret(layout.secret_file)
        if layout.master.daemon.running_pid() is None:
            processes.require_free_port(layout.host, layout.port)
            processes.require_free_port(layout.host, layout.web_port, "--web-port")
        layout.record()
        said = [self._start_daemon(layout.master)]
        self._wait(lambda status: True, timeout, "the master")
        said += [self._start_daemon(worker) for worker in layout.worker_daemons]
        self._wait(lambda status: status["aliveworkers"] >= layout.workers, timeout,
                   f"{layout.workers} worker(s) to register")
        return [*said, f"master {layout.master_url}, web UI http://{layout.host}:{layout.web_port}",
                f"run jobs on it with REELHOUSE_SPARK_MASTER={layout.master_url} "
                f"REELHOUSE_SPARK_SECRET_FILE={layout.secret_file}"]

    def status(self) -> list[str] | None:
        if (state := self.master_state()) is None:
            return None
        return [f"master {state['url']}: {state['aliveworkers']} worker(s), {state['coresused']}/{state['cores']} "
                f"cores and {state['memoryused']}/{state['memory']} MB in use",
                *(f"running: {app['name']} ({app['cores']} cores)" for app in state["activeapps"])]

    def master_state(self) -> dict | None:
        """The master's own JSON status (workers, cores, applications), None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.layout.host}:{self.layout.web_port}/json/", timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    def _known_daemons(self) -> list[SparkDaemon]:
        """The master and every worker ever started here, however many this layout asks for."""
        started = sorted(self.layout.directory.glob("worker-*"), key=lambda d: int(d.name.split("-")[1]))
        workers = [SparkDaemon(f"worker {d.name.split('-')[1]}", d, WORKER_CLASS, ()) for d in started]
        return [self.layout.master, *workers]

    def running(self) -> dict[str, int]:
        return {d.name: pid for d in self._known_daemons() if (pid := d.daemon.running_pid())}

    def _wait(self, ready, timeout: float, what: str) -> None:
        self.layout.master.daemon.wait_until(lambda: (state := self.master_state()) is not None and ready(state),
                                             timeout, f"see {what}")

    def stop(self, timeout: float = 30.0) -> list[str]:
        # workers first, so the master does not log them as lost
        said = [line for known in reversed(self._known_daemons()) if (line := known.daemon.stop(timeout))]
        return said or ["no Spark daemon running"]
