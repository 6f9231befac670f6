"""No import circle among evolve's modules, and `evolve.search` stays pure.

Every import statement counts: module-level ones, those deferred into a function, and those under
`if TYPE_CHECKING:`. A deferred import still ties the two modules' meanings together (it only
hides the circle from Python's loader), so the graph is read from the source with `ast`, not from
what a process happened to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import evolve

PACKAGE = Path(evolve.__file__).parent


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_names(name: str, path: Path) -> set[str]:
    """Every dotted name `name`'s file imports (a `from a import b` gives both a and a.b)."""
    found: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the evolve modules it imports (the closest existing module of each dotted name)."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in imported_names(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # A package's own __init__ (evolve, evolve.store...) is where its modules are gathered,
            # not a concept of its own; importing it from inside the package is not a circle.
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read_whole():
    graph = import_graph()
    # A few edges that exist, one of each kind: module-level, deferred, relative to the package.
    assert "evolve.problem" in graph["evolve.sandbox.images"]
    assert "evolve.sandbox.faults" in graph["evolve.sandbox.images"]
    assert "evolve.search.judge" in graph["evolve.mutate.judge_call"]
    assert len(graph) > 100


def test_circles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_no_import_circle_among_evolve_modules():
    found = circles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


# What a pure package must not reach: a model, a sandbox, a store, the engine, Ray.
IMPURE = ("evolve.mutate", "evolve.sandbox", "evolve.store", "evolve.engine", "evolve.api", "evolve.cli")
IMPURE_LIBRARIES = ("ray", "litellm", "sqlalchemy", "docker", "subprocess", "requests")


def test_search_is_pure():
    """evolve/search decides from values: it calls no model, runs no sandbox, opens no store."""
    modules = module_names()
    reached = {
        target
        for name, path in modules.items()
        if name.startswith("evolve.search")
        for target in imported_names(name, path)
        if target.startswith(IMPURE) or target.split(".")[0] in IMPURE_LIBRARIES
    }
    assert not reached, f"evolve.search imports {sorted(reached)}"
