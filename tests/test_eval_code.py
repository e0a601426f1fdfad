"""Code grading: HumanEval's canonical solutions through our executor, LiveCodeBench files in the official format
(private tests encoded as upstream does), upstream-strict vs tolerant rules, prompts and code extraction."""

import base64
import json
import pickle
import zlib

import pytest

from axk1.eval.backends import Completion
from axk1.eval.execution import run_tests
from axk1.eval.sandbox import run_parallel
from axk1.eval.tasks import get_task
from axk1.eval.tasks.humaneval import assemble, grade_code, read_problems
from axk1.eval.tasks.lcb import LCBOptions, build_messages, extract_code_strict, extract_code_tolerant
from axk1.eval.tasks.lcb_data import decode_private_tests, load_problems
from tests.lcb_helpers import encode_private, lcb_row


def test_humaneval_canonical_solutions_score_164_of_164():
    problems = read_problems()
    assert len(problems) == 164
    outcomes = run_parallel(lambda p: grade_code(p, p["prompt"] + p["canonical_solution"]), problems, 2)
    failed = [(p["task_id"], o.verdict, o.details) for p, o in zip(problems, outcomes) if not o.passed]
    assert failed == []


def test_humaneval_wrong_and_broken_programs_fail():
    p = next(x for x in read_problems() if x["task_id"] == "HumanEval/0")
    wrong = assemble(p, "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```")
    assert "from typing import List" in wrong  # the prompt's imports are kept
    assert grade_code(p, wrong).verdict == "wrong_answer"
    assert grade_code(p, p["prompt"] + "    return undefined_name\n").verdict == "runtime_error"
    assert grade_code(p, p["prompt"] + "    while True: pass\n", timeout_s=1).verdict == "time_limit"



# Right answers with extras (an outside-in sweep): the demo a model appends under
# `if __name__ == "__main__":` ran, and failed the answer (doctest.testmod() sets a tracer, which the guard refuses;
# sys.exit() ended the run; input() met the end of stdin); `from __future__ import annotations` landed after the
# prompt's imports, a SyntaxError.
DEMOS = ["    import doctest\n    doctest.testmod()\n",
         "    print(has_close_elements([1.0, 2.0], 0.5))\n    import sys\n    sys.exit(0)\n",
         "    n = int(input())\n"]


@pytest.mark.parametrize("demo", DEMOS)
def test_humaneval_a_right_answer_with_a_demo_and_future_imports_passes(demo):
    p = next(x for x in read_problems() if x["task_id"] == "HumanEval/0")
    answer = ("```python\nfrom __future__ import annotations\nfrom typing import List\nimport itertools\n\n\n"
              "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
              "    return any(abs(a - b) < threshold for a, b in itertools.combinations(numbers, 2))\n\n\n"
              f"if __name__ == \"__main__\":\n{demo}```")
    code = assemble(p, answer)
    assert code.startswith("from __future__ import annotations\nfrom typing import List\n")
    assert grade_code(p, code).verdict == "pass"
    assert grade_code(p, code.replace("< threshold", "> threshold")).verdict == "wrong_answer"

# ---- LiveCodeBench --------------------------------------------------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.fixture
def lcb_file(tmp_path):
    stdin = lambda i, o: {"input": i, "output": o, "testtype": "stdin"}  # noqa: E731
    fn = lambda i, o: {"input": i, "output": o, "testtype": "functional"}  # noqa: E731
    rows = [
        lcb_row("abc400_a", "2025-03-01T12:00:00", "atcoder", "easy", "Given N and M, print N+M.\n\nSample Input 1\n\n1 2\n"
             "\nSample Output 1\n\n3", [stdin("1 2\n", "3\n")], [stdin("10 20\n", "30\n"), stdin("5 5\n", "10\n")]),
        lcb_row("two-halves", "2025-04-10T00:00:00", "leetcode", "medium", "Return [x // 2, x / 2] for `x`.",
             [fn("4", "[2, 2.0]")], [fn("7", "[3, 3.5]")], starter="class Solution:\n    def halves(self, x: int) "
             "-> List[float]:\n        ", func="halves", encode=False),
        lcb_row("abc380_b", "2024-11-01T12:00:00", "atcoder", "hard", "Old problem.", [stdin("1\n", "1\n")], []),
    ]
    evil = lcb_row("abc401_x", "2025-03-02T12:00:00", "atcoder", "easy", "evil", [stdin("1\n", "1\n")], [])
    evil["private_test_cases"] = base64.b64encode(zlib.compress(pickle.dumps(_Evil()))).decode()
    path = tmp_path / "test6.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + [evil]))
    return path


