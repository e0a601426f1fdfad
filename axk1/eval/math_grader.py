"""AIME grading: the integer in the last \\boxed{}, with math-verify (in a worker process) as the fallback.

Statuses: correct, wrong, no_answer (nothing extractable, or thinking never ended), truncated (the generation
hit its token limit; graded as wrong whatever it contains, since the model did not finish).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from axk1.eval.integer_answer import (AS_SEEN, CHANGING_WORD, THOUSANDS, answer_after_label, equation_answer,
                                      normalise_integer, not_one_integer, unwrap)
from axk1.eval.korean_answer_words import CLOSING_ENDING, KOREAN_CHANGING, NOT_BUT
from axk1.eval.math_verify_client import math_verify_worker
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
# Without a box, the final answer is the integer after the last answer label (labelled_answer), else the last math
# span or number of the text (docs/evaluation.md, "AIME 2025": its Grading paragraph).
LAST_ANSWER = re.compile(r"\$\$[^$]{1,1000}\$\$|\$[^$]{1,1000}\$|\\\(.{1,1000}?\\\)|\\\[.{1,1000}?\\\]"
                         r"|-?[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?", re.S)
ANSWER_TAIL = 4000  # the final answer is near the end; a bounded tail keeps the search linear on any input


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


# An answer label outside a box, as a reply without one states its answer: "The answer is 42 (mod 1000).",
# "Final answer: 42", "Final answer 42" (bare only right before a number: "the final answer checks out" after "The
# answer is 17" is no label), "따라서 정답은 42이며, ...". The integer right after the last label is the answer,
# not a later number of the same sentence (the last-number rule read 1000, or 3).
TEXT_LABEL = re.compile(r"(?i:\b(?:final\s+)?answer\s*(?:is\b|:|=)|\bans\s*:|\b(?P<bare>final\s+answer)(?=[\s*$]*\d))"
                        r"|(?<![가-힣])(?:최종\s*)?(?:정답|답)\s*(?:은|는|:|=)")  # not `대답은` ("the reply is")
LABEL_TO_ANSWER = re.compile(r"[\s*:]*")  # `**Answer:** 42`, `The answer is: $42$`
# "The answer is 70 or 2", "70, 2", "70 and 2", "70 2": a second number after the labelled one, on its line, alone or
# after a comma, semicolon or joining word, is several numbers, as it is in a box (WORD_BETWEEN, LIST_BETWEEN); a
# number on the next line (a numbered step) or after other words ("42, not 9") is not
HEDGE = re.compile(r"[ \t]*[,;]?[ \t]*(?:(?:(?i:or|and)(?![A-Za-z])|또는|혹은|이나|및|나|이고|[과와])[ \t*]*)?")
# ... and only when that second token is an integer ending its clause (punctuation, the line's end, another joining
# word): "42 $\blacksquare$", "42 $= 6 \cdot 7$" and "42; 42 is the remainder" are 42
HEDGE_END = re.compile(rf"[ \t*]*(?:[.,;:!)]|$|\n|(?i:or|and)(?![A-Za-z])|또는|혹은|및|{CLOSING_ENDING})", re.M)
# The labelled integer is the answer only where its clause ends with it: "42/43", "42^2", "42²", "42!", "42π", "42e3",
# "42x", "42 × 1000", "42 million", "42 - 1 = 41", "42:43" and "42 (or 43)" state something else. What may follow
# it: a unit a box drops too (42%, 42°), closing markup, then the line's end, sentence punctuation (not a decimal
# point, nor `42:43`), a Korean ending or counter (42입니다, 42이며, 42개; not 42만 or 42분의 1), a word that does not
# change the number (42 ways, 42 for n = 3, not CHANGING_WORD), a dash before words, a note in parentheses
# ((mod 1000), (검산: 6 × 7); not (or 43)), a modulus or an end mark.
CLAUSE_END = re.compile(
    r"(?:\\?%|°|\^\s*\{?\\circ\}?)?(?:[*_})\]\"'”’]|\\[)\]])*[ \t]*"
    rf"(?:$|\n|[.,;:?](?![0-9])|(?!{KOREAN_CHANGING})[가-힣]"
    rf"|(?<=[ \t])(?:(?!{CHANGING_WORD})[A-Za-z]{{2,}}|[IaA](?![A-Za-z]))"
    r"|(?<=[ \t])[-–—]+[ \t]+(?!(?i:or|and)\b)[A-Za-z가-힣]"
    r"|\((?![ \t]*(?:(?i:or)\b|또는|혹은|아니면))(?=[^()\n]{0,200}\))[^()\n]*?[A-Za-z가-힣]"
    r"|\$?[ \t]*\\(?:pmod|blacksquare|square|Box|qed|checkmark|quad|qquad)(?![A-Za-z]))", re.M)
# After a bare "final answer" (no "is", no colon) the number must end its sentence: "Final answer 2 times we checked"
BARE_END = re.compile(rf"[*}})]*[ \t]*(?:$|\n|[.,;?](?![0-9])|(?!{KOREAN_CHANGING})[가-힣]|\((?i:mod)\b)", re.M)
# The clause after a label: to the line's end or a sentence's (`.`, `;`, `?`; a comma or colon before a space),
# bounded; `!` does not end it (`42!` is a factorial)
CLAUSE = re.compile(r"[^\n]{0,300}?(?=\n|[.;?](?:\s|$)|[,:]\s|$)|[^\n]{0,300}")
MATH_DELIMITER = re.compile(r"\$|\\[()\[\]]")


class Labelled(NamedTuple):
    answer: str | None  # the integer as written (`70 2` when hedged); None when the label states no one integer
    stated: str  # what the label is followed by, to the end of its clause, without math delimiters


def _clause_result(clause: str) -> str | None:
    """The integer a clause states when it is not its first number: the right-hand side of its last `=` ending the
    clause (`25 + 47 = 72`, as a box's equation is read), else the clause read as a box's content (`1\\,000`)."""
    right = equation_answer(THOUSANDS.sub("", clause))
    if right is None:
        value = normalise_integer(clause)
        return None if value is None else str(value)
    right = right.lstrip(" \t")
    token = LAST_ANSWER.match(right)
    if token is None or normalise_integer(token.group(0)) is None or not CLAUSE_END.match(right, token.end()):
        return None
    return token.group(0)


def labelled_answer(text: str, start: int = 0) -> Labelled | None:
    """What the last answer label (TEXT_LABEL) in text[start:] states: its integer (bare or a one-integer math span)
    when the integer ends its clause (CLAUSE_END); `70 2` when it is hedged ("70 or 2"); else the integer its
    `=` chain ends with (`25 + 47 = 72`), and otherwise no answer (Labelled.answer None: "42/43" is wrong). None
    without a label, when no number follows the last one ("The answer is $\\frac12$ ... 42" is left to the
    last-number rule) and for a bare "final answer" whose number does not end its clause ("Final answer 2 times
    we checked: 42")."""
    label = None
    for label in TEXT_LABEL.finditer(text, start):
        pass
    if label is None:
        return None
    return _stated_at(text, LABEL_TO_ANSWER.match(text, label.end()).end(), bool(label.group("bare")))


def _stated_at(text: str, at: int, bare: bool, negation: bool = True) -> Labelled | None:
    """What a label whose answer starts at text[at] states (labelled_answer); `bare`: a bare "final answer";
    `negation`: whether "70이 아니라 71" may still be followed to 71 (once: a chain of them is no answer)."""
    answer = LAST_ANSWER.match(text, at)
    if answer is None:
        return None
    stated = MATH_DELIMITER.sub("", CLAUSE.match(text, at).group(0))
    if normalise_integer(answer.group(0)) is None:
        # a math span that is no integer: the integer its equation ends with (`$25+47=72$`), else no label's answer
        result = _clause_result(MATH_DELIMITER.sub("", answer.group(0))) if answer.group(0)[0] in "$\\" else None
        return Labelled(result, stated) if result is not None else None
    hedge = HEDGE.match(text, answer.end())
    other = LAST_ANSWER.match(text, hedge.end()) if hedge else None
    if other is not None and normalise_integer(other.group(0).strip("$")) is not None \
            and HEDGE_END.match(text, other.end()):
        return Labelled(f"{answer.group(0).strip('$')} {other.group(0).strip('$')}", stated)
    end = (BARE_END if bare else CLAUSE_END).match(text, answer.end())
    if end:
        return Labelled(answer.group(0), stated)
    negated = re.match(NOT_BUT, text[answer.end():answer.end() + 40])  # "정답은 70이 아니라 71입니다" states 71
    if negated and negation and not bare:
        return _stated_at(text, answer.end() + negated.end(), bare, negation=False)
    result = _clause_result(stated)
    after = text[answer.end():answer.end() + 40]
    if result is None and re.match(r"[ \t$]*=(?!=)", after):
        result = answer.group(0)  # `42 $= 6 \cdot 7$`: the integer, then how it was found
    modulus = re.match(r"[ \t$]*\\?(?:b?mod)[ \t{]*([0-9]{1,30})(?![0-9])", after)
    if result is None and modulus and normalise_integer(answer.group(0)) < int(modulus.group(1)):
        result = answer.group(0)  # "42 mod 1000" is 42 (where "42 mod 5" is 2)
    if result is None and bare:
        return None
    return Labelled(result, stated)


def unboxed_answer(text: str) -> tuple[str | None, str | None]:
    """Without a box: (the answer to grade, None), or (None, why it is wrong). The answer is what the last answer
    label states (labelled_answer), else the last `$...$`, `\\(...\\)`, `\\[...\\]` or number of the text; (None,
    None) when there is none. Only the last one counts, so listing several candidates ("72 or 5 or 99") gains
    nothing."""
    text = text.translate(AS_SEEN)
    start = max(0, len(text) - ANSWER_TAIL)
    while 0 < start < len(text) and text[start - 1] in "0123456789,.":
        start += 1  # do not read the tail of a number cut in two
    labelled = labelled_answer(text, start)
    if labelled is not None:
        return (labelled.answer, None) if labelled.answer is not None else (None, f"not one integer: "
                                                                                  f"{labelled.stated[:80]}")
    last = None
    for last in LAST_ANSWER.finditer(text, start):
        pass
    return (last.group(0) if last else None), None


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
    if boxed is not None and not unwrap(boxed.translate(AS_SEEN)).strip(" \t\n$"):
        return MathVerdict("truncated" if truncated else "no_answer", False, None, None, boxed)
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
