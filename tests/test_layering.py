"""The package's layers import downwards only (README.md, "The library in six lines"): the
ground floor (errors, progress, files) and the models, data and training code never import the
reporting layer or the book, and no two modules import each other in a loop, lazily or not."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pixelbook"
LOWER = {"errors", "progress", "files", "data", "layers", "likelihoods", "sampling", "models", "checkpoint",
         "distributed", "train"}
UPPER = {"results", "book", "bench", "cli", "runs", "plots"}


def module_of(path: Path) -> str:
    """pixelbook/models/igpt.py -> 'models': a subpackage counts as one module."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports() -> dict:
    """{module: set of pixelbook modules it imports anywhere in its code}."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        here, depth = module_of(path), len(path.relative_to(PACKAGE).parts)
        found = graph.setdefault(here, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.level > depth:                                 # above the package: not ours
                    continue
                if node.level == depth:                                # relative to pixelbook/
                    names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
                else:                                                  # inside a subpackage
                    names = [here]
                found.update(n for n in names if (PACKAGE / f"{n}.py").is_file() or (PACKAGE / n).is_dir())
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pixelbook."):
                found.add(node.module.split(".")[1])
        found.discard(here)
        found.discard("__init__")
    return graph


def test_lower_layers_never_import_reporting_or_the_book():
    graph = imports()
    for module in LOWER:
        assert not graph.get(module, set()) & UPPER, f"{module} imports {graph[module] & UPPER}"


def test_no_import_circles():
    graph, state = imports(), {}

    def visit(module, path):
        if state.get(module) == "open":
            raise AssertionError("import circle: " + " -> ".join(path[path.index(module):] + [module]))
        if state.get(module) == "done":
            return
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            visit(other, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])
