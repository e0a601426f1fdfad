"""RL's "exact" answers: what the task-file check tells a user to use for a fraction or "1,000" must then accept
the forms a model writes (`\\frac{3}{4}`, `0.75`, `\\boxed{1000}`, `\\text{Tokyo}`); every one scored -1."""

from __future__ import annotations

import json

import pytest

from axk1.posttrain import exact_grader
from axk1.posttrain.rewards import score
from axk1.posttrain.tasks import read_tasks


def _score(gold: str, boxed: str):
    return score({"kind": "exact", "answer": gold, "tests": ""}, f"reasoning</think>\nSo \\boxed{{{boxed}}}", "stop",
                 True)


@pytest.mark.parametrize("gold, written", [
    ("3/4", r"\frac{3}{4}"), ("3/4", r"\dfrac{3}{4}"), ("3/4", r"\tfrac34"), ("3/4", "0.75"), ("3/4", "3 / 4"),
    (r"\frac{3}{4}", "3/4"), ("-3/4", r"-\frac{3}{4}"), ("0.5", ".5"), ("1,000", "1000"), ("1,000", "1{,}000"),
    ("1000", "1,000"), ("1,000,000", r"\text{1,000,000}"), ("Tokyo", r"\text{Tokyo}"), ("Tokyo", r"\textbf{Tokyo}"),
    ("New York", r"\text{new york}"), ("$3/4$", "3/4"),
])
def test_equivalent_forms_score_plus_one_without_math_verify(monkeypatch, gold, written):
    monkeypatch.setattr(exact_grader, "math_verify_worker", lambda: pytest.fail("settled without math-verify"))
    assert _score(gold, written).reward == 1.0


@pytest.mark.parametrize("gold, written", [
    ("3/4", "0.7500001"), ("3/4", "4/3"), ("1,000", "1,001"), ("Paris", "Paris."), ("Tokyo", r"\text{Kyoto}"),
    ("Paris 2024", "2024"), ("1,2", "12"), ("B", "b)"),
])
def test_different_answers_stay_wrong(gold, written):
    assert _score(gold, written).status == "wrong"


def test_math_shaped_answers_go_to_the_evaluation_fallback_grader():
    """Steps 1-2 do not settle `\\frac{\\sqrt{2}}{2}` against `\\sqrt{2}/2`: eval's math-verify worker does."""
    assert _score(r"\sqrt{2}/2", r"\frac{\sqrt{2}}{2}").reward == 1.0
    assert _score(r"\sqrt{2}/2", r"\frac{\sqrt{3}}{2}").status == "wrong"
    assert _score(r"2\pi", r"2 \pi").reward == 1.0


def test_text_and_overlong_answers_never_reach_math_verify(monkeypatch):
    """A reward stays a pure function where it can: text golds never, and no answer past MAX_VERIFIED characters
    (math-verify hangs on huge powers), is sent to the worker."""
    monkeypatch.setattr(exact_grader, "math_verify_worker", lambda: pytest.fail("math-verify was asked"))
    assert _score("Tokyo", "Kyoto").status == "wrong"
    assert _score(r"\sqrt{2}", "2^{" * 150 + "2" + "}" * 150).status == "wrong"
    assert not exact_grader.reads_as_math("Paris 2024") and exact_grader.reads_as_math(r"x^2 + \frac{1}{2}")


def test_the_read_time_advice_leads_to_a_task_that_grades_what_it_promises(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"prompt": "How many metres in a km?", "answer": "1,000"}) + "\n")
    with pytest.raises(ValueError, match=r'give "kind": "exact", which takes them .*"1,000" as 1000') as e:
        read_tasks(path)
    assert '"1,000" as 1000' in str(e.value)
    path.write_text(json.dumps({"prompt": "How many metres in a km?", "answer": "1,000", "kind": "exact"}) + "\n")
    task = read_tasks(path)[0].to_dict()
    assert score(task, "</think>\\boxed{1000}", "stop", True).reward == 1.0


