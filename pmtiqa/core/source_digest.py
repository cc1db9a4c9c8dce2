"""The modules a module runs, read from the package's source, and a digest of each that only an edit
of its computation moves.

The closure follows every import of the package's own modules, those inside functions included,
and only into the modules a caller lets it enter. A module's digest is the sha256 of its syntax
tree with the docstrings taken out: an edit of a comment, a docstring or the layout leaves it as it
was; an edit of a line of code changes it.
"""
from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


@functools.cache
def package_modules(package_dir: Path) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name ("pmtiqa.core.errors")."""
    root = package_dir.name
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (root, *path.relative_to(package_dir).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that the module ``name`` imports anywhere in it: ``from a import b``
    imports a.b where that is a module, else a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb from the importing module's package
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return found & known.keys()


def closure(roots: Iterable[str], known: dict[str, Path], enter: Callable[[str], bool]) -> set[str]:
    """The roots and every module they import, directly or not, among those ``enter`` admits."""
    seen, todo = set(), [root for root in roots if enter(root)]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [other for other in imported(name, known[name], known) if enter(other)]
    return seen


@functools.cache
def syntax_digest(path: Path) -> str:
    """The sha256 of the module's syntax tree, its docstrings left out (read once per process)."""
    tree = _tree(path)
    for node in ast.walk(tree):
        if isinstance(node, DOCUMENTED) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
