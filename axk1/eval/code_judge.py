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
Outputs are compared in code_compare.py. Result codes per test follow upstream: True pass, -1 global timeout,
-2 wrong answer / compile error, -3 time limit, -4 runtime error, -5 judge error.

Self-checking tests (HumanEval, RL tasks: asserts over the solution's functions) run here too: the test code runs
in this process, and each function of the solution it calls is a stand-in that asks the runner to call the real
one and returns a plain copy of the result, so an assert compares builtin values only.
"""

import builtins
import json
import sys
import time

try:  # in the sandbox child the sibling files are top-level modules
    import sandbox_wire as wire
    from code_compare import strict_equal, tolerant_equal, tolerant_value_equal
except ImportError:  # imported from the package (tests, tools)
    from axk1.eval import sandbox_wire as wire
    from axk1.eval.code_compare import strict_equal, tolerant_equal, tolerant_value_equal

WA, TLE, RE, JUDGE = -2, -3, -4, -5
GRACE_S = 2.0  # past the per-test limit the runner's own alarm has answered; a runner silent longer is stuck
# The runner's own work around a test (a fork, writing the input, sending the reply) that its limit may not cover:
# an answer later than limit + margin, timed here, is a time limit whatever it says (the program can stop or catch
# the runner's alarm, which runs in its process).
MARGIN_S = 1.0
READY_S = 60.0  # for the runner to start serving, before the program runs
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


# ---- LiveCodeBench: inputs go to the runner, outputs come back, comparison here ----------------------------
def _shown(value, limit: int = 200) -> str:
    """repr(value) cut to `limit` characters, for a wrong answer's detail; never raises (repr refuses an int past
    4,300 digits and a nesting past the recursion limit: the answer is still just wrong)."""
    try:
        return repr(value)[:limit]
    except Exception:  # noqa: BLE001
        return f"a {type(value).__name__} too large to show"


def _ask_timed(runner, message: dict, timeout: float) -> tuple[dict, bool]:
    """The runner's answer, and whether it came later than the test's limit allows (timed here, not by the runner)."""
    started = time.monotonic()
    reply = runner.ask(message, timeout + GRACE_S)
    return reply, time.monotonic() - started > timeout + MARGIN_S


def _one_test(runner, kind: str, given: str, want: str, timeout: float, tolerant: bool):
    try:
        reply, late = _ask_timed(runner, {"op": "run", "input": given}, timeout)
    except wire.ChannelTimeout:
        return TLE, "time limit"
    except (wire.ChannelClosed, wire.ChannelBroken):
        return RE, f"runtime error: {runner.gone}"
    if late:
        return TLE, "time limit (the answer came after the test's limit)"
    try:
        return _compare(reply, kind, want, tolerant)
    except MemoryError:  # the program's output, not the judge, is too large: a wrong answer
        return WA, "wrong answer: an output too large to compare"


def _compare(reply: dict, kind: str, want: str, tolerant: bool):
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
    if tolerant:  # `python3 file.py` skips a leading UTF-8 byte order mark; compile() of the text (strict) refuses it
        code = code.removeprefix("\ufeff")
    kind = "call" if fn_name else ("tolerant_stdin" if tolerant else "strict_stdin")
    try:
        # the runner answers once it serves (its start, not the program's time: on a loaded machine it took seconds,
        # which timed the load as late); only then is the program's top-level code timed
        runner.ask({"op": "ready"}, READY_S)
        loaded, late = _ask_timed(runner, {"op": "load", "kind": kind, "code": code, "fn_name": fn_name,
                                           "timeout": timeout, "tolerant": tolerant}, timeout)
    except CHANNEL_ERRORS:
        return {"results": [RE], "details": [f"runtime error: {runner.gone}"]}
    if late:  # as the runner's alarm would have ended it: building the program failed
        loaded = {"compile_error": "time limit while the program's top-level code ran"}
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
    """The builtin class the tests may catch the solution's exception as. Not AssertionError (a failed assert of the
    tests), nor StopIteration/StopAsyncIteration: raised in a map() or filter() of the tests, they end its iteration
    silently (an iterator's way to say it is done), so `assert all(map(f, xs))` passed for an f that only raises."""
    cls = getattr(builtins, name, None) if type(name) is str else None
    ok = (isinstance(cls, type) and issubclass(cls, Exception)
          and not issubclass(cls, (AssertionError, StopIteration, StopAsyncIteration)))
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