@pytest.mark.parametrize("written", ["70 2", r"70\,\text{or}\,2", r"70\quad 2", r"70\ 2", r"70 \text{ and } 2"])
def test_numbers_side_by_side_are_not_their_sum(written):
    """math-verify added juxtaposed numbers: each of these scored +1 for 72, which the AIME grader refuses."""
    assert _score("72", written).status == "wrong"
    assert _score("1072", r"1\,072").reward == 1.0  # a thin space inside a number still joins its digits


@pytest.mark.parametrize("written", [r"3 \equiv 5", "3 == 5", r"5 \approx 3", r"\sqrt{2} \approx 1.4"])
def test_a_relation_between_numbers_is_not_one_answer(written):
    gold = r"\sqrt{2}" if "sqrt" in written else "5"
    assert _score(gold, written).status == "wrong"


@pytest.mark.parametrize("gold, written", [(r"\sqrt{2}", "1.414214"), (r"\sqrt{2}", "1.41421356"), (r"\pi", "3.14159265"),
                                           (r"\sqrt{2}/2", "0.7071068"), (r"\sqrt{2}", "1")])
def test_a_rounded_decimal_is_not_an_irrational_answer(gold, written):
    """math-verify's rounding made 1.414214 right for sqrt(2) while 0.7500001 is refused for 3/4."""
    assert _score(gold, written).status == "wrong"


@pytest.mark.parametrize("gold, written", [("2^{-2}", "0.25"), ("2^{-2}", "1/4"), (r"\sqrt{4}", "2"),
                                           (r"\frac{\sqrt{2}}{\sqrt{8}}", "0.5"), (r"\sqrt{2}", r"\frac{2}{\sqrt{2}}")])
def test_a_plain_number_is_right_for_a_symbolic_answer_of_that_exact_value(gold, written):
    assert _score(gold, written).reward == 1.0
    assert _score(gold, "0.2500001" if written == "0.25" else "7").status == "wrong"


@pytest.mark.parametrize("gold, written", [
    ("300 g", "300 kg"), ("300 g", "300 m"), ("300 g", "300"), ("300 g", r"300 \text{km}"),
    ("300 g", r"300\text{ 킬로그램}"), ("300 g", "300 kilograms"), ("5 m", "5 minutes"), ("5 M", "5 meters"),
    (r"5 \text{ cm}", r"5\text{ m}"), (r"5 \text{ cm}", "5"), ("12 km/h", "12 m/s"), ("12 km/h", "12"),
    (r"50\%", "50"), ("300 g", "301 g"),
])
def test_a_wrong_or_missing_unit_is_wrong(gold, written):
    """"300 g" read as math (a single-letter variable) and math-verify, which drops units, took 300 kg, 300 m or a
    bare 300: a wrong or missing unit is wrong, whatever the number."""
    assert _score(gold, written).status == "wrong"


@pytest.mark.parametrize("gold, written", [
    ("300 g", r"300\,\text{g}"), ("300 g", "300g"), ("300 g", r"300 \mathrm{g}"), ("300 g", "300.0 g"),
    (r"5 \text{ cm}", "5cm"), ("12 km/h", r"12\ \text{km/h}"), ("1,000 m", "1000 m"), (r"\frac{1}{2} kg", "0.5 kg"),
    ("9.8 m/s^2", r"9.8\,\mathrm{m}/\mathrm{s}^{2}"), (r"50\%", "50%"), ("3x", "3x"),
])
def test_the_same_unit_in_another_form_is_right(gold, written):
    assert _score(gold, written).reward == 1.0


def test_a_letter_joined_to_a_number_stays_a_variable():
    """Only a set-apart unit symbol is a unit: `3x` and `2n` are math, not 3 of unit x."""
    assert exact_grader.split_unit("3x", set_apart_only=True) is None
    assert exact_grader.split_unit("2 n", set_apart_only=True) is None
    assert exact_grader.split_unit("300 g", set_apart_only=True) == ("300", "g")
    assert exact_grader.split_unit(r"9.8\,\mathrm{m}/\mathrm{s}^{2}") == ("9.8", "m/s^2")


