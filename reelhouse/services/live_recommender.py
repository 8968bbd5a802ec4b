"""Start, stop and check `reelhouse live-recommender run` in the background.

Its pid is in `<home>/_live/live-recommender.pid`, its output in `<home>/_logs/live-recommender.log`;
`start` returns once the streaming query runs (the job prints READY when it does).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.services.base import Daemon

READY = "live recommender running"


@dataclass(frozen=True)
class LiveRecommenderService:
    settings: Settings
    k: int = 10
    from_earliest: bool = False
    trigger_seconds: float = 0.5

    @property
    def daemon(self) -> Daemon:
        return Daemon("live recommender", self.settings.home / "_live" / "live-recommender.pid",
                      self.settings.logs_dir / "live-recommender.log", b"live-recommender")

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "reelhouse.cli", "live-recommender", "run", "-k", str(self.k),
                   "--trigger-seconds", f"{self.trigger_seconds:g}"]
        return command + (["--from-earliest"] if self.from_earliest else [])

    def start(self, timeout: float = 180.0) -> list[str]:
        if pid := self.daemon.running_pid():
            raise ReelhouseError(f"the live recommender already runs (pid {pid}); `reelhouse live-recommender stop` "
                                 "first")
        log = self.daemon.log_file
        offset = log.stat().st_size if log.exists() else 0

        def ready() -> bool:
            if not log.exists():
                return False
            with log.open("rb") as handle:
                handle.seek(offset)
                return READY.encode() in handle.read()

        pid = self.daemon.start(self.command(), ready, timeout, "start its streaming query",
                                env={**os.environ, **self.settings.environment()})
        return [f"live recommender running (pid {pid}; log {log}; `reelhouse live-recommender stop` ends it)"]

    def stop(self, timeout: float = 30.0) -> list[str]:
        return [self.daemon.stop(timeout) or "live recommender not running"]

    def status(self) -> list[str] | None:
        pid = self.daemon.running_pid()
        return None if pid is None else [f"live recommender running (pid {pid}; log {self.daemon.log_file})"]
