"""Escapes from the sandbox's fallback (the Python guard with resource limits, no namespaces) found by red-teaming
the guard as changed for correct programs: a read-only descriptor reopened for writing through its /proc/self/fd
name (a read-only /proc/self/mem, reopened, rewrote the guard's functions in memory), symbolic links whose target
the guard read from the working directory instead of the link's folder, and the tolerant judge's runner, which
handles each test's files by name without a guard and followed what an earlier test's program left there."""

import pytest

from axk1.eval import sandbox
from axk1.eval.sandbox import Limits, run_judge, run_python

FAST = Limits(wall_s=5, cpu_s=5, memory_mb=512)

# The start of the attacks that rewrite the guard in memory: its `refuse`, found through a refusal's traceback
# (allowed: traceback.print_exc reads those frames), and a code object that refuses nothing.
FIND_REFUSE = """try:
    open("/etc/passwd")
except PermissionError as e:
    tb = e.__traceback__
    while tb.tb_next:
        tb = tb.tb_next
    refuse = tb.tb_frame.f_back.f_locals["refuse"]
allow = (lambda message, PermissionError_=None: None).__code__
"""

# The guard's `refuse` is reachable from a refusal's traceback (allowed: traceback.print_exc reads those frames);
# with a writable /proc/self/mem its code pointer is rewritten to a function that refuses nothing.
GUARD_OFF_BY_PROC_MEM = "import struct\n" + FIND_REFUSE + """mem = open("/proc/self/mem", "rb", buffering=0)
mem = open(f"/proc/self/fd/{mem.fileno()}", "r+b", buffering=0)
mem.seek(id(refuse) + 48)  # PyFunctionObject.func_code (3.11)
mem.write(struct.pack("<Q", id(allow)))
print("root:", open("/etc/passwd").read()[:20])
"""


def test_a_read_only_descriptor_is_not_reopened_for_writing(monkeypatch, outside):
    # Where the harness is not root the program keeps its uid and stays dumpable, so the kernel lets it write its
    # own /proc/self/mem: only the guard stands (simulated here by not dropping to a run uid)
    monkeypatch.setattr(sandbox, "_drop_target", lambda: None)
    r = run_python(GUARD_OFF_BY_PROC_MEM, limits=FAST, namespaces=False)
    assert not r.ok and "root:" not in r.stdout, (r.stdout, r.stderr)
    assert "PermissionError: sandbox: reopening a read-only descriptor for writing is not allowed" in r.stderr, r.stderr
    outside.unchanged()


def test_reopening_a_descriptor_for_what_it_allows_still_works():
    program = """import os
r, w = os.pipe()
with open(f"/proc/self/fd/{w}", "w") as again, open(f"/dev/fd/{r}") as back:
    again.write("through the pipe\\n")
    again.flush()
    os.close(w)
    print(back.readline().strip())
print(open(f"/dev/fd/{os.open('mine.txt', os.O_RDWR | os.O_CREAT)}", "r+").write("x"))
"""
    r = run_python(program, limits=FAST, namespaces=False)
    assert r.ok and r.stdout == "through the pipe\n1\n", (r.stdout, r.stderr)


@pytest.mark.parametrize("program", [
    # a link made from deeper down: its target was judged from the working directory, not from the link's folder
    "import os\nwork = os.getcwd()\nos.makedirs('a/b/c/d')\nos.chdir('a/b/c/d')\n"
    "os.symlink('../../../etc/passwd', work + '/l')\nos.chdir(work)\n",
    # (judging from the link's folder instead is not enough: a link that points inside from its own folder, moved
    # up a level, points outside with the same target)
    "import os\nos.makedirs('a/b')\nos.symlink('../../x', 'a/b/l')\nos.rename('a/b/l', 'l')\n",
    "import os\nos.symlink('/etc/passwd', 'l')\n",
])
def test_a_link_cannot_be_made_to_point_out_of_the_folder(program, outside):
    r = run_python(program + "print('LINKED', os.readlink('l'))\n", limits=FAST, namespaces=False)
    assert not r.ok and "LINKED" not in r.stdout, (r.stdout, r.stderr)
    assert "PermissionError: sandbox: symbolic links" in r.stderr, r.stderr
    outside.unchanged()


def test_links_inside_the_folder_still_work():
    program = """import os, shutil
os.makedirs("data/sub")
open("data/sub/x.txt", "w").write("hi")
os.symlink("data/sub/x.txt", "near")
os.symlink(os.path.abspath("data"), "far")
shutil.copytree("data", "copy", symlinks=True)
print(open("near").read(), open("far/sub/x.txt").read(), open("copy/sub/x.txt").read())
"""
    r = run_python(program, limits=FAST, namespaces=False)
    assert r.ok and r.stdout == "hi hi hi\n", (r.stdout, r.stderr)


