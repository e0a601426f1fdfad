"""RL code tasks and what the sandbox's judge can check: the asserts run in the judge and see plain copies of what
the solution's functions return, so a right answer scored -1 where a test looked at an argument changed in place
(now sent back) or caught the solution's own exception class (now rebuilt on the judge's side), and a task whose
asserts pass a function, test for the solution's own class or work with Fraction/Decimal values scores -1 for
every answer (now refused when the task file is read, naming the task and the limit)."""

from __future__ import annotations

import json

import pytest

from axk1.eval.execution import run_checked
from axk1.eval.judge_limits import judge_limits
from axk1.eval.tasks.humaneval import read_problems
from axk1.posttrain.rewards import score
from axk1.posttrain.tasks import generate_tasks, read_tasks


def _reward(code: str, tests: str) -> float:
    text = f"</think>Here it is.\n```python\n{code}```\n"
    return score({"kind": "code", "tests": tests, "id": "t"}, text, "stop", True).reward


@pytest.mark.parametrize("code,tests", [
    ("def sort_in_place(a):\n    a.sort()\n", "a = [3, 1, 2]\nsort_in_place(a)\nassert a == [1, 2, 3]"),
    ("def add_key(d, k):\n    d[k] = 1\n", "d = {'x': 0}\nadd_key(d, 'y')\nassert d == {'x': 0, 'y': 1}"),
    ("def grow(s, *, item):\n    s.add(item)\n    return len(s)\n",
     "s = {1}\nassert grow(s, item=2) == 2\nassert s == {1, 2}"),
    ("def zero_first_row(g):\n    g[0][:] = [0] * len(g[0])\n",
     "g = [[1, 2], [3, 4]]\nzero_first_row(g)\nassert g == [[0, 0], [3, 4]]"),
])
def test_an_argument_changed_in_place_is_seen_by_the_tests(code, tests):
    assert _reward(code, tests) == 1.0
    # a solution that does not change it still fails
    assert _reward(code.replace("a.sort()", "sorted(a)").replace("d[k] = 1", "pass").replace("s.add(item)", "pass")
                   .replace("g[0][:] = [0] * len(g[0])", "pass"), tests) == -1.0


EMPTY = "class EmptyError(Exception):\n    pass\n\ndef first(xs):\n    if not xs:\n        raise EmptyError('empty')\n    return xs[0]\n"
CATCH = "try:\n    first([])\n    assert False\nexcept {}:\n    pass\nassert first([5]) == 5"


@pytest.mark.parametrize("code,caught", [
    (EMPTY, "EmptyError"), (EMPTY, "(KeyError, EmptyError)"),
    (EMPTY.replace("(Exception)", "(ValueError)"), "ValueError"),  # reached the tests as SolutionError
    (EMPTY.replace("class EmptyError(Exception):\n    pass", "class Base(LookupError):\n    pass\n\n"
                   "class EmptyError(Base):\n    pass"), "Base"),
    (EMPTY.replace("class EmptyError(Exception):\n    pass", "class Base(LookupError):\n    pass\n\n"
                   "class EmptyError(Base):\n    pass"), "LookupError"),
])
def test_the_solutions_own_exception_class_is_caught_as_it_would_be_in_one_process(code, caught):
    """The tests' `except EmptyError:` named a stand-in function (a TypeError when anything was raised), and the
    exception arrived as SolutionError, which no `except ValueError:` caught: a right answer scored -1."""
    assert _reward(code, CATCH.format(caught)) == 1.0
    # raising something else is not caught, and not raising fails the assert
    assert _reward(code.replace("raise EmptyError('empty')", "raise TypeError('no')"), CATCH.format(caught)) == -1.0
    assert _reward(code.replace("raise EmptyError('empty')", "return None"), CATCH.format(caught)) == -1.0


def test_an_argument_changed_into_something_that_is_not_plain_data_is_a_wrong_answer():
    outcome = run_checked("def f(a):\n    a.append(object())\n", "x = []\nf(x)\nassert len(x) == 1")
    assert outcome.verdict == "wrong_answer" and "put into an argument" in str(outcome.details), outcome


@pytest.mark.parametrize("tests,limit", [
    ("assert apply_twice(lambda v: v + 1, 0) == 2", "pass a lambda to apply_twice()"),
    ("def g(x):\n    return 2 * x\nassert apply(g, 3) == 6", "pass g() to apply()"),
    ("assert apply(len, 'abc') == 3", "pass len() to apply()"),
    ("assert isinstance(make(), Point)", "isinstance() against Point"),
    ("from fractions import Fraction\nassert half(3) == Fraction(3, 2)", "import fractions"),
    ("import decimal\nassert cost(2) == decimal.Decimal('1.5')", "import decimal"),
])
def test_a_task_whose_asserts_the_judge_cannot_check_is_refused_when_read(tmp_path, tests, limit):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": "my-task", "prompt": "Write it.", "tests": tests}) + "\n")
    with pytest.raises(ValueError, match=r"t\.jsonl:1 \(task my-task\): tests line \d+ ") as e:
        read_tasks(path)
    assert limit in str(e.value)


def test_the_limits_are_not_found_where_the_judge_can_check():
    """Asserts of the bundled generated tasks and HumanEval's (its check(candidate)), and the usual forms: a lambda
    to a builtin, a builtin exception caught, a list changed in place."""
    usual = ["assert sorted(f(2), key=lambda x: -x) == [1]", "try:\n    f(-1)\n    assert False\nexcept ValueError:\n"
             "    pass", "try:\n    f(-1)\nexcept EmptyError as e:\n    assert isinstance(e, EmptyError)", "x = [1]\nf(x)\nassert x == [1, 2]", "import math\nassert math.isclose(f(2), 1.5)",
             "def check(candidate):\n    assert candidate(1) == 2\ncheck(f)", "class Case:\n    pass\nassert f(3) == 4"]
    generated = [t.tests for t in generate_tasks(200, seed=1, kinds=("code",)) if t.kind == "code"]
    humaneval = [p["test"] + f"\ncheck({p['entry_point']})\n" for p in read_problems()]
    assert generated and [t for t in usual + generated + humaneval if judge_limits(t)] == []
