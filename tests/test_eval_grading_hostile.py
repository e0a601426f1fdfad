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


# ---- AIME grading -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("output,status,extracted", [
    # a box is the answer: the rest of the text is not searched for something that happens to be right
    (r"Maybe 5, maybe 72. \boxed{?}", "wrong", "?"),
    (r"It is 72, I think. \boxed{5}", "wrong", "5"),
    # without a box only the last number or math span counts: listing candidates gains nothing
    ("The answer could be 72 or 5 or 99.", "wrong", "99"),
    ("The answer could be 99 or 5 or 72.", "correct", "72"),
    ("So 3*4=12 and the final answer is 72.", "correct", "72"),
    (r"The value is $\frac{144}{2}$.", "correct", "72"),
    # normalisation
    (r"\boxed{72°}", "correct", "72"),
    (r"\boxed{72^{\circ}}", "correct", "72"),
    (r"\boxed{\text{{72}}}", "correct", "72"),
    ("\\boxed{7\u200b2}", "correct", "72"),
    (r"\boxed{1\,072}", "wrong", "1072"),  # one number (math-verify alone reads 1 + 072 = 73)
    (r"\boxed{}", "no_answer", None),
    (r"\boxed{ $ $ }", "no_answer", None),
    (r"\boxed{\text{}}", "no_answer", None),
    # formatting around the number (math-verify graded these wrong: `boldsymbol{72}`, `{\bf 72}`, `072`)
    (r"\boxed{\boldsymbol{72}}", "correct", "72"),
    (r"\boxed{\underline{72}}", "correct", "72"),
    (r"\boxed{{\bf 72}}", "correct", "72"),
    (r"$\boxed{\textbf{(072)}}$", "correct", "72"),
    (r"\boxed{\displaystyle 72}", "correct", "72"),
    (r"\boxed{(5)}", "wrong", "5"),
    # fullwidth digits, as a Korean input method writes them (math-verify graded them wrong); a superscript stays out
    ("\\boxed{\uff17\uff12}", "correct", "72"),
    ("\uc815\ub2f5\uc740 \uff17\uff12\uc774\ub2e4", "correct", "72"),
])
def test_aime_answers_are_read_from_the_final_answer_only(output, status, extracted):
    from axk1.eval.math_grader import grade_integer_answer

    verdict = grade_integer_answer(output, 72)
    assert (verdict.status, verdict.extracted) == (status, extracted), verdict


@pytest.mark.parametrize("content,status,extracted", [
    # a label before the number (math-verify read `answer:*72` and `b*72`, and graded them wrong)
    (r"\text{Answer: }72", "correct", "72"),
    (r"\text{(B) } 72", "correct", "72"),
    (r"\textbf{(B)}\ 72", "correct", "72"),
    (r"\text{The final answer is } 072", "correct", "72"),
    (r"\text{Answer: (B) } 72", "correct", "72"),
    (r"\text{answer is:}\quad 72", "correct", "72"),
    ("\\text{\uc815\ub2f5: }72", "correct", "72"),  # 정답: (Korean "answer:")
    ("답은 72", "correct", "72"), ("최종 답: 72", "correct", "72"), ("정답은 072입니다.", "correct", "72"),
    ("72 (정답)", "correct", "72"), ("\\text{최종 정답은 } 72", "correct", "72"), ("답은 73", "wrong", "73"),
    (r"\text{(B) } 73", "wrong", "73"),
    # still not one integer after the label: no new way to list candidates
    (r"\text{72 or 73}", "wrong", "several numbers"),  # (math-verify's reading was wrong too, by luck)
    (r"\text{Answer: } 72 \text{ or } 73", "wrong", "several numbers"),
    (r"\text{(B) } 72 \text{ or } (C) 73", "wrong", "several numbers"),  # refused before math-verify is asked
    (r"\text{(B) (C) } 72", "wrong", None),
    (r"\text{Answer 1: } 72", "wrong", None),
    (r"\text{(B)}", "wrong", None),
    (r"\text{(b) } 72", "wrong", None),  # a part label, not an AMC choice: left to math-verify as before
])
def test_an_answer_label_in_the_box_is_not_part_of_the_answer(content, status, extracted):
    from axk1.eval.math_grader import grade_integer_answer

    verdict = grade_integer_answer(rf"Thus \boxed{{{content}}}", 72)
    assert verdict.status == status, verdict
    assert verdict.extracted == extracted if extracted else verdict.method != "boxed", verdict


