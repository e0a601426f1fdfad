"""The sandbox holds against hostile programs: each attack fails, quickly, and the harness and host are unharmed.

Every attack runs with the full sandbox (OS layers + Python guard). The `guard=False` runs show the OS layers
alone also hold (namespaces where the kernel allows them, unprivileged uid where the harness runs as root, as CI
does, rlimits); `namespaces=False` runs check the fallback used where the kernel refuses namespaces. The attacks
on the graders themselves are in test_eval_hostile.py."""

import json
import os
import socket
import threading
import time
import uuid

import pytest

from axk1.eval import sandbox, sandbox_boot
from axk1.eval.sandbox import RUN_UID_BASE, Limits, run_parallel, run_python
from axk1.eval.sandbox_wire import NotPlain, decode, encode
from tests.sandbox_helpers import orphaned_runs

FAST = Limits(wall_s=5, cpu_s=5, memory_mb=512)
ROOT = os.getuid() == 0


def test_runs_a_program_with_stdin_and_reports_isolation():
    r = run_python("import sys\nprint(sys.stdin.read()[::-1])", stdin="abc", limits=FAST)
    assert r.ok and r.stdout == "cba\n"
    assert r.report["guard"] is True
    if ROOT:
        assert r.report["uid"] >= RUN_UID_BASE and r.report["network"] == "netns"


def test_fork_bomb_is_stopped_and_leaves_nothing_behind():
    bomb = "import os\nwhile True:\n    os.fork()\n"
    r = run_python(bomb, limits=FAST)
    assert not r.ok and "os.fork is not allowed" in r.stderr and not r.timed_out  # the guard ended it, not the clock
    # The OS layers alone: RLIMIT_NPROC caps the processes, the wall clock ends them, and the PID namespace (or,
    # without one, the supervisor's sweep of its descendants) leaves none.
    spinning = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    for namespaces in (None, False):
        start = time.monotonic()
        limits = Limits(wall_s=1.5, cpu_s=5, memory_mb=256, nproc=16)
        r = run_python(spinning, limits=limits, guard=False, namespaces=namespaces)
        # that the wall clock ended the run and no forked child held it open (they spin for ever): a bound generous
        # against the 1.5 s limit, not a speed
        assert r.timed_out and time.monotonic() - start < limits.wall_s + 20
    deadline = time.monotonic() + 3  # the supervisor may still be leaving its namespaces
    while orphaned_runs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert orphaned_runs() == []


def test_memory_bomb_fails_with_memory_error_not_the_host():
    for bomb in ("x = bytearray(8 * 2**30)", "chunks = []\nwhile True:\n    chunks.append(b'x' * 2**24)"):
        r = run_python(bomb, limits=Limits(wall_s=10, cpu_s=10, memory_mb=256))
        assert not r.ok and "MemoryError" in r.stderr and r.wall_s < 10


def test_infinite_loop_is_killed_at_the_wall_clock_and_by_cpu_time():
    r = run_python("while True:\n    pass", limits=Limits(wall_s=1, cpu_s=30))
    assert r.timed_out and r.returncode is None and r.wall_s < 3
    r = run_python("while True:\n    pass", limits=Limits(wall_s=30, cpu_s=1))
    assert not r.timed_out and r.signal is not None and r.wall_s < 5  # SIGXCPU / SIGKILL from RLIMIT_CPU


