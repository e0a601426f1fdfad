"""The AIME grader (and the RL math reward, which is it) on answers a probe found credited though they state no
one integer: LaTeX after a label read on its last digits, a label far from the end missed, a Unicode minus dropped,
a negation or a hedge before the number, a box whose words or marks say the number is not the answer, a wrong
mark after it; and a unit written onto the number, refused though `42 cm` was not (docs/evaluation.md, "AIME 2025":
its Grading paragraph)."""

import pytest

from axk1.eval.math_grader import grade_integer_answer
from axk1.posttrain.rewards import math_correct

PROSE = "Let me double-check this reasoning carefully once more. " * 75  # 4,200 characters, no number


@pytest.mark.parametrize("output, gold, status", [
    (r"The answer is \frac{1}{2}.", 2, "wrong"), (r"The answer is \sqrt{5}", 5, "wrong"),
    (r"Final answer: \frac{3}{4}", 4, "wrong"), (r"답: \frac{1}{3}", 3, "wrong"), (r"정답은 \sqrt{3}입니다.", 3, "wrong"),
    (r"The answer is \binom{10}{3}.", 3, "wrong"), (r"The answer is \frac{84}{2}.", 42, "correct"),
    (r"So we get \frac{84}{2}", 42, "correct"), (r"So we get \sqrt{5}", 5, "wrong"),
    # an unclosed box (a reply cut short) is no expression to read whole: its number is read, as before
    (r"The answer is \boxed{42", 42, "correct"), (r"Thus the answer is \boxed{{42}.", 42, "correct"),
])
def test_latex_without_dollars_is_read_as_a_whole(output, gold, status):
    """All but `\\frac{84}{2}` were right for the last digits of the expression; `\\frac{84}{2}` read 2."""
    assert grade_integer_answer(output, gold).status == status


@pytest.mark.parametrize("output, gold", [
    ("The answer is 1.5e2.", 2), ("So the result is 2^{10}", 10), ("So the result is 42e3", 3), ("So it is 42^n", 42),
])
def test_a_last_number_that_is_or_has_an_exponent_is_not_the_answer(output, gold):
    verdict = grade_integer_answer(output, gold)
    assert verdict.status == "wrong" and verdict.extracted.startswith("not one integer"), verdict


def test_the_last_label_is_found_anywhere_in_the_text():
    """Only the last 4,000 characters were searched: the first was no_answer, the second read 3."""
    assert grade_integer_answer("The answer is 42.\n\n" + PROSE, 42).status == "correct"
    assert grade_integer_answer("The answer is 42.\n\n" + PROSE + "All 3 checks pass.", 42).status == "correct"
    assert grade_integer_answer("So 42.\n\n" + PROSE, 42).status == "correct"  # the last number, as far
    # 10 MB of prose after the label: graded on the label (measured by hand: about 0.4 s on a 2-core machine)
    assert grade_integer_answer("The answer is 42.\n" + "Let me check. " * 750_000, 42).status == "correct"


@pytest.mark.parametrize("minus", ["\u2212", "\u2012", "\u2013", "\u2014", "\u2015", "\ufe63", "\uff0d"])
def test_a_unicode_minus_is_a_minus(minus):
    """`Answer: −43` was right for 43: the sign was dropped."""
    assert grade_integer_answer(f"Answer: {minus}43", 43).status == "wrong"
    assert grade_integer_answer(f"정답은 {minus}43입니다.", 43).status == "wrong"
    assert grade_integer_answer(f"So it is {minus}43", 43).status == "wrong"


def test_a_dash_between_numbers_is_no_minus():
    assert grade_integer_answer("It holds for pages 10\u201343", 43).status == "correct"
    assert grade_integer_answer("The answer is 43 \u2014 as checked.", 43).status == "correct"


