"""The package's shape: modules import one another without a circle (function-local imports included), and the
run context every node receives is typed, with no ``Any``; the top level and the stores keep their place."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "labelgraph"


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _typing_only(tree: ast.AST) -> set[ast.AST]:
    """Import statements under ``if TYPE_CHECKING:``: never run, so never part of a circle."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {inner for statement in node.body for inner in ast.walk(statement)}
    return skipped


def import_graph() -> dict[str, set[str]]:
    """Each module's package modules that it imports (``from a import b`` reaches ``a.b`` when that is a module,
    else ``a``'s ``__init__``)."""
    modules = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        skipped = _typing_only(tree)
        for node in ast.walk(tree):
            if node in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert len(graph) > 50
    assert "labelgraph.session.wiring" in graph["labelgraph.session.run"]


def test_no_module_imports_itself_round_a_circle():
    try:
        TopologicalSorter(import_graph()).prepare()
    except CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_the_run_context_is_typed_without_any():
    from dataclasses import fields

    from labelgraph.graphs.context import RunContext

    annotations = {field.name: str(field.type) for field in fields(RunContext)}
    assert len(annotations) >= 12 and all(annotations.values())
    assert [name for name, annotation in annotations.items() if "Any" in annotation] == []


TOP_LEVEL = {"__init__", "blas", "config", "data", "errors", "plugins", "progress"}
"""The package's own top level: the public face and what every part shares (README's Layout)."""


def test_the_top_level_holds_the_public_face_and_what_every_part_shares():
    assert {path.stem for path in PACKAGE.glob("*.py")} == TOP_LEVEL


def test_the_stores_import_nothing_above_them():
    """The stores sit at the bottom: they may use the project file's types, the data model and the errors."""
    below = {"labelgraph.config", "labelgraph.data", "labelgraph.errors"}
    for name, targets in import_graph().items():
        if name.startswith("labelgraph.stores"):
            assert {t for t in targets if not t.startswith("labelgraph.stores")} <= below, name
