"""The sandbox's Python guard against programs that go for the guard itself (found in session 14): reaching the
audit hook's state (gc, traceback frames, tracing, code swaps), running their own code inside the hook (a rebound
os.fspath, str subclasses, their own sys.audit events), the module's tables through sys.modules; ordinary programs
still run (printing a refusal's traceback, importing asyncio); and a run's program cannot signal another run's
processes. Each case runs in the fallback used where the
kernel refuses namespaces, where the guard is the layer that holds."""

import os
import subprocess
import time

import pytest

from axk1.eval.sandbox import Limits, run_python

FAST = Limits(wall_s=5, cpu_s=5, memory_mb=512)


# The guard's own state (found by a hostile tester in session 14): gc.get_objects() found the audit hook and
# rewrote the `refuse` in its closure, after which the fallback read host files and forked; a PermissionError's
# traceback frames hold the hook's locals; a tracer sees its frames; a function's code can be swapped.
GUARD_OFF_BY_GC = """import gc
for h in [o for o in gc.get_objects() if type(o).__name__ == "function" and o.__name__ == "hook"]:
    for name, cell in zip(h.__code__.co_freevars, h.__closure__ or ()):
        if name == "refuse":
            cell.cell_contents = lambda message: None
print(open("/etc/passwd").read())
"""
# A refusal's traceback ends in the hook's frames, and a program may read them (traceback.print_exc() does: refusing
# that failed correct programs). The hook's state is in defaults, not closure cells: what those frames hold cannot
# be rewritten, and the guard's functions keep their defaults and code.
GUARD_OFF_BY_TRACEBACK = """import types
try:
    open("/etc/passwd")
except PermissionError as e:
    tb, found = e.__traceback__, []
    while tb:
        found += [v for v in tb.tb_frame.f_locals.values() if type(v) is types.FunctionType]
        tb = tb.tb_next
for fn in found:
    for cell in fn.__closure__ or ():
        cell.cell_contents = lambda *a, **k: True
    for name, value in (("__defaults__", (None,) * 40), ("__code__", (lambda *a, **k: True).__code__)):
        try:
            setattr(fn, name, value)
            print("SWAPPED", fn.__name__, name)
        except PermissionError:
            pass
print("found", len(found) > 3)
print(open("/etc/passwd").read())
"""
GUARD_OFF_BY_CODE = """import sys
try:
    sys.audit("open", "/etc/passwd", "r", 0)
except PermissionError as e:
    tb = e.__traceback__
    while tb.tb_next:
        tb = tb.tb_next
    refuse = tb.tb_frame.f_back.f_locals["refuse"]  # on_open's, from its finished frame
refuse.__code__ = (lambda *a, **k: None).__code__
print("SWAPPED")
"""


# Program code run inside the hook reaches its frames with sys._getframe: a rebound os.fspath (os.path.realpath
# looks it up at call time), a str subclass's __eq__ as a module or attribute name; and the module's tables were
# reachable (and mutable) through sys.modules. Found by a reviewer of the first fix.
GUARD_OFF_BY_FSPATH = """import os, sys
original = os.fspath
def evil(p):
    f = sys._getframe(1)
    while f is not None and f.f_code.co_name != "on_open":
        f = f.f_back
    if f is not None:
        t = f.f_locals["text"]
        t.__closure__[t.__code__.co_freevars.index("refuse")].cell_contents = lambda m: None
    return original(p)
os.fspath = evil
open("x", "w").close()
os.fspath = original
print(open("/etc/passwd").read())
"""
GUARD_OFF_BY_TABLES = """import sys
for name, module in list(sys.modules.items()):
    if name.endswith("sandbox_guard"):
        module.SPAWN_EVENTS.clear()
        module.PATH_EVENTS.clear()
        module.BLOCKED_IMPORTS.clear()
        module.any = lambda *a: True
import os
os.fork()
print("root:", "FORKED")
"""
GUARD_OFF_BY_STR_SUBCLASS = """import sys
class Name(str):
    def __eq__(self, other):
        f = sys._getframe(1)
        while f is not None:
            if "sandbox_guard" in f.f_code.co_filename:
                print("INSIDE")
            f = f.f_back
        return str.__eq__(self, other)
    __hash__ = str.__hash__
__import__(Name("json"))
class C:
    pass
try:
    setattr(C, Name("__code__"), 1)
except PermissionError:
    pass
open("/etc/passwd")
"""


