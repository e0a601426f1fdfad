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
    r"\boxed{72" + " " * 100_000 + "아 (mod}", "정답은 72" + " " * 3000 + "아.",  # spaces before a Korean word
])
def test_the_clause_and_answer_checks_stay_linear_on_hostile_text(output):
    """Each of these is one pass now; a backtracking search took minutes to forever (no timing: a hang fails)."""
    assert grade_integer_answer(output, 42, use_math_verify=False).status == "wrong"


@pytest.mark.parametrize("output", [
    "정답은 70이 아닙니다.", "정답은 70보다 큽니다.", "정답은 70 이상입니다.", "정답은 70의 제곱입니다.", "정답은 70배입니다.",
    "정답은 70과 71입니다.", "정답은 70이고 71입니다.", "정답은 70, 71입니다.", "정답은 70은 아니다.", "정답은 70 정도입니다.",
    "정답은 70에 1을 더한 값입니다.", "정답은 70으로 나눈 나머지입니다.", "정답은 70까지입니다.", "최종 답: 70 미만",
    r"\boxed{70만}", r"\boxed{70\text{천}}", r"\boxed{70\text{억}}", r"\boxed{70 \text{ 이상}}", r"\boxed{70\text{ 미만}}",
    r"\boxed{70이 아님}", r"\boxed{70배}", r"\boxed{70분의 1}",
])
def test_a_korean_word_that_negates_or_changes_the_number_is_not_the_answer(output):
    """Any Korean syllables after the number were dropped as a counter or an ending: "the answer is not 70", "70 or
    more", "700,000" (70만) and "70 and 71" were all right for 70, where their English equivalents were wrong."""
    verdict = grade_integer_answer(output, 70, use_math_verify=False)
    assert verdict.status == "wrong", verdict


@pytest.mark.parametrize("output", [
    "정답은 70개입니다.", "정답은 70가지입니다.", "정답은 70명입니다.", "정답은 70입니다.", "정답은 70이다.", "정답은 70이에요.",
    "정답은 70 입니다.", "정답은 70번", "정답은 70이고, 이는 3가지 경우의 합입니다.", "정답은 70이며, 71은 오답입니다.",
    "정답은 70과 같습니다.", "답은 70조각입니다.", "따라서 정답은 70이 맞습니다.", r"\boxed{70개}", r"\boxed{70\text{가지}}",
    r"\boxed{70 \text{명}}", r"\boxed{70이다}", "정답은 71이 아니라 70입니다.", "정답은 71이 아니고, 70입니다.",
])
def test_a_korean_counter_or_ending_after_the_number_keeps_it_the_answer(output):
    verdict = grade_integer_answer(output, 70, use_math_verify=False)
    assert verdict.correct and verdict.extracted == "70", verdict


@pytest.mark.parametrize("output", [
    r"\boxed{70 \ (\text{mod } 1000)}", r"\boxed{70 \ (\mathrm{mod}\ 1000)}", r"\boxed{70 \pmod{1{,}000}}",
    r"\boxed{70 \bmod 1000}", r"\boxed{70 \text{ mod } 1000}", r"\boxed{70 \pmod 1000}", r"\boxed{70 \mod 1000}",
    r"So $N \equiv 70 \pmod{1000}$.", r"그러므로 $N \equiv 70 \pmod{1000}$입니다.",
    r"The remainder is $N \bmod 1000 = 70$.", r"Hence \(N \equiv 70 \pmod{1000}\).",
])
def test_an_answer_with_its_modulus_is_graded_whatever_its_spelling(output):
    """These were wrong for 70 while `\\boxed{70 \\pmod{1000}}` was right: the modulus was recognised in a few
    spellings only, and an unboxed congruence or equation was not read on its right-hand side."""
    verdict = grade_integer_answer(output, 70, use_math_verify=False)
    assert verdict.correct and verdict.extracted == "70", verdict


