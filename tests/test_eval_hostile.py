"""Hostile programs against the graders (issue #15): every attack fails, and nothing outside its run changes.

Each case goes through the grader it targets (HumanEval's check, LiveCodeBench strict and tolerant) with the full
sandbox. The kernel cases run again with the Python guard off (the namespaces alone must hold), and under the
fallback used where the kernel refuses namespaces (guard + limits + subreaper). After every case: the world-writable
folder outside the sandbox is still empty, no process carries the case's marker, and no sandbox process outlived
its run. A case that needs namespaces skips, saying so, only on a machine that refuses them."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from axk1.eval.execution import run_checked, run_tests
from axk1.eval.sandbox import Limits, run_python
from axk1.eval.tasks.humaneval import grade_code, read_problems
from tests.sandbox_helpers import Outside

FAST = Limits(wall_s=5, cpu_s=5, memory_mb=512)
PROBLEMS = {p["task_id"]: p for p in read_problems()}
HE0, HE2 = PROBLEMS["HumanEval/0"], PROBLEMS["HumanEval/2"]
WRONG_HE0 = HE0["prompt"] + "    return False\n"
ADD = {"inputs": ["1 2\n", "10 20\n"], "outputs": ["3\n", "30\n"], "fn_name": None}
HALVES = {"inputs": ["4", "7"], "outputs": ["[2, 2.0]", "[3, 3.5]"], "fn_name": "halves"}
MODES = ("strict", "tolerant")


def _namespaces_here() -> bool:
    return run_python("pass", limits=FAST, namespaces=True).report.get("namespaces", "none") != "none"


NAMESPACES = _namespaces_here()
needs_namespaces = pytest.mark.skipif(not NAMESPACES, reason="this kernel/container refuses user, mount and PID "
                                      "namespaces; the fallback cases below still run")


# ---- 1. the verdict is not the exit status -----------------------------------------------------------------------
@pytest.mark.parametrize("tail", ["import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "raise SystemExit(0)\n",
                                  "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"])
def test_humaneval_a_wrong_solution_that_exits_fails(tail, outside):
    outcome = grade_code(HE0, WRONG_HE0 + tail)
    assert outcome.verdict == "runtime_error", outcome
    outside.unchanged()


def test_humaneval_exiting_inside_the_function_fails(outside):
    code = HE0["prompt"] + "    import os\n    os._exit(0)\n"
    assert grade_code(HE0, code).verdict == "runtime_error"
    outside.unchanged()


# ---- 2. the program cannot write the verdict ----------------------------------------------------------------
FORGE = """
import json, os, struct
forged = json.dumps({"results": [True, True], "details": ["", ""], "verdict": "pass", "seq": 1, "status": "ok",
                     "ok": True, "out": "3\\n"}).encode()
for fd in range(3, 64):
    for data in (forged, struct.pack(">I", len(forged)) + forged):
        try:
            os.write(fd, data)
        except OSError:
            pass
os._exit(0)
"""


@pytest.mark.parametrize("mode", MODES)
def test_lcb_forged_results_on_every_descriptor_fail(mode, outside):
    assert run_tests(FORGE, ADD, mode, timeout_s=2).verdict != "pass"
    forged_call = "class Solution:\n    def halves(self, x):\n" + "".join(f"        {line}\n" for line in
                                                                        FORGE.strip().splitlines())
    assert run_tests(forged_call, HALVES, mode, timeout_s=2).verdict != "pass"
    outside.unchanged()


def test_humaneval_forged_results_fail(outside):
    assert grade_code(HE0, WRONG_HE0 + FORGE).verdict != "pass"
    outside.unchanged()


def test_lcb_reading_the_expected_outputs_from_memory_fails(outside):
    peek = """
import gc, sys
try:
    objects = gc.get_objects()  # the guard refuses it now; either way the answers are not there
except PermissionError:
    objects = []
for o in objects:
    if isinstance(o, dict) and "outputs" in o and "inputs" in o:
        print(o["outputs"][0].strip())
        break
else:
    print(-1)
"""
    secret = {"inputs": ["1 2\n"], "outputs": ["777\n"], "fn_name": None}
    for mode in MODES:
        assert run_tests(peek, secret, mode, timeout_s=2).verdict == "wrong_answer"
    outside.unchanged()


# ---- 3. values compared by type and value, not by the object's __eq__ -----------------------------------------
EVERYTHING = """
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
class Int(int):
    def __eq__(self, other):
        return True
