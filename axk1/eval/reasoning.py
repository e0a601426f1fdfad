"""Separate a reasoning model's thinking from its answer, before any extraction.

Rule (docs/evaluation.md, "Reasoning"): keep only the text after the last `</think>`. Thinking that never
ends (the output starts with `<think>`, or the prompt itself opened the think block) means no answer.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass
class SplitOutput:
    reasoning: str
    answer: str | None  # None: the thinking never ended, so there is no answer to grade


def split_reasoning(text: str, think_open_in_prompt: bool = False) -> SplitOutput:
    """`think_open_in_prompt`: the prompt ended with `<think>`, so the raw output starts inside the think block."""
    if THINK_CLOSE in text:
        head, _, tail = text.rpartition(THINK_CLOSE)
        return SplitOutput(head.replace(THINK_OPEN, "", 1).strip(), tail.strip())
    if think_open_in_prompt or text.lstrip().startswith(THINK_OPEN):
        return SplitOutput(text.replace(THINK_OPEN, "", 1).strip(), None)
    return SplitOutput("", text.strip())
