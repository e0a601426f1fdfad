"""Upstream LiveCodeBench's shaping of a program, which code_runner.py's strict mode reproduces: the import prelude
that strict and call-based programs run first, the wrapping of a stdin program's body into `wrapped_function()`,
and the mocked sys.stdin it reads (standard library only; loaded beside code_runner.py in the sandbox child).
"""

import io

UPSTREAM_IMPORTS = ("from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
                    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
                    "from random import *\nfrom statistics import *\nfrom itertools import *\n"
                    "from functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
                    "from json import *\nfrom builtins import *\nfrom typing import *\nimport string\nimport re\n"
                    "import datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\nimport math\n"
                    "import random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
                    "import io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n")


def _unwrap_main_guard(tree) -> None:
    """Upstream replaces a final `if __name__ == "__main__":` block by its body."""
    import ast

    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.If) and isinstance(last.test, ast.Compare) and "__name__" in ast.unparse(last.test):
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
