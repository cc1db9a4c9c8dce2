"""The package's folders are its layers: a subpackage imports only those below it, no module imports
one that imports it back, and no test module imports another. Imports inside functions count: a
cycle hidden in a function is still a cycle."""
import ast
from pathlib import Path

import pmtiqa

PACKAGE = Path(pmtiqa.__file__).parent
TESTS = Path(__file__).parent
# From the bottom up: each subpackage may import itself and those before it, never one after it.
LAYERS = ("core", "method", "data", "config", "compute", "training", "tuning", "scoring", "reporting")
# The command line, the package's API (pmtiqa.load) and the graph's stages (what code each runs)
# stand above every layer.
TOP = ("pmtiqa", "pmtiqa.cli", "pmtiqa.__main__", "pmtiqa.stages")


def module_name(path: Path, root: Path, package: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that the file imports, anywhere in it; ``from a import b`` imports the
    module a.b where there is one, else a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return found & known


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p, PACKAGE, "pmtiqa"): p for p in PACKAGE.rglob("*.py")}
    return {name: imported(path, name, set(files)) - {name} for name, path in files.items()}


def layer(module: str) -> int:
    """A module's floor: its subpackage's place in LAYERS; above them all for TOP."""
    if module in TOP:
        return len(LAYERS)
    return LAYERS.index(module.split(".")[1])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_lives_in_a_layer_or_at_the_top():
    strays = [m for m in import_graph() if m not in TOP and (m.count(".") < 1 or m.split(".")[1] not in LAYERS)]
    assert not strays, f"modules outside the layers {LAYERS}: {strays}"


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(import_graph()) == []


def test_no_layer_imports_one_above_it():
    upward = [f"{a} -> {b}" for a, targets in import_graph().items() for b in sorted(targets)
              if layer(b) > layer(a)]
    assert not upward, "imports from a layer above (LAYERS lists them from the bottom up):\n" + "\n".join(upward)


def test_the_checks_find_a_cycle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("pmtiqa.core.errors") < layer("pmtiqa.training.trainer") < layer("pmtiqa.cli")


def test_no_test_module_imports_another():
    """Shared builders live in conftest.py files and tests/builders/, never in a test module."""
    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom):
            return [f"{node.module or ''}.{alias.name}" for alias in node.names]
        return []

    offenders = sorted(f"{path.relative_to(TESTS)}: {name}" for path in TESTS.rglob("*.py")
                       for node in ast.walk(ast.parse(path.read_text())) for name in names(node)
                       if any(part.startswith("test_") for part in name.split(".")))
    assert not offenders
