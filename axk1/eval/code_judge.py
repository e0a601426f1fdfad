"""The judge side of code grading: runs in the sandbox's judge process, which never executes the program; it asks
the runner (code_runner.py, another process) for outputs and decides the verdict (standard library only; loaded
by sandbox_child.py).

Two LiveCodeBench rule sets (docs/evaluation.md, "Code judge rule sets"):
* strict   - the upstream LiveCodeBench runner's rules, bugs included, for comparable numbers: top-level code is
             wrapped in a function (so `global` breaks), stdin is a StringIO whose `buffer.readline()` repeats the
             first line, stdout is a StringIO without `.buffer`, outputs compare line by line exactly or as
             Decimal tokens, per-test SIGALRM timeout, one process for all tests, stop at the first failure.
* tolerant - what a judge does: each stdin test runs the file as __main__ in a forked process with real byte
             streams; integers compare exactly, an expected token with a fraction or exponent within 1e-6
             absolute/relative tolerance; a fresh Solution per call.
Result codes per test follow upstream: True pass, -1 global timeout, -2 wrong answer / compile error,
-3 time limit, -4 runtime error, -5 judge error.

Self-checking tests (HumanEval, RL tasks: asserts over the solution's functions) run here too: the test code runs
in this process, and each function of the solution it calls is a stand-in that asks the runner to call the real
one and returns a plain copy of the result, so an assert compares builtin values only.
"""

import builtins
import json
import math
import re
import sys

try:  # in the sandbox child the sibling files are top-level modules
    import sandbox_wire as wire
except ImportError:  # imported from the package (tests, tools)
    from axk1.eval import sandbox_wire as wire

WA, TLE, RE, JUDGE = -2, -3, -4, -5
FLOAT_TOL = 1e-6
FLOAT_TOKEN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # no `_`, inf, nan, "３.５"
GRACE_S = 2.0  # past the per-test limit the runner's own alarm has answered; a runner silent longer is stuck
CHANNEL_ERRORS = (wire.ChannelClosed, wire.ChannelBroken, wire.ChannelTimeout)
# stdlib packages whose import runs a program (a browser, a poem, IDLE, the turtle demos), never rebuilt for tests
NOT_IMPORTED = {"antigravity", "this", "idlelib", "turtledemo"}


def importable(module: str) -> bool:
    """A stdlib module the tests may get their own copy of: a module name the program reported (it chooses it: a
    ModuleType named "unittest.__main__" made the judge run unittest's command line) with no private or `__main__`
    part, in a top-level stdlib package that runs nothing on import."""
    parts = module.split(".")
    return (parts[0] in sys.stdlib_module_names and parts[0] not in NOT_IMPORTED
            and all(p.isidentifier() and not p.startswith("_") for p in parts))


# ---- output comparison -------------------------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str):
    from decimal import Decimal, InvalidOperation  # here: most outputs match exactly, and every run pays imports

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
        if da is None or db is None or not _same_decimals(da, db):
            return False
    return True


def _same_decimals(a: list, b: list) -> bool:
    from decimal import InvalidOperation

    try:
        return a == b
    except InvalidOperation:  # a signalling NaN (`sNaN` printed) refuses to compare: a wrong answer, not the judge's
        return False


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=FLOAT_TOL, abs_tol=FLOAT_TOL)


def _is_int_token(tok: str) -> bool:
    # Not int(): it accepts `2_000`, spaces and non-ASCII digits, none of which a judge reads as a number.
    return tok.lstrip("+-").isascii() and tok.lstrip("+-").isdigit() and len(tok) - len(tok.lstrip("+-")) <= 1


def _int_key(tok: str) -> tuple[bool, str]:
    """An integer token (`_is_int_token`) as (negative, digits without leading zeros), equal exactly when the
    integers are. Not int(): Python refuses to parse more than 4300 digits, and a program may print such a number."""
    digits = tok.lstrip("+-").lstrip("0")
    return (tok.startswith("-") and digits != "", digits)  # -0 is 0


def _is_float_token(tok: str) -> bool:
    return FLOAT_TOKEN.fullmatch(tok) is not None