def test_writes_outside_the_private_directory_fail(tmp_path):
    target = tmp_path / "escaped.txt"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    in_tmp = f"/tmp/axk1-escape-{uuid.uuid4().hex}"
    program = f"""
import os
for attempt in (lambda: open({str(target)!r}, "w").write("x"), lambda: open({in_tmp!r}, "w").write("x"),
                lambda: os.remove({str(victim)!r}), lambda: os.rename({str(victim)!r}, "stolen")):
    try:
        attempt()
        print("ESCAPED")
    except OSError as e:
        print("blocked", type(e).__name__)
open("inside.txt", "w").write("fine")
print(open("inside.txt").read())
"""
    r = run_python(program, limits=FAST)
    assert r.ok, r.stderr
    assert "ESCAPED" not in r.stdout and r.stdout.count("blocked") == 4 and "fine" in r.stdout
    assert not target.exists() and not os.path.exists(in_tmp) and victim.read_text() == "keep me"
    # Without the guard: in the namespaced root the harness's folder is not there at all; in the fallback (as
    # root) the unprivileged uid cannot write it.
    r = run_python(f"open({str(target)!r}, 'w').write('x')", limits=FAST, guard=False)
    if r.report["namespaces"] != "none":
        assert not r.ok and "FileNotFoundError" in r.stderr and not target.exists()
    if ROOT:
        r = run_python(f"open({str(target)!r}, 'w').write('x')", limits=FAST, guard=False, namespaces=False)
        assert not r.ok and "PermissionError" in r.stderr and not target.exists()


def test_ordinary_file_work_inside_the_folder_is_allowed():
    program = """
import os, shutil, tempfile
os.mkdir("d")
open("d/a", "w").write("1")
os.rename("d/a", "d/b")
os.chmod("d/b", 0o600)
os.utime("d/b")
shutil.copyfile("d/b", "c")
os.remove("d/b")
os.makedirs("t/u/v")
open("t/u/v/w", "w").write("2")
shutil.rmtree("t")  # works through folder descriptors (dir_fd) inside the folder
os.rmdir("d")
with tempfile.TemporaryFile() as f, tempfile.NamedTemporaryFile() as g:
    f.write(b"x")
    g.write(b"y")
fd = os.open("e", os.O_CREAT | os.O_WRONLY, 0o600)
os.close(fd)
print(sorted(os.listdir(".")), open("c").read())
"""
    for namespaces in (None, False):
        r = run_python(program, limits=FAST, namespaces=namespaces)
        assert r.ok and r.stdout.strip().endswith("['c', 'e', 'main.py'] 1"), r.stderr


def test_sockets_cannot_reach_a_listening_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        program = f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\nprint('IN')"
        r = run_python(program, limits=FAST)
        assert not r.ok and "socket" in r.stderr and "IN" not in r.stdout
        r = run_python(program, limits=FAST, guard=False)  # the network namespace alone
        assert not r.ok and "IN" not in r.stdout
        if ROOT:
            assert "Network is unreachable" in r.stderr
    finally:
        thread.join()
        server.close()
    assert accepted == []


def test_the_parents_environment_is_not_readable(monkeypatch):
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AXK1_TEST_SECRET", secret)
    program = """
import os
print(sorted(os.environ))
for path in (f"/proc/{os.getppid()}/environ", "/proc/1/environ"):
    try:
        print(open(path, "rb").read())
    except OSError as e:
        print("blocked", type(e).__name__)
"""
    for guard in (True, False) if ROOT else (True,):
        r = run_python(program, limits=FAST, guard=guard)
        assert secret not in r.stdout and "AXK1_TEST_SECRET" not in r.stdout
        assert r.stdout.count("blocked") == 2, r.stdout + r.stderr


def test_the_program_cannot_kill_its_parent():
    program = """
import os, signal
for attempt in (lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.killpg(os.getpgid(os.getppid()), 9)):
    try:
        attempt()
        print("KILLED")
    except OSError as e:
        print("blocked", type(e).__name__)
"""
    for guard in (True, False) if ROOT else (True,):
        r = run_python(program, limits=FAST, guard=guard)
        assert "KILLED" not in r.stdout and r.stdout.count("blocked") == 2, r.stdout + r.stderr
    assert os.getpid() > 0  # still here


def test_native_calls_through_ctypes_are_refused_but_numpy_works():
    r = run_python("import ctypes\nctypes.CDLL(None).kill(1, 9)", limits=FAST)
    assert not r.ok and "ctypes.dlsym is not allowed" in r.stderr
    r = run_python("import numpy\nprint(int(numpy.arange(5).sum()))", limits=Limits(wall_s=20, cpu_s=20))
    assert r.ok and r.stdout.strip() == "10", r.stderr


