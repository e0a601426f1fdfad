"""What a reply states after it retracts its labelled answer, and a multiple-choice answer with its text: the RL
exact reward (posttrain/exact_grader.py, eval/stated_answer.py) and, for the value named before a negated one, the
evaluation's AIME grader (eval/unboxed_answer.py) read these alike."""

from __future__ import annotations

from axk1.eval.math_grader import grade_integer_answer
from axk1.posttrain import exact_grader
from axk1.posttrain.rewards import score

RETRACTED = "The answer is 42. Wait, that is wrong. "


def _exact(gold: str, reply: str):
    return score({"kind": "exact", "answer": gold, "tests": ""}, f"reasoning</think>\n{reply}", "stop", True)


def _integer(gold: int, reply: str) -> str:
    return grade_integer_answer(reply, gold, use_math_verify=False).status


def test_after_a_retraction_the_value_named_before_a_negated_one_is_the_answer():
    """Session 37 left "It is 48, not 42." after a retraction read as 42, the number the sentence ends on, in both
    graders: the negated value is the one the reply rejects, so 48 scored wrong and 42 right."""
    for reply in [RETRACTED + "It is 48, not 42.", RETRACTED + "Hmm, 6*8 is 48, not 42.",
                  RETRACTED + "It is 48 rather than 42.", RETRACTED + "It is 48 instead of 42.",
                  "The answer is 42.\nWait, that is wrong.\nIt is $48$, not $42$."]:
        assert _exact("48", reply).reward == 1.0, reply
        assert _exact("42", reply).status == "wrong", reply
        assert (_integer(48, reply), _integer(42, reply)) == ("correct", "wrong"), reply
    # what was read right stays so: the Korean form, a label's own "48, not 42", a later value after the named one
    for reply in ["정답은 42이다. 잠깐, 틀렸다. 42가 아니라 48이다.", "The answer is 48, not 42."]:
        assert (_exact("48", reply).reward, _integer(48, reply)) == (1.0, "correct"), reply
    assert _exact("43", RETRACTED + "It is 48, and 43 after the carry.").reward == 1.0


def test_after_a_retraction_a_word_answer_is_read_after_its_copula():
    """Session 37 compared the whole last line ("It's Tokyo.") with the task's word answer, so a right correction
    scored wrong; a number was already read out of its sentence. Only a sentence that is a copula and the value
    counts: a clause or a doubt after it, or a negation before it, leaves the line whole (wrong)."""
    for gold, reply in [("Tokyo", "The answer is Kyoto. Wait, that is wrong. It's Tokyo."),
                        ("Tokyo", "The answer is Kyoto. Wait, that is wrong. The capital is Tokyo."),
                        ("Tokyo", "The answer is Kyoto. Wait, that is wrong. So it is Tokyo, not Kyoto."),
                        ("Tokyo", "The answer is Kyoto.\nI made a mistake.\nThe capital of Japan is **Tokyo**."),
                        ("New York", "Final answer: Boston. Scratch that. It should be New York."),
                        ("도쿄", "정답은 교토입니다. 잠깐, 틀렸다. 수도는 도쿄입니다.")]:
        assert _exact(gold, reply).reward == 1.0, reply
        assert _exact("Kyoto", reply).status == "wrong", reply
    for reply in ["The answer is Kyoto. Wait, that is wrong. It's Tokyo, I think.",
                  "The answer is Kyoto. Wait, that is wrong. It is not Tokyo.",
                  "The answer is Kyoto. Wait, that is wrong. It's Tokyo because the capital moved."]:
        assert _exact("Tokyo", reply).status == "wrong", reply


def test_a_hedged_answer_after_a_retraction_earns_no_exact_credit():
    """A hedged label ("The answer is probably 48") is wrong; retracting a firm answer and then hedging the new one
    earned the credit the hedged label does not, a way around the rule a policy can learn. The evaluation keeps its
    own rule (without a label a hedge is left to the last-number rule: docs/evaluation.md)."""
    for gold, reply in [("48", RETRACTED + "It is probably 48."), ("48", RETRACTED + "maybe 48"),
                        ("48", RETRACTED + "It's about 48."), ("48", RETRACTED + "It is 48, probably."),
                        ("48", RETRACTED + "It is 48?"), ("48", "정답은 42이다. 잠깐, 틀렸다. 아마 48이다."),
                        ("48", "정답은 42이다. 잠깐, 틀렸다. 48일 수도 있다."),
                        ("Tokyo", "The answer is Kyoto. Wait, that is wrong. It's probably Tokyo.")]:
        assert _exact(gold, reply).status == "wrong", reply
        raw, refused = exact_grader.read_answer(reply, False, gold)
        assert raw is None and refused.startswith("hedged: "), (reply, raw, refused)
        if gold == "48" and "?" not in reply:
            assert _integer(48, reply) == "correct", reply
    # a hedge word away from the value, or a plain "No," before it, hedges nothing
    for reply in [RETRACTED + "No, it is 48.", RETRACTED + "I think about it again: it is 48.",
                  RETRACTED + "I forgot about the carry, so it is 48."]:
        assert _exact("48", reply).reward == 1.0, reply


