"""Small files written whole or not at all (ids, pid files): a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a hidden sibling, flush it to disk, then rename it over `path`."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
