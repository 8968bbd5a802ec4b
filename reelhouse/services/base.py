"""The one controller shape of every service we start: Kafka, the metastore, the Spark
standalone cluster, the SQL endpoint and the dashboard.

A `Daemon` is one background process of ours: a pid file holding its pid and start time (so a
reused pid is never taken for it), a log under `<home>/_logs/`, spawn, wait until ready, stop.
A `Service` is one or more daemons behind `start`, `stop` and `status`, each returning the
lines the CLI prints (`status` returns None when nothing runs).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from foundation import processes
from foundation.errors import ReelhouseError


class Service(Protocol):
    def start(self) -> list[str]: ...

    def stop(self) -> list[str]: ...

    def status(self) -> list[str] | None: ...


@dataclass(frozen=True)
class Daemon:
    name: str
    """How messages call it: "broker 1", "metastore", "SQL endpoint"."""
    pid_file: Path
    log_file: Path
    marker: bytes
    """Bytes of its command line (in /proc/<pid>/cmdline) that say it is this daemon."""

    def running_pid(self) -> int | None:
        return processes.pid_alive(self.pid_file, self.marker)

    def spawn(self, command: list[str], env: dict[str, str] | None = None) -> int:
        """Start `command` in its own session, output appended to the log; returns its pid."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, start_new_session=True)
        processes.record_pid(self.pid_file, process.pid)
        return process.pid

    def start(self, command: list[str], ready: Callable[[], bool], timeout: float, what: str,
              env: dict[str, str] | None = None) -> int:
        """`spawn`, then `wait_until` ready; a daemon that fails to get ready is stopped again."""
        pid = self.spawn(command, env)
        try:
            self.wait_until(ready, timeout, what)
        except ReelhouseError:
            self.stop(10)
            raise
        return pid

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready` until true; fail with the log's last lines when the daemon exits first."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.running_pid() is None:
                raise ReelhouseError(f"the {self.name} exited during start-up: "
                                     f"{processes.log_tail(self.log_file) or 'no output'} (log: {self.log_file})")
            if time.monotonic() > deadline:
                raise ReelhouseError(f"the {self.name} did not {what} in {timeout:.0f}s (log: {self.log_file})")
            time.sleep(0.2)

    def stop(self, timeout: float, orderly: Callable[[], None] | None = None) -> str | None:
        """`orderly` (a shutdown the daemon understands), then SIGTERM, then SIGKILL after
        `timeout`; the line to print, None when it was not running."""
        pid = self.running_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return None
        if orderly:
            orderly()
        killed = processes.terminate(pid, timeout)
        return f"{self.name} {f'killed after {timeout:.0f}s' if killed else 'stopped'} (pid {pid})"