def _token_equal(got: str, want: str) -> bool:
    """An integer answer is exact (a relative tolerance let n*2+1000 pass for 2*10**12): the same integer, or a
    fixed-point `3.0` equal to it (strict mode's Decimal rule accepts that too), never `2_000` or `2.0e+12`. Only
    an expected token with a fraction or exponent gets the float tolerance, against a plain decimal number."""
    if got == want:
        return True
    if _is_int_token(want):
        whole, dot, fraction = got.partition(".")
        return (_is_int_token(whole) and _int_key(whole) == _int_key(want) and (not dot or (fraction.isascii()
                and fraction.isdigit() and not fraction.strip("0"))))
    if _is_float_token(want) and _is_float_token(got):
        return _close(float(got), float(want))
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
    if isinstance(got, bool) or isinstance(want, bool):  # a judge prints true, not 1
        return type(got) is type(want) and got == want
    if isinstance(want, int):  # an integer answer is exact, as in _token_equal
        return type(got) is int and got == want
    if isinstance(want, float) and isinstance(got, (int, float)):
        try:
            return got == want or _close(float(got), float(want))
        except OverflowError:  # an int past a float's range (10**400) is no float answer: wrong, not a judge error
            return False
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(tolerant_value_equal(a, b) for a, b in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(tolerant_value_equal(got[k], want[k]) for k in got)
    return got == want


# ---- LiveCodeBench: inputs go to the runner, outputs come back, comparison here ----------------------------
def _shown(value, limit: int = 200) -> str:
    """repr(value) cut to `limit` characters, for a wrong answer's detail; never raises (repr refuses an int past
    4,300 digits and a nesting past the recursion limit: the answer is still just wrong)."""
    try:
        return repr(value)[:limit]
    except Exception:  # noqa: BLE001
        return f"a {type(value).__name__} too large to show"


def _one_test(runner, kind: str, given: str, want: str, timeout: float, tolerant: bool):
    try:
        reply = runner.ask({"op": "run", "input": given}, timeout + GRACE_S)
    except wire.ChannelTimeout:
        return TLE, "time limit"
    except (wire.ChannelClosed, wire.ChannelBroken):
        return RE, f"runtime error: {runner.gone}"
    status = reply.get("status")
    if status == "timeout":
        return TLE, str(reply.get("detail") or "time limit")
    if status == "error":
        return RE, str(reply.get("detail"))[:300]
    if status == "not_plain":
        return WA, f"wrong answer: returned {str(reply.get('detail'))[:200]}"
    try:
        if status != "ok":
            raise wire.ChannelBroken(f"status {status!r}")
        if kind == "call":
            got, expected = wire.decode(reply["value"]), json.loads(want)
            if type(got) is tuple:
                got = list(got)
            same = tolerant_value_equal(got, expected) if tolerant else got == expected
            return (True, "") if same else (WA, f"wrong answer: got {_shown(got)}")
        got = reply["out"]
        if type(got) is not str:
            raise wire.ChannelBroken("an output that is not text")
    except (KeyError, ValueError, RecursionError, wire.ChannelBroken) as e:
        return RE, f"runtime error: {type(e).__name__}: {e}"[:300]
    same = tolerant_equal(got, want) if tolerant else strict_equal(got, want)
    return (True, "") if same else (WA, f"wrong answer: got {got[:200]!r}")


def judge_io_tests(payload: dict, runner) -> dict:
    code, tests = payload["code"], payload["tests"]
    inputs, outputs, fn_name = tests["inputs"], tests["outputs"], tests.get("fn_name")
    mode, timeout, stop_first = payload["mode"], float(payload["timeout_s"]), payload.get("stop_at_first_failure", True)
    if mode == "strict":
        timeout = max(1, int(timeout))  # upstream passes an integer to signal.alarm
    tolerant = mode == "tolerant"
    kind = "call" if fn_name else ("tolerant_stdin" if tolerant else "strict_stdin")
    try:
        loaded = runner.ask({"op": "load", "kind": kind, "code": code, "fn_name": fn_name, "timeout": timeout,
                             "tolerant": tolerant}, timeout + GRACE_S)
    except CHANNEL_ERRORS:
        return {"results": [RE], "details": [f"runtime error: {runner.gone}"]}
    if "compile_error" in loaded:
        return {"results": [WA], "details": [f"compile error: {str(loaded['compile_error'])[:300]}"]}
    results, details = [], []
    for given, want in zip(inputs, outputs):
        code_, message = _one_test(runner, kind, given, want, timeout, tolerant)
        results.append(code_)
        details.append(message)
        if code_ is not True and stop_first:
            break
    return {"results": results, "details": details}


# ---- self-checking tests: asserts run here, the solution's functions run there -------------------------------
class _Gone(BaseException):
    """The runner stopped answering; a BaseException so that a test's `except Exception` cannot swallow it."""


class _NotPlainResult(BaseException):
    """A function of the solution returned something other than builtin data: a wrong answer."""


class SolutionError(Exception):
    """An exception the solution raised, of a class that is not a builtin one."""


def _builtin_error(name: object) -> type | None:
    cls = getattr(builtins, name, None) if type(name) is str else None
    ok = isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, AssertionError)
    return cls if ok else None


