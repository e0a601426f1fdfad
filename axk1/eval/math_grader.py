"""AIME grading: the integer in the last \\boxed{}, with math-verify (in a worker process) as the fallback.

Statuses: correct, wrong, no_answer (nothing extractable, or thinking never ended), truncated (the generation
hit its token limit; graded as wrong whatever it contains, since the model did not finish).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from axk1.eval.integer_answer import (answer_after_label, as_seen, equation_answer, normalise_integer, not_one_integer,
                                      unwrap)
from axk1.eval.math_verify_client import math_verify_worker
from axk1.eval.unboxed_answer import MATH_DELIMITER, unboxed_answer
from axk1.text.reasoning import split_reasoning

STATUSES = ("correct", "wrong", "no_answer", "truncated")


@dataclass
class MathVerdict:
    status: str
    correct: bool
    extracted: str | None  # the answer as found (normalised integer for \boxed, math-verify's value otherwise)
    method: str | None  # "boxed", "number" (an unboxed integer), "math_verify" or None
    boxed_raw: str | None = None  # the last \boxed{...} content before normalisation

    def to_dict(self) -> dict:
        return dict(status=self.status, correct=self.correct, extracted=self.extracted, method=self.method,
                    boxed_raw=self.boxed_raw)


BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")


def last_boxed(text: str) -> str | None:
    """Content of the last balanced \\boxed{...} (or \\fbox{...}); None when there is none.

    One pass that matches braces with a stack (rescanning from every opening was quadratic: 77 s for 10,000
    unclosed boxes). A box is balanced when its brace has a match; the last one is the one closed last, so a box
    inside another is read with what the outer one holds around it (`\\boxed{\\boxed{42} 43}` is `\\boxed{42} 43`,
    two numbers, where the inner box alone read 42)."""
    opens = {m.end() - 1 for m in BOX_OPEN.finditer(text)}
    stack: list[int] = []
    best: tuple[int, int] | None = None
    for m in re.finditer(r"[{}]", text):
        i = m.start()
        if text[i] == "{":
            stack.append(i)
        elif stack:
            start = stack.pop()
            if start in opens:
                best = (start, i)
    return text[best[0] + 1:best[1]] if best else None


# Formatting that wraps a number without changing it: `\textbf{72}`, `\boldsymbol{72}`, `{\bf 72}`, and a box in a


# A box holding more characters than this besides its braces (10,000 nested braces around 72 are 72) is wrong as it
# stands, before it is read: no answer is this long, and reading one took seconds a megabyte (1 MB: 4.6-20 s; 10 MB:
# 35-139 s, `4`, 10 MB of spaces and `2` 113 s). One of whitespace, braces and `$` alone is empty, as a short one is.
MAX_BOX_CHARS = 10_000


def grade_integer_answer(output: str, gold: str | int, finish_reason: str = "stop", think_open_in_prompt: bool = False,
                         use_math_verify: bool = True) -> MathVerdict:
    """Grade one raw model output against an integer answer (AIME: 0-999).

    With a \\boxed{}, only the last box's content is graded (an integer, or an equation whose right-hand side is
    one, else math-verify on the box alone); an empty box is no answer. Without one, the integer after the last
    answer label, else the last math span or number of the answer (`unboxed_answer`)."""
    gold_int = int(str(gold).strip())
    split = split_reasoning(output, think_open_in_prompt)
    truncated = finish_reason == "length"
    if split.answer is None:
        return MathVerdict("truncated" if truncated else "no_answer", False, None, None)
    boxed = last_boxed(split.answer)
    size = len(boxed) - boxed.count("{") - boxed.count("}") if boxed is not None else 0  # counted at C speed
    if boxed is not None and (not boxed.strip(" \t\n${}") if size > MAX_BOX_CHARS
                              else not unwrap(as_seen(boxed)).strip(" \t\n$")):
        return MathVerdict("truncated" if truncated else "no_answer", False, None, None, boxed)
    if size > MAX_BOX_CHARS:
        return MathVerdict("truncated" if truncated else "wrong", False, f"a box of {size:,} characters", "boxed",
                           boxed)
    # without a box, an answer label stating no one integer ("The answer is 42/43.") is wrong as it stands
    candidate, refused = (f"\\boxed{{{boxed}}}", None) if boxed is not None else unboxed_answer(split.answer)
    # `\text{Answer: }72`, `\text{(B) } 72`: the label goes, what follows is graded (math-verify read `answer:*72`)
    content = (answer_after_label(boxed) or boxed) if boxed is not None else None
    # an unboxed span is read as a box is (`$70\,2$` was 702 boxed and, through math-verify, 72 unboxed)
    value = normalise_integer(content if content is not None else candidate) if (content or candidate) else None
    # an equation or congruence, boxed or the last math span (`So $N \\equiv 72 \\pmod{1000}$.`), is read on its
    # right-hand side (math-verify read `m+n=\\text{72}` as `m+n=`, and graded it wrong)
    span = MATH_DELIMITER.sub("", candidate) if boxed is None and candidate and candidate[0] in "$\\" else None
    equation = content if content is not None else span
    right_side = equation_answer(equation) if value is None and equation is not None else None
    if right_side is not None:
        value = normalise_integer(right_side)
    graded = right_side or (content if boxed is not None else candidate)  # what math-verify would be given
    refused = refused or (not_one_integer(graded) if value is None and graded is not None else None)
    if value is not None:  # an integer, in range or not, is the answer (math-verify reads `1\\,072` as 1 + 072)
        extracted, method, correct = str(value), "boxed" if boxed is not None else "number", value == gold_int
    elif refused:  # listing candidates never pays; math-verify summed `70 2` to 72
        extracted, method, correct = refused, "boxed" if boxed is not None else None, False
    elif use_math_verify and candidate is not None:
        reply = math_verify_worker().grade(candidate, str(gold_int))
        extracted, method, correct = reply["value"], "math_verify" if reply["value"] is not None else None, reply["correct"]
    else:
        extracted, method, correct = None, None, False
    if truncated:
        return MathVerdict("truncated", False, extracted, method, boxed)
    if extracted is None and boxed is None:
        return MathVerdict("no_answer", False, None, None)
    return MathVerdict("correct" if correct else "wrong", correct, extracted if extracted is not None else boxed,
                       method, boxed)
