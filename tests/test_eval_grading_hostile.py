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
