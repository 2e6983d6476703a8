"""The process package is a house without a circle: no module reaches itself through imports, function-level
imports included, and no import of a process module hides inside a function (the registry's agreement with the one
list of task names is tested in test_api_docs.py)."""

import ast
from pathlib import Path

import grimp

PROCESS = Path(__file__).resolve().parents[2] / "src" / "heedful" / "process"


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of a directed graph (node -> successors)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_tarjan_finds_a_circle_and_only_that():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    circles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert circles == [{"a", "b", "c"}]
    assert all(len(c) == 1 for c in strongly_connected({"a": {"b"}, "b": set()}))


def test_process_imports_have_no_circle():
    g = grimp.build_graph("heedful")  # every import statement, those inside functions too
    process = [m for m in g.modules if m.startswith("heedful.process")]
    graph = {m: {d for d in g.find_modules_directly_imported_by(m) if d.startswith("heedful.process")} for m in process}
    circles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert circles == []


def test_no_process_import_hides_in_a_function():
    hidden = []
    for path in sorted(PROCESS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("heedful.process"):
                    hidden.append(f"{path.relative_to(PROCESS)}:{node.lineno} {node.module}")
    assert hidden == []