def test_a_choice_with_its_text_reads_as_the_golds_kind():
    """"(B) 12" was compared whole: wrong for the gold "B" and for "12" alike. A one-letter gold reads the letter,
    any other the choice's text; a gold written as the choice keeps it whole."""
    for gold, reply in [("B", "The answer is (B) 12"), ("B", "The answer is B) 12."), ("B", "Work.\n\n(B) 12"),
                        ("B", "Work.\n\nB) 12"), ("12", "The answer is (B) 12"), ("12", "Work.\n\nB) 12"),
                        ("Tokyo", "Answer: (C) Tokyo")]:
        assert _exact(gold, reply).reward == 1.0, reply
    assert _exact("A", "The answer is (B) 12").status == "wrong"
    assert _exact("13", "The answer is (B) 12").status == "wrong"
    assert _exact("(B) 12", "The answer is (B) 12").reward == 1.0


def test_after_a_retraction_only_a_hedge_on_the_value_refuses_it():
    """Session 38 searched the three words before the value and the whole Korean sentence for a hedge word, so a firm
    correction was refused when a bound or Korean 최소/최대 modified something else in its sentence ("subsets with
    at least one element", "around the table", "최소 비용은"). A hedge counts only on the value: right before it, a
    sentence adverb before its copula or subject, or a doubt after it; a bound right before it still refuses it."""
    korean = "답은 42이다. 잠깐, 틀렸다. "
    for reply in [RETRACTED + "The number of subsets with at least one element is 48.",
                  "The answer is 42. Wait, that's wrong. Counting the seats around the table gives 48.",
                  korean + "다시 계산하면 최소 비용은 48이다.", korean + "만들 수 있는 최대 개수는 48이다.",
                  korean + "다시 계산하면 48이 최소 비용이다.", RETRACTED + "The most likely sum is 48.",
                  RETRACTED + "Either way it is 48."]:
        assert _exact("48", reply).reward == 1.0, reply
        assert exact_grader.read_answer(reply, False, "48") == ("48", None), reply
        assert _integer(48, reply) == "correct", reply
    for reply in [RETRACTED + "probably 48", RETRACTED + "The count is about 48.", RETRACTED + "It's maybe 48.",
                  RETRACTED + "48, probably.", RETRACTED + "48?", RETRACTED + "Perhaps the count is 48.",
                  RETRACTED + "Maybe it is 48.", RETRACTED + "It is at least 48.", RETRACTED + "It is around 48.",
                  RETRACTED + "It is either 47 or 48.", korean + "아마 48", korean + "48일 수도 있다.",
                  korean + "48인 것 같다.", korean + "아마 최소 비용은 48이다.", korean + "비용은 최소 48이다.",
                  korean + "비용은 약 48이다."]:
        assert _exact("48", reply).status == "wrong", reply
        raw, refused = exact_grader.read_answer(reply, False, "48")
        assert raw is None and refused.startswith("hedged: "), (reply, raw, refused)


def test_after_a_retraction_a_sentence_adverb_anywhere_before_the_value_hedges_it():
    """The last fix read a sentence adverb only right before a copula ("Maybe it is 48"), so "It should probably be
    48.", "Maybe we get 48." or "아마 다시 계산하면 48이다." after a retraction earned full reward where "The answer
    should probably be 48." is wrong. A sentence adverb hedges what its clause goes on to state; a comma or a clause
    word ("so", "because") after it ends its reach, and "the most likely sum" or a degree word away from the value
    ("Either way") is no hedge on it."""
    korean = "답은 42이다. 잠깐, 틀렸다. "
    for reply in [RETRACTED + "It should probably be 48.", RETRACTED + "It would likely be 48.",
                  RETRACTED + "Maybe we get 48.", RETRACTED + "Probably we have 48.",
                  RETRACTED + "So it is probably going to be 48.", RETRACTED + "Possibly the sum becomes 48.",
                  RETRACTED + "Perhaps the total count of ways is 48.", RETRACTED + "Most likely, it is 48.",
                  korean + "아마 다시 계산하면 48이다.", korean + "어쩌면 다시 보면 48이다."]:
        assert _exact("48", reply).status == "wrong", reply
        raw, refused = exact_grader.read_answer(reply, False, "48")
        assert raw is None and refused.startswith("hedged: "), (reply, raw, refused)
    assert _exact("Tokyo", "The answer is Kyoto. Wait, that is wrong. Maybe it's Tokyo.").status == "wrong"
    for reply in [RETRACTED + "The most likely sum is 48.", RETRACTED + "Either way it is 48.",
                  RETRACTED + "I probably forgot the carry, so it is 48.",
                  RETRACTED + "I probably forgot the carry so the sum is 48.",
                  RETRACTED + "Each outcome is equally likely, and the sum is 48.",
                  korean + "다시 계산하면 최소 비용은 48이다.",
                  # "likely"/"possibly" on a noun or adjective (after a determiner or "of", before a hyphen), and an
                  # adverb about the mistake in a clause "and"/"then" ends, were hedges (a third review)
                  RETRACTED + "The count of likely outcomes is 48.",
                  RETRACTED + "So the probability of the likely event is 48.",
                  RETRACTED + "Recounting the possibly repeated cases gives 48.",
                  RETRACTED + "Counting all possibly-equal pairs gives 48.",
                  RETRACTED + "I probably forgot the carry and redoing it gives 48.",
                  RETRACTED + "I maybe erred earlier then the sum is 48."]:
        assert _exact("48", reply).reward == 1.0, reply
        assert exact_grader.read_answer(reply, False, "48") == ("48", None), reply
