"""The Python package's import graph: acyclic, with every import of an ai3 Python module at
module level (only the extension modules, which import nothing of ai3's Python side, load
lazily), so any module can be imported first and no function depends on import order."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

import ai3

PKG = Path(ai3.__file__).parent
MODULES = {p.stem: p for p in PKG.glob("*.py")}  # "__init__" is the package itself
EXTENSIONS = {"_core", "_sycl", "_cuda"}


def _targets(node: ast.AST) -> List[str]:
    """The ai3 Python modules an import statement loads ("__init__" for the package)."""
    out: List[str] = []
    if isinstance(node, ast.Import):
        for a in node.names:
            parts = a.name.split(".")
            if parts[0] == "ai3":
                out.append(parts[1] if len(parts) > 1 else "__init__")
    elif isinstance(node, ast.ImportFrom):
        if node.level == 0 and (node.module or "").split(".")[0] != "ai3":
            return out
        if node.level > 1:
            raise AssertionError(f"ai3 has no subpackages to import from: line {node.lineno}")
        sub = (node.module or "").split(".")
        sub = sub[1:] if node.level == 0 else sub
        if sub and sub[0]:
            out.append(sub[0])
        else:  # from . import a, b / from ai3 import a
            out += [a.name if a.name in MODULES or a.name in EXTENSIONS else "__init__" for a in node.names]
    return [t for t in out if t in MODULES]  # extension modules are leaves


def _graph() -> Tuple[Dict[str, Set[str]], List[str]]:
    edges: Dict[str, Set[str]] = {m: set() for m in MODULES}
    local: List[str] = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            targets = _targets(node)
            edges[name].update(t for t in targets if t != name)
            if targets and id(node) not in top:
                local.append(f"{name}.py:{node.lineno} imports {', '.join(targets)} inside a function or block")
    return edges, local


def test_every_ai3_import_is_at_module_level():
    _, local = _graph()
    assert not local, "\n".join(local)


def test_the_import_graph_is_acyclic():
    edges, _ = _graph()
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert edges["_sycl_backend"] <= {"errors", "_install"}, "the SYCL loader is a leaf: it imports no API module"
    assert edges["errors"] == edges["_install"] == set()
    assert "__init__" not in set().union(*(edges[m] for m in MODULES if m not in ("__main__", "bench")))


def test_from_backend_is_one_setting():
    from ai3 import _config

    assert ai3.FROM_BACKEND is None
    ai3.FROM_BACKEND = "torch"
    try:
        assert _config.FROM_BACKEND == "torch" and ai3.FROM_BACKEND == "torch"
    finally:
        ai3.FROM_BACKEND = None
    assert _config.FROM_BACKEND is None
