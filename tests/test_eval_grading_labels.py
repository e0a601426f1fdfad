"""The AIME grader on what a reply states after an answer label without a box, and on boxes whose content is one
answer written with units, styling or a modulus, or several answers written as one: each case was graded the
other way before (docs/evaluation.md, "AIME 2025": its Grading paragraph)."""

import pytest

from axk1.eval.math_grader import grade_integer_answer


@pytest.mark.parametrize("output", [
    "The answer is 42/43.", "The answer is 42^2.", "The answer is 42².", r"The answer is 42\sqrt{2}.",
    "The answer is 42π.", "The answer is 42!.", "The answer is 42!", "The answer is 42e3.", "The answer is 42i.",
    "Answer: 42x", "Final answer: 42 × 1000", "The answer is 42 million.", "The answer is 42 - 1 = 41",
    "The answer is 42:43", "The answer is 42 (or 43).", "정답은 42/43입니다.", "The answer is 42 mod 5, which is 2.",
    "정답은 42만입니다.", "The answer is 42 + 1 = 43.", "Answer: $42$ \\times 2",
])
def test_a_labelled_integer_that_does_not_end_its_clause_is_not_the_answer(output):
    """The label rule read the first integer after "the answer is" and ignored the rest of the expression: all of
    these were right for 42."""
    verdict = grade_integer_answer(output, 42)
    assert verdict.status == "wrong", verdict


@pytest.mark.parametrize("output", [
    "The answer is 42/43.", "The answer is 42 (or 43).", "The answer is 42:43", "정답은 42/43입니다.",
])
def test_what_the_label_states_is_not_searched_for_a_later_number(output):
    """No answer, not the last-number rule: that would read 43 and pay a hedge."""
    verdict = grade_integer_answer(output, 43)
    assert verdict.status == "wrong" and verdict.extracted.startswith("not one integer"), verdict


@pytest.mark.parametrize("output", [
    "So the answer is 25 + 47 = 72.", "The answer is 25+47=72.", r"The final answer is 3 \cdot 24 = 72.",
    "Answer: 1000 - 928 = 72", "Therefore the answer is 2^6 + 8 = 72.", "정답은 25 + 47 = 72입니다.",
    "The answer is $25 + 47 = 72$.", "Answer: 1,000 - 928 = 72 ways.",
])
def test_a_labelled_equation_is_read_on_its_right_hand_side(output):
    """These were wrong for 72 (the first integer, 25, 3, 1000 or 2, was read), as a box's equation is not."""
    verdict = grade_integer_answer(output, 72)
    assert verdict.correct and verdict.extracted == "72", verdict


@pytest.mark.parametrize("output", [
    "The answer is 42.", "The answer is 42 ways.", "Answer: **42**.", "The answer is 42%.", "정답은 42개입니다.",
    "The answer is 42 — the count of the pairs.", "The answer is 42 I believe.", "The answer is 42 $= 6 \\cdot 7$",
    "The answer is 42 and 2 is wrong.", "(So the answer is 42) and we are done.", "The answer is 1\\,042.",
    "The answer is 42 mod 1000.", 'The answer is "42".', "The answer is 42 (mod 1000).",
])
def test_a_labelled_integer_ending_its_clause_is_the_answer(output):
    gold = 1042 if "042" in output else 42
    verdict = grade_integer_answer(output, gold)
    assert verdict.correct, verdict


def test_a_bare_final_answer_before_a_count_is_no_label():
    """"Final answer" without "is" or ":" is a label only when its number ends the clause: the last number is read."""
    verdict = grade_integer_answer("Final answer 2 times we checked: 42", 42)
    assert verdict.correct and verdict.extracted == "42", verdict
    assert not grade_integer_answer("Final answer 2 times we checked: 42", 2).correct


@pytest.mark.parametrize("box", [
    r"72~\text{minutes}", r"\text{72 minutes}", r"\text{72 ways}", r"\textbf{72 ways}", r"N \equiv 72 \pmod{1000}",
    r"72 \pmod{1000}", r"\large 72", r"\Large{72}", r"\color{red}72", r"{\color{red} 72}", r"\textcolor{red}{72}",
    r"\boxed{72}", r"2^{10} \equiv 72 \pmod{1000}",
])
def test_one_boxed_answer_with_units_styling_or_a_modulus_is_right(box):
    verdict = grade_integer_answer(rf"So \boxed{{{box}}}.", 72)
    assert verdict.correct and verdict.method == "boxed", verdict


@pytest.mark.parametrize("box,gold", [
    (r"x = 42 \text{ or } x = 43", 43), (r"x = 42 \text{ or } x = 43", 42), (r"42 \equiv 43", 43), (r"42 == 43", 43),
    (r"42 \approx 43", 42), (r"\boxed{42} 43", 42), (r"42 ≈ 43", 42), (r"72 \text{ or more}", 72),
    (r"72 \text{ million}", 72),
])
def test_several_boxed_answers_written_as_one_are_wrong(box, gold):
    """math-verify read the relations as one of their numbers and the `or` equation as its last side."""
    verdict = grade_integer_answer(rf"So \boxed{{{box}}}.", gold)
    assert verdict.status == "wrong", verdict


@pytest.mark.parametrize("output", [
    "The answer is 42" + "*" * 40 + "x",  # a nested quantifier over closing markup took 2^40 steps
    "The answer is 42 (" + "a" * 3000, r"\boxed{1 " + "or " * 50_000 + "}",
    r"\boxed{" + r"1 \equiv " * 20_000 + r"\pmod{3}}", r"\boxed{72" + " " * 100_000 + "(mod}",
    "The answer is 4" + "=4" * 3000, r"\boxed{" + "7 ab " * 30_000 + "}",
])
def test_the_clause_and_answer_checks_stay_linear_on_hostile_text(output):
    """Each of these is one pass now; a backtracking search took minutes to forever (no timing: a hang fails)."""
    assert grade_integer_answer(output, 42, use_math_verify=False).status == "wrong"