# Test 0 leaves links under the names the runner uses for test 1's files (.in1, .out1, .err1 in the run folder):
# the runner, which has no guard, wrote test 1's input through .in1, test 1's process wrote its output through .out1
# (into a world-writable folder outside), and its error detail was read through .err1 (/etc/passwd, into the verdict).
def _planting(folder) -> str:
    return f"""import os
work = os.getcwd()
if not os.path.lexists(".out1"):
    os.makedirs("a/b/c/d/e/f")
    os.chdir("a/b/c/d/e/f")
    for name, target in ((".in1", "in"), (".out1", "out")):
        os.symlink("../../.." + {str(folder)!r} + "/" + target, work + "/" + name)
    os.symlink("../../../etc/passwd", work + "/.err1")
    os.chdir(work)
    print(input())
else:
    print("written outside")
    raise SystemExit(3)
"""


def test_the_tolerant_runner_follows_no_link_an_earlier_test_left(outside):
    payload = {"kind": "tests", "code": _planting(outside.folder), "mode": "tolerant", "timeout_s": 3,
               "stop_at_first_failure": False, "tests": {"inputs": ["1\n", "2\n"], "outputs": ["1\n", "2\n"]}}
    r = run_judge(payload, Limits(wall_s=15, cpu_s=5, memory_mb=512), namespaces=False)
    assert "results" in r.report and "root:" not in str(r.report["details"]), r.report
    outside.unchanged()


# A fifo, a folder or a removed file under a test's names: the runner hung on the fifo (opening it to write the next
# input), or failed on the removed output and answered nothing more; each test now gets fresh files.
LEAVES_ODD_FILES = """import os
n = int(input())
if n == 1:
    os.mkfifo(".in1")
    os.mkdir(".out2")
    os.remove(".out0")
print(n)
"""


def test_the_tolerant_runner_makes_each_tests_files_afresh():
    payload = {"kind": "tests", "code": LEAVES_ODD_FILES, "mode": "tolerant", "timeout_s": 2,
               "stop_at_first_failure": False,
               "tests": {"inputs": ["1\n", "2\n", "3\n"], "outputs": ["1\n", "2\n", "3\n"]}}
    r = run_judge(payload, Limits(wall_s=15, cpu_s=5, memory_mb=512), namespaces=False)
    assert r.report.get("results") == [-4, True, True], r.report
    assert "removed or replaced its output file" in r.report["details"][0], r.report


# Memory the program may write with no audit event (numpy's array interface, ctypes pointers): the guard's functions
# are rewritten to refuse nothing. Without namespaces the guard was all that stood between the program and the
# host's files; Landlock (no namespace or privilege needed) now keeps them where the kernel has it.
GUARD_OFF_BY_NUMPY = "import numpy as np\n" + FIND_REFUSE + """class At:
    def __init__(self, address):
        self.__array_interface__ = {"data": (address, False), "shape": (1,), "typestr": "<u8", "version": 3}
np.asarray(At(id(refuse) + 48))[0] = id(allow)  # PyFunctionObject.func_code (3.11)
open("inside.txt", "w").write("guard off")
print(open("inside.txt").read())
"""
GUARD_OFF_BY_CTYPES = "import ctypes\n" + FIND_REFUSE + """cell = ctypes.c_long(0)
pointer = ctypes.pointer(cell)  # indexing a pointer is not bounds-checked, and raises no audit event
start = next(id(cell) + x for x in range(24, 200, 8) if pointer[(16 - x) // 8] == id(cell) + x)
pointer[(id(refuse) + 48 - start) // 8] = id(allow)
print("guard off")
"""


@pytest.mark.parametrize("program", [GUARD_OFF_BY_NUMPY, GUARD_OFF_BY_CTYPES])
def test_with_the_guard_switched_off_the_kernel_still_keeps_the_hosts_files(program, outside):
    from axk1.eval import sandbox_landlock, sandbox_ns

    secret = outside.folder.parent / f"axk1-secret-{outside.marker}"
    secret.write_text("host secret")
    secret.chmod(0o644)
    try:
        r = run_python(program + f"""
for attempt in (lambda: print(open({str(secret)!r}).read()), lambda: open({str(outside.folder / 'x')!r}, "w")):
    try:
        attempt()
    except PermissionError as e:
        print("refused", e.filename)
""", limits=FAST, namespaces=False)
    finally:
        secret.unlink()
    assert r.report["landlock"] == sandbox_landlock.version(sandbox_ns.libc()), r.report
    assert "guard off" in r.stdout, (r.stdout, r.stderr)  # the guard really was switched off
    if r.report["landlock"] != "none":  # (a kernel without Landlock: the fallback's documented gap)
        # (the program may crash on the way out: the memory it rewrote broke the interpreter's reference counts)
        assert "host secret" not in r.stdout and r.stdout.count("refused") == 2, (r.stdout, r.stderr)
        outside.unchanged()