def test_programs_run_in_parallel_across_cores():
    # each program prints when it ran; with 2 workers some pair of runs must overlap in time (a property of the
    # schedule, not a speed bound, so a loaded machine cannot fail it)
    code = "import time\na = time.time()\ntime.sleep(0.6)\nprint(a, time.time())"
    results = run_parallel(lambda _: run_python(code, limits=FAST), range(4), workers=2)
    assert all(r.ok for r in results)
    spans = sorted(tuple(map(float, r.stdout.split())) for r in results)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_without_the_fork_server_runs_start_the_slow_way(monkeypatch):
    monkeypatch.setitem(sandbox_boot._bundle, "failures", 3)  # as after three failed starts
    monkeypatch.setitem(sandbox_boot._bundle, "server", None)
    r = run_python("import sys\nprint(sys.stdin.read()[::-1])", stdin="abc", limits=FAST)
    assert r.ok and r.stdout == "cba\n" and r.report["guard"] is True
    r = run_python("while True:\n    pass", limits=Limits(wall_s=1, cpu_s=30))
    assert r.timed_out


def test_namespaces_are_given_up_once_and_only_on_a_refusal(monkeypatch, caplog):
    monkeypatch.setitem(sandbox._NAMESPACES, "usable", None)
    sandbox._note_isolation({}, True)  # a run killed at its time limit reports nothing: no verdict on the kernel
    assert sandbox._NAMESPACES["usable"] is None
    refused = {"namespaces": "none", "namespaces_error": "[Errno 1] unshare: Operation not permitted"}
    with caplog.at_level("WARNING", logger="axk1.eval.sandbox"):
        sandbox._note_isolation(refused, True)
        sandbox._note_isolation(refused, True)
    assert sandbox._NAMESPACES["usable"] is False
    assert len(caplog.records) == 1 and "Not contained" in caplog.records[0].getMessage()


def test_plain_values_cross_and_everything_else_is_refused():
    value = [1, -2**80, 2.5, float("inf"), "x", None, True, (1, [2]), {3: "a", "b": (4,)}, {5}, frozenset({6}),
             b"\x00", 1 + 2j, range(1, 9, 2)]
    back = decode(json.loads(json.dumps(encode(value))))
    assert back == value and [type(v) for v in back] == [type(v) for v in value]
    assert list(decode(json.loads(json.dumps(encode(x * x for x in range(3)))))) == [0, 1, 4]

    class Int(int):
        pass

    class Iterator:  # an iterator of the program's own: its __next__ is never called
        def __iter__(self):
            return self

        def __next__(self):
            raise StopIteration

    deep: list = []
    for _ in range(300):
        deep = [deep]
    for bad in (Int(1), [Int(1)], {Int(1): 2}, (1, object()), Iterator(), iter([Int(2)]), deep):
        with pytest.raises(NotPlain):
            encode(bad)


def test_the_guards_own_realpath_agrees_with_os_path_realpath(tmp_path, monkeypatch):
    # The guard cannot call os.path.realpath (Python that looks os.fspath and os.lstat up at call time: a program
    # rebinding them ran its code inside the hook); its C-only resolver must name the same places.
    import posix

    from axk1.eval.sandbox_guard import resolver

    resolve = resolver(posix.lstat, posix.readlink, posix.getcwd, posix.access)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "rel").symlink_to("b")
    (tmp_path / "a" / "up").symlink_to("..")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    monkeypatch.chdir(tmp_path / "a")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for path in (str(tmp_path / "link" / "b"), str(tmp_path / "link" / "rel" / ".." / "up" / "x"), "b/../rel",
                     "missing/../../link", "/", "//etc/../usr/./lib", "..", ".", "./up/up/up", f"/proc/self/fd/{fd}",
                     str(tmp_path / "loop1" / "x"), str(tmp_path / "nope" / "..")):
            assert resolve(path) == os.path.realpath(path), path
    finally:
        os.close(fd)
