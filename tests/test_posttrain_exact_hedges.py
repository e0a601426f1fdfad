"""The RL exact reward's hedge rule (eval/stated_answer.py, HEDGES) where session 38 left it short: a hedge before
the answer label, "might be" and "I guess" before a value, Korean estimates and concessions, a Korean "not X but Y"
after a retraction, and a sign-off after the answer; and the firm answers that must stay firm."""

from __future__ import annotations

from axk1.eval.math_grader import grade_integer_answer
from axk1.posttrain import exact_grader
from axk1.posttrain.rewards import score

RETRACTED = "The answer is 42. Wait, that is wrong. "
KOREAN = "답은 42이다. 잠깐, 틀렸다. "


def _exact(gold: str, reply: str):
    return score({"kind": "exact", "answer": gold, "tests": ""}, f"reasoning</think>\n{reply}", "stop", True)


def _integer(gold: int, reply: str) -> str:
    return grade_integer_answer(reply, gold, use_math_verify=False).status


def _assert_hedged(gold: str, reply: str) -> None:
    assert _exact(gold, reply).status == "wrong", reply
    raw, refused = exact_grader.read_answer(reply, False, gold)
    assert raw is None and refused is not None and refused.startswith("hedged: "), (reply, raw, refused)


def _assert_firm(gold: str, reply: str) -> None:
    assert _exact(gold, reply).reward == 1.0, reply
    assert exact_grader.read_answer(reply, False, gold) == (gold, None), reply


def test_a_hedge_before_the_answer_label_hedges_what_it_states():
    """"Maybe the answer is 48." read as firm 48 where "The answer is maybe 48." and, after a retraction, "Maybe it is
    48." are refused: a sentence adverb or an opinion ("I think", "I guess") before the label in its clause hedges
    the label's answer, with or without a retraction before it. The evaluation reads only the label's own words and
    keeps 48 (docs/evaluation.md)."""
    for reply in ["Maybe the answer is 48.", "Perhaps the answer is 48.", "I think the answer is 48.",
                  "I guess the final answer is 48.", "Probably, the answer is 48.", "So maybe the answer is 48.",
                  "아마 정답은 48이다.", "어쩌면 답은 48입니다.", "Maybe the answer is Tokyo."]:
        _assert_hedged("Tokyo" if "Tokyo" in reply else "48", reply)
        _assert_hedged("48" if "Tokyo" in reply else "Tokyo", reply)  # refused whatever the gold
    assert _integer(48, "Maybe the answer is 48.") == "correct"
    for reply in [RETRACTED + "Maybe the answer is 48.", RETRACTED + "I guess it is 48.",
                  RETRACTED + "I think the answer might be 48", RETRACTED + "Perhaps it's 48.",
                  RETRACTED + "It might be 48.", RETRACTED + "The sum could be 48.", RETRACTED + "I believe it's 48."]:
        _assert_hedged("48", reply)
    # a word answer after an opinion is no copula sentence: compared whole, wrong as "Maybe it's Tokyo." is
    assert _exact("Tokyo", "The answer is Kyoto. Wait, that is wrong. I guess it is Tokyo.").status == "wrong"


def test_a_korean_estimate_or_a_concession_on_a_doubt_hedges_the_value():
    """"48 정도입니다" and "48쯤이다" ("about 48") after a retraction read as firm 48, and after a label as the text
    "48 정도", not as a hedge; a concession on a doubt before the value ("확실하지 않지만 48이다": "not sure, but 48")
    read as firm. A doubt after the value ("48이지만 확실하지 않다") was already refused."""
    for reply in ["정답은 48 정도입니다.", "정답은 48쯤이다.", "정답은 48가량이다.", KOREAN + "48 정도입니다.",
                  KOREAN + "48쯤이다.", KOREAN + "다시 계산하면 48 정도이다.", KOREAN + "48개 정도입니다.", KOREAN + "확실하지 않지만 48이다.",
                  KOREAN + "잘 모르겠지만 다시 계산하면 48입니다.", "확실하지 않지만 정답은 48이다.",
                  KOREAN + "48이지만 확실하지 않다.", "정답은 48이지만 확실하지 않다."]:
        _assert_hedged("48", reply)
    assert _integer(48, KOREAN + "48 정도입니다.") == "correct"  # the evaluation's last-number rule, unchanged


def test_after_a_retraction_a_korean_not_x_but_y_reads_y():
    """"서울이 아니라 도쿄입니다" ("not Seoul but Tokyo") after a retraction was compared whole, so the right
    correction scored wrong; "It is Tokyo, not Kyoto." already read Tokyo."""
    for reply in ["정답은 교토입니다. 잠깐, 틀렸다. 서울이 아니라 도쿄입니다.",
                  "정답은 교토입니다. 잠깐, 틀렸다. 수도는 서울이 아니라 도쿄입니다.",
                  "정답은 교토입니다. 잠깐, 틀렸다. 서울이 아니고 도쿄이다."]:
        _assert_firm("도쿄", reply)
        assert _exact("서울", reply).status == "wrong", reply
        assert _exact("교토", reply).status == "wrong", reply
    assert _exact("도쿄", "정답은 교토입니다. 잠깐, 틀렸다. 서울이 아니라 아마 도쿄입니다.").status == "wrong"