@pytest.mark.parametrize("content", ["7 2", "1 2 3", "7\n2"])
def test_digits_apart_are_not_one_integer(content):
    from axk1.eval.math_grader import grade_integer_answer, normalise_integer

    assert normalise_integer(content) is None
    assert not grade_integer_answer(rf"\boxed{{{content}}}", 72).correct
    assert not grade_integer_answer(rf"\boxed{{{content}}}", 123).correct


@pytest.mark.parametrize("output", [r"\boxed{70 2}", r"\boxed{36 36}", r"\boxed{x = 70 2}", r"The answer is $70 2$",
                                    r"\boxed{70\quad 2}", r"\boxed{12\qquad 30\qquad 30}", r"\boxed{7\phantom{0}2}",
                                    r"\boxed{4\ 2}", r"\boxed{70\hspace{1em}2}", r"So $70\ 2$"])
def test_numbers_apart_are_never_summed_into_the_answer(output):
    """normalise_integer saw several numbers and returned None, and the box went on to math-verify, which read
    `70 2` as 70 + 2: right for 72. Now several numbers are wrong before math-verify is asked, boxed or not."""
    from axk1.eval.math_grader import grade_integer_answer

    verdict = grade_integer_answer(output, 72)
    assert verdict.status == "wrong" and verdict.extracted == "several numbers", verdict


@pytest.mark.parametrize("box", [r"70\,\text{or}\,2", r"70\,\text{and}\,2", r"70\,\text{ or }\,2", r"70\,\text{ and }\,2",
                                 r"70\,or\,2", r"70\,and\,2", r"70\, or \,2", r"70\, and \,2", r"70\;\mathrm{or}\;2",
                                 r"70~\text{or}~2", r"70 \text{또는} 2", r"70\text{이나}2", r"70, 2", r"70;2", r"\{70, 2\}",
                                 r"70\,\textbf{vs}\,2"])
def test_two_numbers_with_a_word_or_a_comma_between_are_several_numbers(box):
    """`\boxed{70\,\text{or}\,2}` was right for 72: the thin spaces went, `\text{or}` was unwrapped to `70or2`,
    which the numbers-apart check (digits, spaces, digits) let through to math-verify, which added 70 and 2."""
    from axk1.eval.math_grader import grade_integer_answer

    for output in (rf"\boxed{{{box}}}", f"The answer is ${box}$."):
        verdict = grade_integer_answer(output, 72)
        assert verdict.status == "wrong" and verdict.extracted == "several numbers", (output, verdict)


@pytest.mark.parametrize("output,gold", [(r"\boxed{42\text{개}}", 42), (r"\boxed{m+n=42}", 42), ("정답은 42입니다", 42),
                                         (r"\boxed{\text{The answer is } 42}", 42), (r"\boxed{1,000}", 1000),
                                         (r"\boxed{4.2 \times 10}", 42), (r"\boxed{42 \text{ ways}}", 42),
                                         (r"\boxed{42\,\text{m}}", 42), (r"\boxed{2^{5}+10}", 42), ("정답: 42번", 42),
                                         (r"\boxed{x=42}", 42), (r"\boxed{6 \cdot 7}", 42)])
def test_one_number_with_words_or_commands_around_it_is_still_one_answer(output, gold):
    """The word check looks only between two numbers: a unit, a counter, a label or a LaTeX command (`\times`)
    is not a second candidate."""
    from axk1.eval.math_grader import grade_integer_answer

    assert grade_integer_answer(output, gold).correct


