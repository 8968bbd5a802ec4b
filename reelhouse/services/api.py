"""Start, stop and check the recommendations HTTP API (FastAPI on uvicorn), and run it.

`start` runs `python -m reelhouse.services.api` in the background with the lakehouse's
REELHOUSE_* variables, its pid in `<home>/_api/api.pid` and its output in `<home>/_logs/api.log`,
and returns once /health answers; `run` serves in the foreground until Ctrl-C. It binds
127.0.0.1 unless told otherwise, and elsewhere only with a token (`REELHOUSE_API_TOKEN`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from foundation import processes
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.services.base import Daemon

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
TOKEN_VARIABLE = "REELHOUSE_API_TOKEN"


def require_safe_host(host: str, token: str | None) -> None:
    if not processes.is_loopback(host) and not token:
        raise ReelhouseError(f"the API listens on {host} only with a token: set {TOKEN_VARIABLE} "
                             "(clients then send `Authorization: Bearer <token>`)")


@dataclass(frozen=True)
class Api:
    settings: Settings
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def daemon(self) -> Daemon:
        return Daemon("recommendations API", self.settings.home / "_api" / "api.pid",
                      self.settings.logs_dir / "api.log", b"reelhouse.services.api")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "reelhouse.services.api", "--host", self.host, "--port", str(self.port)]

    def _environment(self) -> dict[str, str]:
        return {**os.environ, **self.settings.environment()}

    def _check(self) -> None:
        require_safe_host(self.host, os.environ.get(TOKEN_VARIABLE))
        if pid := self.daemon.running_pid():
            raise ReelhouseError(f"the API already runs (pid {pid}); `reelhouse api stop` first")
        processes.require_free_port(self.host, self.port)

    def start(self, timeout: float = 60.0) -> list[str]:
        self._check()
        self.daemon.start(self.command(), self._healthy, timeout, f"answer on {self.url}/health",
                          env=self._environment())
        (self.settings.home / "_api" / "api.url").write_text(self.url)
        return [f"recommendations API at {self.url} (docs {self.url}/docs; `reelhouse api stop` ends it)"]

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> list[str]:
        return [self.daemon.stop(timeout) or "recommendations API not running"]

    def status(self) -> list[str] | None:
        if self.daemon.running_pid() is None:
            return None
        url_file = self.settings.home / "_api" / "api.url"
        return [f"recommendations API running ({url_file.read_text() if url_file.exists() else self.url})"]

    def run(self) -> int:
        self._check()
        print(f"recommendations API on {self.url} (docs {self.url}/docs; Ctrl-C to stop)", flush=True)
        process = subprocess.Popen(self.command(), env=self._environment())
        try:
            return process.wait()
        except KeyboardInterrupt:
            processes.terminate(process.pid, 10)
            return 0


def main(argv: list[str] | None = None) -> None:
    """The server process: uvicorn serving `ml.api.create_app` for the lakehouse in the environment."""
    import uvicorn

    from ml.api import create_app

    parser = argparse.ArgumentParser(prog="python -m reelhouse.services.api")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_VARIABLE) or None
    require_safe_host(args.host, token)
    app = create_app(Settings.from_env(), token=token)
    # named, not "auto": a missing one is an error here rather than a silent fallback to the
    # pure-Python loop and parser, which cost the answers' p99 (17-50 ms against 13)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning",
                loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