@pytest.mark.parametrize("gold, written", [
    ("90°", r"90^\circ"), ("90°", r"90^{\circ}"), ("90°", r"90\degree"), (r"90^\circ", "90°"),
    (r"90^{\circ}", r"90^\circ"), (r"30^\circ C", "30°C"),
])
def test_latex_degree_forms_are_the_degree_sign(gold, written):
    """`^\\circ` is how LaTeX writes `°`: each form is right for the other, after a number on either side."""
    assert _score(gold, written).reward == 1.0


@pytest.mark.parametrize("gold, written", [("90°", "90"), (r"90^\circ", "90"), ("90°", "91^\\circ")])
def test_a_degree_answer_still_needs_its_degree(gold, written):
    """Both spellings of the degree follow the unit rule alike: a bare 90 is wrong for either."""
    assert _score(gold, written).status == "wrong"


def test_units_are_compared_case_sensitively():
    """`5 M` (mega) is not `5 m` (metres): text equality, which case-folds, must not settle an answer with a unit."""
    assert _score("5 m", "5 M").status == "wrong"
    assert _score("5 m", "5 m").reward == 1.0


@pytest.mark.parametrize("gold, written, right", [
    ("5개", "5", True), ("3명", "3", True), ("5개", "5개", True), ("5개", "5 개", True), ("5개", "6", False),
    ("5개", "5명", False), ("5 킬로그램", "5", False), ("5제곱미터", "5", False), ("5 킬로그램", "5 킬로그램", True),
])
def test_a_korean_counter_may_be_left_out_but_a_measurement_may_not(gold, written, right):
    """`5개` ("5 items") is the Korean way to write the count 5: a bare 5 is right, another counter is not; a
    Hangul measurement unit (킬로그램, 제곱미터) is a unit like any other."""
    assert (_score(gold, written).reward == 1.0) is right


@pytest.mark.parametrize("gold, written", [
    ("300 g", "300 grams"), ("300 g", "300그램"), ("300 g", r"300\text{ 그램}"), ("300 grams", "300 g"),
    ("300그램", "300 g"), ("2 kg", "2 kilograms"), ("5 m", "5 meters"), ("5 m", "5 Metres"), ("5 cm", "5 centimeters"),
    ("5 km", "5 kilometres"), ("5 km", "5킬로미터"), ("10 s", "10 seconds"), ("10 s", "10 sec"), ("10초", "10 s"),
    ("3 min", "3 minutes"), ("3분", "3 min"), ("2 h", "2 hours"), ("2 h", "2시간"), (r"50\%", "50 percent"),
    ("50 percent", "50%"), ("90°", "90 degrees"), (r"90^\circ", "90도"), ("1000원", "1000 won"),
    ("12 km/h", "12 kilometers/hour"), ("9.8 m/s^2", "9.8 meters/second^2"),
])
def test_a_common_spelling_of_the_unit_is_the_unit(gold, written):
    """`300 grams` and `300그램` were wrong for "300 g" (units were compared as written): a unit's common spellings
    (exact_grader._UNIT_ALIASES) are now one unit."""
    assert _score(gold, written).reward == 1.0


@pytest.mark.parametrize("gold, written", [
    ("300 g", "301 grams"), ("300 g", "300 kilograms"), ("300 g", "30그램"), ("5 m", "5 minutes"),
    ("2 h", "2 seconds"), (r"50\%", "5 percent"), ("90°", "91 degrees"), ("1000원", "100 won"), ("5 m", "5 M"),
])
def test_a_unit_alias_never_makes_a_wrong_number_or_unit_right(gold, written):
    assert _score(gold, written).status == "wrong"


