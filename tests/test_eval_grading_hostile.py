"""Hostile inputs to the graders (AIME, HumanEval, LiveCodeBench comparison): each case is a verdict that used to
be wrong, or an input that used to hang or raise."""

import pytest

from axk1.eval.tasks.humaneval import assemble, grade_code, read_problems

# HumanEval problems whose tests call helpers defined in the prompt: a solution that redefines the helpers as the
# identity made encode/decode round-trips trivially true.
HELPER_REDEFINITIONS = {
    "HumanEval/38": "def encode_cyclic(s):\n    return s\ndef decode_cyclic(s):\n    return s\n",
    "HumanEval/50": "def encode_shift(s):\n    return s\ndef decode_shift(s):\n    return s\n",
    "HumanEval/32": "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 0.0\n",
}


@pytest.fixture(scope="module")
def humaneval():
    return {p["task_id"]: p for p in read_problems()}


@pytest.mark.parametrize("task_id", sorted(HELPER_REDEFINITIONS))
def test_humaneval_tests_use_the_prompts_helpers_not_the_solutions(humaneval, task_id):
    problem = humaneval[task_id]
    cheat = assemble(problem, f"```python\n{HELPER_REDEFINITIONS[task_id]}```")
    assert grade_code(problem, cheat).verdict == "wrong_answer"
    # the honest solution still passes, with the helpers it defines itself (the prompt's)
    assert grade_code(problem, problem["prompt"] + problem["canonical_solution"]).verdict == "pass"


# ---- LiveCodeBench tolerant comparison: integers exact, floats within 1e-6 -----------------------------------
@pytest.mark.parametrize("got,want,same", [
    ("2000000001000", "2000000000000", False),  # n*2+1000 for n = 10**12: inside 1e-6 relative, still wrong
    ("2_000_000_000_000", "2000000000000", False),  # int() reads underscores; a judge does not
    ("2.000000e+12", "2000000000000", False),
    ("inf", "1e400", False),
    ("3", "3", True), ("3.0", "3", True), ("3.5", "3", False), ("+3", "3", True), ("-0", "0", True),
    ("0.3333333", "0.333333333333", True), ("1.0000001e12", "1e12", True), ("0.34", "0.333333", False),
    ("2000000000000", "2.0e12", True),  # the expected answer is a float: the tolerance applies
])
def test_tolerant_tokens(got, want, same):
    from axk1.eval.code_judge import tolerant_equal

    assert tolerant_equal(got + "\n", want + "\n") is same


@pytest.mark.parametrize("got,want,same", [
    (2000000001000, 2000000000000, False), (2.0e12, 2000000000000, False), ([1, 2], [1, 2], True),
    (0.30000000000000004, 0.3, True), (3, 3.0, True), ([True], [1], False),
])
def test_tolerant_returned_values(got, want, same):
    from axk1.eval.code_judge import tolerant_value_equal

    assert tolerant_value_equal(got, want) is same


def test_tolerant_stdin_and_call_refuse_an_integer_off_by_a_little():
    from axk1.eval.execution import run_tests

    stdin = {"inputs": ["1000000000000\n"], "outputs": ["2000000000000\n"], "fn_name": None}
    assert run_tests("n = int(input())\nprint(n * 2 + 1000)", stdin, "tolerant").verdict == "wrong_answer"
    assert run_tests("n = int(input())\nprint(n * 2)", stdin, "tolerant").verdict == "pass"
    call = {"inputs": ["1000000000000"], "outputs": ["2000000000000"], "fn_name": "double"}
    cheat = "class Solution:\n    def double(self, n):\n        return n * 2 + 1000"
    assert run_tests(cheat, call, "tolerant").verdict == "wrong_answer"
    assert run_tests(cheat.replace(" + 1000", ""), call, "tolerant").verdict == "pass"