@pytest.mark.parametrize("output", [
    "The answer is not 43.", "The answer isn't 43.", "The answer is definitely not 43.", "The answer is never 43.",
    "The answer isn\u2019t 43.",
    "The answer is either 42 or 43.", "The answer is possibly 42 or 43.", "The answer is maybe 43.",
    "The answer is at least 43.", "The answer is at most 43.", "The answer is about 43.",
    "The answer is approximately 43.", "The answer is around 43.", "The answer is perhaps 43.",
    "The answer is probably 43.", "Answer: maybe 43",
    # Korean hedges, mostly after the number where the verb is ("might be", "seems", "estimated"), or before it
    "정답은 아마 43입니다.", "답: 아마도 43", "정답은 43일 수도 있다.", "정답은 43일수도 있습니다.", "정답은 43일지도 모른다.",
    "정답은 아마도 43인 것 같다.", "정답은 43인 거 같아요.", "정답은 43일 것 같습니다.", "정답은 43이 맞는 것 같다.",
    "정답은 43인 듯하다.", "정답은 43으로 추정됩니다.", "답: 추정 43", "정답은 43 (추정)", "정답은 43으로 보인다.",
    "정답은 43이 될 수도 있다.", "정답은 43일까?", "정답은 약 43", "정답은 적어도 43", "Answer: 아마 43",
    # English doubts after the number, in the labelled sentence, as a box's (`43?`, `43 \text{ (not sure)}`)
    "The answer is 43 (maybe).", "The answer is 43 (probably).", "The answer is 43 (perhaps)",
    "The answer is 43 (not sure).", "The answer is 43 (I think).", "The answer is 43 (?)", "The answer is 43?",
    "The answer is $43$?", "The answer is **43**?", "The answer is 43, maybe.", "The answer is 43, probably.",
    "The answer is 43, I think.", "The answer is 43, I guess", "Final answer: 43, not sure.",
    "The answer is 43 (mod 1000), probably.", "The answer is 25 + 18 = 43 (maybe).",
    "The answer is not 42 but 43 (maybe).",
    # a comma between the label and the hedge ("no number right after the label": the last number, 43, was read)
    "The answer is, maybe, 43.", "The answer is, probably, 43", "The answer is, not, 43.",
])
def test_a_negated_or_hedged_answer_is_not_the_answer(output):
    """All were right for 43 (the label had no number right after it, or a Korean hedge followed the number: the
    last number, 43, was read, or the hedge was dropped as an ending; an English doubt after the number was
    dropped as a note, or the sentence ended before it)."""
    verdict = grade_integer_answer(output, 43)
    assert verdict.status == "wrong" and verdict.extracted.startswith("not one integer"), verdict


@pytest.mark.parametrize("output", [
    "답은 43이다", "따라서 43", "정답: 43", "정답은 43입니다.", "최종 답은 43입니다.", "정답은 43이며, 이는 최소값이다.",
    "정답은 43이며 이는 쉽게 확인할 수 있다.", "앞서 보였듯이 정답은 43이다.", "정답은 43일입니다.",
    "따라서 정답은 43입니다. 아마추어도 풀 수 있다.", "정답은 43이다. 아마 다른 풀이도 있을 것이다.", r"\boxed{43}일 수도 있다",
])
def test_confident_korean_answers_stay_the_answer(output):
    """A hedge word elsewhere (a later sentence, a longer word: 아마추어, 최소값; `할 수 있다` is "can") is none, and
    a box is graded on its content, as `\\boxed{43} maybe` is in English."""
    assert grade_integer_answer(output, 43).status == "correct"


@pytest.mark.parametrize("output", [
    "The answer is 43 (mod 1000).", "The answer is 43 ways.", "The answer is 43 for n = 3.",
    "The answer is 43. Maybe I should double check.", "The answer is not 42 but 43.", "The answer is 43, not 42.",
    "The answer is 43, I think we can verify it.", "The answer is 43, perhaps surprisingly.",
    "The answer is 43 (why? see above).", "The answer is 43.\nMaybe?", "The answer is, 43.",
    "The answer is, therefore, 43.",
])
def test_words_after_the_number_that_do_not_doubt_it_leave_it_the_answer(output):
    """A note, a word, a doubt in a later sentence or one that does not end the clause: 43 as it stands."""
    assert grade_integer_answer(output, 43).status == "correct"


@pytest.mark.parametrize("output", ["정답은 43 (추정)입니다.", "정답은 43 (아마)."])
def test_a_korean_hedge_in_parentheses_is_refused_as_a_hedge(output):
    """The Korean hedge check refuses it with the clause it read (a note in parentheses alone would be 43)."""
    verdict = grade_integer_answer(output, 43)
    assert verdict.status == "wrong" and verdict.extracted == f"not one integer: {output.split('은 ')[1].rstrip('.')}"


