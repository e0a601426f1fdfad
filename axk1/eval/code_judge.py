"""Runs one program against its tests, inside the sandbox (loaded by sandbox_child.py; standard library only).

Two rule sets (docs/evaluation.md, "Code judge rule sets"):
* strict   - the upstream LiveCodeBench runner's rules, bugs included, for comparable numbers: top-level code is
             wrapped in a function (so `global` breaks), stdin is a StringIO whose `buffer.readline()` repeats the
             first line, stdout is a StringIO without `.buffer`, outputs compare line by line exactly or as
             Decimal tokens, per-test SIGALRM timeout, one process for all tests, stop at the first failure.
* tolerant - what a judge does: each stdin test runs the file as __main__ in a forked process with real byte
             streams; tokens compare with 1e-6 absolute/relative float tolerance; a fresh Solution per call.
Result codes per test follow upstream: True pass, -1 global timeout, -2 wrong answer / compile error,
-3 time limit, -4 runtime error, -5 judge error.
"""

import ast
import builtins
import io
import json
import math
import os
import select
import signal
import sys
import time
from decimal import Decimal, InvalidOperation

WA, TLE, RE, JUDGE = -2, -3, -4, -5
UPSTREAM_IMPORTS = ("from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
                    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
                    "from random import *\nfrom statistics import *\nfrom itertools import *\n"
                    "from functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
                    "from json import *\nfrom typing import *\nimport string\nimport re\nimport datetime\n"
                    "import collections\nimport heapq\nimport bisect\nimport copy\nimport math\nimport random\n"
                    "import statistics\nimport itertools\nimport functools\nimport operator\nimport io\nimport sys\n"
                    "import json\nsys.setrecursionlimit(50000)\n")
FLOAT_TOL = 1e-6


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _set_timer(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, seconds)


# ---- output comparison -------------------------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str):
    try:
        return [Decimal(tok) for tok in line.split()]
    except (InvalidOperation, ValueError):
        return None


def strict_equal(got: str, expected: str) -> bool:
    got_lines, want_lines = _lines(got), _lines(expected)
    if len(got_lines) != len(want_lines):
        return False
    for a, b in zip(got_lines, want_lines):
        if a == b:
            continue
        da, db = _decimals(a), _decimals(b)
        if da is None or db is None or da != db:
            return False
    return True


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=FLOAT_TOL, abs_tol=FLOAT_TOL)


def _token_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return _close(float(a), float(b))
    except ValueError:
        return False


def tolerant_equal(got: str, expected: str) -> bool:
    got_lines, want_lines = _lines(got), _lines(expected)
    if len(got_lines) != len(want_lines):
        return False
    for a, b in zip(got_lines, want_lines):
        ta, tb = a.split(), b.split()
        if len(ta) != len(tb) or not all(_token_equal(x, y) for x, y in zip(ta, tb)):
            return False
    return True


def tolerant_value_equal(got, want) -> bool:
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(got, bool) or isinstance(want, bool):
        return got == want
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        return got == want or _close(float(got), float(want))
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(tolerant_value_equal(a, b) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(tolerant_value_equal(got[k], want[k]) for k in got)
    return got == want


# ---- strict (upstream) program shaping ---------------------------------------------------------------------
def _unwrap_main_guard(tree: ast.Module) -> None:
    """Upstream replaces a final `if __name__ == "__main__":` block by its body."""
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.If) and isinstance(last.test, ast.Compare) and "__name__" in ast.unparse(last.test):
        tree.body = tree.body[:-1] + last.body


def wrap_in_function(code: str) -> str:
    """Imports stay at top level; everything else becomes the body of `wrapped_function()` (upstream's shape)."""
    tree = ast.parse(code)
    _unwrap_main_guard(tree)
    imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    rest = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))] or [ast.Pass()]
    fn = ast.FunctionDef(name="wrapped_function", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                         kw_defaults=[], defaults=[]), body=rest, decorator_list=[], lineno=1, returns=None,
                         type_comment=None)
    module = ast.Module(body=imports + [fn], type_ignores=[])
    return UPSTREAM_IMPORTS + "\n" + ast.unparse(ast.fix_missing_locations(module))


class _UpstreamStdin(io.StringIO):
    """sys.stdin as upstream mocks it: readline() yields lines without their newline, and `buffer.readline()`
    returns the first line every time (the documented bug)."""

    def __init__(self, text: str):
        super().__init__(text)
        lines = iter(text.split("\n"))
        first = (text.split("\n")[0] + "\n").encode()
        self.readline = lambda *a: next(lines)
        self.readlines = lambda *a: text.split("\n")
        self.read = lambda *a: text
        self.buffer = type("Buffer", (), {"read": lambda s, *a: text.encode(), "readline": lambda s, *a: first})()


def _exec_module(source: str, name: str = "solution") -> dict:
    namespace = {"__name__": name, "__builtins__": builtins}
    exec(compile(source, "<solution>", "exec"), namespace)
    return namespace


def _strict_stdin(code, inputs, outputs, timeout, stop_first):
    results, details = [], []
    try:
        _set_timer(timeout)
        wrapped = _exec_module(wrap_in_function(code))["wrapped_function"]
        _set_timer(0)
    except BaseException as e:  # noqa: BLE001 - any failure to build the program is a compile error upstream
        _set_timer(0)
        return [WA], [f"compile error: {type(e).__name__}: {e}"]
    real_stdin, real_stdout = sys.stdin, sys.stdout
    for given, want in zip(inputs, outputs):
        captured = io.StringIO()
        sys.stdin, sys.stdout = _UpstreamStdin(given), captured
        code_, message = True, ""
        try:
            _set_timer(timeout)
            try:
                wrapped()
            except SystemExit:
                pass
            _set_timer(0)
        except _Timeout:
            code_, message = TLE, "time limit"
        except BaseException as e:  # noqa: BLE001
            _set_timer(0)
            code_, message = RE, f"{type(e).__name__}: {e}"[:300]
        finally:
            sys.stdin, sys.stdout = real_stdin, real_stdout
        if code_ is True and not strict_equal(captured.getvalue(), want):
            code_, message = WA, f"wrong answer: got {captured.getvalue()[:200]!r}"
        results.append(code_)
        details.append(message)
        if code_ is not True and stop_first:
            break
    return results, details