@pytest.mark.parametrize("output", [r"\boxed{1070 \bmod 1000}", r"\boxed{70 \bmod 7}", r"\boxed{70 \text{ mod } 7}"])
def test_a_bare_modulus_smaller_than_the_number_changes_it(output):
    """`70 \\bmod 1000` is 70, but `1070 \\bmod 1000` and `70 \\bmod 7` are not 1070 or 70."""
    assert grade_integer_answer(output, 70, use_math_verify=False).status == "wrong"
    assert not grade_integer_answer(output, 1070, use_math_verify=False).correct


@pytest.mark.parametrize("text,right", [("정답은 70 이상입니다.", False), (r"\boxed{70만}", False),
                                        ("정답은 71이 아니라 70입니다.", True), (r"\boxed{70 \pmod{1{,}000}}", True)])
def test_the_rl_math_reward_reads_korean_words_and_moduli_as_the_evaluation_does(text, right):
    """The RL reward shares the grader: "70 or more" and "700,000" earned the reward for 70."""
    from axk1.posttrain.rewards import math_correct

    assert math_correct(text, "70", "stop", False)[0] is right


RETRACTED = [  # the labelled 42 retracted, the answer given after it (all were graded 42)
    "The answer is 42. Wait, that is wrong. So it's 43.", "The answer is 42. Wait — that is wrong. It should be 43.",
    "The answer is 42, but that's incorrect; it should be 43.", "The answer is 42. I made a mistake in step 3: 43.",
    "The answer is 42. Wait, no. It's 43.", "The answer is 42. Scratch that: recounting gives 43.",
    "**Answer: 42**\n\nHmm, this is not right. Recounting the case n = 3 gives 43 ways, so 43.",
    "답은 42이다. 잠깐, 틀렸다. 다시 계산하면 43이다.", "답은 42이다. 계산이 틀렸다. 다시 하면 43이다.",
    "정답은 42입니다. 잘못 계산했습니다. 다시 하면 43입니다.",
]
CHECKED = [  # checking after the answer, or a verdict on another number: the labelled 42 stands
    "The answer is 42. Let me check: 6 * 7 = 42, and 43 - 1 = 42. Yes.", "The answer is 42. 43 is wrong: 43 - 1 = 42.",
    "The answer is 42. Is that wrong? No: 6 * 7 = 42.", "The answer is 42. Earlier I wrote 41, but that was wrong.",
    "The answer is 42. If it were 41, that would be wrong.", "The answer is 42. It's not wrong: 6 * 7 = 42.",
    "The answer is 42. Wait, no need to check n = 3.", "Final answer: 42\n\nCheck: 40 + 3 = 43, minus 1.",
    "따라서 답은 42이다. 검산: 6 × 7 = 42, 43 - 1 = 42.", "답은 42이다. 43은 틀렸다.",
    "The answer is \\boxed{42}. Wait, that is wrong. So it's 43.",  # the last box, as the published protocols read
]


def test_a_retracted_label_gives_way_to_the_answer_after_it_and_checking_does_not():
    """A labelled answer the reply then calls wrong ("Wait, that is wrong. So it's 43.") was still the answer; a
    reader takes what follows. Text that checks the answer, or calls another number wrong, keeps it."""
    for output in RETRACTED:
        verdict = grade_integer_answer(output, 43)
        assert verdict.correct and verdict.extracted == "43", (output, verdict)
    for output in CHECKED:
        verdict = grade_integer_answer(output, 42)
        assert verdict.correct and verdict.extracted == "42", (output, verdict)


def test_a_retracted_label_with_nothing_after_it_is_no_answer():
    """"The answer is 42. Wait, that is wrong." states no answer: it was right for 42."""
    for output in ("The answer is 42. Wait, that is wrong.", "답은 42이다. 잠깐, 틀렸다."):
        verdict = grade_integer_answer(output, 42)
        assert verdict.status == "wrong" and verdict.extracted.startswith("retracted"), verdict