@pytest.mark.parametrize("gold, written", [
    ("5 min", "5 Min"), ("5 min", "5 MIN"), ("5 MIN", "5 min"), ("5 min", "5 MINUTES"), ("10 s", "10 SEC"),
    ("2 h", "2 HR"), ("2 h", "2 Hrs"), ("12 km/h", "12 km/HR"),
])
def test_a_unit_word_matches_in_any_case(gold, written):
    """`5 SEC` and `5 MINUTES` were right for "5 min"-like golds but `5 Min` and `5 MIN` wrong: `min` is a word
    (the symbol of minutes spelled as one), matched in any case like the other spellings."""
    assert _score(gold, written).reward == 1.0


@pytest.mark.parametrize("gold, written", [("5 m", "5 M"), ("10 s", "10 S"), ("2 h", "2 H"), ("2 kg", "2 KG"),
                                           ("5 min", "5 M")])
def test_a_letter_symbol_stays_case_sensitive(gold, written):
    assert _score(gold, written).status == "wrong"


def _unboxed(gold: str, reply: str):
    return score({"kind": "exact", "answer": gold, "tests": ""}, f"reasoning</think>\n{reply}", "stop", True)


@pytest.mark.parametrize("gold, reply", [
    ("43", "6 * 7 + 1 gives it.\nThe answer is 43."), ("Tokyo", "Final answer: Tokyo."),
    ("3/4", "The answer is $0.75$."), ("1,000", "**Answer:** 1000"), ("43", "답은 43이다."), ("서울", "따라서 정답은 서울입니다."),
    ("New York", "The answer is New York."), ("43", "The answer is therefore 43."),
    ("Paris 2024", "Answer: Paris 2024."),
    ("43", "The answer is 42.\nWait, that is wrong.\n43"),
    ("42", "The answer is 42, since 6 * 7 = 42."), ("5개", "정답은 5개입니다."),
])
def test_a_labelled_answer_without_a_box_is_read_as_the_evaluation_reads_it(monkeypatch, gold, reply):
    """The whole last line ("The answer is 43.") was compared with "43": every right unboxed answer scored -1, where
    the evaluation reads the label's answer (eval/stated_answer.py)."""
    monkeypatch.setattr(exact_grader, "math_verify_worker", lambda: pytest.fail("settled without math-verify"))
    assert _unboxed(gold, reply).reward == 1.0


@pytest.mark.parametrize("gold, reply", [
    ("43", "The answer is maybe 43."), ("43", "The answer is 43 (I think)."), ("Tokyo", "The answer is Tokyo?"),
    ("Tokyo", "The answer is Tokyo, Kyoto."), ("42", "The answer is 42, or 43."), ("43", "정답은 43일 수도 있다."),
    ("42", "The answer is 42. Wait, that is wrong."), ("43", "The answer is 42."), ("Tokyo", "답은 교토입니다."),
])
def test_a_hedged_listed_retracted_or_other_labelled_answer_stays_wrong(gold, reply):
    assert _unboxed(gold, reply).status == "wrong"


def test_a_label_that_introduces_the_answer_leaves_it_to_the_last_line():
    assert _unboxed("Tokyo", "The answer is as follows:\nTokyo").reward == 1.0
    assert _unboxed("Tokyo", "Let me see.\nTokyo").reward == 1.0  # no label: the last line, as before
    assert _unboxed("Tokyo", "Let me see.\nTokyo.").status == "wrong"  # ... where punctuation still counts


