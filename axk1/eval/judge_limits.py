"""What self-checking tests (asserts over a solution's functions) cannot check in the sandbox, found in their text.

The judge runs the asserts in its own process and the solution's functions in the runner's (code_judge.py): what
goes between them is plain data only (sandbox_wire.py: numbers, strings, bytes, lists, tuples, dicts, sets, None).
So asserts that pass a function to the solution (a lambda, a function of their own, a builtin such as `len`), test
for a class the solution defines (`isinstance(r, Point)`; its exception classes the tests catch are rebuilt on the
judge's side, so `except EmptyError:` works), or work with values of `fractions` or `decimal` (a Fraction the
solution returns is no plain data) fail for every answer, right or not:
an RL task built on them scores -1 whatever the model writes. `judge_limits` names each such place, for the task
file check (posttrain/task_rows.py) to refuse the task before a run starts.
"""

from __future__ import annotations

import ast
import builtins

# Modules whose values the asserts compare with what the solution returns; none of their types travels.
NOT_PLAIN_MODULES = {"fractions": "Fraction", "decimal": "Decimal"}


def _bound(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(every name the tests bind, the names of their own functions and classes)."""
    bound, own = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound | own, own


def _solutions(name: str, bound: set[str]) -> bool:
    """Whether a free name of the tests is the solution's (what the judge asks the runner for)."""
    return name not in bound and not hasattr(builtins, name)


def _passes_a_function(node: ast.Call, bound: set[str], own: set[str]) -> list[str]:
    if not (isinstance(node.func, ast.Name) and _solutions(node.func.id, bound)):
        return []
    found = []
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        what = ("a lambda" if isinstance(arg, ast.Lambda) else f"{arg.id}()" if isinstance(arg, ast.Name) and (
            arg.id in own or (arg.id not in bound and callable(getattr(builtins, arg.id, None)))) else None)
        if what:
            found.append(f"tests line {arg.lineno} pass {what} to {node.func.id}(): only plain data goes to the "
                         "solution, so every answer fails there; test with the values instead")
    return found


def _caught(tree: ast.AST) -> set[str]:
    """The names the tests catch (`except EmptyError:`): exception classes, which the judge rebuilds (code_judge.py)."""
    caught = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            caught.update(t.id for t in types if isinstance(t, ast.Name))
    return caught


def _own_classes(node: ast.AST, bound: set[str], caught: set[str]) -> list[str]:
    """`isinstance(x, Point)` with a class the solution defines, other than an exception class the tests catch."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 2
            and node.func.id in ("isinstance", "issubclass") and node.func.id not in bound):
        return []
    names = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
    return [f"tests line {n.lineno} test {node.func.id}() against {n.id}, a class of the solution's: its objects "
            "do not reach the tests (plain data only), so every answer fails there; test with plain values"
            for n in names if isinstance(n, ast.Name) and _solutions(n.id, bound) and n.id not in caught]


def _imports_not_plain(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        modules = [alias.name.split(".")[0] for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        modules = [node.module.split(".")[0]]
    else:
        return []
    return [f"tests line {node.lineno} import {m}: a {NOT_PLAIN_MODULES[m]} the solution returns is not plain data "
            "and cannot reach the tests, so a right answer fails; ask for a float, an int pair or a string instead"
            for m in modules if m in NOT_PLAIN_MODULES]


def judge_limits(tests: str) -> list[str]:
    """Each place where `tests` (compiling Python) needs what the judge cannot give, with what to do; [] when none."""
    tree = ast.parse(tests)
    bound, own = _bound(tree)
    caught = _caught(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += _passes_a_function(node, bound, own) + _own_classes(node, bound, caught)
        found += _imports_not_plain(node)
    return found