@pytest.mark.parametrize("output", ["maybe 43", "아마 43", "43 maybe", "43일 수도 있다", "43 (maybe)", "43?"])
def test_without_a_label_a_hedge_is_left_to_the_last_number_rule_in_both_languages(output):
    """As a negation is ("70이 아닙니다." ends on 70): only a label, or a box, says the reply states its answer."""
    assert grade_integer_answer(output, 43).status == "correct"


def test_not_one_number_but_another_is_the_other():
    assert grade_integer_answer("The answer is not 42 but 43.", 43).status == "correct"
    assert grade_integer_answer("The answer is not 42, but 43.", 42).status == "wrong"


@pytest.mark.parametrize("box", [
    r"43 \text{ at most}", r"43 \text{ at least}", r"43 \text{ tenths}", r"43 \text{ hundredths}",
    r"43 \text{ thousandths}", r"43 \text{ halves}", r"43 \text{ reciprocal}", r"43 \text{ is wrong}",
    r"43\text{ and up}", r"43\text{ and more}", r"43\text{?}", r"43?", r"43 \text{ (not sure)}", r"43 \text{ (오답)}",
    r"43 (X)", "43_8", r"43 \text{ maybe}", r"43 \text{아마}", r"\text{아마도 }43", r"43 \text{(추정)}", "43일 수도 있다",
    r"43\text{인 것 같다}", "약 43",
])
def test_a_box_whose_words_change_or_doubt_the_number_is_wrong(box):
    """All were right for 43 (boxed: the word was dropped as a unit; math-verify read 43 from the others)."""
    verdict = grade_integer_answer(rf"\boxed{{{box}}}", 43)
    assert verdict.status == "wrong" and verdict.method == "boxed", verdict


@pytest.mark.parametrize("output", [
    "답: 42 (오답)", "정답은 42 (X)", "정답은 42 (틀림)", "답: 42 (✗)", "답: 42 (×)", "The answer is 42 (wrong).",
    "So 42 (X)", "계산하면 42 (오답)",
])
def test_a_number_marked_wrong_is_not_the_answer(output):
    verdict = grade_integer_answer(output, 42)
    assert verdict.status == "wrong" and verdict.extracted.startswith("not one integer"), verdict


def test_a_note_that_is_no_wrong_mark_still_follows_the_number():
    assert grade_integer_answer("답: 42 (정답)", 42).status == "correct"
    assert grade_integer_answer("The answer is 42 (mod 1000).", 42).status == "correct"


@pytest.mark.parametrize("output", [
    "정답은 42cm입니다.", "The answer is 42cm.", "The answer is 42km².", "Answer: 42kg", r"\boxed{42\text{cm}}",
    r"\boxed{42cm}",
])
def test_a_unit_written_onto_the_number_is_dropped(output):
    """`42 cm` was 42 and `42cm` not one integer."""
    assert grade_integer_answer(output, 42).status == "correct"


@pytest.mark.parametrize("output", [
    "The answer is 42 up to rotation.", r"\boxed{42 \text{ up to rotation}}", "The answer is 42 ways, at most once each.",
    "The answer is 42g.",
])
def test_words_that_leave_the_number_as_it_is_still_do(output):
    """`and up` changes the number, `up to rotation` does not; a one-letter unit may be a variable (`42g`)."""
    assert grade_integer_answer(output, 42).status == ("wrong" if output.endswith("42g.") else "correct")


def test_a_huge_box_is_wrong_before_it_is_read():
    """`\\boxed{4`, a megabyte of spaces, `2}` took 4.6-20 s (10 MB: 113 s); it is refused on its size now (measured
    by hand: 0.01 s), and a box of whitespace alone is still empty."""
    verdict = grade_integer_answer(r"\boxed{4" + " " * 1_000_000 + "2}", 42)
    assert (verdict.status, verdict.extracted, verdict.method) == ("wrong", "a box of 1,000,002 characters", "boxed")
    assert grade_integer_answer(r"\boxed{" + "7" * 20_000 + "}", 42).extracted == "a box of 20,000 characters"
    assert grade_integer_answer(r"\boxed{" + " " * 1_000_000 + "}", 42).status == "no_answer"
    assert grade_integer_answer(r"\boxed{" + "{" * 10_000 + "42" + "}" * 10_000 + "}", 42).status == "correct"