GUARD_OFF_BY_SYS_AUDIT = """import sys
class Number(int):  # sys.audit raises any event with any arguments: the hook must call none of their methods
    def __and__(self, other):
        print("INSIDE")
        return 0
    def __str__(self):
        print("INSIDE")
        return "1"
class Fake:
    @property
    def tb_frame(self):
        print("INSIDE")
        raise AttributeError
for event, args in (("open", ("x", "r", Number(0))), ("os.kill", (Number(1), 9)),
                    ("object.__getattr__", (Fake(), "tb_frame")), ("os.remove", (Number(3), -1))):
    try:
        sys.audit(event, *args)
    except PermissionError:
        pass
open("/etc/passwd")
"""


@pytest.mark.parametrize("program", [GUARD_OFF_BY_GC, GUARD_OFF_BY_TRACEBACK, GUARD_OFF_BY_CODE, GUARD_OFF_BY_FSPATH,
                                     GUARD_OFF_BY_TABLES, GUARD_OFF_BY_STR_SUBCLASS, GUARD_OFF_BY_SYS_AUDIT,
                                     "import sys\nsys.settrace(lambda *a: None)\nprint('TRACING')\n"])
def test_the_guard_cannot_be_reached_and_switched_off(program, outside):
    r = run_python(program, limits=FAST, namespaces=False)
    assert not r.ok and "root:" not in r.stdout and "refuse" not in r.stdout and "SWAPPED" not in r.stdout
    assert "TRACING" not in r.stdout and "INSIDE" not in r.stdout and "FORKED" not in r.stdout, r.stdout
    assert "PermissionError: sandbox:" in r.stderr, (r.stdout, r.stderr)
    outside.unchanged()


def test_ordinary_programs_still_run_under_the_guard():
    program = """import collections, dataclasses, inspect, pathlib, traceback
p = pathlib.Path("x.txt")
p.write_text("hi")
@dataclasses.dataclass
class A:
    x: int
class Counter:
    n = 0
Counter.n += 1
try:
    1 / 0
except ZeroDivisionError as e:
    caught = type(e).__name__
    shown = "ZeroDivisionError" in traceback.format_exc()  # a traceback of the program's own frames reads fine
def gen():
    yield 1
state = inspect.getgeneratorstate(gen())
print(p.read_text(), A(3), Counter.n, collections.namedtuple("T", "a b")(1, 2), caught, shown, state)
"""
    for namespaces in (False, None):
        r = run_python(program, limits=FAST, namespaces=namespaces)
        assert r.ok and r.stdout == "hi A(x=3) 1 T(a=1, b=2) ZeroDivisionError True GEN_CREATED\n", (r.stdout, r.stderr)


@pytest.mark.skipif(os.getuid() != 0, reason="runs under a uid of their own only where the harness is root")
def test_a_run_cannot_signal_another_runs_processes_even_through_a_pidfd(outside):
    # pidfd_send_signal raises no audit event, so only the kernel can refuse it: each run has a uid of its own
    # (they all ran as `nobody`, and a program killed any process of another run)
    other = run_python("print('x')", limits=FAST, namespaces=False).report["uid"]
    victim = subprocess.Popen(["setpriv", f"--reuid={other}", f"--regid={other}", "--clear-groups", "sleep", "30"])
    try:
        time.sleep(0.2)
        r = run_python(f"import os, signal\nsignal.pidfd_send_signal(os.pidfd_open({victim.pid}), 9)\n",
                       limits=FAST, namespaces=False, guard=False)
        assert not r.ok and "Operation not permitted" in r.stderr, r.stderr
        r = run_python(f"import ctypes\nprint('kill', ctypes.CDLL(None).kill({victim.pid}, 9))\n",
                       limits=FAST, namespaces=False, guard=False)
        assert r.stdout == "kill -1\n", (r.stdout, r.stderr)  # EPERM
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
    outside.unchanged()