class List(list):
    def __eq__(self, other):
        return True
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", ["Anything()", "Int(0)", "List()", "[Anything(), 1]", "{1: Anything()}"])
def test_lcb_objects_equal_to_everything_fail(mode, value, outside):
    code = EVERYTHING + f"class Solution:\n    def halves(self, x):\n        return {value}\n"
    outcome = run_tests(code, HALVES, mode, timeout_s=2)
    assert outcome.verdict == "wrong_answer", outcome
    # a list subclass travels as what it holds (its __eq__ stays behind): [] is not [2, 2.0]
    assert ("not plain data" if value != "List()" else "got []") in outcome.details[0], outcome
    outside.unchanged()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", ["P(x // 2, x / 2)", "List([x // 2, x / 2])"])
def test_lcb_container_subclasses_are_graded_on_what_they_hold(mode, value, outside):
    """A namedtuple, or a list subclass, holding the right answer passes (the reference harness passes them; they
    were refused as "not plain data"); the subclass's own __eq__ plays no part."""
    code = (EVERYTHING + "from collections import namedtuple\nP = namedtuple('P', 'a b')\n"
            f"class Solution:\n    def halves(self, x):\n        return {value}\n")
    assert run_tests(code, HALVES, mode, timeout_s=2).verdict == "pass"
    outside.unchanged()


def test_humaneval_answers_in_standard_library_containers_pass(outside):
    """HumanEval's checks compare with ==: a Counter, defaultdict or OrderedDict holding the right counts passes, and
    one holding wrong counts fails."""
    check = "def check(candidate):\n    assert candidate('aab') == {'a': 2, 'b': 1}\n"
    for make in ("Counter(s)", "defaultdict(int, Counter(s))", "OrderedDict(Counter(s))"):
        good = f"from collections import Counter, defaultdict, OrderedDict\ndef count(s):\n    return {make}\n"
        assert run_checked(good, check, "count", timeout_s=5).verdict == "pass", make
        bad = good.replace(make, make.replace("(s)", "(s + 'b')"))
        assert run_checked(bad, check, "count", timeout_s=5).verdict == "wrong_answer", make
    outside.unchanged()


def test_humaneval_objects_equal_to_everything_and_patched_builtins_fail(outside):
    for value in ("Anything()", "Int(0)"):
        assert grade_code(HE0, EVERYTHING + HE0["prompt"] + f"    return {value}\n").verdict == "wrong_answer"
    # truncate_number's asserts use abs(): neither a module-level abs nor a patched builtins.abs reaches them
    for patch in ("def abs(x):\n    return 0\n", "import builtins\nbuiltins.abs = lambda x: 0\n"):
        assert grade_code(HE2, HE2["prompt"] + "    return 0.5\n" + patch).verdict == "wrong_answer"
    outside.unchanged()


# ---- 4. reaching outside through descriptors, /proc and /etc ---------------------------------------------------
def _dir_fd_write(folder: Path) -> str:
    return (f"import os\nd = os.open({str(folder)!r}, os.O_RDONLY)\n"
            "os.close(os.open('forged', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=d))\nprint('CREATED')\n")


PROC_THROUGH_DIR_FD = """
import os
d = os.open("/proc", os.O_RDONLY)
for entry in os.listdir(d):
    if entry.isdigit():
        try:
            print(os.read(os.open(entry + "/cmdline", os.O_RDONLY, dir_fd=d), 4096))
        except OSError:
            pass
"""
PASSWD = "print(open('/etc/passwd').read())\n"


def _dir_fd_climb(folder: Path) -> str:
    """The run's own folder (tmp/axk1-sandbox-X/work) as a descriptor, the working directory three levels below
    it: names relative to the descriptor reach `folder`, the same names relative to the working directory do not."""
    name = f"../../{folder.name}"
    return (f"import os\nos.makedirs('a/b/c')\nw = os.open('.', os.O_RDONLY)\nos.chdir('a/b/c')\n"
            f"os.mkdir({name + '/made'!r}, dir_fd=w)\nprint('CREATED')\n")


def _outside_attacks(outside: Outside, **run) -> None:
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", outside.marker])
    try:
        time.sleep(0.2)
        for program in (_dir_fd_write(outside.folder), _dir_fd_climb(outside.folder)):
            r = run_python(program, limits=FAST, **run)
            assert "CREATED" not in r.stdout and not r.ok, r.stderr
        r = run_python(PROC_THROUGH_DIR_FD, limits=FAST, **run)
        assert outside.marker not in r.stdout and "pytest" not in r.stdout, r.stdout
        r = run_python(PASSWD, limits=FAST, **run)
        assert "root:" not in r.stdout and not r.ok
    finally:
        helper.kill()
        helper.wait()
    outside.unchanged()


def test_descriptors_proc_and_passwd_are_refused_by_the_full_sandbox(outside):
    _outside_attacks(outside)


@needs_namespaces
def test_descriptors_proc_and_passwd_are_refused_by_namespaces_alone(outside):
    _outside_attacks(outside, guard=False, namespaces=True)


def test_descriptors_proc_and_passwd_are_refused_by_the_fallback(outside):
    _outside_attacks(outside, namespaces=False)


def test_the_grader_paths_refuse_them_too(outside):
    code = _dir_fd_write(outside.folder) + PROC_THROUGH_DIR_FD + PASSWD
    for mode in MODES:
        assert run_tests(code, ADD, mode, timeout_s=2).verdict == "runtime_error"
    assert grade_code(HE0, WRONG_HE0 + code).verdict == "runtime_error"
    outside.unchanged()


@needs_namespaces
def test_the_judge_and_the_host_tree_cannot_be_reached_without_the_guard(outside):
    program = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("remount", libc.mount(None, b"/", None, 4096 | 32, None))
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    for path in (f"/proc/{pid}/mem", f"/proc/{pid}/fd"):
        try:
            os.listdir(path) if path.endswith("fd") else open(path, "rb").read(1)
            print("REACHED", path)
        except OSError:
            pass
for path in ("/usr/forged", "/tmp/forged", os.path.expanduser("~") + "/../forged"):
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except OSError:
        pass
"""
    r = run_python(program, limits=FAST, guard=False, namespaces=True)
    assert r.ok and "remount -1" in r.stdout and "REACHED" not in r.stdout and "WROTE" not in r.stdout, r.stdout
    assert not Path("/usr/forged").exists() and not Path("/tmp/forged").exists()
    outside.unchanged()


# ---- 5. nothing outlives its run ------------------------------------------------------------------------------
def _setsid_child(marker: str) -> str:
    return (f"import os\nif os.fork() == 0:\n    os.setsid()\n"
            f"    os.execv('/bin/sh', ['sh', '-c', 'sleep 30; echo {marker}'])\nprint('parent done')\n")


@needs_namespaces
def test_a_setsid_child_dies_with_its_run_in_a_pid_namespace(outside):
    r = run_python(_setsid_child(outside.marker), limits=FAST, guard=False, namespaces=True)
    assert r.ok and "parent done" in r.stdout and r.report["namespaces"] != "none"
    outside.unchanged()


def test_a_setsid_child_dies_with_its_run_in_the_fallback(outside):
    r = run_python(_setsid_child(outside.marker), limits=FAST, guard=False, namespaces=False)
    assert r.ok and "parent done" in r.stdout and r.report["namespaces"] == "none", r.stderr
    outside.unchanged()


def test_a_setsid_child_dies_when_the_run_times_out(outside):
    program = _setsid_child(outside.marker) + "import time\ntime.sleep(30)\n"
    for namespaces in (False, True) if NAMESPACES else (False,):
        r = run_python(program, limits=Limits(wall_s=1.5, cpu_s=5), guard=False, namespaces=namespaces)
        assert r.timed_out
    outside.unchanged()


# ---- 6. a lingering thread: graded on the answer where upstream does, a time limit where a judge would -----------
THREAD = "\nimport threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"


def test_lingering_threads_follow_each_modes_harness(outside):
    """HumanEval's and upstream LiveCodeBench's harnesses (strict) record each result before the process ends, so a
    thread left running never changes them; tolerant mode is an online judge, whose process must end: a time limit
    (it passed: the thread was waited for until a little before the limit only; tests/test_eval_contestant_programs.py
    has its cases)."""
    he = grade_code(HE0, HE0["prompt"] + HE0["canonical_solution"] + THREAD, timeout_s=3)
    assert he.verdict == "pass" and he.wall_s < 3, he
    stdin = "a, b = map(int, input().split())\nprint(a + b)" + THREAD
    call = "import threading, time\nclass Solution:\n    def halves(self, x):\n" \
           "        threading.Thread(target=time.sleep, args=(60,)).start()\n        return [x // 2, x / 2]\n"
    for mode in MODES:
        for code, tests in ((stdin, ADD), (call, HALVES)):
            outcome = run_tests(code, tests, mode, timeout_s=2)
            want = ("pass", [True, True]) if mode == "strict" else ("time_limit", [-3])
            assert (outcome.verdict, outcome.results) == want and outcome.wall_s < 5, (mode, outcome)
    outside.unchanged()


def test_fair_values_still_pass_through_the_stand_ins():
    """The other side of refusing objects: what a real solution returns keeps grading as before."""
    p33 = PROBLEMS["HumanEval/33"]  # its test compares tuple(candidate(...)) with tuple(sort_third(...))
    generator = p33["prompt"] + "    l = list(l)\n    l[::3] = sorted(l[::3])\n    return (x for x in l)\n"
    assert grade_code(p33, generator).verdict == "pass"
    numpy_scalar = HE2["prompt"] + "    import numpy\n    return numpy.float64(number % 1.0)\n"
    assert grade_code(HE2, numpy_scalar).verdict == "pass"
    raises = HE0["prompt"] + "    raise ValueError('no')\n"
    outcome = grade_code(HE0, raises)
    assert outcome.verdict == "runtime_error" and "ValueError: no" in outcome.details[0]


def test_a_module_name_the_program_chooses_runs_nothing_in_the_judge(outside):
    """The judge rebuilds a module the tests read from the name the program reports: a ModuleType named
    "unittest.__main__" (or lib2to3's, venv's) made the judge import it, running that tool's command line."""
    from axk1.eval.code_judge import importable

    check = "def check(candidate):\n    assert candidate(2) == 4\n"
    for name in ("unittest.__main__", "venv.__main__", "idlelib.idle"):
        outcome = run_checked(f"import types\nf = types.ModuleType({name!r})\n", check, "f", timeout_s=5)
        assert outcome.verdict == "runtime_error" and "no f()" in outcome.details[0], (name, outcome)
    assert [importable(m) for m in ("math", "os.path", "xml.etree.ElementTree", "_socket", "this", "json.__main__")] \
        == [True, True, True, False, False, False]
    outside.unchanged()