def test_private_tests_decode_and_globals_are_refused(capsys):
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert decode_private_tests(encode_private(tests)) == tests
    assert decode_private_tests(json.dumps(tests)) == tests
    with pytest.raises(pickle.UnpicklingError, match="refused global builtins.print"):
        decode_private_tests(base64.b64encode(zlib.compress(pickle.dumps(_Evil()))).decode())
    assert "pwned" not in capsys.readouterr().out


def test_loader_window_prompts_and_accounting(lcb_file, tmp_path):
    options = LCBOptions(data={"lcb": str(lcb_file)}, lcb_cache=str(tmp_path / "cache"))
    data = get_task("lcb").load(options)
    assert [p.id for p in data.problems] == ["abc400_a", "two-halves"]
    assert {e["question_id"] for e in data.info["excluded"]} == {"abc380_b"}
    assert [f["question_id"] for f in data.info["failed_to_parse"]] == ["abc401_x"]
    assert "refused global" in data.info["failed_to_parse"][0]["reason"]
    assert data.info["window"] == ["2025-02-01", "2025-05-01"] and data.info["n_problems"] == 2
    stdin_problem, fn_problem = data.problems
    assert stdin_problem.meta["tests"] == {"inputs": ["1 2\n", "10 20\n", "5 5\n"],
                                           "outputs": ["3\n", "30\n", "10\n"], "fn_name": None}
    assert fn_problem.meta["tests"]["fn_name"] == "halves"
    user = stdin_problem.messages[0]["content"]
    assert user.startswith("You will be given a question") and "Question: Given N and M" in user
    assert "Read the inputs from stdin" in user and "# YOUR CODE HERE" in user
    assert "You will use the following starter code" in fn_problem.messages[0]["content"]
    generic = build_messages("Q", "", "generic")
    assert generic[0]["role"] == "system" and "### Answer: (use the provided format with backticks)" in generic[1]["content"]
    # decoded once: the cache now answers, with the same problems
    assert list((tmp_path / "cache").glob("test6-*.jsonl"))
    again, failed = load_problems(lcb_file, None, tmp_path / "cache")
    assert [p.question_id for p in again] == ["abc400_a", "two-halves", "abc380_b"] and len(failed) == 1
    with pytest.raises(ValueError, match="no LCB problem"):
        get_task("lcb").load(LCBOptions(data={"lcb": str(lcb_file)}, lcb_start="2030-01-01", lcb_end="2030-02-01"))


def test_code_extraction_rules():
    text = "Here:\n```python\nprint(1)\n```\nExplanation:\n```\nnot code\n```"
    assert extract_code_strict(text) == "not code"  # upstream takes the last two fence lines
    assert extract_code_tolerant(text) == "print(1)"
    assert extract_code_tolerant("```\nprint(5)\n```\n```python\nprint(6)\n") == "print(5)"  # unclosed last fence
    assert extract_code_tolerant("```python\nprint(1)\n```\n```text\noutput 1\n```") == "print(1)"
    assert extract_code_strict("no fences") == ""
    assert extract_code_strict("```python\nprint(2)\n```") == "print(2)"


def _tests(pairs, fn=None):
    return {"inputs": [a for a, _ in pairs], "outputs": [b for _, b in pairs], "fn_name": fn}


