"""Secrets kept in files only their owner can read: read them, refusing any file others can."""

from __future__ import annotations

import os
from pathlib import Path

from foundation.errors import ReelhouseError


def read_private_text(path: Path, what: str) -> str:
    """The text of `what` at `path`; a one-line error when it is missing or readable by others."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as error:
        raise ReelhouseError(f"cannot read {what} {path}: {error.strerror}") from error
    if mode & 0o077:
        raise ReelhouseError(f"{what} {path} is readable by others (mode {mode & 0o777:o}): `chmod 600 {path}` first")
    return text


def write_private_text(path: Path, text: str, exclusive: bool = False) -> None:
    """Write `text` to a file only its owner can read, mode 0600 from its creation on (`exclusive`:
    only if it does not exist yet)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with os.fdopen(os.open(path, flags, 0o600), "w") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode through O_TRUNC
        out.write(text)


def read_secret(path: Path) -> str:
    """A secret alone in its file (surrounding whitespace dropped)."""
    secret = read_private_text(path, "the secret file").strip()
    if not secret:
        raise ReelhouseError(f"the secret file {path} is empty")
    return secret
