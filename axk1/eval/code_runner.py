"""The runner side of code grading: executes the untrusted program and answers the judge's questions with what the
program produced (standard library only; loaded by sandbox_child.py, runs in the runner process).

Nothing here knows an expected answer, and nothing here decides a verdict: the judge (code_judge.py) asks "run test
input X" or "call f(args)", gets back the captured output or a plain copy of the returned value (sandbox_wire), and
compares on its side. Questions:
  exec {code}             run a solution as a module (HumanEval, RL tasks), then answer:
  describe {names}        what the solution defines under the names the tests use (function, module, value);
  call {name, args}       call one of its functions;
  load {kind, code, ...}  prepare a LiveCodeBench program: strict_stdin (upstream's function wrapping and mocked
                          streams, code_upstream.py), tolerant_stdin (the file as __main__, one forked process per
                          test), call;
  run {input}             run one test on the loaded program.
"""

import builtins
import io
import json
import os
import select
import signal
import sys
import time
import types

try:  # in the sandbox child the sibling files are top-level modules
    import sandbox_wire as wire
    from sandbox_files import read_test_file, remove, write_test_file
    from code_upstream import UPSTREAM_IMPORTS, UpstreamStdin, null_as_upstream, wrap_in_function
except ImportError:  # imported from the package (tests, tools)
    from axk1.eval import sandbox_wire as wire
    from axk1.eval.sandbox_files import read_test_file, remove, write_test_file
    from axk1.eval.code_upstream import UPSTREAM_IMPORTS, UpstreamStdin, null_as_upstream, wrap_in_function


class _Timeout(BaseException):  # not an Exception: a program's `except Exception:` must not swallow the alarm
    pass  # (one that stops or replaces the alarm is still a time limit: the judge times each answer itself)


def _alarm(signum, frame):
    raise _Timeout()