ADD = _tests([("1 2\n", "3\n"), ("10 20\n", "30\n")])
TWO_LINES = _tests([("2\n5\n", "7\n")])
PROGRAMS = {  # name: (tests, code, strict verdict, tolerant verdict)
    "correct": (ADD, "a, b = map(int, input().split())\nprint(a + b)", "pass", "pass"),
    "float for int": (ADD, "a, b = map(int, input().split())\nprint(float(a + b))", "pass", "pass"),
    "wrong": (ADD, "print(0)", "wrong_answer", "wrong_answer"),
    "case": (_tests([("x\n", "Yes\n")]), "print('YES')", "wrong_answer", "wrong_answer"),
    "float precision": (_tests([("\n", "0.333333333333\n")]), "print('0.333333')", "wrong_answer", "pass"),
    "stdin.buffer twice": (TWO_LINES, "import sys\na = int(sys.stdin.buffer.readline())\n"
                           "b = int(sys.stdin.buffer.readline())\nprint(a + b)", "wrong_answer", "pass"),
    "stdout.buffer": (ADD, "import sys\na, b = map(int, input().split())\nsys.stdout.buffer.write(b'%d\\n' % (a + b))",
                      "runtime_error", "pass"),
    "global": (ADD, "total = 0\ndef add(x):\n    global total\n    total += x\na, b = map(int, input().split())\n"
               "add(a)\nadd(b)\nprint(total)", "runtime_error", "pass"),
    "main guard": (ADD, "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n\n"
                   "if __name__ == '__main__':\n    main()", "pass", "pass"),
    "main guard, double quotes": (ADD, "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n\n"
                                  'if __name__ == "__main__":\n    main()', "pass", "pass"),
    # upstream unwraps only `__name__ == '__main__'` (as unparsed): another test stays, and prints nothing there
    "main guard reversed": (ADD, "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n\n"
                            "if '__main__' == __name__:\n    main()", "wrong_answer", "pass"),
    "exit": (ADD, "a, b = map(int, input().split())\nprint(a + b)\nexit()", "pass", "pass"),
    # upstream's reliability_guard sets quit, help, os.getcwd, os.remove, ... to None (exit it leaves): calling one
    # is a runtime error there, after the right answer was printed or not
    "quit": (ADD, "a, b = map(int, input().split())\nprint(a + b)\nquit()", "runtime_error", "pass"),
    "os.getcwd": (ADD, "import os\nos.getcwd()\na, b = map(int, input().split())\nprint(a + b)", "runtime_error",
                  "pass"),
    "os.remove, OSError caught": (ADD, "import os\ntry:\n    os.remove('nofile')\nexcept OSError:\n    pass\n"
                                  "a, b = map(int, input().split())\nprint(a + b)", "runtime_error", "pass"),
    # (the import goes to the top of upstream's module, where it fails to compile)
    "import resource": (ADD, "a, b = map(int, input().split())\nimport resource\nprint(a + b)", "compile_error",
                        "pass"),
    # loaded in upstream's grading process before its guard: imported there without calling a nulled function
    "import multiprocessing": (ADD, "import multiprocessing\na, b = map(int, input().split())\nprint(a + b)", "pass",
                               "pass"),
    "functional os.getcwd": (_tests([("1\n2", "3")], "add"), "import os\nclass Solution:\n"
                             "    def add(self, a, b):\n        return len(os.getcwd()) and a + b", "runtime_error",
                             "pass"),
    "functional shutil.rmtree": (_tests([("1\n2", "3")], "add"), "import shutil\nclass Solution:\n"
                                 "    def add(self, a, b):\n        shutil.rmtree('gone', ignore_errors=True)\n"
                                 "        return a + b", "runtime_error", "pass"),
    # exit(0.0) ends an interpreter with status 1 (only None and the int 0 are success)
    "exit float": (ADD, "a, b = map(int, input().split())\nprint(a + b)\nexit(0.0)", "pass", "runtime_error"),
    "syntax": (ADD, "def broken(:\n", "compile_error", "compile_error"),
    "loop": (ADD, "while True:\n    pass", "time_limit", "time_limit"),
    "functional": (_tests([("4", "[2, 2.0]"), ("7", "[3, 3.5]")], "halves"),
                   "class Solution:\n    def halves(self, x):\n        return (x // 2, x / 2)", "pass", "pass"),
    # the wrong answer's detail shows the value: an int past 4,300 digits, which repr refuses, is still just wrong
    "functional huge int": (_tests([("1", "3")], "f"), "class Solution:\n    def f(self, x):\n        return 10 ** 5000",
                            "wrong_answer", "wrong_answer"),
    "functional float": (_tests([("1", "0.3")], "f"), "class Solution:\n    def f(self, x):\n        return 0.1 + 0.2",
                         "wrong_answer", "pass"),
    # upstream's prelude ends its star imports with the builtins again: pow is the builtin, not operator.pow
    "pow mod": (_tests([("2 10\n", "24\n")]), "a, b = map(int, input().split())\nprint(pow(a, b, 1000))", "pass",
                "pass"),
    "functional pow mod": (_tests([("2\n10", "24")], "f"), "class Solution:\n    def f(self, a, b):\n"
                           "        return pow(a, b, 1000)", "pass", "pass"),
    # no solution, but upstream's star imports bind `add` (operator.add): strict calls it, as upstream does
    "function from the imports": (_tests([("1\n2", "3"), ("5\n7", "12")], "add"), "x = 1\n", "pass",
                                  "compile_error"),
    "function of its own": (_tests([("1\n2", "3")], "add"), "def add(a, b):\n    return a + b", "pass", "pass"),
    # upstream's sys.stdin.readline is a string buffer's: the line keeps its newline
    "readline newline": (_tests([("abc\n", "cba\n")]), "import sys\ninput = lambda: sys.stdin.readline()[:-1]\n"
                         "print(input()[::-1])", "pass", "pass"),
}


def test_strict_and_tolerant_rules_on_known_programs():
    jobs = [(name, mode) for name in PROGRAMS for mode in ("strict", "tolerant")]

    def grade(job):
        name, mode = job
        tests, code, _, _ = PROGRAMS[name]
        return run_tests(code, tests, mode, timeout_s=1)

    outcomes = dict(zip(jobs, run_parallel(grade, jobs, 2)))
    got = {job: o.verdict for job, o in outcomes.items()}
    want = {(name, mode): PROGRAMS[name][2 if mode == "strict" else 3] for name, mode in jobs}
    assert got == want
    assert outcomes[("loop", "strict")].results == [-3]
    assert run_tests("", ADD).verdict == "no_code"
    with pytest.raises(ValueError, match="grader mode"):
        run_tests("print(1)", ADD, mode="lenient")
    with pytest.raises(ValueError, match="empty"):
        run_tests("print(1)", _tests([]))


