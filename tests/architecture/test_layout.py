"""The shape of the code a newcomer reads: no import circles, no module over 400 lines, every package says what it owns."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fmgateway", "handlers", "fmgw", "local", "infra", "bench", "router_training")
MAX_LINES = 400
READABLE = ("lambdas", "local", "infra", "fmgw")  # the folders the 400-line rule covers


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    for path in (str(ROOT / "lambdas"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    return grimp.build_graph(*PACKAGES, cache_dir=None)  # function-level and TYPE_CHECKING imports included


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert import_cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_import_circles_anywhere(graph):
    assert import_cycles(graph) == []


def test_the_graph_covers_every_package(graph):
    for package in PACKAGES:
        assert any(module.startswith(package + ".") for module in graph.modules), package


def test_no_module_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in READABLE
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_lambda_package_says_what_it_owns():
    for init in (ROOT / "lambdas").rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(docstring) > 40 and "TODO" not in docstring, init.relative_to(ROOT)
