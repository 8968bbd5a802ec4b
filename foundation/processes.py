"""Processes and ports: pid files that know their process, free ports, stopping, the java command."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from foundation import jars
from foundation.errors import ReelhouseError
from foundation.files import write_atomically


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [state, ppid, ...]; field 22 (start time) is [19]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def start_time(pid: int) -> str | None:
    """When `pid` started, in clock ticks since boot: with the pid, it names one process for good."""
    try:
        return _stat(pid)[19]
    except (OSError, IndexError):
        return None


def record_pid(pid_file: Path, pid: int) -> None:
    """Write `<pid> <start time> <the pid file's own path>`: a later process given the same pid
    is not taken for it, nor is the process named by a copy of the file (a copied home)."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(pid_file, f"{pid} {start_time(pid) or '-'} {pid_file.absolute()}")


@contextlib.contextmanager
def exclusive(lock_file: Path, what: str, timeout: float = 600) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (waiting up to `timeout`): two `start`s, or a
    `start` and a `stop`, of one service run one after the other, never at once."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ReelhouseError(f"another {what} still holds {lock_file} after {timeout:.0f}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pid_alive(pid_file: Path, marker: bytes) -> int | None:
    """The pid in `pid_file` if that process still runs and is ours: the start time recorded
    with it matches, and its command line holds `marker`. A stale pid file may name another
    process or none."""
    try:
        recorded = pid_file.read_text().split()
        pid = int(recorded[0])
        stat = _stat(pid)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    if len(recorded) > 1 and recorded[1] not in (stat[19], "-"):
        return None  # the pid was reused by a later process
    if len(recorded) > 2 and recorded[2] != str(pid_file.absolute()):
        return None  # a copy of another home's pid file: that process is not ours to stop
    # the java launcher re-executes itself at start, leaving cmdline empty for a moment
    return pid if stat[0] != "Z" and (marker in cmdline or not cmdline) else None


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_free(host: str, port: int) -> bool:
    """True when a server could listen on `port`: nothing is bound to it. Bound as the servers
    we start bind (SO_REUSEADDR), so a connection of a last run still in TIME_WAIT is no obstacle."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(host: str, service: str, missing: str) -> None:
    """For a service that cannot yet authenticate its clients: loopback only, said in one line."""
    if not is_loopback(host):
        raise ReelhouseError(f"the {service} listens on loopback only, not {host}: {missing}")


def require_free_port(host: str, port: int, option: str = "--port") -> None:
    if not port_free(host, port):
        raise ReelhouseError(f"port {port} on {host} is busy; pick another with {option}")


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a service's log, on one line: what an error message quotes."""
    return " / ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def free_port(first: int, host: str = "127.0.0.1", span: int = 500) -> int:
    """The first port from `first` on that nothing listens on."""
    for port in range(first, first + span):
        if port_free(host, port):
            return port
    raise ReelhouseError(f"no free port from {first} to {first + span}")


def reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def signal_quietly(pid: int, signum: int = signal.SIGTERM) -> None:
    """Send `signum` to `pid`, which may have exited already."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def terminate(pid: int, timeout: float) -> bool:
    """SIGTERM `pid`, SIGKILL it after `timeout`; True when it had to be killed."""
    signal_quietly(pid)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        reap(pid)
        time.sleep(0.2)
    if not Path(f"/proc/{pid}").exists():
        return False
    signal_quietly(pid, signal.SIGKILL)
    time.sleep(0.2)
    reap(pid)
    return True


def java_command(classpath: str, heap_mb: int, *options: str) -> list[str]:
    java = jars.require_tool("java", "install Java 17 (e.g. `apt-get install openjdk-17-jdk-headless`)")
    return [java, f"-Xmx{heap_mb}m", f"-Xms{min(256, heap_mb)}m", "-XX:+UseG1GC",
            "-Djava.awt.headless=true", *options, "-cp", classpath]
