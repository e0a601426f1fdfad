"""What a program writes to stderr never decides its verdict (upstream LiveCodeBench does not capture stderr; online
judges discard it): every process of a run shared one stderr file under RLIMIT_FSIZE (64 MB), so a correct program
that printed debugging lines failed once they added up. A crash still reports what ended it."""

from axk1.eval.execution import run_tests
from axk1.eval.sandbox import Limits, run_python

N = 80
NOISY = ("import sys\na, b = map(int, input().split())\nsys.stderr.write(('dbg %d %d\\n' % (a, b)) * 100000)\n"
         "print(a + b)\n")  # 0.8 MB of stderr per test, 64 MB over the 80 tests
MANY = {"inputs": [f"{i} {i}\n" for i in range(N)], "outputs": [f"{2 * i}\n" for i in range(N)], "fn_name": None}
ADD = {"inputs": ["1 2\n"], "outputs": ["3\n"], "fn_name": None}


def test_debugging_output_on_stderr_never_fails_a_correct_program():
    for mode in ("strict", "tolerant"):
        outcome = run_tests(NOISY, MANY, mode, timeout_s=5)
        assert outcome.verdict == "pass" and outcome.results == [True] * N, (mode, outcome.details[-1:])
        once = "import sys\nsys.stderr.write('x' * (70 << 20))\na, b = map(int, input().split())\nprint(a + b)\n"
        outcome = run_tests(once, ADD, mode, timeout_s=10)
        assert outcome.verdict == "pass", (mode, outcome)


def test_a_crash_still_reports_what_ended_it():
    for mode in ("strict", "tolerant"):
        outcome = run_tests("import sys\nsys.stderr.write('noise\\n' * 300000)\nprint(1 // 0)\n", ADD, mode,
                            timeout_s=5)
        assert outcome.verdict == "runtime_error", (mode, outcome)
        assert "ZeroDivisionError: integer division or modulo by zero" in outcome.details[0], (mode, outcome)
    # a plain run keeps the start of its stderr and the end, where the traceback is
    r = run_python("import sys\nsys.stderr.write('noise\\n' * 400000)\n1 / 0\n", limits=Limits(wall_s=10))
    assert not r.ok and r.stderr.startswith("noise\nnoise\n"), r.stderr[:100]
    assert "output truncated" in r.stderr and r.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "Traceback (most recent call last)" in r.stderr[-2000:]


def test_a_tolerant_test_ends_as_a_runtime_error_when_its_stderr_is_broken():
    """The test process wrote the exception through sys.stderr, which the program may have closed or replaced:
    that write raised past the process's exit, and the fork of the runner went on as a second runner."""
    for broken in ("sys.stderr.close()", "sys.stderr = None", "class W:\n    def write(self, s):\n"
                   "        raise OSError('no')\nsys.stderr = W()"):
        program = (f"import sys\n{broken}\na, b = map(int, sys.stdin.readline().split())\nprint(a + b)\n"
                   "raise ValueError('late')\n")  # (input() itself needs a sys.stderr)
        outcome = run_tests(program, {"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"], "fn_name": None},
                            "tolerant", timeout_s=5, stop_at_first_failure=False)
        assert outcome.verdict == "runtime_error", (broken, outcome)
        assert outcome.details == ["runtime error: ValueError: late"] * 2, (broken, outcome)