def test_a_sign_off_after_the_answer_is_not_read_as_the_answer():
    """"It's Tokyo.\\n\\nThank you" after a retraction, and a last line followed by "Thank you!", were read on the
    sign-off: a closing pleasantry, a paragraph or a last sentence of its own, is taken off first."""
    for gold, reply in [("Tokyo", "The answer is Kyoto. Wait, that is wrong. It's Tokyo.\n\nThank you"),
                        ("Tokyo", "The answer is Kyoto. Wait, that is wrong. It's Tokyo. Hope this helps!"),
                        ("Tokyo", "The answer is Kyoto. Wait, that is wrong. It's Tokyo.\n\nThanks for asking!\n"
                                  "Good luck."),
                        ("Tokyo", "Work.\n\n**Tokyo**\n\nThank you!"),
                        ("Tokyo", "Work.\n\nTokyo\n\nI hope this helps."),
                        ("48", "Work.\n\n48\n\n도움이 됐으면 좋겠어요!"),
                        ("도쿄", "정답은 교토입니다. 잠깐, 틀렸다. 수도는 도쿄입니다.\n\n감사합니다."),
                        ("도쿄", "정답은 교토입니다. 잠깐, 틀렸다. 수도는 도쿄입니다.\n\n도움이 되었길 바랍니다."),
                        ("48", "The answer is 42. Hmm, actually it is 48.\n48\n\nThank you!")]:
        _assert_firm(gold, reply)
    # a reply of nothing but a pleasantry is read as it is (a task's gold may be one: "Thank you"), so it is wrong here
    assert _exact("Tokyo", "Thank you!").status == "wrong"
    # words that only start like a sign-off are read as before
    assert exact_grader.read_answer("Work.\n\nThanks to symmetry, 48", False, "48") == ("Thanks to symmetry, 48", None)
    assert exact_grader.read_answer("Work.\n\n도움이 되는 답은 서울", False, "서울") == ("서울", None)


def test_firm_answers_stay_firm():
    """Guards for the rules above: a bound, "likely", an opinion verb, a modal or a Korean estimate word that does not
    hedge the value leaves it firm, with a label and after a retraction."""
    for reply in ["The most likely answer is 48.", "Counting the likely outcomes, the answer is 48.",
                  "I think about it again: the answer is 48.", "With at least one element, the answer is 48.",
                  "대략적인 설명은 생략하고 답은 48이다.", "최소 비용을 구하면 답은 48이다.",
                  "어느 정도 계산해 보면 답은 48이다.", "I probably forgot the carry, so the answer is 48."]:
        _assert_firm("48", reply)
        assert _integer(48, reply) == "correct", reply
    for reply in [RETRACTED + "At least one element is 48.", RETRACTED + "The most likely sum is 48.",
                  RETRACTED + "The count of likely outcomes is 48.",
                  RETRACTED + "The largest value it could take is 48.",
                  RETRACTED + "I think about it again: it is 48.", KOREAN + "최소 비용은 48이다.",
                  KOREAN + "대략적인 설명은 생략하고 다시 계산하면 48이다.", KOREAN + "48이지만 검산도 마쳤다.",
                  KOREAN + "어느 정도 다시 보면 48이다."]:
        _assert_firm("48", reply)


def test_a_pleasantry_that_is_the_answer_is_kept():
    """A task whose gold is a phrase ("Thank you", a translation): the line after a label, or a reply of nothing
    else, was taken off as a sign-off, and the label ("Answer:") read as the answer."""
    for reply, gold in [("Thank you", "Thank you"), ("Answer:\nBest", "Best"), ("**Answer:**\n\nEnjoy", "Enjoy"),
                        ("Final answer:\nRegards", "Regards"), ("The English phrase is:\n\nGood luck", "Good luck")]:
        assert exact_grader.read_answer(reply, False, gold) == (gold, None), reply
    assert exact_grader.read_answer("The answer is 48.\n\nThanks!", False, "48") == ("48", None)


def test_a_korean_doubt_a_check_settles_is_firm():
    """"확실하지 않지만 검산해 보니 답은 48입니다" (not sure, but checked: 48) was refused as hedged; a doubt left
    standing ("확실하지 않지만 정답은 48이다") still is."""
    for reply in ["확실하지 않지만 검산해 보니 답은 48입니다.", "확실하지 않았지만 검산 결과 답은 48이다.",
                  "아마도 틀릴 수 있다고 생각했지만 다시 확인하니 답은 48입니다."]:
        assert exact_grader.read_answer(reply, False, "48") == ("48", None), reply
    assert exact_grader.read_answer("확실하지 않지만 정답은 48이다", False, "48")[0] is None
