"""The package's structure: no import circle, and lower wings never import higher ones.

Built from the source with `ast`, every import counted (a function-level one too), so a circle cannot
hide behind a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daemon"

# Each wing may import its own modules and those of lower ranks, never a higher rank's.
RANKS = {"": 0, "state": 1, "convert": 2, "publish": 3, "analytics": 4, "service": 5, "cli": 6}


def module_name(path: Path) -> str:
    parts = ["daemon", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The daemon modules `path` imports, wherever in the file the import is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("daemon"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("daemon"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {name for name in found if name in MODULES}


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def wing(module: str) -> str:
    if module == "daemon.__main__":
        return "cli"  # `python -m daemon`: the program's entry, the top of the graph
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else ""


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_covers_the_package() -> None:
    """The graph sees the wings and their imports (a parse that found nothing would pass every check)."""
    assert {"", "state", "convert", "publish", "analytics", "service", "cli"} == {wing(m) for m in MODULES}
    assert "daemon.convert.exporter" in GRAPH["daemon.service.attempt"]
    assert "daemon.convert.quality" in GRAPH["daemon.analytics.health"]


def test_find_cycle_finds_one() -> None:
    """The checker itself reports a circle it is shown, through a lazy import or not."""
    assert ["a", "b", "c", "a"] == find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle() -> None:
    """No module of daemon/ reaches itself through its imports, function-level ones included."""
    assert find_cycle(GRAPH) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_lower_wings_never_import_higher_ones(module: str) -> None:
    """state < convert < publish < analytics < service < cli: a module imports its own wing or lower ones only."""
    upward = sorted(m for m in GRAPH[module] if RANKS[wing(m)] > RANKS[wing(module)])
    assert [] == upward, f"{module} imports {upward}"
