"""Start, stop and inspect a Spark standalone cluster (one master, N workers) on one machine.

Both are pyspark's own daemons, run through its `bin/spark-class`; nothing here is a Spark of
our own. Jobs reach the cluster with `REELHOUSE_SPARK_MASTER=spark://HOST:PORT`. A cluster of
several machines starts the same two classes on each of them (see docker/compose.yaml).
Files live under `<home>/_spark/`: the master as `master/`, worker `i` as `worker-<i>/`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from reelhouse import processes
from reelhouse.errors import ReelhouseError

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass(frozen=True)
class Daemon:
    name: str
    directory: Path
    main_class: str
    arguments: tuple[str, ...]

    @property
    def pid_file(self) -> Path:
        return self.directory / "daemon.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "daemon.log"


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
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def master(self) -> Daemon:
        return Daemon("master", self.directory / "master", MASTER_CLASS,
                      ("--host", self.host, "--port", str(self.port), "--webui-port", str(self.web_port)))

    @property
    def worker_daemons(self) -> list[Daemon]:
        return [
            Daemon(f"worker {i}", self.directory / f"worker-{i}", WORKER_CLASS,
                   ("--host", self.host, "--port", "0", "--webui-port", "0",
                    "--cores", str(self.cores_per_worker), "--memory", self.memory_per_worker,
                    "--work-dir", str(self.directory / f"worker-{i}" / "work"), self.master_url))
            for i in range(1, self.workers + 1)
        ]


def _marker(daemon: Daemon) -> bytes:
    return daemon.main_class.encode()


def _alive(daemon: Daemon) -> int | None:
    return processes.pid_alive(daemon.pid_file, _marker(daemon))


class StandaloneCluster:
    def __init__(self, layout: StandaloneLayout):
        self.layout = layout

    def _start_daemon(self, daemon: Daemon) -> str:
        if pid := _alive(daemon):
            return f"{daemon.name} already running (pid {pid})"
        daemon.directory.mkdir(parents=True, exist_ok=True)
        home = spark_home()
        environment = {
            **os.environ,
            "SPARK_HOME": str(home),
            # the daemons bind where they are told; this keeps their other sockets on the same host
            "SPARK_LOCAL_IP": self.layout.host,
            "SPARK_LOG_DIR": str(daemon.directory),
            "SPARK_WORKER_DIR": str(daemon.directory / "work"),
        }
        with daemon.log_file.open("ab") as log:
            process = subprocess.Popen(
                [str(home / "bin" / "spark-class"), daemon.main_class, *daemon.arguments],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=environment, start_new_session=True,
            )
        daemon.pid_file.write_text(str(process.pid))
        return f"{daemon.name} started (pid {process.pid})"

    def start(self, timeout: float = 90.0) -> list[str]:
        """Start the master and every worker not yet running; wait until all workers are registered."""
        layout = self.layout
        if _alive(layout.master) is None:
            processes.require_free_port(layout.host, layout.port)
            processes.require_free_port(layout.host, layout.web_port, "--web-port")
        layout.record()
        said = [self._start_daemon(layout.master)]
        self._wait(lambda status: True, timeout, "the master")
        said += [self._start_daemon(worker) for worker in layout.worker_daemons]
        self._wait(lambda status: status["aliveworkers"] >= layout.workers, timeout,
                   f"{layout.workers} worker(s) to register")
        said.append(f"master {layout.master_url}, web UI http://{layout.host}:{layout.web_port}")
        return said

    def status(self) -> dict | None:
        """The master's own JSON status (workers, cores, applications), None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.layout.host}:{self.layout.web_port}/json/", timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    def _known_daemons(self) -> list[Daemon]:
        """The master and every worker ever started here, however many this layout asks for."""
        started = sorted(self.layout.directory.glob("worker-*"), key=lambda d: int(d.name.split("-")[1]))
        workers = [Daemon(f"worker {d.name.split('-')[1]}", d, WORKER_CLASS, ()) for d in started]
        return [self.layout.master, *workers]

    def running(self) -> dict[str, int]:
        return {d.name: pid for d in self._known_daemons() if (pid := _alive(d))}

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.status()) is None or not ready(status):
            if _alive(self.layout.master) is None:
                raise ReelhouseError(f"the Spark master exited: {processes.log_tail(self.layout.master.log_file)}")
            if time.monotonic() > deadline:
                raise ReelhouseError(f"timed out after {timeout:.0f}s waiting for {what}; "
                                     f"see {self.layout.directory}/*/daemon.log")
            time.sleep(0.5)

    def stop(self, timeout: float = 30.0) -> list[str]:
        said = []
        # workers first, so the master does not log them as lost
        for daemon in reversed(self._known_daemons()):
            if pid := _alive(daemon):
                how = f"killed after {timeout:.0f}s" if processes.terminate(pid, timeout) else "stopped"
                said.append(f"{daemon.name} {how} (pid {pid})")
            daemon.pid_file.unlink(missing_ok=True)
        return said or ["no Spark daemon running"]