def test_a_label_before_the_last_paragraph_or_restated_after_leaves_the_reply_to_its_last_line(monkeypatch):
    """Review 37: the label's clause beat the last line, so "The answer is below.\\n\\n42" read "below" and these,
    right under the last-line rule, scored -1. A label counts only in the last paragraph, and a later line that
    states an answer by itself is the reply's last word: one answer is read, never both."""
    monkeypatch.setattr(exact_grader, "math_verify_worker", lambda: pytest.fail("settled without math-verify"))
    for gold, reply in [("42", "The answer is below.\n\n42"), ("42", "Answer: see below\n\n42"),
                        ("42", "The answer is as follows.\n\n42"),
                        ("3", "The answer is straightforward once we factor.\n\nx = 3\n\n3"),
                        ("43", "The answer is 42. Hmm, actually it is 43.\n43"), ("43", "The answer is not 42.\n\n43"),
                        ("(1, 2)", "The answer is (1, 2).\n\n(1, 2)"),
                        ("Tokyo", "My answer is Tokyo, probably.\nTokyo"),
                        ("Tokyo", "Final answer: Tokyo.\nThis is the capital of Japan."),
                        ("43", "**Answer:** 43\n\n---"), ("Tokyo", "Final answer:\n\n**Tokyo**"),
                        ("43", "The answer is 42.\n43")]:
        assert _unboxed(gold, reply).reward == 1.0, reply
    assert _unboxed("42", "The answer is 42.\n43").status == "wrong"  # the later line alone, not either of the two


def test_a_comma_in_brackets_or_a_closing_aside_is_not_a_list():
    """"(1, 2)" and "{1, 2, 3}" read as lists cut at their first comma, and "12, obviously." as two answers."""
    for gold, reply in [("(1, 2)", "The answer is (1, 2)."), ("(1, 2)", "The answer is $(1, 2)$."),
                        ("{1, 2, 3}", "Final answer: {1, 2, 3}"), ("12", "The answer is 12, obviously."),
                        ("7", "The answer is 7, indeed.")]:
        assert _unboxed(gold, reply).reward == 1.0, reply
    assert _unboxed("12", "The answer is 12, 13.").status == "wrong"  # a list still is one


def test_a_gold_with_a_comma_may_match_the_labelled_sentence_whole():
    """A gold holding a comma could never be right through a label: the clause ended at its comma."""
    for gold, reply in [("Tokyo, Japan", "The answer is Tokyo, Japan."),
                        ("Washington, D.C.", "The answer is Washington, D.C."), ("2, 3", "The answer is 2, 3")]:
        assert _unboxed(gold, reply).reward == 1.0, reply
    assert _unboxed("Tokyo, Japan", "The answer is Tokyo, Japan, Kyoto.").status == "wrong"
    assert _unboxed("Tokyo", "The answer is Tokyo, Japan.").status == "wrong"


def test_after_a_retraction_what_follows_is_read_and_a_negated_one_is_none():
    """What follows a retraction is read as the evaluation reads it (the number ending its sentence), not the whole
    last line; "I don't think that is wrong." retracts nothing."""
    for gold, reply in [("43", "The answer is 42. Wait, that is wrong. So it's 43."),
                        ("43", "The answer is 42.\nWait, that is wrong. So it's 43."),
                        ("42", "The answer is 42. I don't think that is wrong."),
                        ("42", "The answer is 42. I made a mistake in step 3 earlier but fixed it.")]:
        assert _unboxed(gold, reply).reward == 1.0, reply
    assert _unboxed("42", "The answer is 42. Wait, that is wrong.").status == "wrong"