def test_lcb_task_grades_completions_by_difficulty(lcb_file, tmp_path):
    options = LCBOptions(data={"lcb": str(lcb_file)}, lcb_cache=str(tmp_path / "cache"), test_timeout_s=2)
    task = get_task("lcb")
    data = task.load(options)
    stdin_p, fn_p = data.problems
    good = "Sure.\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    pairs = [(stdin_p, Completion(good)), (stdin_p, Completion("```python\nprint(3)\n```")),
             (stdin_p, Completion("I cannot solve this.")), (stdin_p, Completion("<think>long", think_open=False)),
             (fn_p, Completion("```python\nclass Solution:\n    def halves(self, x):\n        return [x // 2, x / 2]\n```")),
             (fn_p, Completion("```python\nclass Sol", finish_reason="length"))]
    records = task.grade_all(pairs, options)
    assert [r["status"] for r in records] == ["pass", "wrong_answer", "no_code", "no_answer", "pass", "truncated"]
    assert records[1]["test_results"] == [True, -2]  # stops at the first failing test


def test_loader_reads_the_official_parquet_files_too(lcb_file, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in lcb_file.read_text().splitlines()]
    parquet = tmp_path / "test6.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    from_parquet, failed = load_problems(parquet, None, tmp_path / "pq-cache")
    from_jsonl, _ = load_problems(lcb_file, None, tmp_path / "jsonl-cache")
    assert [p.question_id for p in from_parquet] == [p.question_id for p in from_jsonl]
    assert len(failed) == 1  # the malicious pickle is refused from Parquet as well


def test_tolerant_compare_of_integers_past_python_int_digit_limit():
    """int() refuses more than 4300 digits (a judge_error); integer tokens compare as sign + digits instead."""
    from axk1.eval.code_judge import tolerant_equal

    big = "9" * 5000
    assert run_tests("print('1' * 5000)", _tests([("\n", "2\n")]), "tolerant", timeout_s=5).verdict == "wrong_answer"
    for printed in (big, big + ".0", "00" + big, "+" + big):
        outcome = run_tests(f"print({printed!r})", _tests([("\n", big + "\n")]), "tolerant", timeout_s=5)
        assert outcome.verdict == "pass", (printed[:5], outcome)
    assert not tolerant_equal("-" + big, big) and not tolerant_equal(big + "8", big)
    assert tolerant_equal("-0", "0") and tolerant_equal("-" + big, "-00" + big)
    assert not tolerant_equal(big + ".5", big)
    # tokens are ASCII numbers: full-width or Arabic-Indic digits are other text, as integer tokens already were
    assert tolerant_equal("3.50", "3.5") and not tolerant_equal("３.５", "3.5") and not tolerant_equal("٣.٥", "3.5")


def test_a_tolerant_runtime_error_says_which_exception_ended_the_program():
    # it said "runtime error" alone: a refusal by the sandbox and a bug of the program read the same
    for code, said in (("import os\nos.system('true')\n", "PermissionError: sandbox: os.system is not allowed"),
                       ("print(1 // 0)\n", "ZeroDivisionError: integer division or modulo by zero")):
        outcome = run_tests(code, ADD, "tolerant", timeout_s=2)
        assert outcome.verdict == "runtime_error" and outcome.details == [f"runtime error: {said}"], outcome


def test_outputs_the_comparison_cannot_read_are_wrong_answers_and_the_other_tests_still_count():
    """A printed `sNaN` made strict mode's Decimal comparison raise InvalidOperation, and an int past a float's
    range (10**400) for an expected float made the tolerant one raise OverflowError: each was a judge error, and the
    run's other per-test results were lost."""
    stdin = _tests([("1\n", "3\n"), ("2\n", "3\n")])
    snan = "n = int(input())\nprint('sNaN' if n == 2 else 3)"
    for mode in ("strict", "tolerant"):
        outcome = run_tests(snan, stdin, mode, timeout_s=2, stop_at_first_failure=False)
        assert outcome.verdict == "wrong_answer" and outcome.results == [True, -2], (mode, outcome)
    call = _tests([("1", "2.5"), ("2", "2.5")], "f")
    huge = "class Solution:\n    def f(self, n):\n        return 2.5 if n == 1 else 10 ** 400"
    for mode in ("strict", "tolerant"):
        outcome = run_tests(huge, call, mode, timeout_s=2, stop_at_first_failure=False)
        assert outcome.verdict == "wrong_answer" and outcome.results == [True, -2], (mode, outcome)