def test_sqlite_attach_and_vacuum_into_reach_no_file_outside(outside):
    # sqlite3.connect is judged by the guard, but ATTACH and VACUUM INTO open files in C with no event at all: they
    # wrote databases into a world-writable folder outside. Landlock keeps them out (where the kernel has it).
    from axk1.eval import sandbox_landlock, sandbox_ns

    program = f"""import sqlite3
db = sqlite3.connect(":memory:")
db.execute("create table t(x)")
for sql in ("attach database '{outside.folder}/a.db' as a", "vacuum into '{outside.folder}/v.db'"):
    try:
        db.execute(sql)
        db.execute("create table a.t(x)") if sql.startswith("attach") else None
        print("DONE", sql)
    except sqlite3.OperationalError as e:
        print("refused", e)
db.execute("attach database 'local.db' as mine")
db.execute("create table mine.t(x)")
print("inside fine")
"""
    r = run_python(program, limits=FAST, namespaces=False)
    if sandbox_landlock.version(sandbox_ns.libc()) != "none":  # (without it: the fallback's documented gap)
        assert r.ok and r.stdout.count("refused") == 2 and "inside fine" in r.stdout, (r.stdout, r.stderr)
        outside.unchanged()


def test_fifos_and_nodes_are_not_made_outside(outside):
    # os.mkfifo and os.mknod raise no audit event in CPython 3.11 (the guard's table lists them, but never sees
    # them): both made files in a world-writable folder outside. Landlock refuses them (where the kernel has it).
    from axk1.eval import sandbox_landlock, sandbox_ns

    program = f"""import os
for make in (os.mkfifo, os.mknod):
    try:
        make({str(outside.folder / 'x')!r})
        print("MADE")
    except PermissionError:
        print("refused")
os.mkfifo("inside")
print("inside fine")
"""
    r = run_python(program, limits=FAST, namespaces=False)
    if sandbox_landlock.version(sandbox_ns.libc()) != "none":  # (without it: the fallback's documented gap)
        assert r.ok and r.stdout == "refused\nrefused\ninside fine\n", (r.stdout, r.stderr)
        outside.unchanged()


def test_the_hook_catches_no_exception(tmp_path, monkeypatch):
    # A program's signal handler runs between the hook's bytecodes: an OSError it raised inside the hook's
    # `try: lstat(...) except OSError` read as "no such entry" (a link kept as written, not followed) and inside
    # is_dir's as "not a folder" (a descriptor on a folder outside). The hook's functions now hold no handler at all,
    # so whatever is raised inside the hook ends in a refusal.
    from tests.sandbox_helpers import guard_functions

    functions = guard_functions(monkeypatch, tmp_path)
    handlers = {fn.__name__: fn.__code__.co_exceptiontable for fn in functions}
    assert {"hook", "resolve", "is_dir", "on_open"} <= handlers.keys()
    assert all(table == b"" for table in handlers.values()), [name for name, t in handlers.items() if t]
    # and it still tells a link from a missing name, and a folder from a file
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "d")
    hook = functions[0]
    resolve = dict(zip(hook.__code__.co_varnames[2:], hook.__defaults__))["resolve"]  # (after event, args)
    assert resolve(str(tmp_path / "l" / "new")) == str(tmp_path.resolve() / "d" / "new")


def test_without_namespaces_the_program_reaches_no_other_process_and_no_tcp(monkeypatch):
    # Where the harness is not root the program has the harness's uid (simulated: no drop to a run uid) and, with
    # the guard switched off (here: off), signalled any of the harness's processes through a pidfd and, without a
    # network namespace, connected to the host's TCP services. Landlock's scopes (Linux 6.12+) and TCP rules (6.7+)
    # keep both where the kernel has them.
    import socket
    import subprocess

    from axk1.eval import sandbox_landlock, sandbox_ns

    monkeypatch.setattr(sandbox, "_drop_target", lambda: None)
    victim = subprocess.Popen(["sleep", "30"])
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        program = f"""import os, signal, socket
for name, attempt in (("signal", lambda: signal.pidfd_send_signal(os.pidfd_open({victim.pid}), 9)),
                      ("tcp", lambda: socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=2))):
    try:
        attempt()
        print("REACHED", name)
    except PermissionError:
        print("refused", name)
"""
        r = run_python(program, limits=FAST, namespaces=False, guard=False, network_namespace=False)
        version = sandbox_landlock.version(sandbox_ns.libc())
        if version != "none" and int(version.rsplit("v", 1)[1]) >= 6:  # (older kernels: the documented gap)
            assert r.stdout == "refused signal\nrefused tcp\n", (r.stdout, r.stderr)
            assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
        server.close()