@pytest.mark.parametrize("output", ["The answer is 42 (mod 1000).", "The answer is 42 for n = 3.",
                                    "The answer is 42 out of 100 cases.", "따라서 정답은 42이며, 이는 3가지 경우의 합입니다.",
                                    "**Answer:** $42$, found in 7 steps", "The answer is 41. No: the answer is 42, not 9.",
                                    "최종 답: 42 (검산: 6 × 7)", "대답은 5개다. 정답은 42이다. 확인: 3",
                                    # the docs list "final answer": bare, it was no label (1000, 3 were read)
                                    "Final answer 42 (mod 1000).", "My final answer $42$, then 3 more cases.",
                                    "The answer is 42. The final answer checks out in 3 cases."])
def test_without_a_box_the_integer_after_the_last_answer_label_is_the_answer(output):
    """Without a box the last number was the answer even after an explicit label: "The answer is 42 (mod 1000)."
    was graded 1000, and "정답은 42이며, 이는 3가지 ..." 3."""
    from axk1.eval.math_grader import grade_integer_answer

    verdict = grade_integer_answer(output, 42)
    assert verdict.correct and verdict.extracted == "42", verdict


@pytest.mark.parametrize("output,gold,status,extracted", [
    ("The answer is 70 or 2.", 72, "wrong", "several numbers"),  # a hedge after the label is still several numbers
    ("정답은 $70$ 또는 $2$", 72, "wrong", "several numbers"),
    # a list after the label was read as its first number: these were correct for 70 (the last-number rule, before
    # the label rule, read 2 and graded them wrong)
    ("The answer is 70, 2.", 70, "wrong", "several numbers"),
    ("The answer is 70 and 2.", 70, "wrong", "several numbers"),
    ("The answer is 70 2.", 70, "wrong", "several numbers"), ("The answer is 70; 2", 70, "wrong", "several numbers"),
    ("정답은 70, 2", 70, "wrong", "several numbers"), ("The answer is $70$, $2$", 70, "wrong", "several numbers"),
    ("The answer is 70.\n\n3. Check: 70 works", 70, "correct", "70"),  # a numbered step on the next line is not
    # ... nor a token after the number that is no integer, or an integer that does not end its clause
    ("The answer is 42 $\\blacksquare$", 42, "correct", "42"), ("The answer is 42 $\\pmod{1000}$.", 42, "correct", "42"),
    ("The answer is $42$, $m+n=42$.", 42, "correct", "42"), ("The answer is 42 $= 6 \\cdot 7$", 42, "correct", "42"),
    ("The answer is 42; 42 is the remainder.", 42, "correct", "42"),
    ("The answer is 42, and 42 mod 1000 = 42.", 42, "correct", "42"),
    ("The answer is 42 , 7 being irrelevant", 42, "correct", "42"),
    ("The answer is $\\frac{1}{2}$ but wait, 42", 42, "correct", "42"),  # no integer after the label: last number
    ("The answer is: hmm, let me check. 42", 42, "correct", "42"),
    ("대답은 5개, 결과는 42", 42, "correct", "42"),  # 대답은 ("the reply is") is not 답은
])
def test_an_answer_label_without_an_integer_after_it_changes_nothing(output, gold, status, extracted):
    from axk1.eval.math_grader import grade_integer_answer

    verdict = grade_integer_answer(output, gold)
    assert (verdict.status, verdict.extracted) == (status, extracted), verdict


@pytest.mark.parametrize("output,value", [(r"\boxed{70\,2}", 702), (r"So $70\,2$", 702), (r"So $1\thinspace 072$", 1072),
                                          (r"\boxed{1\!072}", 1072)])
def test_a_thin_space_joins_digits_boxed_or_not(output, value):
    """`\\,` inside a number is a thousands space, boxed or not: the unboxed span went to math-verify, which read
    `$70\\,2$` as 72 where the box read 702."""
    from axk1.eval.math_grader import grade_integer_answer

    verdict = grade_integer_answer(output, value)
    assert verdict.correct and verdict.extracted == str(value), verdict
    assert not grade_integer_answer(output, 72).correct