def test_the_guard_survives_a_program_that_reads_its_frames(outside):
    r = run_python(GUARD_OFF_BY_TRACEBACK, limits=FAST, namespaces=False)
    assert r.stdout == "found True\n", (r.stdout, r.stderr)  # it did reach the guard's functions, and changed none
    assert "PermissionError: sandbox: reading outside" in r.stderr, r.stderr
    outside.unchanged()


def test_a_program_may_print_the_traceback_of_a_refusal():
    # traceback.print_exc() reads every frame of the traceback, the hook's included: it was refused, so a correct
    # program that merely logged a refusal failed with "reading the sandbox guard's frames is not allowed"
    program = """import logging, sys, traceback
try:
    open("/etc/passwd")
except PermissionError:
    traceback.print_exc()
    logging.exception("logged")
    shown = traceback.format_exc()
print("after", shown.strip().splitlines()[-1])
"""
    for namespaces in (False, None):
        r = run_python(program, limits=FAST, namespaces=namespaces)
        assert r.ok, r.stderr
        assert r.stdout == ("after PermissionError: sandbox: reading outside the sandbox directory and the Python "
                            "installation is not allowed: '/etc/passwd'\n"), r.stdout
        assert r.stderr.count("'/etc/passwd'") >= 2 and "ERROR:root:logged" in r.stderr, r.stderr


def test_the_hooks_functions_hold_no_cells_and_read_no_globals(tmp_path, monkeypatch):
    # What a frame of the hook holds must not be writable (a closure cell is, without any audit event), and what it
    # calls must not be a name the program can rebind (a module global): both would run the program's code inside
    import dis

    from tests.sandbox_helpers import guard_functions

    seen = {fn.__name__: (fn.__closure__, [i.argval for i in dis.get_instructions(fn)
                                           if i.opname in ("LOAD_GLOBAL", "LOAD_DEREF")])
            for fn in guard_functions(monkeypatch, tmp_path)}
    assert {"hook", "on_open", "on_path", "resolve", "refuse", "text"} <= seen.keys()
    assert all(state == (None, []) for state in seen.values()), seen


# asyncio imports subprocess, which imports _posixsubprocess: refusing that import (its fork_exec starts a process
# without any audit event) failed every program that imported asyncio. It is imported now with fork_exec replaced.
STARTS_A_PROCESS = [
    "import subprocess\nsubprocess.run(['true'])\n",
    "import os\nos.popen('true').read()\n",
    "import _posixsubprocess\n_posixsubprocess.fork_exec([b'/bin/true'], [b'/bin/true'], True, (), None, None, "
    "-1, -1, -1, -1, -1, -1, -1, -1, False, False, None, None, None, -1, None, False)\n",
    "import sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess\n",
    "import importlib.util, _imp, sys\ndel sys.modules['_posixsubprocess']\n"
    "_imp.create_dynamic(importlib.util.find_spec('_posixsubprocess'))\n",
    "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\np.join()\n",
    "import importlib, _posixsubprocess\nimportlib.reload(_posixsubprocess)\n_posixsubprocess.fork_exec()\n",
    "import importlib.util\nimportlib.util.module_from_spec(importlib.util.find_spec('_posixsubprocess'))\n",
]


def test_asyncio_and_subprocess_import_and_asyncio_runs():
    program = """import asyncio, subprocess, multiprocessing
async def twice(x):
    await asyncio.sleep(0)
    return 2 * x
async def main():
    return sum(await asyncio.gather(*(twice(i) for i in range(4)))) + await asyncio.to_thread(len, "abc")
print(asyncio.run(main()))
"""
    for namespaces in (False, None):
        r = run_python(program, limits=FAST, namespaces=namespaces)
        assert r.ok and r.stdout == "15\n", (r.stdout, r.stderr)


@pytest.mark.parametrize("program", STARTS_A_PROCESS)
def test_starting_a_process_is_still_refused(program, outside):
    # (a refused import raises ImportError, the other refusals PermissionError: both say "sandbox:")
    r = run_python(program + f"print('STARTED')\nopen({str(outside.folder / 'x')!r}, 'w')\n", limits=FAST,
                   namespaces=False)
    assert not r.ok and "STARTED" not in r.stdout and "Error: sandbox:" in r.stderr, (r.stdout, r.stderr)
    outside.unchanged()


