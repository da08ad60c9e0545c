"""The package's import graph, read with ``ast`` (nothing is imported, so this runs in well under a second).

Two rules, one test per module so that a failure names the module to fix:

- **Imports at the top.** A function-local import of a ``genai_course`` module hides a dependency,
  usually an import cycle that would otherwise show up at import time. Function-local imports of
  anything else are refused too, except the optional third-party dependencies of ``LOCAL_IMPORT_ALLOWED``.
- **No cycles.** The graph of module-level imports between modules of the package has no cycle; a
  failure prints the cycle's path. Importing ``a.b.c`` runs the ``__init__`` of ``a`` and ``a.b`` first,
  so those count as edges too (except packages that contain the importing module: they are already
  being imported). ``from P import n`` reads from P's ``__init__``, so it is an edge to P even inside
  P: a submodule must not import from its own package (write ``from P.n import x``). ``if TYPE_CHECKING:``
  blocks never run and do not count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "genai_course"

# Third-party modules a function may import locally. Only optional, heavy dependencies that a plain
# install may lack or that most users never need belong here (never a genai_course module): their
# import is then paid, or fails, only where they are used.
LOCAL_IMPORT_ALLOWED: dict[str, str] = {
    "IPython": "only inside a notebook kernel, to display results; plain Python never needs it",
    "nbgrader": "a dev extra, for instructors' grading only",
}


@dataclass
class Module:
    """One module of the package: its dotted name, whether it is a package ``__init__``, and its tree."""

    name: str
    path: Path
    is_package: bool
    tree: ast.Module = field(repr=False)

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _discover() -> dict[str, Module]:
    modules = {}
    for path in sorted((SOURCE / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return modules


MODULES = _discover()


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """The absolute dotted name ``from`` imports from (``from ..x import y`` inside ``a.b.c`` -> ``a.x``)."""
    if node.level == 0:
        return node.module or ""
    base = module.package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imported(module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute names an import statement loads: a ``from`` import of a submodule loads the submodule."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    source = _absolute(module, node)
    names = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in MODULES]
    return names if len(names) == len(node.names) else [source, *names]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool = False):
    """Yield ``(import node, inside a function?)`` for every import under ``node``, skipping TYPE_CHECKING."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _walk_one(other, in_function)
            continue
        yield from _walk_one(child, in_function)


def _walk_one(node: ast.AST, in_function: bool):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, in_function
    else:
        yield from _walk(node, in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def _shown(path: Path) -> str:
    return str(path.relative_to(SOURCE.parent)) if path.is_absolute() else str(path)


def _local_import_problems(module: Module) -> list[str]:
    problems = []
    for node, in_function in _walk(module.tree):
        if not in_function:
            continue
        for name in _imported(module, node):
            top = name.split(".")[0]
            if top == PACKAGE or top not in LOCAL_IMPORT_ALLOWED:
                problems.append(f"{_shown(module.path)}:{node.lineno}: imports {name} in a function")
    return problems


def _edges(module: Module, *, with_functions: bool = False) -> set[str]:
    """The package modules that importing ``module`` runs or reads directly (its module-level imports).

    ``with_functions`` adds the imports inside functions: the graph as it would be with every import at the top.
    """
    own_packages = {".".join(module.name.split(".")[:i]) for i in range(1, module.name.count(".") + 1)}
    targets = set()
    for node, in_function in _walk(module.tree):
        if in_function and not with_functions:
            continue
        if isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            # ``from P import n`` reads ``n`` from P's __init__ (only falling back to a submodule P.n), and
            # a package partway through its __init__ may not have it yet: an edge to P, even P's own package.
            if source in MODULES:
                targets.add(source)
        for name in _imported(module, node):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a.b.c runs a/__init__ and a/b/__init__ first
                prefix = ".".join(parts[:i])
                if prefix in MODULES and prefix not in own_packages and prefix != module.name:
                    targets.add(prefix)
    return targets


GRAPH = {name: _edges(module) for name, module in MODULES.items()}
GRAPH_WITH_FUNCTIONS = {name: _edges(module, with_functions=True) for name, module in MODULES.items()}


def _cycle_through(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A shortest import path from ``start`` back to itself, or None (breadth-first search)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for target in sorted(graph.get(name, ())):
                if target == start:
                    path = [name]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if name != start else [start, start]
                if target not in previous:
                    previous[target] = name
                    following.append(target)
        frontier = following
    return None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_are_at_the_top(name):
    problems = _local_import_problems(MODULES[name])
    hidden = _cycle_through(name, GRAPH_WITH_FUNCTIONS) if problems else None
    if hidden:  # the usual reason for a function-local import: say which cycle it hides
        problems.append("with these imports at the top there is an import cycle: " + " -> ".join(hidden))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_cycle(name):
    cycle = _cycle_through(name, GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# --- the checker itself -------------------------------------------------------------------------------


def _module(name: str, source: str, is_package: bool = False) -> Module:
    return Module(name, Path(name.replace(".", "/") + ".py"), is_package, ast.parse(source))


def test_the_checker_sees_hidden_imports_and_cycles(monkeypatch):
    monkeypatch.setitem(MODULES, "genai_course.fake", _module("genai_course.fake", "x = 1", is_package=True))
    for name in ("genai_course.fake.a", "genai_course.fake.b"):
        monkeypatch.setitem(MODULES, name, _module(name, "x = 1"))
    local = _module(
        "genai_course.fake.b",
        "import json\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from genai_course.fake import a\n"
        "def f():\n    from . import a\n    from IPython import display\n"
        "class C:\n    def g(self):\n        import torch\n",
    )
    problems = _local_import_problems(local)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "imports genai_course.fake.a in a function",
        "imports torch in a function",
    ]
    assert _edges(local) == set()  # TYPE_CHECKING and function bodies do not count
    # A submodule importing from its own package's __init__ depends on it (a cycle when the __init__
    # imports the submodule); its package running first when it is imported does not count by itself.
    child = _module("genai_course.fake.a", "from genai_course.fake import helper\nimport genai_course.fake.b\n")
    assert _edges(child) == {"genai_course.fake", "genai_course.fake.b"}
    assert _edges(_module("genai_course.fake.a", "import genai_course.fake.b as b\n")) == {"genai_course.fake.b"}
    outside = _module("genai_course.other", "from genai_course.fake.a import x\n")
    assert _edges(outside) == {"genai_course.fake", "genai_course.fake.a"}  # a parent __init__ runs first
    graph = {"p": {"q"}, "q": {"r"}, "r": {"p", "s"}, "s": set()}
    assert _cycle_through("p", graph) == ["p", "q", "r", "p"]
    assert _cycle_through("s", graph) is None
    assert _cycle_through("t", {"t": {"t"}}) == ["t", "t"]
