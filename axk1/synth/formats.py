"""Teacher replies → samples. Each kind has a labelled reply format, asked for by its prompt files in Korean or
English; a reply that does not follow it is rejected with a 'format' reason, never guessed at."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LABELS = {
    "question": ["question", "q", "질문", "문제"],
    "answer": ["answer", "a", "답변", "답"],
    "problem": ["problem", "문제"],
    "solution": ["solution", "풀이", "해설"],
    "final": ["final answer", "최종 답", "최종 정답", "정답"],
}
_FENCE = re.compile(r"^```[a-z]*\n|\n```$")
_PREAMBLE = re.compile(r"^(here is|here's|다음은)[^\n]*[:：]\s*\n", re.IGNORECASE)


@dataclass
class Parsed:
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""  # the training text
    error: str | None = None


def _sections(reply: str, wanted: list[str]) -> dict[str, str]:
    """Split `reply` at lines that start with one of the wanted labels ("Question:", "질문:", "**Answer:**")."""
    names = {alias: name for name in wanted for alias in LABELS[name]}
    pattern = re.compile(r"^[ \t]*(?:\*\*|#+\s*)?(" + "|".join(re.escape(a) for a in sorted(names, key=len, reverse=True))
                         + r")(?:\*\*)?[ \t]*[:：](?:\*\*)?", re.IGNORECASE | re.MULTILINE)
    found: dict[str, str] = {}
    matches = list(pattern.finditer(reply))
    for m, nxt in zip(matches, matches[1:] + [None]):
        name = names[m.group(1).lower()]
        body = reply[m.end(): nxt.start() if nxt else len(reply)].strip()
        found.setdefault(name, body)
    return found


def parse_reply(kind: str, reply: str, reasoning: str | None = None) -> Parsed:
    reply = _FENCE.sub("", reply.strip()).strip()
    if not reply:
        if reasoning and reasoning.strip():  # said: the cause is the server's parsing or the model, not the format
            return Parsed(error=f"format: empty reply, though a reasoning trace came back ({len(reasoning)} chars): "
                          "the model answered inside its thinking, or the server's reasoning parser took the whole "
                          "reply; not cached, it is asked again on the next run")
        return Parsed(error="format: empty reply (not cached: asked again on the next run)")
    if kind == "qa":
        s = _sections(reply, ["question", "answer"])
        if not s.get("question") or not s.get("answer"):
            return Parsed(error="format: no 'Question:' and 'Answer:' (질문:/답변:) sections")
        return Parsed(dict(question=s["question"], answer=s["answer"]), f"{s['question']}\n\n{s['answer']}")
    if kind == "reasoning":
        s = _sections(reply, ["problem", "solution", "final"])
        if not s.get("problem") or not s.get("final"):
            return Parsed(error="format: no 'Problem:' and 'Final answer:' (문제:/최종 답:) sections")
        solution = s.get("solution", "")
        steps = [line for line in solution.splitlines() if line.strip()]
        if len(steps) < 2:
            return Parsed(error="format: the solution has fewer than 2 steps")
        fields = dict(problem=s["problem"], solution=solution, final_answer=s["final"])
        if reasoning:
            fields["teacher_reasoning"] = reasoning
        return Parsed(fields, f"{s['problem']}\n\n{solution}\n\nFinal answer: {s['final']}")
    if kind == "rewrite":
        text = _PREAMBLE.sub("", reply).strip()
        return Parsed(dict(text=text), text) if text else Parsed(error="format: only a preamble, no text")
    raise ValueError(f"unknown kind {kind!r}")


def chat_messages(kind: str, fields: dict[str, str]) -> list[dict] | None:
    """A QA or reasoning sample as an OpenAI chat row's turns (user: the question or problem; assistant: the answer,
    or the solution and final answer as the text has them, with the teacher's trace as its `reasoning_content`), so
    that `axk1 sft` reads the kept file as it is. None for a rewrite: pretraining text, with no question to answer."""
    if kind == "qa":
        return [{"role": "user", "content": fields["question"]}, {"role": "assistant", "content": fields["answer"]}]
    if kind == "reasoning":
        answer = {"role": "assistant", "content": f"{fields['solution']}\n\nFinal answer: {fields['final_answer']}"}
        if fields.get("teacher_reasoning"):
            answer["reasoning_content"] = fields["teacher_reasoning"]
        return [{"role": "user", "content": fields["problem"]}, answer]
    return None
