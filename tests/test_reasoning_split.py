"""The two rules for where a reply's reasoning ends (axk1/text/reasoning.py), pinned on a reply holding two
`</think>`: evaluation splits at the last (the reference protocol), the server at the first (a stream cannot wait)."""

from axk1.text.reasoning import split_reasoning, split_reasoning_streamed

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
