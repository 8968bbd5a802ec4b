"""Start, stop and check the dashboard's Streamlit server.

`start` runs `streamlit run dashboard/app.py` in the background with REELHOUSE_HOME set to the
lakehouse, its pid in `<home>/_dashboard/dashboard.pid` and its output in
`<home>/_dashboard/dashboard.log`, and returns once the server answers its health check;
`run` does the same in the foreground until Ctrl-C. Reads and writes nothing else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dashboard
from foundation import processes
from foundation.errors import ReelhouseError
from foundation.settings import Settings
from reelhouse.services.base import Daemon

APP = Path(dashboard.__file__).resolve().parent / "app.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
DEFAULT_REFRESH_SECONDS = 10.0


def url(host: str, port: int) -> str:
    return f"http://{host}:{port}/"


def command(host: str, port: int, refresh_seconds: float = DEFAULT_REFRESH_SECONDS) -> list[str]:
    """`streamlit run` of the app, headless, on host:port, without usage statistics or a file watcher."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--browser.serverAddress", host,
        "--browser.serverPort", str(port),
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
        "--", "--refresh-seconds", f"{refresh_seconds:g}",
    ]


def environment(settings: Settings) -> dict[str, str]:
    """This process's environment with the REELHOUSE_* variables of `settings`."""
    return {**os.environ, **settings.environment(), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}


@dataclass(frozen=True)
class Dashboard:
    settings: Settings
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    trusted_network: bool = False  # off loopback: the operator vouches for who can reach the port

    def require_safe_host(self) -> None:
        """The dashboard has no login of its own: off loopback only when told the network is trusted."""
        if not processes.is_loopback(self.host) and not self.trusted_network:
            raise ReelhouseError(f"the dashboard has no login: it listens on {self.host} only with --trusted-network "
                                 "(behind a proxy that authenticates, or published on the host's loopback)")

    @property
    def directory(self) -> Path:
        return self.settings.home / "_dashboard"

    @property
    def daemon(self) -> Daemon:
        return Daemon("dashboard", self.directory / "dashboard.pid", self.directory / "dashboard.log",
                      str(APP).encode())

    @property
    def url(self) -> str:
        return url(self.host, self.port)

    @property
    def _url_file(self) -> Path:
        return self.directory / "dashboard.url"

    def start(self, timeout: float = 60.0) -> list[str]:
        """Start the dashboard in the background; return once it answers."""
        if pid := self.daemon.running_pid():
            raise ReelhouseError(f"the dashboard already runs (pid {pid}) at {self.running_url()}; "
                                 "`reelhouse dashboard stop` first")
        self.require_safe_host()
        processes.require_free_port(self.host, self.port)
        self.daemon.start(command(self.host, self.port, self.refresh_seconds), self._healthy, timeout,
                          f"answer on {self.url}", env=environment(self.settings))
        self._url_file.write_text(self.url)
        return [f"dashboard at {self.url} (`reelhouse dashboard stop` ends it)"]

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}_stcore/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> list[str]:
        return [self.daemon.stop(timeout) or "dashboard not running"]

    def running_url(self) -> str | None:
        """The URL of the running dashboard, or None."""
        if self.daemon.running_pid() is None:
            return None
        return self._url_file.read_text().strip() if self._url_file.exists() else "(unknown address)"

    def status(self) -> list[str] | None:
        address = self.running_url()
        return None if address is None else [f"dashboard running ({address})"]

    def run(self) -> int:
        """Serve the dashboard in the foreground until Ctrl-C; the server's exit code."""
        if pid := self.daemon.running_pid():
            raise ReelhouseError(f"the dashboard already runs in the background (pid {pid}) at {self.running_url()}")
        self.require_safe_host()
        processes.require_free_port(self.host, self.port)
        print(f"dashboard on {self.url} (Ctrl-C to stop)", flush=True)
        process = subprocess.Popen(command(self.host, self.port, self.refresh_seconds),
                                   env=environment(self.settings))
        try:
            return process.wait()
        except KeyboardInterrupt:
            processes.terminate(process.pid, 10)
            return 0
