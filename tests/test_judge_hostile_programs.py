"""Programs that beat the code judge, each a verdict that used to be wrong (found by a hostile-program probe): a
call past its time limit that passed (the alarm caught or switched off), a StopIteration that ended the tests'
map() silently, a wrong output so large that comparing it ran the judge out of memory, a byte order mark a judge
accepts, and the RL reward's code extraction (quadratic on backticks, and taking a block of any language)."""

import textwrap

import pytest

from axk1.eval import code_judge
from axk1.eval.execution import run_checked, run_tests
from axk1.posttrain.rewards import extract_code, score

MODES = ("strict", "tolerant")
ADD_CALL = {"inputs": ["1\n2", "3\n4"], "outputs": ["3", "7"], "fn_name": "add"}
ADD_STDIN = {"inputs": ["1 2\n"], "outputs": ["3\n"], "fn_name": None}
BUSY = "t = time.monotonic()\nwhile time.monotonic() - t < 2:\n    pass\n"  # 2 s against a 1 s limit


def _method(body: str) -> str:
    return "import signal, time\nclass Solution:\n    def add(self, a, b):\n" + textwrap.indent(body, " " * 8)


# ---- 1. a call past its limit is a time limit, whatever the program does to the runner's alarm -----------------
CALLS_PAST_THE_LIMIT = {
    # the runner's alarm was an Exception: a plain `except Exception` turned it into a fallback answer
    "alarm caught": _method("try:\n" + textwrap.indent(BUSY, "    ") + "    return -1\nexcept Exception:\n"
                            "    return a + b\n"),
    # the alarm runs in the program's process: it can switch it off or replace its handler (the judge times it)
    "timer off": _method("signal.setitimer(signal.ITIMER_REAL, 0)\n" + BUSY + "return a + b\n"),
    "handler replaced": _method("signal.signal(signal.SIGALRM, lambda *a: None)\n" + BUSY + "return a + b\n"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cheat", sorted(CALLS_PAST_THE_LIMIT))
def test_a_call_past_its_limit_is_a_time_limit(mode, cheat):
    outcome = run_tests(CALLS_PAST_THE_LIMIT[cheat], ADD_CALL, mode, timeout_s=1)
    assert (outcome.verdict, outcome.results) == ("time_limit", [-3]), outcome


def test_strict_stdin_and_top_level_code_past_the_limit_fail_too():
    slow_start = "import signal, time\nsignal.setitimer(signal.ITIMER_REAL, 0)\n" + BUSY
    outcome = run_tests(slow_start + "a, b = map(int, input().split())\nprint(a + b)\n", ADD_STDIN, "strict",
                        timeout_s=1)
    assert (outcome.verdict, outcome.results) == ("time_limit", [-3]), outcome
    # a call-based program's top-level code runs while it is loaded, under the same limit: a compile error there,
    # as when the runner's alarm ends it
    top_level = slow_start + "class Solution:\n    def add(self, a, b):\n        return a + b\n"
    outcome = run_tests(top_level, ADD_CALL, "tolerant", timeout_s=1)
    assert outcome.results == [-2] and "time limit" in outcome.details[0], outcome


def test_fast_calls_still_pass():
    outcome = run_tests(_method("return a + b\n"), ADD_CALL, "tolerant", timeout_s=1)
    assert outcome.verdict == "pass", outcome


# ---- 2. a solution's StopIteration is a failure, not the end of the tests' iteration -----------------------------
STOPS = "def is_even(n):\n    raise StopIteration\n"


def test_a_solution_raising_stop_iteration_fails():
    tests = "assert all(map(is_even, [2, 4]))\nassert not any(filter(is_even, [1, 3]))\n"
    outcome = run_checked(STOPS, tests)
    assert outcome.verdict == "runtime_error" and "StopIteration" in outcome.details[0], outcome
    rewarded = score({"kind": "code", "tests": tests}, f"```python\n{STOPS}```", "stop", False)
    assert rewarded.status == "wrong" and rewarded.reward == -1.0
    # other builtin exceptions still reach the tests as themselves
    raises = "def is_even(n):\n    raise ValueError('odd')\n"
    caught = "try:\n    is_even(1)\n    assert False\nexcept ValueError:\n    pass\n"
    assert run_checked(raises, caught).verdict == "pass"


# ---- 3. a huge wrong output is a wrong answer, not the judge's lack of memory ------------------------------------
def test_a_huge_wrong_output_is_a_wrong_answer():
    code = 'import sys\nsys.stdout.write("1 " * 5_000_000)\n'  # a Decimal per token filled 512 MB
    for mode in MODES:
        outcome = run_tests(code, ADD_STDIN, mode, timeout_s=6, memory_mb=512)
        assert (outcome.verdict, outcome.results) == ("wrong_answer", [-2]), (mode, outcome)


class _Replies:
    """A runner that answers every question with the given output."""

    gone = None

    def __init__(self, out: str):
        self.out = out

    def ask(self, message, timeout=None):
        return {"status": "ok", "out": self.out}


def test_running_out_of_memory_while_comparing_is_a_wrong_answer(monkeypatch):
    def no_memory(got, expected):
        raise MemoryError

    monkeypatch.setattr(code_judge, "strict_equal", no_memory)
    code, detail = code_judge._one_test(_Replies("3\n"), "strict_stdin", "1 2\n", "3\n", 1.0, False)
    assert code == code_judge.WA and "too large" in detail


# ---- 4. the RL reward's code: linear, and the last python (or untagged) block ----------------------------------
@pytest.mark.parametrize("answer,code", [
    ("`" * 200_000, None),
    ("```python\n" + "`" * 200_000, None),  # never closed
    ("```python\nprint(1)\n```\nOutput:\n```text\n1\n```", "print(1)"),  # a trailing output block
    ("```python\nprint(1)\n```\nIn C++:\n```cpp\nint main() {}\n```", "print(1)"),
    ("```\nprint(2)\n```\n```cpp\nint main() {}\n```", "print(2)"),
    ("```cpp\nint main() {}\n```", None),
    ("```py\nprint(3)\n```", "print(3)"),
])
def test_reward_code_is_the_last_python_block(answer, code):
    assert extract_code(answer) == code


def test_a_reward_answer_of_backticks_has_no_answer():
    rewarded = score({"kind": "code", "tests": "assert f() == 1\n"}, "`" * 200_000, "stop", False)
    assert rewarded.status == "no_answer"


# ---- 5. a leading byte order mark: `python3 file.py` skips it, and so does tolerant mode --------------------------
def test_tolerant_mode_skips_a_leading_byte_order_mark():
    stdin = "\ufeffa, b = map(int, input().split())\nprint(a + b)\n"
    call = "\ufeffclass Solution:\n    def add(self, a, b):\n        return a + b\n"
    for code, tests in ((stdin, ADD_STDIN), (call, ADD_CALL)):
        outcome = run_tests(code, tests, "tolerant", timeout_s=2)
        assert outcome.verdict == "pass", outcome
    # strict keeps upstream's compile(), which refuses it
    assert run_tests(stdin, ADD_STDIN, "strict", timeout_s=2).details[0].startswith("compile error")
