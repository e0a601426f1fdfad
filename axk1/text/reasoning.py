"""Where a reply's reasoning ends and its answer begins: the two rules axk1 uses, side by side.

A reply that holds one `</think>` splits the same way under both. They differ on a reply holding two or more (a
model that writes `</think>` inside its reasoning, or closes its thinking twice):

* Evaluation splits at the LAST `</think>` (`split_reasoning`): the reference protocol's rule (docs/evaluation.md,
  "Reasoning"), so a score compares with the published ones, and an answer is never graded on text the model was
  still thinking in. It sees the whole reply before it splits.
* `axk1 serve` splits at the FIRST `</think>`: vLLM's DeepSeek-R1 reasoning parser's rule. A stream sends each
  piece as `reasoning_content` or `content` as it is generated, and cannot wait for a later tag that may never
  come; the server's non-streaming replies are built from the same deltas, so they split the same way. The server
  applies it token by token in infer/detok.py; tests/reasoning_reference.py states it for a whole text, and the
  server's tests compare with that.

Both drop a `<think>` the reply opens with (`reopened_think`): the prompt already opened the block, so a model that
writes the tag again writes markup, not reasoning. vLLM's DeepSeek-R1 reasoning parser drops it too (not streamed,
it keeps what follows the first `<think>`; streamed, it skips a delta that is the tag alone); `axk1 serve` left it
at the start of `reasoning_content` while evaluation dropped it, so the two gave another reasoning for one reply.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN

# The names a message's reasoning trace comes under, first found first: OpenAI-style `reasoning_content` (what
# templates read), gpt-oss' `thinking`, vLLM's `reasoning`, in transformers 5's order (chat_template_utils, which
# passes the first found under all three) and the chat template's. The one list for SFT's rows
# (posttrain/chat_formats.py), the server's and the trainer's rendering (infer/chat.py) and the corpus
# contamination check (data/contamination_audit.py): a trace one of them missed was trained yet never checked.
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


@dataclass
class SplitOutput:
    reasoning: str
    answer: str | None  # None: the thinking never ended, so there is no answer to grade


def reopened_think(text: str) -> int | None:
    """How many characters of a reply (so far) its opening `<think>` takes, whitespace before it included: 0 when
    it does not open with one; None while it could still (empty, whitespace, or a beginning of the tag): a stream
    holds such text back until it is decided, and a reply that ends so has none."""
    stripped = text.lstrip()
    if stripped.startswith(THINK_OPEN):
        return len(text) - len(stripped) + len(THINK_OPEN)
    return None if THINK_OPEN.startswith(stripped) else 0


def drop_reopened_think(text: str) -> str:
    """`text` without the `<think>` it opens with (reopened_think), the one rule of evaluation and `axk1 serve`."""
    return text[reopened_think(text) or 0:]


def split_reasoning(text: str, think_open_in_prompt: bool = False) -> SplitOutput:
    """Evaluation's rule: the answer is the text after the last `</think>`, up to a `<think>` that reopens
    thinking there (the rest is reasoning that never ended). Thinking that never ends (the output
    starts with `<think>`, or `think_open_in_prompt`: the prompt ended with `<think>`, so the raw output starts
    inside the think block) means no answer."""
    if THINK_CLOSE in text:
        head, _, tail = text.rpartition(THINK_CLOSE)
        reasoning = drop_reopened_think(head)
    elif think_open_in_prompt or text.lstrip().startswith(THINK_OPEN):
        return SplitOutput(drop_reopened_think(text).strip(), None)
    else:
        reasoning, tail = "", text
    # A `<think>` after the last `</think>` opens a block that never ends: from there the model is thinking again,
    # so an answer written in it is not graded, as one inside an unfinished first block is not.
    answer, opened, more = tail.partition(THINK_OPEN)
    return SplitOutput(f"{reasoning}\n{more}".strip() if opened else reasoning.strip(), answer.strip())