def _call_based(code, inputs, outputs, fn_name, timeout, stop_first, tolerant):
    results, details = [], []
    try:
        _set_timer(timeout)
        namespace = _exec_module(UPSTREAM_IMPORTS + "\n" + code)
        _set_timer(0)
    except BaseException as e:  # noqa: BLE001
        _set_timer(0)
        return [WA], [f"compile error: {type(e).__name__}: {e}"[:300]]
    holder = namespace.get("Solution")
    if holder is None and fn_name not in namespace:
        return [WA], [f"compile error: no class Solution and no function {fn_name}"]
    instance = holder() if holder is not None else None
    for given, want in zip(inputs, outputs):
        code_, message = True, ""
        try:
            args = [json.loads(line) for line in given.split("\n")]
            expected = json.loads(want)
            if tolerant and holder is not None:
                instance = holder()  # no state carried from one test to the next
            method = getattr(instance, fn_name) if instance is not None else namespace[fn_name]
            _set_timer(timeout)
            got = method(*args)
            _set_timer(0)
            if isinstance(got, tuple):
                got = list(got)
            same = tolerant_value_equal(got, expected) if tolerant else got == expected
            if not same:
                code_, message = WA, f"wrong answer: got {repr(got)[:200]}"
        except _Timeout:
            code_, message = TLE, "time limit"
        except BaseException as e:  # noqa: BLE001
            _set_timer(0)
            code_, message = RE, f"{type(e).__name__}: {e}"[:300]
        results.append(code_)
        details.append(message)
        if code_ is not True and stop_first:
            break
    return results, details


# ---- tolerant stdin: the file as __main__ with real streams, one forked process per test -------------------
def _tolerant_stdin(code, inputs, outputs, timeout, stop_first, install_guard, workdir, result_fd):
    try:
        compiled = compile(code, "<solution>", "exec")
    except (SyntaxError, ValueError) as e:
        return [WA], [f"compile error: {type(e).__name__}: {e}"[:300]]
    results, details = [], []
    for i, (given, want) in enumerate(zip(inputs, outputs)):
        in_path, out_path = os.path.join(workdir, f".in{i}"), os.path.join(workdir, f".out{i}")
        with open(in_path, "w") as f:
            f.write(given)
        pid = os.fork()
        if pid == 0:  # the test process: real descriptors 0 and 1, then the untrusted program
            status = 0
            try:
                os.close(result_fd)  # the program must not be able to write the verdicts
                os.dup2(os.open(in_path, os.O_RDONLY), 0)
                os.dup2(os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
                sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
                sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
                if install_guard is not None:
                    install_guard(workdir)
                exec(compiled, {"__name__": "__main__", "__builtins__": builtins})
            except SystemExit as e:
                status = 0 if e.code in (None, 0) else 3
            except BaseException as e:  # noqa: BLE001
                sys.stderr.write(f"{type(e).__name__}: {e}\n"[:300])
                status = 3
            try:
                sys.stdout.flush()
            except BaseException:  # noqa: BLE001
                status = 3
            os._exit(status)
        code_, message = _wait_test(pid, timeout)
        if code_ is True:
            with open(out_path, encoding="utf-8", errors="replace") as f:
                got = f.read()
            if not tolerant_equal(got, want):
                code_, message = WA, f"wrong answer: got {got[:200]!r}"
        results.append(code_)
        details.append(message)
        if code_ is not True and stop_first:
            break
    return results, details


def _wait_test(pid: int, timeout: float):
    deadline = time.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
        select.select([fd], [], [], timeout)
        os.close(fd)
    except (AttributeError, OSError):
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.002)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return TLE, "time limit"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return (TLE, "cpu time limit") if sig in (signal.SIGXCPU, signal.SIGKILL) else (RE, f"killed by signal {sig}")
    return (True, "") if os.WEXITSTATUS(status) == 0 else (RE, "runtime error")


def run(payload: dict, result_fd: int, install_guard, workdir: str) -> None:
    """Entry point called by sandbox_child.py: grade, then write {"results", "details"} to result_fd."""
    signal.signal(signal.SIGALRM, _alarm)
    code, tests = payload["code"], payload["tests"]
    inputs, outputs, fn_name = tests["inputs"], tests["outputs"], tests.get("fn_name")
    mode, timeout, stop_first = payload["mode"], float(payload["timeout_s"]), payload.get("stop_at_first_failure", True)
    if mode == "strict":
        timeout = max(1, int(timeout))  # upstream passes an integer to signal.alarm
    if mode == "tolerant" and not fn_name:
        results, details = _tolerant_stdin(code, inputs, outputs, timeout, stop_first, install_guard, workdir,
                                            result_fd)
    else:
        # One process runs the program in-process: the guard must be up before the program's first line.
        if install_guard is not None:
            install_guard(workdir)
        if fn_name:
            results, details = _call_based(code, inputs, outputs, fn_name, timeout, stop_first, mode == "tolerant")
        else:
            results, details = _strict_stdin(code, inputs, outputs, timeout, stop_first)
    os.write(result_fd, json.dumps({"results": results, "details": details}).encode())
    os.close(result_fd)