def _remote_error(reply: dict, own: dict) -> Exception:
    """The exception the solution raised, as the tests can catch it: the stand-in of its own class where the tests
    name it (`except EmptyError:`; `own`, from _own_exceptions), else the builtin class of that name or of its
    nearest builtin ancestor but Exception (`class EmptyError(ValueError)` is caught as ValueError), else
    SolutionError."""
    name, message = str(reply.get("error")), str(reply.get("message", ""))[:300]
    mro = reply.get("mro") if type(reply.get("mro")) is list else [name]
    for ancestor in [name, *mro[1:50]]:
        cls = own.get(ancestor) if type(ancestor) is str else None
        cls = cls or (_builtin_error(ancestor) if ancestor not in ("Exception", "BaseException") else None)
        if cls is not None:
            try:
                return cls(message)
            except TypeError:
                break
    return SolutionError(f"{name}: {message}")


def _own_exceptions(described: dict) -> dict[str, type]:
    """A stand-in class for each exception class of the solution's that the tests name, subclassing the stand-ins of
    its ancestors the tests name and its nearest builtin ancestor, so `except EmptyError:` and `except ValueError:`
    catch what they would catch in one process."""
    own: dict[str, type] = {}
    found = [(name, info["mro"]) for name, info in described.items() if type(info) is dict and info.get("kind")
             == "exception" and type(info.get("mro")) is list and name.isidentifier()]
    for name, mro in sorted(found, key=lambda item: len(item[1])):  # ancestors first: their MRO is shorter
        bases = [own[a] for a in mro[1:] if type(a) is str and a in own]
        builtin = next((cls for cls in map(_builtin_error, mro[1:]) if cls is not None), SolutionError)
        for candidate in (bases + [builtin], [builtin]):
            try:
                own[name] = type(name, tuple(dict.fromkeys(candidate)), {})
                break
            except TypeError:  # an MRO or layout the bases cannot share: the builtin ancestor alone
                continue
    return own


def _write_back(args: tuple, kwargs: dict, reply: dict) -> None:
    """The tests' own argument objects take what the call left in the solution's copies of them (`a.sort()`,
    `d[k] = v`: the runner sends back the arguments it changed), so an assert on them after the call sees it. A list,
    dict or set is refilled in place; nested ones come back as new objects, and an immutable argument has nothing
    to refill."""
    pairs = []
    if "args" in reply:
        pairs += zip(args, wire.decode(reply["args"]))
    if "kwargs" in reply:
        changed = wire.decode(reply["kwargs"])
        pairs += [(kwargs[key], changed[key]) for key in kwargs if key in changed]
    for given, after in pairs:
        if isinstance(given, list) and type(after) is list:
            given[:] = after
        elif isinstance(given, dict) and type(after) is dict or isinstance(given, set) and type(after) is set:
            given.clear()
            given.update(after)


def _stand_in(runner, name: str, own: dict):
    def call(*args, **kwargs):
        try:
            data = {"args": wire.encode(list(args)), "kwargs": wire.encode(kwargs)}
        except wire.NotPlain as e:
            raise TypeError(f"only plain data goes to the solution's {name}(): {e}") from None
        try:
            reply = runner.ask({"op": "call", "name": name, **data})
            if "value" in reply:
                _write_back(args, kwargs, reply)
                return wire.decode(reply["value"])
        except (*CHANNEL_ERRORS, RecursionError):
            runner.stop(runner.gone or "an answer that is not a value")
            raise _Gone(runner.gone) from None
        if "not_plain" in reply:
            raise _NotPlainResult(f"{name}() returned {reply['not_plain']}")
        raise _remote_error(reply, own)

    call.__name__ = call.__qualname__ = name
    return call


