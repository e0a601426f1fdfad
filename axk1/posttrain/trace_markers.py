"""Reasoning traces written in conventions other than `<think>…</think>`.

OpenThoughts, Bespoke-Stratos and the other Sky-T1-style sets mark the trace `<|begin_of_thought|>…<|end_of_thought|>`
and the answer `<|begin_of_solution|>…<|end_of_solution|>`: unambiguous markers, read as the trace and the answer
(chat_data.split_think). Tags such as `<reasoning>…</reasoning>` (GRPO tutorials' format) or `<thought>`,
`<thinking>` are also an answer format a user may want trained as written, so they are not read as a trace; a row
whose answer starts with one is counted and warned about with the conversion (chat_report.py), since it trains
as a non-think answer with the trace inline.
"""

from __future__ import annotations

import re

from axk1.posttrain.chat_report import BadRow

THOUGHT = ("<|begin_of_thought|>", "<|end_of_thought|>")
SOLUTION = ("<|begin_of_solution|>", "<|end_of_solution|>")
# tags left as written, warned about: an answer that starts with one and closes it
OTHER = re.compile(r"\s*<(reasoning|thought|thinking)>.*?</\1>", re.DOTALL)


def split_thought(content: str) -> tuple[str, str] | None:
    """(trace, answer) of `<|begin_of_thought|>trace<|end_of_thought|>` then the answer, itself inside
    `<|begin_of_solution|>…<|end_of_solution|>` or bare; None when the content does not start with the marker."""
    stripped = content.lstrip()
    if not stripped.startswith(THOUGHT[0]):
        return None
    end = stripped.find(THOUGHT[1])
    if end < 0:
        raise BadRow("unclosed think", f"the assistant content opens {THOUGHT[0]} but never closes it with "
                     f"{THOUGHT[1]}")
    trace, rest = stripped[len(THOUGHT[0]):end], stripped[end + len(THOUGHT[1]):].strip()
    if rest.startswith(SOLUTION[0]):
        rest = rest[len(SOLUTION[0]):]
        rest = rest[:rest.rfind(SOLUTION[1])] if SOLUTION[1] in rest else rest
    return trace.strip(), rest.strip()


def other_marker(answer: str) -> str | None:
    """`<reasoning>` (or `<thought>`, `<thinking>`) when the answer starts with that tag and closes it."""
    m = OTHER.match(answer)
    return f"<{m.group(1)}>" if m else None
