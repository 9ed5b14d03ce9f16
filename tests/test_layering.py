"""The package's floors, written once: every module of ``pixelbook/`` has one, and imports point to
lower floors only, lazily or not (so there is no import circle). README.md's layout lists the
same floors; a test checks it against this table."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pixelbook"
README = PACKAGE.parent / "README.md"

# Floor 0 is the ground. A module may import modules of lower floors only.
FLOORS = {
    0: ("errors", "progress", "papers"),                  # one-line errors, progress bars, the papers' numbers
    1: ("storage", "layers", "likelihoods", "distributed"),  # atomic writes and locks; layer and likelihood vocabulary
    2: ("provenance", "data", "sampling"),                # the commit and the device; datasets; the sampler protocol
    3: ("models", "analysis", "plots"),                   # the families; receptive fields; every figure
    4: ("checkpoint", "results"),                         # safetensors weights; tables and the one renderer
    5: ("train", "claims"),                               # the training loop; the claims ledger
    6: ("profiles",),                                     # every chapter's budgets, as data
    7: ("runs", "bench"),                                 # a run's plan, training and record; benchmarks
    8: ("book",),                                         # chapters, papermill, staging
    9: ("gpu_run", "run_queue"),                          # the prepared GPU run; the run queue
    10: ("cli",),                                         # the command line
}
ENTRY = {"__init__", "__main__"}                          # the package itself: it may import any floor
FLOOR = {module: floor for floor, modules in FLOORS.items() for module in modules}


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


def test_every_module_has_a_floor():
    found = {module_of(p) for p in PACKAGE.rglob("*.py")} - ENTRY
    assert not found - set(FLOOR), f"modules with no floor in tests/test_layering.py FLOORS: {sorted(found - set(FLOOR))}"
    assert not set(FLOOR) - found, f"FLOORS names modules that do not exist: {sorted(set(FLOOR) - found)}"


def test_imports_point_to_lower_floors_only():
    for module, imported in imports().items():
        if module in ENTRY:
            continue
        upward = sorted(m for m in imported if m not in ENTRY and FLOOR[m] >= FLOOR[module])
        assert not upward, f"{module} (floor {FLOOR[module]}) imports {upward} (floors {[FLOOR[m] for m in upward]})"


def test_the_readme_lists_the_same_floors():
    """README.md's layout names each floor's modules, ground floor first, in one line per floor."""
    text = README.read_text()
    listed = re.findall(r"^  - floor (\d+): (.+)$", text, flags=re.M)
    assert [(int(n), tuple(re.findall(r"`(\w+)`", names))) for n, names in listed] == sorted(FLOORS.items())


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


def test_the_package_imports_its_own_modules_at_the_top():
    """A function-local import of one of the package's modules stays only where it breaks a real
    cycle or defers a heavy optional import, and its line says which ("cycle" or "optional")."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(text))):
            if isinstance(node, ast.FunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.level or (inner.module or "").startswith("pixelbook")):
                        line = text[inner.lineno - 1]
                        if "cycle" not in line and "optional" not in line:
                            found.append(f"{path.relative_to(PACKAGE)}:{inner.lineno}: {line.strip()}")
    assert not found, "function-local imports without a reason: " + "; ".join(found)
