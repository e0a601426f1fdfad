"""Upstream LiveCodeBench's shaping of a program, which code_runner.py's strict mode reproduces: the import prelude
that strict and call-based programs run first, the wrapping of a stdin program's body into `wrapped_function()`,
and the mocked sys.stdin it reads (standard library only; loaded beside code_runner.py in the sandbox child).
"""

import io
import sys

UPSTREAM_IMPORTS = ("from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
                    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
                    "from random import *\nfrom statistics import *\nfrom itertools import *\n"
                    "from functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
                    "from json import *\nfrom builtins import *\nfrom typing import *\nimport string\nimport re\n"
                    "import datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\nimport math\n"
                    "import random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
                    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n")


# What upstream's reliability_guard sets to None in the process that grades, before the program is compiled: a
# program calling one fails there with "'NoneType' object is not callable" (a runtime error), so strict mode does the
# same. Upstream leaves `exit` alone (its line is commented out) and nulls `quit`; names os lacks on Linux
# (lchflags, lchmod) it sets all the same, so `hasattr(os, "lchmod")` is true there and here.
NULLED_BUILTINS = ("quit", "help")
NULLED_OS = ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
             "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
             "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir")
NULLED_SHUTIL = ("rmtree", "move", "chown")
NULLED_SUBPROCESS = ("Popen",)
HIDDEN_MODULES = ("ipdb", "joblib", "resource", "psutil", "tkinter")  # `import resource` raises ImportError
# Loaded in upstream's grading process before the nulling (numpy by testing_util itself, multiprocessing by the
# process that runs it, pandas through `datasets`), so a program's import finds them there; imported afterwards,
# each calls a nulled os function and fails. Imported first here when the program names one.
UPSTREAM_LOADED = ("numpy", "multiprocessing", "pandas")


def null_as_upstream(code: str = "") -> None:
    """Set what upstream's reliability_guard nulls to None, in this process (strict mode only: the runner process
    grades one program and exits; the sandbox's own guard holds its functions already, posix.getcwd among them).
    Upstream's memory limit, faulthandler and OMP_NUM_THREADS change no verdict the sandbox does not already give."""
    import builtins
    import importlib
    import os
    import shutil
    import subprocess

    for name in UPSTREAM_LOADED:
        if name in code:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # not installed here: the program's own import says so

    for module, names in ((builtins, NULLED_BUILTINS), (os, NULLED_OS), (shutil, NULLED_SHUTIL),
                          (subprocess, NULLED_SUBPROCESS)):
        for name in names:
            setattr(module, name, None)
    for name in HIDDEN_MODULES:
        sys.modules[name] = None


def _unwrap_main_guard(tree) -> None:
    """Upstream (clean_if_name) replaces a final `if __name__ == "__main__":` block by its body, and only that
    form: it compares the unparsed test with `__name__ == '__main__'` (unparsing makes the quotes single, so double
    quotes match too; `'__main__' == __name__`, `!=` or any other test stays, and such a program prints nothing).
    Its `else:` branch is dropped with it, as upstream does."""
    import ast

    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
        tree.body = tree.body[:-1] + last.body


def wrap_in_function(code: str) -> str:
    """Imports stay at top level; everything else becomes the body of `wrapped_function()` (upstream's shape)."""
    import ast  # only strict stdin programs are reshaped; the other runs skip the import

    tree = ast.parse(code)
    _unwrap_main_guard(tree)
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    rest = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))] or [ast.Pass()]
    fn = ast.FunctionDef(name="wrapped_function", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                         kw_defaults=[], defaults=[]), body=rest, decorator_list=[], lineno=1, returns=None,
                         type_comment=None)
    module = ast.Module(body=imports + [fn], type_ignores=[])
    return UPSTREAM_IMPORTS + "\n" + ast.unparse(ast.fix_missing_locations(module))


class UpstreamStdin(io.StringIO):
    """sys.stdin as upstream mocks it: a string buffer whose readline() keeps each line's newline (upstream also
    patches a line iterator without newlines onto readline, but on the real stdin, before swapping the buffer in),
    read() gives the whole input every time, readlines() the lines without newlines, and `buffer.readline()` the
    first line every time (the documented bug)."""

    def __init__(self, text: str):
        super().__init__(text)
        first = (text.split("\n")[0] + "\n").encode()
        self.readlines = lambda *a: text.split("\n")
        self.read = lambda *a: text
        self.buffer = type("Buffer", (), {"read": lambda s, *a: text.encode(), "readline": lambda s, *a: first})()
