"""Where a secret could be seen by other local users: command lines and files others can read."""

from __future__ import annotations

from pathlib import Path


def command_lines_with(secret: str) -> list[str]:
    """The /proc/<pid>/cmdline files of running processes that show `secret`."""
    seen_in = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if secret.encode() in cmdline.read_bytes():
                seen_in.append(str(cmdline))
        except OSError:  # a process that ended meanwhile
            continue
    return seen_in


def readable_files_with(root: Path, secret: str) -> list[Path]:
    """Files under `root` that others may read (group or world bits) and that hold `secret`."""
    return [path for path in root.rglob("*")
            if path.is_file() and path.stat().st_mode & 0o044 and secret.encode() in path.read_bytes()]