def test_an_integer_past_ints_digit_limit_is_wrong_not_a_crash():
    """A degenerate sample repeating a digit 4,301 times: int() raised ValueError, which ended a whole eval run
    and an RL iteration's rewards. Leading zeros do not count: 5,000 of them before 72 is still 72."""
    from axk1.eval.math_grader import grade_integer_answer
    from axk1.posttrain.rewards import score

    verdict = grade_integer_answer(r"\boxed{" + "1" * 4301 + "}", 72)
    assert verdict.status == "wrong" and verdict.extracted == "a 4301-digit number", verdict
    assert grade_integer_answer(r"\boxed{" + "0" * 5000 + "72}", 72).correct
    assert score({"kind": "math", "answer": "72", "id": "t"}, "x\n</think>\n\n\\boxed{" + "9" * 5000 + "}", "stop",
                 True).reward == -1.0


def test_superscript_digits_are_not_an_integer():
    from axk1.eval.math_grader import normalise_integer

    assert normalise_integer("²") is None and normalise_integer("72") == 72


@pytest.mark.parametrize("n", [100_000])
def test_last_boxed_is_linear_on_unclosed_boxes(n):
    # Quadratic before: 77 s at n = 10,000, hours at 100,000; one pass now.
    from axk1.eval.math_grader import grade_integer_answer, last_boxed, unboxed_answer

    assert last_boxed("\\boxed{" * n) is None
    assert last_boxed("\\boxed{" * n + "72}") == "72"  # only the innermost box closes
    assert last_boxed("\\boxed{1}" + "{" * n + "\\boxed{72}") == "72"
    assert last_boxed("\\boxed{\\boxed{5}}") == "\\boxed{5}"  # the box closed last: the outer one
    assert unboxed_answer("\\(" * n) == (None, None) and unboxed_answer("\\(" * n + " 72") == ("72", None)
    assert grade_integer_answer("\\boxed{" * n + "72}", 72).correct


@pytest.mark.parametrize("content,extracted", [
    # An answer box holding an equation is graded on its right-hand side (the reference's rule: `\boxed{m+n=17}`,
    # RHS compared), by the box reader itself: math-verify read `m+n=\text{72}` as `m+n=` and graded it wrong, and
    # `5 = 72` went to math-verify at all.
    (r"5 = 72", "72"),
    (r"m+n=\text{72}", "72"),
    (r"m + n = 25 + 47 = 72", "72"),
    (r"72 = 5", "5"),  # the right-hand side only: writing two candidates gains nothing
    (r"m+n = 072^\circ", "72"),
])
def test_an_equation_in_the_box_is_graded_on_its_right_hand_side(content, extracted):
    from axk1.eval.math_grader import grade_integer_answer

    for gold in (72, 5):
        verdict = grade_integer_answer(rf"so \boxed{{{content}}}", gold, use_math_verify=False)
        assert (verdict.extracted, verdict.method, verdict.correct) == (extracted, "boxed", extracted == str(gold))


@pytest.mark.parametrize("content", [r"a=5, b=72", r"x \le 72", r"= 72", r"72 = m+n"])
def test_what_is_not_an_equation_with_an_integer_answer_is_left_to_math_verify(content):
    from axk1.eval.math_grader import equation_answer, grade_integer_answer, normalise_integer

    right = equation_answer(content)
    assert right is None or normalise_integer(right) is None
    assert grade_integer_answer(rf"\boxed{{{content}}}", 72, use_math_verify=False).method is None


def test_unwrapping_nested_braces_is_linear():
    # A regex pass per nesting level before: ~1 s at depth 4,000, ~6 s at 10,000. One pass with a stack now. The work
    # is counted as the characters handed to the regex engine, not in seconds: four times the depth, about four
    # times the characters (a pass per level: sixteen)
    import axk1.eval.integer_answer
    import axk1.eval.math_grader
    from axk1.eval.integer_answer import unwrap
    from axk1.eval.math_grader import grade_integer_answer
    from tests.work_helpers import regex_input

    def grade(depth):
        def work():
            assert unwrap("{" * depth + "72" + "}" * depth) == "72"
            assert unwrap(r"\text{" * depth + "72" + "}" * depth) == "72"
            assert grade_integer_answer(r"\boxed{" + "{" * depth + "72" + "}" * depth + "}", 72).correct
        return regex_input([axk1.eval.integer_answer, axk1.eval.math_grader], work)[1]

    work, more_work = grade(2_500), grade(10_000)
    assert more_work <= 5 * work, (work, more_work)
    assert unwrap(r"{7}{2") == "7{2" and unwrap(r"\textbf {a}}b") == "a}b"  # an unbalanced brace stays


