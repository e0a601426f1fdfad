"""The module graph of axk1/ read from the source (each module's file and the axk1 modules it imports), shared by
the layering checks (tests/test_architecture.py), the module boundaries (tests/test_module_boundaries.py) and the
package reach (tests/test_package_reach.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "axk1"


def axk1_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module under axk1/ (a package by its __init__.py)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The module an import of `name` loads: itself, or the nearest enclosing module (a name imported from a
    package's __init__, a function imported from a module)."""
    while name not in modules:
        name = name.rpartition(".")[0]
    return name


def axk1_imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported axk1 module, line) for every import statement in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(_resolve(a.name, modules), node.lineno) for a in node.names if a.name.split(".")[0] == "axk1"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: strip level - 1 trailing parts of the package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] != "axk1":
                continue
            for alias in node.names:  # `from axk1.plan import arch` imports the module axk1.plan.arch
                target = f"{base}.{alias.name}"
                found.append((target if target in modules else _resolve(base, modules), node.lineno))
    return found + _packages_run_on_the_way(module, found, modules)


def _packages_run_on_the_way(module: str, found: list[tuple[str, int]], modules: dict[str, Path]) -> list:
    """Importing `axk1.eval.tasks.base` first runs the package `axk1.eval.tasks`'s __init__ (which imports every
    task): an edge as real as the import written. Packages enclosing the importer itself are already loaded."""
    mine = {module.rsplit(".", k)[0] for k in range(module.count(".") + 1)}
    out = []
    for target, line in found:
        parts = target.split(".")
        out += [(".".join(parts[:k]), line) for k in range(1, len(parts))
                if ".".join(parts[:k]) in modules and ".".join(parts[:k]) not in mine]
    return out


MODULES = axk1_modules()
