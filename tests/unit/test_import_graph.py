"""The modules of `nail_os` import each other in one direction only: no cycle, and the library never imports the CLI.

The imports are read with `ast` (nothing is executed), including imports inside functions and under
`TYPE_CHECKING`: a lazy import still ties two modules together. One kind of edge is left out: an import
inside a function of the module's own package (`from nail_os.model import load_model` in
`model/encode.py`). Python has run that package's `__init__` before any of its modules, and a package that
re-exports its modules (`model/__init__.py`) would otherwise form a "cycle" with each of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nail_os

ROOT = Path(nail_os.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The `nail_os` modules that `name` imports, at the top or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            ancestor = name.startswith(target + ".")
            if target in modules and target != name and not (ancestor and id(node) in lazy):
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_walker_reads_nail_os():
    graph = _graph()
    assert "nail_os.features" in graph["nail_os.queries"]
    assert "nail_os.cli.options" in graph["nail_os.cli.search"]  # an import inside a function counts


def test_no_import_cycle_in_nail_os():
    cycles = _cycles(_graph())
    assert not cycles, "modules that import each other (directly or around a loop): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_the_library_never_imports_the_cli():
    upward = sorted(f"{name} -> {target}" for name, targets in _graph().items() for target in targets
                    if target.startswith("nail_os.cli") and not name.startswith("nail_os.cli")
                    and name != "nail_os.__main__")
    assert not upward, upward


def test_the_query_side_does_not_import_the_index_side():
    """tokens → features → queries → search never reach mapping, documents or ingest (the query side is light
    and stands alone)."""
    query_side = ("nail_os.tokens", "nail_os.features", "nail_os.queries", "nail_os.search")
    index_side = {"nail_os.mapping", "nail_os.documents", "nail_os.ingest"}
    graph = _graph()
    wrong = sorted(f"{name} -> {target}" for name in query_side for target in graph[name] & index_side)
    assert not wrong, wrong