def _free_names(tree, entry_point: str | None) -> set[str]:
    """Names the tests read that are not builtins: what they expect from the solution (the entry point always; a
    solution that defines `abs` does not change the `abs` the tests use)."""
    import ast

    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return {n for n in names if not hasattr(builtins, n)} | ({entry_point} if entry_point else set())


def _namespace(runner, described: dict) -> dict:
    own = _own_exceptions(described)
    namespace = {"__name__": "__axk1_tests__", "__builtins__": builtins, **own}
    for name, info in described.items():
        kind = info.get("kind") if type(info) is dict else None
        if kind == "callable":
            namespace[name] = _stand_in(runner, name, own)
        elif kind == "module" and type(info.get("module")) is str:
            module = info["module"]
            if importable(module):
                import importlib

                try:
                    namespace[name] = importlib.import_module(module)  # the tests' own copy of a stdlib module
                except Exception:  # noqa: BLE001 - not there (a platform's module): the tests find no such name
                    pass
        elif kind == "value":
            namespace[name] = wire.decode(info.get("value"))
    return namespace


def _checked(verdict: str, detail: str = "") -> dict:
    return {"verdict": verdict, "detail": str(detail)[:500]}


def check_program(payload: dict, runner) -> dict:
    """{"verdict": pass | wrong_answer | runtime_error | judge_error, "detail"}."""
    import ast

    code, tests, entry_point = payload["code"], payload["tests"], payload.get("entry_point")
    try:
        tree = compile(tests, "<tests>", "exec", ast.PyCF_ONLY_AST)
    except (SyntaxError, ValueError) as e:
        return _checked("judge_error", f"the tests do not compile: {e}")
    # The task's own helpers (HumanEval's prompt: encode_cyclic, poly, ...) run here, from the trusted text: a
    # solution that redefines a helper the tests call must not change what the tests compare against.
    trusted: dict = {"__name__": "__axk1_trusted__", "__builtins__": builtins}
    try:
        if payload.get("trusted"):
            exec(compile(payload["trusted"], "<trusted>", "exec"), trusted)
    except Exception as e:  # noqa: BLE001 - the task's own text is broken: not the solution's fault
        return _checked("judge_error", f"the trusted helper code fails: {type(e).__name__}: {e}")
    own = {k: v for k, v in trusted.items() if not k.startswith("__") and k != entry_point}
    try:
        reply = runner.ask({"op": "exec", "code": code})
        if "ok" not in reply:
            return _checked("runtime_error", reply.get("message") or reply.get("error"))
        wanted = sorted(_free_names(tree, entry_point) - own.keys())
        described = runner.ask({"op": "describe", "names": wanted})["names"]
        namespace = _namespace(runner, described if type(described) is dict else {})
        namespace.update(own)
    except (*CHANNEL_ERRORS, KeyError, RecursionError):
        return _checked("runtime_error", runner.gone or "the program's process gave no usable answer")
    try:
        exec(compile(tree, "<tests>", "exec"), namespace)
        if entry_point:
            if "check" not in namespace or entry_point not in namespace:
                missing = "check()" if "check" not in namespace else f"{entry_point}()"
                return _checked("runtime_error" if missing != "check()" else "judge_error", f"no {missing}")
            namespace["check"](namespace[entry_point])
    except _Gone:
        return _checked("runtime_error", runner.gone)
    except _NotPlainResult as e:
        return _checked("wrong_answer", str(e))
    except AssertionError as e:
        return _checked("wrong_answer", f"AssertionError: {e}" if str(e) else "AssertionError")
    except BaseException as e:  # noqa: BLE001 - the solution raised, or the tests failed on what it returned
        return _checked("runtime_error", f"{type(e).__name__}: {e}")
    if runner.gone:  # a test that swallowed a failure of the runner still fails
        return _checked("runtime_error", runner.gone)
    return _checked("pass")


def judge(payload: dict, runner) -> dict:
    """Entry point called by sandbox_child.py in the judge process."""
    return check_program(payload, runner) if payload.get("kind") == "check" else judge_io_tests(payload, runner)