@pytest.mark.parametrize("gold, reply", [
    ("42", "The answer is 42.\n\nI verified this by substitution."), ("42", "The answer is 42.\n\nHope this helps!"),
    ("42", "Final answer: 42\n\nExplanation: 6 times 7."),
    ("Tokyo", "**Answer:** Tokyo\n\nTokyo is the capital of Japan."),
    ("42", "따라서 정답은 42입니다.\n\n검산: 6×7=42."), ("서울", "**정답: 서울**\n\n서울은 대한민국의 수도입니다."),
    ("\\sqrt{2}", "The answer is $\\sqrt{2}$.\n\nIndeed $(\\sqrt{2})^2 = 2$."),
    ("12", "The answer is 12.\n\n- 12 is divisible by 3\n- 12 is even"),
    ("12", "The answer is 12.\n\n| x | y |\n|---|---|\n| 1 | 12 |"), ("12", "Final answer: 12\n\n```\nprint(12)\n```"),
    ("42", "The answer is 42.\n\nThank you"), ("Paris", "The answer is Paris.\nSource: Wikipedia"),
    ("42", "The answer is 42.\n\n$\\blacksquare$"), ("42", "The answer is 42.\n\nNote: units are meters"),
    ("Paris", "Answer: Paris\n(capital of France)"), ("42", "The answer is 42.\nTherefore, 42"),
    ("3/4", "Therefore the answer is \\(\\frac{3}{4}\\).\n\\[\\frac{3}{4} = 0.75\\]"),
])
def test_a_label_keeps_its_answer_when_an_explanation_or_sign_off_follows(monkeypatch, gold, reply):
    """Review 37b: a label counted only in the last paragraph and lost to any later line not ending in punctuation,
    so the explanation, bullet list, table, code or "Thank you" after a right answer was read instead and scored
    -1. Only a later line that states an answer by itself ("43", "**42**") overrides the label."""
    monkeypatch.setattr(exact_grader, "math_verify_worker", lambda: pytest.fail("settled without math-verify"))
    assert _unboxed(gold, reply).reward == 1.0, reply


def test_a_long_digit_run_after_a_retraction_is_read_whole_in_linear_time():
    """Review 37b: the search for the number ending the line after a retraction started at every digit of a run
    and matched the rest of it each time: 25,000 digits took 23 s. The run is read whole, as the eval reads it."""
    for n in (50_000, 100_000):
        run = "1" * n
        for end in ("x.", "."):
            reply = f"The answer is 42. Wait, that is wrong. {run}{end}"
            assert exact_grader.read_answer(reply, False) == (run, None)


@pytest.mark.parametrize("gold, reply", [
    ("48", "정답은 42입니다. 잠깐, 틀렸다. 다시 계산하면 48이다."),
    ("48", "정답은 42입니다. 잠깐, 틀렸다. 다시 계산하면 48입니다."),
    ("48", "The answer is 42. Wait, that is wrong. It should be 48 instead."),
    ("48", "The answer is 42. Wait, that is wrong.\nCorrect: 48 apples"),
])
def test_after_a_retraction_a_copula_or_a_trailing_word_does_not_hide_the_number(gold, reply):
    """Review 37b: the retraction's leftover "다." and a copula after the number ("48이다") kept the number from
    being read, and a sentence not ending on it was compared whole; the eval reads its last number."""
    assert _unboxed(gold, reply).reward == 1.0, reply
    assert _unboxed("42", reply).status == "wrong"
    assert _unboxed("42", "정답은 42입니다. 잠깐, 틀렸다.").status == "wrong"  # nothing follows: retracted


def test_the_last_line_is_read_without_emphasis_or_math_delimiters_and_a_bracketed_letter_is_the_letter():
    """Review 37b: "**42**" on the last line was compared with its asterisks, and "(B)" with its brackets."""
    for gold, reply in [("42", "Work.\n\n**42**"), ("42", "The answer is 42.\n\n**42**"), ("42", "Work.\n\n$42$"),
                        ("B", "The answer is (B)."), ("B", "Work.\n\n(B)"), ("(B)", "Work.\n\n(B)"),
                        ("C", "The answer is (C).\n\n(A) is wrong because ...\n(B) is wrong because ...")]:
        assert _unboxed(gold, reply).reward == 1.0, reply
    assert _unboxed("Tokyo", "Work.\n\n**Tokyo.**").status == "wrong"  # punctuation still counts
    assert _unboxed("A", "Work.\n\n(B)").status == "wrong"


@pytest.mark.parametrize("reply", ["The answer is 42. Wait, that is wrong", "정답은 42이다. 잠깐, 틀렸다",
                                   "The answer is 42. I made a mistake",
                                   "The answer is 42. Hmm, that's incorrect(sign error). It is 48.",
                                   "The answer is 42. Wait, that is wrong—it is 48.", "정답은 42이다. 잠깐, 틀렸다48"])