def _set_timer(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _message(e: BaseException) -> str:
    """str() of an exception the program raised (its __str__ is the program's code: guarded)."""
    try:
        return str(e)[:300]
    except BaseException:  # noqa: BLE001
        return ""


def _class_names(cls: type) -> list[str]:
    """The names along a class's MRO, for the judge to rebuild the solution's exception classes; [] if unreadable."""
    try:
        return [str(c.__name__) for c in cls.__mro__][:50]
    except BaseException:  # noqa: BLE001 - a metaclass of the program's
        return []


def _describe_error(e: BaseException) -> str:
    return f"{type(e).__name__}: {_message(e)}"[:300]


def _exec_module(source: str, name: str = "solution") -> dict:
    namespace = {"__name__": name, "__builtins__": builtins}
    exec(compile(source, "<solution>", "exec"), namespace)
    return namespace


def _only_imported(namespace: dict, name: str) -> bool:
    """Whether `name` in a solution's namespace is still what UPSTREAM_IMPORTS bound, not the solution's own."""
    imported = _exec_module(UPSTREAM_IMPORTS, "imports")
    return name in imported and namespace[name] is imported[name]


# ---- the runner's state and answers -----------------------------------------------------------------------------
class _Program:
    def __init__(self, guard, workdir: str, pipes: tuple[int, int]):
        self.guard, self.workdir, self.pipes = guard, workdir, pipes
        self.namespace: dict = {}
        self.kind = None
        self.target = None  # strict: wrapped_function; call: (holder class or None, fn_name); tolerant: code object
        self.timeout = 0.0
        self.instance = None
        self.tolerant = False
        self.tests_run = 0

    # HumanEval / RL tasks ---------------------------------------------------------------------------------------
    def exec(self, m: dict) -> dict:
        self.guard()  # the program's first line runs under the guard
        # A module, not __main__ (HumanEval's own harness runs it so): the demo a model appends under
        # `if __name__ == "__main__":` (input(), sys.exit(), doctest.testmod()) is not part of the solution.
        self.namespace = {"__name__": "solution", "__builtins__": builtins}
        try:
            exec(compile(m["code"], "<solution>", "exec"), self.namespace)
        except SystemExit:
            return {"error": "SystemExit", "message": "the solution exited before the tests ran"}
        except BaseException as e:  # noqa: BLE001
            return {"error": type(e).__name__, "message": _describe_error(e)}
        return {"ok": True}

    def describe(self, m: dict) -> dict:
        out = {}
        for name in m["names"]:
            if name not in self.namespace:
                continue
            value = self.namespace[name]
            if type(value) is types.ModuleType and type(value.__name__) is str:
                out[name] = {"kind": "module", "module": value.__name__}
            elif isinstance(value, type) and issubclass(value, BaseException):
                out[name] = {"kind": "exception", "mro": _class_names(value)}
            elif callable(value):
                out[name] = {"kind": "callable"}
            else:
                try:
                    out[name] = {"kind": "value", "value": wire.encode(value)}
                except wire.NotPlain:
                    pass
        return {"names": out}

    def call(self, m: dict) -> dict:
        try:
            args, kwargs = wire.decode(m["args"]), wire.decode(m["kwargs"])
            result = self.namespace[m["name"]](*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - SystemExit included: the function ended, not the tests
            return {"error": type(e).__name__, "message": _message(e), "mro": _class_names(type(e))}
        try:
            reply = {"value": wire.encode(result)}
        except wire.NotPlain as e:
            return {"not_plain": str(e)}
        except BaseException as e:  # noqa: BLE001 - a generator it returned raised while its items were read
            return {"error": type(e).__name__, "message": _message(e)}
        # arguments it changed in place (`a.sort()`, `d[k] = v`) go back, so that the tests' own objects hold what
        # the call left in them (the judge writes them back): plain data before the call, plain data after
        try:
            after = {"args": wire.encode(args), "kwargs": wire.encode(kwargs)}
        except wire.NotPlain as e:
            return {"not_plain": f"{e} (put into an argument)"}
        except BaseException as e:  # noqa: BLE001 - an iterator put into an argument raised while it was read
            return {"error": type(e).__name__, "message": _message(e)}
        reply.update({key: value for key, value in after.items() if value != m[key]})
        return reply

    # LiveCodeBench ----------------------------------------------------------------------------------------------
    def load(self, m: dict) -> dict:
        self.kind, self.timeout, self.tolerant = m["kind"], float(m["timeout"]), bool(m.get("tolerant"))
        signal.signal(signal.SIGALRM, _alarm)
        try:
            if self.kind == "tolerant_stdin":
                self.target = compile(m["code"], "<solution>", "exec")  # runs in a fresh process per test
                return {"ok": True}
            self.guard()
            if not self.tolerant:  # strict: upstream's reliability_guard (quit() is a runtime error there)
                null_as_upstream(m["code"])
            _set_timer(self.timeout)
            if self.kind == "strict_stdin":
                self.target = _exec_module(wrap_in_function(m["code"]))["wrapped_function"]
            else:
                self.namespace = _exec_module(UPSTREAM_IMPORTS + "\n" + m["code"])
            _set_timer(0)
        except BaseException as e:  # noqa: BLE001 - any failure to build the program is a compile error upstream
            _set_timer(0)
            return {"compile_error": _describe_error(e)}
        if self.kind == "call":
            holder, fn_name = self.namespace.get("Solution"), m["fn_name"]
            if holder is None and fn_name not in self.namespace:
                return {"compile_error": f"no class Solution and no function {fn_name}"}
            if holder is None and self.tolerant and _only_imported(self.namespace, fn_name):
                # upstream (strict) calls whatever its star imports bound: `add` is operator.add, so "x = 1" passed
                return {"compile_error": f"no class Solution, and {fn_name} is not defined by the solution (only the "
                        "judge's imports bind that name)"}
            self.target = (holder, fn_name)
            try:
                self.instance = holder() if holder is not None else None
            except BaseException as e:  # noqa: BLE001
                return {"compile_error": _describe_error(e)}
        return {"ok": True}

    def run(self, m: dict) -> dict:
        given = m["input"]
        if self.kind == "strict_stdin":
            return self._strict_stdin(given)
        if self.kind == "call":
            return self._call(given)
        return self._tolerant_stdin(given)

    def _timed(self, fn) -> tuple[object, dict | None]:
        """fn() under the test's time limit: (its result, None), or (None, the timeout or error status)."""
        try:
            _set_timer(self.timeout)
            result = fn()
            _set_timer(0)
            return result, None
        except _Timeout:
            return None, {"status": "timeout"}
        except BaseException as e:  # noqa: BLE001
            _set_timer(0)
            return None, {"status": "error", "detail": _describe_error(e)}

    def _strict_stdin(self, given: str) -> dict:
        real_stdin, real_stdout = sys.stdin, sys.stdout
        captured = io.StringIO()
        sys.stdin, sys.stdout = UpstreamStdin(given), captured

        def program() -> None:
            try:
                self.target()
            except SystemExit:
                pass

        try:
            _, failed = self._timed(program)
        finally:
            sys.stdin, sys.stdout = real_stdin, real_stdout
        return failed or {"status": "ok", "out": captured.getvalue()}

    def _call(self, given: str) -> dict:
        holder, fn_name = self.target
        try:
            args = [json.loads(line) for line in given.split("\n")]
            if self.tolerant and holder is not None:
                self.instance = holder()  # no state carried from one test to the next
            method = getattr(self.instance, fn_name) if self.instance is not None else self.namespace[fn_name]
        except BaseException as e:  # noqa: BLE001
            return {"status": "error", "detail": _describe_error(e)}

        def called():
            value = method(*args)
            if self.tolerant:  # its process must be able to end, as a judge's would (_join_threads)
                _join_threads()
            return value

        got, failed = self._timed(called)
        if failed:
            return failed
        try:
            return {"status": "ok", "value": wire.encode(got)}
        except wire.NotPlain as e:
            return {"status": "not_plain", "detail": str(e)}
        except BaseException as e:  # noqa: BLE001 - a generator it returned raised while its items were read
            return {"status": "error", "detail": _describe_error(e)}

    def _tolerant_stdin(self, given: str) -> dict:
        i = self.tests_run
        self.tests_run += 1
        paths = [os.path.join(self.workdir, f".{kind}{i}") for kind in ("in", "out", "err")]
        write_test_file(paths[0], given)
        write_test_file(paths[1], "")
        remove(paths[2])
        pid = os.fork()
        if pid == 0:
            _tolerant_test(self.target, paths, self.guard, self.pipes)
        status = _wait_test(pid, self.timeout)
        if status is not None:
            error = read_test_file(paths[2], 300)  # the exception that ended the program, in the verdict's detail
            if error:
                status["detail"] = f"{status['detail']}: {error.strip()}"
            return status
        out = read_test_file(paths[1])
        if out is None:
            return {"status": "error", "detail": "the program removed or replaced its output file"}
        return {"status": "ok", "out": out}


def _std_stream(fd: int, mode: str, name: str):
    """sys.stdin or sys.stdout as the interpreter makes them (a `mode`, a `name`, the errors handler of a UTF-8
    locale): fast-IO templates read `file.mode` and `file.fileno()`."""
    raw = io.FileIO(fd, mode, closefd=False)
    raw.name = name
    buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    stream = io.TextIOWrapper(buffered, encoding="utf-8", errors="surrogateescape")
    stream.mode = mode
    return stream


def _join_threads() -> None:
    """Wait with no deadline, as the interpreter does before it exits, for every non-daemon thread the program started
    (a main() in a thread with a bigger stack, never joined). One that never ends (`time.sleep(10**6)` after the right
    output) keeps the process from ending, which an online judge times out: the limit is kept from outside the
    program, by the runner for a forked stdin test (_wait_test), by the test's timer for a call."""
    threading = sys.modules.get("threading")
    while threading is not None:
        waiting = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon
                   and t.is_alive()]
        if not waiting:
            return
        for thread in waiting:
            thread.join()


def _finish() -> None:
    """What the interpreter does once the main code is done: _join_threads, then the atexit functions."""
    _join_threads()
    atexit = sys.modules.get("atexit")
    if atexit is not None:
        atexit._run_exitfuncs()


def _tolerant_test(compiled, paths: list[str], guard, pipes: tuple[int, int]) -> None:
    """The test process: runs the test (_test_body) and exits with its status, whatever happens on the way (this is
    a fork of the runner: returning from here would make it a second runner)."""
    status = 3
    try:
        status = _test_body(compiled, paths, guard, pipes)
    except BaseException:  # noqa: BLE001 - e.g. an exception's __str__ raising while its error is written
        status = 3
    finally:
        os._exit(status)


def _test_body(compiled, paths: list[str], guard, pipes: tuple[int, int]) -> int:
    """Real descriptors 0 and 1, then the program as __main__ with a plain argv, then the interpreter's exit steps
    (_finish); the exit status to end with."""
    status = 0
    in_path, out_path, err_path = paths
    try:
        for fd in pipes:  # the pipes to the judge are the runner's, not the program's
            os.close(fd)
        os.dup2(os.open(in_path, os.O_RDONLY | os.O_NOFOLLOW), 0)  # (both made by the runner just before)
        os.dup2(os.open(out_path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW), 1)
        sys.stdin = sys.__stdin__ = _std_stream(0, "r", "<stdin>")
        sys.stdout = sys.__stdout__ = _std_stream(1, "w", "<stdout>")
        sys.argv = ["<solution>"]  # not the runner's (fileinput reads the files argv names)
        guard()
        try:
            exec(compiled, {"__name__": "__main__", "__builtins__": builtins})
        finally:
            _finish()
    except SystemExit as e:
        # as the interpreter exits: None and the int 0 are success; any other code (exit(0.0), exit("0")) is 1
        status = 0 if e.code is None or (type(e.code) in (int, bool) and e.code == 0) else 3
    except BaseException as e:  # noqa: BLE001
        _report_error(_describe_error(e), err_path)
        status = 3
    try:  # as the interpreter flushes at exit: a stream the program closed or set to None is left alone
        streams = [sys.stdout] if sys.__stdout__ is sys.stdout else [sys.stdout, sys.__stdout__]
        for stream in streams:
            if stream is not None and not getattr(stream, "closed", False):
                stream.flush()
    except BaseException:  # noqa: BLE001 - (the interpreter exits with 120 then: a runtime error)
        status = 3
    return status


def _report_error(error: str, err_path: str) -> None:
    """The exception that ended a test: on descriptor 2 (not through sys.stderr, which the program may have closed
    or replaced), and in the test's error file for the verdict's detail. Each is a courtesy: the verdict stands
    without them."""
    try:
        os.write(2, (error + "\n").encode("utf-8", "replace"))
    except BaseException:  # noqa: BLE001
        pass
    try:
        with open(err_path, "w", encoding="utf-8") as f:
            f.write(error)
    except BaseException:  # noqa: BLE001
        pass


def _wait_test(pid: int, timeout: float) -> dict | None:
    """None when the test process exited 0 in time; otherwise the answer to give."""
    try:
        fd = os.pidfd_open(pid)
        select.select([fd], [], [], timeout)
        os.close(fd)
    except (AttributeError, OSError):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.002)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return {"status": "timeout"}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return {"status": "timeout", "detail": "cpu time limit"}
        return {"status": "error", "detail": f"killed by signal {sig}"}
    return None if os.WEXITSTATUS(status) == 0 else {"status": "error", "detail": "runtime error"}


def serve(requests: int, replies: int, guard, workdir: str) -> None:
    """Answer the judge until it closes the pipe (then the runner exits)."""
    program = _Program(guard, workdir, (requests, replies))
    handlers = {"exec": program.exec, "describe": program.describe, "call": program.call, "load": program.load,
                "run": program.run, "ready": lambda _: {}}
    while True:
        try:
            message = wire.recv(requests)
        except (wire.ChannelClosed, wire.ChannelBroken):
            return
        handler = handlers.get(message.get("op"))
        reply = handler(message) if handler else {"error": "ProtocolError", "message": f"unknown {message!r:.80}"}
        reply["seq"] = message.get("seq")
        wire.send(replies, reply)
