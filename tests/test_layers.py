"""The layout is the architecture: imports point down only, and no module imports itself back.

floor 3  reelhouse/ (CLI, services, benchmarks, maintenance, demo, dbt runner): imported by nothing
floor 2  ingestion/, ml/, dashboard/: the foundation below them (and ml.serving for the dashboard;
         the event contract and Kafka reader of ingestion for ml's live recommender)
floor 1  foundation/: imports nothing else of ours
Every import counts, also those inside functions. Read with `ast`: nothing is imported to check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("foundation", "ingestion", "ml", "dashboard", "reelhouse")
ALLOWED = {  # package -> what it may import besides itself (module prefixes)
    "foundation": (),
    "ingestion": ("foundation",),
    "ml": ("foundation", "ingestion.transforms", "ingestion.io"),
    "dashboard": ("foundation", "ml.serving"),
    "reelhouse": ("foundation", "ingestion", "ml", "dashboard"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that `path` imports (`from a.b import c` counts as a.b.c when c is a module)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: up from this module's package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m.split(".")[0] in PACKAGES}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {name: imports_of(path, name, modules) for name, path in modules.items()}


def test_every_import_points_down_the_floors(graph):
    wrong = []
    for module, imported in graph.items():
        package = module.split(".")[0]
        for target in imported:
            own = target.split(".")[0] == package
            allowed = any(target == a or target.startswith(a + ".") for a in ALLOWED[package])
            if not own and not allowed:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_module_imports_itself_back(graph):
    cycles = []

    def visit(module: str, path: list[str], done: set[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in path:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in done:
                visit(target, [*path, target], done)
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module], done)
    assert cycles == []


def test_the_check_sees_a_wrong_import(tmp_path):
    """The walk itself works: an upward import written in a file is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from reelhouse.cli import main\n")
    assert imports_of(bad, "foundation.bad", our_modules()) == {"reelhouse.cli"}