def test_a_retraction_at_the_end_or_before_a_dash_or_bracket_is_read_not_raised(reply):
    """Review 37c: what a retraction leaves of its sentence was matched with a required lookahead, so a retraction
    ending the reply, or followed by a dash, a bracket or a digit, raised AttributeError out of the reward (one such
    completion stopped the RL step's scoring). Each is read: retracted, or the number after it."""
    result = _unboxed("48", reply)
    assert result.status in ("correct", "wrong"), result
    assert _unboxed("42", reply).status == "wrong"


def test_a_value_alone_on_the_last_line_overrides_an_earlier_label():
    """Review 37c: with the last-paragraph rule gone, a label early in the reasoning outranked the value the reply
    ends on ("... With the carry we get\n\n42."): a value alone on the last line, with a full stop or as `x = 42`,
    is the reply's answer (what it was scored by before this session); sign-offs and working lines still are not."""
    for gold, reply in [("42", "The answer is 40 if we forget the carry. With the carry we get\n\n42."),
                        ("42", "A naive answer: 40.\n\nThe correct value is\n42."),
                        ("42", "Final answer: 40? No.\n\nRecomputing:\n\n42."),
                        ("x = 42", "The answer is not 40, as one might think.\n\nComputing 6 times 7 gives\n\nx = 42")]:
        assert _unboxed(gold, reply).reward == 1.0, reply
    for reply in ["The answer is 42.\nVerification: 6 × 7 = 42 ✓", "The answer is 42.\n\n(6 × 7 = 42)",
                  "The answer is 42.\n\nThank you."]:
        assert _unboxed("42", reply).reward == 1.0, reply


def test_a_fraction_after_a_retraction_is_read_whole():
    """Review 37c: "It is 3/4." after a retraction was read as its denominator, 4: wrong for 3/4, and right for a
    gold of 4."""
    reply = "The answer is 1/2. Wait, that is wrong. It is 3/4."
    assert _unboxed("3/4", reply).reward == 1.0
    assert _unboxed("4", "The answer is 42. Wait, that is wrong. It is 3/4.").status == "wrong"


def test_a_colon_after_the_labels_emphasis_is_a_label():
    """Review 37c: `**Final Answer**: 42` (the emphasis closed before the colon, as models often write it) was no
    label, so the whole line was compared and a right answer scored wrong; `**Final Answer:** 42` was read."""
    for gold, reply in [("42", "**Final Answer**: 42"), ("42", "Work.\n\n**Final Answer**: 42\n\nBecause 6*7."),
                        ("Tokyo", "**Answer**: Tokyo"), ("서울", "**정답**: 서울")]:
        assert _unboxed(gold, reply).reward == 1.0, reply
    assert _unboxed("43", "**Final Answer**: 42").status == "wrong"


def test_a_closing_line_that_is_no_answer_leaves_the_label_and_a_check_mark_is_no_part_of_one():
    """Review 37c: a short closing line without a full stop overrode a right label: Korean sign-offs, a heading, a
    reported check ("Answer verified ✅", "검산 완료"), "References"; and "42 ✓" was compared with its check mark. A
    value alone still overrides the label (43 is wrong for 42)."""
    for tail in ["감사합니다", "도움이 되었길 바랍니다", "Enjoy", "Happy studying", "## Summary", "Answer verified ✅",
                 "42 ✓", "**42** ✓", "References", "검산 완료"]:
        assert _unboxed("42", f"The answer is 42.\n\n{tail}").reward == 1.0, tail
    assert _unboxed("42", "Work.\n\n42 ✓").reward == 1.0
    for tail in ["43", "**43**", "43 ✓"]:
        assert _unboxed("42", f"The answer is 42.\n\n{tail}").status == "wrong", tail
