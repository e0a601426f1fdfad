"""The two rules for where a reply's reasoning ends (axk1/text/reasoning.py), pinned on a reply holding two
`</think>`: evaluation splits at the last (the reference protocol), the server at the first (a stream cannot wait)."""

from axk1.text.reasoning import split_reasoning
from tests.reasoning_reference import split_reasoning_streamed

REPLY = "<think>plan A</think>draft</think> 42"


def test_evaluation_splits_at_the_last_think_end():
    split = split_reasoning(REPLY)
    assert (split.reasoning, split.answer) == ("plan A</think>draft", "42")


def test_the_server_splits_at_the_first_think_end():
    reply = REPLY.removeprefix("<think>")  # the server's reply starts inside the think block its prompt opened
    assert split_reasoning_streamed(reply) == ("plan A", "draft</think> 42")


def test_one_think_end_splits_the_same_under_both():
    split = split_reasoning("<think> r </think> a ")
    assert (split.reasoning, split.answer) == ("r", "a")
    assert split_reasoning_streamed(" r </think> a ") == (" r ", " a ")  # a stream's pieces: nothing stripped
    assert split_reasoning_streamed("still thinking") == ("still thinking", "")
    assert split_reasoning("still thinking", think_open_in_prompt=True).answer is None


def test_an_answer_in_a_think_block_reopened_after_the_last_think_end_is_not_graded():
    """`<think>x</think>\\boxed{5}<think>hmm \\boxed{70}` was graded on 70: the answer ran to the end of the
    reply, through a think block the model opened again and never closed. Evaluation's graders (math, code through
    answer_record) and RL's rewards read the answer with this one rule."""
    from axk1.eval.backends import Completion
    from axk1.eval.math_grader import grade_integer_answer
    from axk1.eval.tasks.base import answer_record
    from axk1.posttrain.exact_grader import read_answer
    from axk1.posttrain.rewards import answer_part

    for reply in ("<think>x</think>\\boxed{5}<think>hmm \\boxed{70}", "Final: \\boxed{5}\n<think>\nwait, \\boxed{70}"):
        split = split_reasoning(reply)
        assert split.answer.endswith("\\boxed{5}") and "70" in split.reasoning
        verdict = grade_integer_answer(reply, 70)
        assert (verdict.status, verdict.extracted) == ("wrong", "5")
    code = "</think>\n```python\nprint(1)\n```\n<think>\n```python\nprint(2)\n```"
    assert answer_record(Completion(code, think_open=True))[1] == "```python\nprint(1)\n```"
    assert answer_part("plan</think>\\boxed{5}<think>\\boxed{70}", True) == "\\boxed{5}"
    assert read_answer("plan</think>\\boxed{Paris}<think>\\boxed{Rome}", True) == ("Paris", None)
    assert split_reasoning("<think>r</think><think>more").answer == ""  # nothing was answered


def test_both_rules_drop_a_think_tag_the_reply_opens_with():
    """The prompt opened the block; a model that writes `<think>` again writes markup, not reasoning (vLLM's
    DeepSeek-R1 parser drops it). The server kept it at the start of the reasoning, evaluation did not."""
    reply = "\n<think>plan</think> 42"
    assert split_reasoning(reply, think_open_in_prompt=True).reasoning == "plan"
    assert split_reasoning_streamed(reply) == ("plan", " 42")
    assert split_reasoning_streamed("plan <think></think>x") == ("plan <think>", "x")  # only where the reply opens
