"""requirements.lock (and requirements-pip.lock, the installer): every Python dependency pinned
with hashes, agreeing with pyproject.toml's pins and with what `make` installed."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PINNED = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    locked, current = {}, None
    lines = [line for lock in ("requirements.lock", "requirements-pip.lock")
             for line in (REPO / lock).read_text().splitlines()]
    for line in lines:
        if match := PINNED.match(line):
            current = canonicalize_name(match.group(1))
            locked[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = locked[current]
            locked[current] = (version, hashes + 1)
    return locked


def test_every_locked_package_has_a_hash():
    locked = _locked()
    assert len(locked) > 50
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []


def test_the_lock_agrees_with_the_pins_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = _locked()
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in requirements.lock: `make lock`"
        assert requirement.specifier.contains(locked[name][0]), f"{name}: {text} but {locked[name][0]} locked"


def test_every_installed_package_is_the_locked_version():
    locked = _locked()
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    not_ours = {"reelhouse", "uv"}  # the project itself; `make lock`'s resolver
    differ = {name: (version, locked.get(name, (None,))[0]) for name, version in installed.items()
              if name not in not_ours and locked.get(name, (None,))[0] != version}
    assert differ == {}, "installed, locked: " + ", ".join(f"{n} {v}" for n, v in sorted(differ.items()))
