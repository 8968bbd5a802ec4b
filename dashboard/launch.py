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
import time
import urllib.error
import urllib.request
from pathlib import Path

from reelhouse import processes
from reelhouse.errors import ReelhouseError
from reelhouse.settings import Settings

APP = Path(__file__).resolve().parent / "app.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
DEFAULT_REFRESH_SECONDS = 10.0


def directory(settings: Settings) -> Path:
    return settings.home / "_dashboard"


def pid_file(settings: Settings) -> Path:
    return directory(settings) / "dashboard.pid"


def log_file(settings: Settings) -> Path:
    return directory(settings) / "dashboard.log"


def _url_file(settings: Settings) -> Path:
    return directory(settings) / "dashboard.url"


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


def running_pid(settings: Settings) -> int | None:
    return processes.pid_alive(pid_file(settings), str(APP).encode())


def start(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          refresh_seconds: float = DEFAULT_REFRESH_SECONDS, timeout: float = 60.0) -> str:
    """Start the dashboard in the background and return its URL once it answers."""
    pid = running_pid(settings)
    if pid:
        raise ReelhouseError(f"the dashboard already runs (pid {pid}) at {status(settings)}; "
                             "`reelhouse dashboard stop` first")
    processes.require_free_port(host, port)
    directory(settings).mkdir(parents=True, exist_ok=True)
    with log_file(settings).open("ab") as log:
        process = subprocess.Popen(
            command(host, port, refresh_seconds), env=environment(settings), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    pid_file(settings).write_text(str(process.pid))
    address = url(host, port)
    _url_file(settings).write_text(address)
    try:
        _wait_ready(settings, process, host, port, timeout)
    except ReelhouseError:
        processes.terminate(process.pid, 10)
        pid_file(settings).unlink(missing_ok=True)
        raise
    return address


def _wait_ready(settings: Settings, process: subprocess.Popen, host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _healthy(host, port):
        if process.poll() is not None:
            tail = processes.log_tail(log_file(settings))
            raise ReelhouseError(f"the dashboard exited during start-up: {tail or 'no output'}")
        if time.monotonic() > deadline:
            raise ReelhouseError(f"the dashboard did not answer on {url(host, port)} in {timeout:.0f}s; "
                                 f"see {log_file(settings)}")
        time.sleep(0.2)


def _healthy(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"{url(host, port)}_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(settings: Settings, timeout: float = 15.0) -> str:
    pid = running_pid(settings)
    pid_file(settings).unlink(missing_ok=True)
    if pid is None:
        return "dashboard not running"
    killed = processes.terminate(pid, timeout)
    return f"dashboard stopped (pid {pid}{', killed' if killed else ''})"


def status(settings: Settings) -> str | None:
    """The URL of the running dashboard, or None."""
    if running_pid(settings) is None:
        return None
    return _url_file(settings).read_text().strip() if _url_file(settings).exists() else "(unknown address)"


def run(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS) -> int:
    """Serve the dashboard in the foreground until Ctrl-C; the server's exit code."""
    pid = running_pid(settings)
    if pid:
        raise ReelhouseError(f"the dashboard already runs in the background (pid {pid}) at {status(settings)}")
    processes.require_free_port(host, port)
    print(f"dashboard on {url(host, port)} (Ctrl-C to stop)", flush=True)
    process = subprocess.Popen(command(host, port, refresh_seconds), env=environment(settings))
    try:
        return process.wait()
    except KeyboardInterrupt:
        processes.terminate(process.pid, 10)
        return 0


if __name__ == "__main__":  # python -m dashboard.launch [port]: foreground, on REELHOUSE_HOME
    try:
        sys.exit(run(Settings.from_env(), port=int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT))
    except ReelhouseError as problem:
        sys.exit(f"dashboard: {problem}")
