"""The server's reasoning rule for a whole text, the reference `axk1 serve`'s tests compare its token-by-token split
(axk1/infer/detok.py) with (axk1/text/reasoning.py says why the server splits at the first `</think>`)."""

from __future__ import annotations

from axk1.text.reasoning import drop_reopened_think
from axk1.text.tokenizer_file import THINK_CLOSE


def split_reasoning_streamed(text: str) -> tuple[str, str]:
    """The server's rule: (reasoning, content) of a reply generated inside a think block, split at the first
    `</think>`; with no `</think>` yet it is all reasoning. Nothing else is stripped than an opening `<think>`
    (reopened_think): a stream's pieces add up to it."""
    text = drop_reopened_think(text)
    end = text.find(THINK_CLOSE)
    if end < 0:
        return text, ""
    return text[:end], text[end + len(THINK_CLOSE):]