@pytest.mark.parametrize("after", ["Example output:\n```\nFalse\n```", "Run it with:\n```bash\npython solution.py\n```"])
def test_humaneval_grades_the_last_python_block_not_a_later_block_of_another_kind(humaneval, after):
    """The extraction took the last fenced block of any kind: an untagged block of example output, or a ```bash
    line after the solution, was graded as the solution (wrong_answer, SyntaxError)."""
    problem = humaneval["HumanEval/0"]
    answer = f"```python\n{problem['prompt']}{problem['canonical_solution']}```\n{after}"
    assert grade_code(problem, assemble(problem, answer)).verdict == "pass"


def test_passkey_wants_the_key_as_a_whole_number_and_a_cut_reply_is_truncated():
    """`9677671` held the key 67767 as a substring and was graded correct; a reply cut at the token limit counted as
    correct too, where docs/evaluation.md says it is wrong whatever it holds."""
    from axk1.eval.backends import Completion
    from axk1.eval.tasks import TaskOptions, get_task
    from axk1.eval.tasks.base import Problem

    task, problem = get_task("passkey"), Problem("p", [], "67767")
    grade = lambda text, finish="stop": task.grade(problem, Completion(text, finish), TaskOptions())  # noqa: E731
    assert grade("The pass key is 67767.")["status"] == "correct"
    assert grade("The pass key is 9677671.")["status"] == "wrong"
    assert grade("The pass key is 67767", "length")["status"] == "truncated"


def test_an_lcb_row_whose_metadata_is_no_object_fails_alone():
    """`"metadata": "[]"` raised AttributeError, a traceback that ended the run, outside the failed-row accounting."""
    from axk1.eval.tasks.lcb_data import parse_row

    row = {"question_id": "q1", "question_content": "x", "platform": "atcoder", "contest_date": "2025-01-01T00:00:00",
           "difficulty": "easy", "public_test_cases": "[]", "metadata": "[]"}
    with pytest.raises(ValueError, match="metadata is list, not a JSON object"):
        parse_row(row)


def test_a_translation_request_that_failed_is_tried_again_by_the_next_run(tmp_path):
    """LCB-ko cached a translator's 503 as a failed translation and never asked again: a partial outage dropped
    problems from every later run (and changed the set's hash). Only the survival check's refusals are final."""
    from axk1.eval.backends import Completion
    from axk1.eval.translate import TranslationCache, translate_all

    class Translator:
        def __init__(self, healthy):
            self.healthy = healthy

        def describe(self):
            return {"name": "scripted"}

        def generate(self, requests, sampling, done=None):
            return [Completion("다음 수 3 과 4 를 더하세요.") if self.healthy else
                    Completion("", "error", error="HTTP 503: overloaded") for _ in requests]

    texts = {"q1": "Add the numbers 3 and 4."}
    cache = TranslationCache(tmp_path / "cache.json")
    first, _ = translate_all(texts, Translator(False), cache, retries=0)
    assert not first["q1"].ok
    again, _ = translate_all(texts, Translator(True), TranslationCache(tmp_path / "cache.json"), retries=0)
    assert again["q1"].ok and again["q1"].text.startswith("다음")


@pytest.mark.parametrize("box, status", [("72개", "correct"), ("72\\text{개}", "correct"), ("72 가지", "correct"),
                                         ("72개 또는 73개", "wrong"), ("7 2개", "wrong")])
def test_a_korean_counter_after_the_number_is_a_unit(box, status):
    """AIME-ko answers write a counter after the number: `\\boxed{72개}` was wrong while `\\boxed{72\\text{개}}` was
    right. Both are 72 now; two numbers with counters are still not one answer."""
    from axk1.eval.math_grader import grade_integer_answer

    assert grade_integer_answer(f"\\boxed{{{box}}}", 72).status == status