# Native modules that open files or sockets themselves, with no `open` event for the guard to judge (the kernel
# layers held; the fallback wrote a database and a history file into a world-writable folder outside the run).
def _native_writes(folder) -> list[str]:
    return [f"import sqlite3\nsqlite3.connect({str(folder / 'x.db')!r}).execute('create table t(x)')\n",
            f"import sqlite3\nsqlite3.connect('file:{folder / 'x.db'}?mode=rwc', uri=True)"
            ".execute('create table t(x)')\n",
            "import sqlite3\nsqlite3.connect('file:/etc/passwd?mode=ro', uri=True).execute('select 1').fetchall()\n",
            f"import readline\nreadline.write_history_file({str(folder / 'history')!r})\n",
            "import syslog\nsyslog.syslog('from a graded program')\n"]


def test_native_file_and_log_writers_are_refused_in_the_fallback(outside):
    for program in _native_writes(outside.folder):
        r = run_python(program + "print('DONE')\n", limits=FAST, namespaces=False)
        assert not r.ok and "DONE" not in r.stdout and "Error: sandbox:" in r.stderr, (program, r.stderr)
    outside.unchanged()


def test_sqlite_in_memory_and_in_the_run_folder_still_works():
    program = """import sqlite3
for name in (":memory:", "local.db", b"other.db"):
    db = sqlite3.connect(name)
    db.execute("create table t(x)")
    db.execute("insert into t values (7)")
    print(db.execute("select sum(x) from t").fetchone()[0], end=" ")
"""
    r = run_python(program, limits=FAST, namespaces=False)
    assert r.ok and r.stdout == "7 7 7 ", (r.stdout, r.stderr)


# A subinterpreter starts with no Python audit hook: code run there was outside the guard (the namespaced run forked
# and read the root's files unguarded; the fallback failed only because its uid could not read this Python's folder).
SUBINTERPRETER = """import _xxsubinterpreters as interpreters
interpreters.run_string(interpreters.create(), "import os; print('FORKED', os.fork())")
"""


# _testcapi.run_in_subinterp starts one with no thread state current, so no hook of this interpreter sees it.
SUBINTERPRETER_BY_TESTCAPI = """import _testcapi
_testcapi.run_in_subinterp("import os; print('FORKED', os.fork())")
"""


def test_subinterpreters_are_refused(outside):
    for namespaces in (False, None):
        for program in (SUBINTERPRETER, SUBINTERPRETER_BY_TESTCAPI):
            r = run_python(program, limits=FAST, namespaces=namespaces)
            assert not r.ok and "FORKED" not in r.stdout and "Error: sandbox:" in r.stderr, r.stderr
    # the module is not needed to make one: the event itself is refused
    r = run_python("import sys\nsys.audit('cpython.PyInterpreterState_New')\n", limits=FAST, namespaces=False)
    assert "PermissionError: sandbox: subinterpreters are not allowed" in r.stderr, r.stderr
    outside.unchanged()


def test_a_refused_import_is_an_import_error_that_optional_imports_survive():
    # pdb (which doctest imports) does `try: import readline / except ImportError`: a PermissionError failed every
    # program that imported doctest
    program = """import doctest, pdb
try:
    import readline
except ImportError as e:
    print(type(e).__name__, e)
"""
    r = run_python(program, limits=FAST, namespaces=False)
    assert r.ok and r.stdout == "ImportError sandbox: importing readline is not allowed\n", (r.stdout, r.stderr)


DOCTEST = '''def twice(x):
    """
    >>> twice(2)
    4
    """
    return 2 * x
import doctest, sys
print(doctest.testmod())
sys.setprofile(None)
try:
    sys.settrace(lambda *a: None)
except PermissionError as e:
    print(e)
'''


def test_doctest_runs_but_a_tracer_is_still_refused():
    # doctest.testmod() calls sys.settrace(None) (setting no tracer), and that was refused like a tracer
    r = run_python(DOCTEST, limits=FAST, namespaces=False)
    assert r.ok and r.stdout == "TestResults(failed=0, attempted=1)\nsandbox: sys.settrace is not allowed\n", \
        (r.stdout, r.stderr)