@pytest.mark.parametrize("output", [
    "The answer is 42. " + "x that is wrong " * 200_000, "The answer is 42. " + "x 1 that is wrong " * 200_000,
    "답은 42이다. " + "잠깐 틀렸" * 300_000, "The answer is 42. " + "wait, no." * 300_000,
])
def test_the_retraction_search_stays_linear_on_hostile_text(output):
    """Each retraction's sentence is read once (no timing: a quadratic search hangs)."""
    assert grade_integer_answer(output, 43, use_math_verify=False).status == "wrong"


def _all_read_as(outputs: list[str], answer: int) -> None:
    """Each output is graded right for `answer`, and `answer` is what was read."""
    for output in outputs:
        verdict = grade_integer_answer(output, answer, use_math_verify=False)
        assert verdict.correct and verdict.extracted == str(answer), (output, verdict)


def test_a_negated_or_asked_retraction_keeps_the_label():
    """Review 37: a retraction's match was read whatever its clause said around it: "I don't think that is wrong.",
    "이건 틀렸을 리가 없다" ("it cannot be wrong") and a mistake already fixed ("I made a mistake in step 3 earlier but
    fixed it.") retracted 42, or read the step number 3. A mistake that ends its clause still retracts."""
    _all_read_as(["The answer is 42. I don't think that is wrong.", "The answer is 42. No one can say that is wrong.",
                 "답은 42이다. 이건 틀렸을 리가 없다.", "답은 42이다. 이건 틀렸다고 보지 않는다.",
                 "The answer is 42. I made a mistake in step 3 earlier but fixed it.",
                 "The answer is 42. I made a mistake earlier in step 2, but the final answer stands.",
                 "The answer is 42. I made a mistake, but the final answer stands.",
                 "답은 42이다. 앞에서 실수가 있었지만 고쳤다.", "답은 42이다. 잘못 계산했지만 바로잡았다."], 42)
    _all_read_as(["The answer is 42. I made a mistake.\nIt is 43.", "답은 42이다. 실수가 있었다. 43이다.",
                 "The answer is 42. I made a mistake in the last step. It is 43."], 43)


def test_a_mistake_or_a_wrong_after_another_clause_still_retracts():
    """Review 37b: "I made a mistake" retracted only where it ended its clause or named a place ("in step 3"), so
    "I made a mistake with the sign. It is 48." kept 42; a "n't"/"not" in an earlier clause cut off by a dash
    cancelled "that is wrong"; and 잘못 계산했군요 / 했었다 were no retraction (the old eval graded all of these 48).
    A mistake with a contrast or a fix after it keeps 42 (some of these kept it before too: they guard the wider
    rule), and "the corrected value" is no fix of 42."""
    _all_read_as(["The answer is 42. Wait, I made a mistake in computing the sum. It is 48.",
                 "The answer is 42. Wait, I made a mistake with the sign. It is 48.",
                 "The answer is 42. I made a mistake here. It should be 48.",
                 "The answer is 42. Plugging back in doesn't work — that is wrong. So it is 48.",
                 "The answer is 42. Hmm, not quite – that is wrong. So it is 48.",
                 "The answer is 42. Hmm, not quite - that is wrong. So it is 48.",
                 "The answer is 42. I made a mistake in step 2; the corrected value is 48.",
                 "정답은 42입니다. 잘못 계산했군요. 다시 하면 48입니다.", "정답은 42입니다. 잘못 계산했었다. 다시 하면 48입니다.",
                 "정답은 42입니다. 잘못 계산했구나. 다시 하면 48입니다.", "정답은 42입니다. 실수를 했었네. 다시 하면 48입니다.",
                 "정답은 42입니다. 잠깐, 틀렸다 확인하지 않은 경우가 있다. 따라서 48"], 48)
    _all_read_as(["The answer is 42. Earlier I made a mistake, which I corrected.",
                 "The answer is 42. (I made a mistake in an earlier draft.)",
                 "The answer is 42. I made a mistake in step 3, although the final answer stands.",
                 "The answer is 42. I made a mistake earlier; it is fixed above.",
                 "답은 42이다. 잘못 계산했는데 바로잡았다.", "답은 42이다. 실수가 있었고 고쳤다."], 42)