def test_the_rl_reward_reads_the_same():
    assert math_correct(r"The answer is \frac{1}{2}.", "2", "stop", False) == (False, "wrong")
    assert math_correct("The answer is not 43.", "43", "stop", False) == (False, "wrong")
    assert math_correct("The answer is 43 (maybe).", "43", "stop", False) == (False, "wrong")
    assert math_correct("정답은 42cm입니다.", "42", "stop", False) == (True, "correct")


# English and Korean hedges of the same meaning, graded the same: an estimate, a doubt or no check on the number,
# inside a box (docs: a doubt inside a box counts) or in the labelled sentence. The English list lacked
# "approximately", "about", "roughly", "I think", ... which the Korean one had (약, 대략, 거의, 적어도).
HEDGED_PAIRS = [
    (r"\boxed{42 \text{ (approximately)}}", r"\boxed{42 \text{ (대략)}}"),
    (r"\boxed{\text{about } 42}", r"\boxed{약 42}"),
    (r"\boxed{42 \text{ (roughly)}}", r"\boxed{42 \text{ (대충)}}"),
    (r"\boxed{\text{almost } 42}", r"\boxed{\text{거의 } 42}"),
    (r"\boxed{42 \text{ (I think)}}", r"\boxed{42 \text{(라고 생각함)}}"),
    (r"\boxed{42 \text{ (approx.)}}", r"\boxed{42 \text{ (약)}}"),
    (r"\boxed{42 \text{ (estimate)}}", r"\boxed{42 \text{(추정)}}"),
    (r"\boxed{42 \text{ (unverified)}}", r"\boxed{42 \text{ (미확인)}}"),
    (r"\boxed{42\text{-ish}}", r"\boxed{42 \text{쯤}}"),
    (r"\boxed{\text{at least } 42}", r"\boxed{\text{적어도 } 42}"),
    (r"\boxed{\text{around } 42}", r"\boxed{\text{대략 } 42}"),
    ("The answer is 42 (roughly).", "정답은 42 (대략)."),
    ("The answer is 42 (approximately).", "정답은 약 42입니다."),
    ("The answer is 42, I think.", "정답은 42라고 생각합니다."),
    ("The answer is 42 (unverified).", "정답은 42 (미확인)."),
    ("The answer is 42 approximately.", "정답은 대략 42입니다."),
    ("The answer is 42-ish.", "정답은 42쯤입니다."),
    ("The answer is 42 (estimated).", "정답은 42로 추정됩니다."),
]


@pytest.mark.parametrize("english, korean", HEDGED_PAIRS)
def test_a_hedge_is_graded_alike_in_english_and_korean(english, korean):
    assert grade_integer_answer(english, 42).status == "wrong"
    assert grade_integer_answer(korean, 42).status == "wrong"
    for text in (english, korean):  # the RL reward is the same grader
        assert math_correct(text, "42", "stop", False) == (False, "wrong")


@pytest.mark.parametrize("english, korean", [
    ("Let's think about it. The answer is 42.", "생각해 봅시다. 정답은 42입니다."),
    ("We roughly estimate first, about 40. The answer is 42.", "대략 40 정도로 어림해 봅니다. 정답은 42입니다."),
    (r"About the triangle: \boxed{42}", r"삼각형에 대해: \boxed{42}"),
    (r"I think it is \boxed{42}.", r"답은 \boxed{42}라고 생각합니다."),  # a doubt outside the box is not the box's
    (r"So \boxed{42 \text{ ways}}", r"So \boxed{42 \text{가지}}"),
])
def test_the_same_words_outside_the_answer_are_no_hedge(english, korean):
    """A hedge counts only in the answer (a box's content, the sentence after an answer label): the prose before it
    uses "about" and "roughly" freely."""
    assert grade_integer_answer(english, 42).status == "correct"
    assert grade_integer_answer(korean, 42).status == "correct"
