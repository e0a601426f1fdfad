"""AIME grading: the integer in the last \\boxed{}, with math-verify (in a worker process) as the fallback.

Statuses: correct, wrong, no_answer (nothing extractable, or thinking never ended), truncated (the generation
hit its token limit; graded as wrong whatever it contains, since the model did not finish).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

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
# Characters a tokenizer may put inside a number without changing what a reader sees.
AS_SEEN = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Fullwidth digits (a Korean or Japanese input method writes ７２ for 72) read as the digits they are; not a general
# NFKC, which would also read a superscript ² as 2.
AS_SEEN.update({0xFF10 + i: ord("0") + i for i in range(10)})
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
# box (`\boxed{\boxed{72}}`).
WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|mathrm|mathbf|mathit|mathsf|mathtt"
                     r"|boldsymbol|bm|mbox|underline|emph|boxed|fbox)\s*\{")
# ... switches that style what follows (`\large 72`, `{\color{red} 72}`, `\textcolor{red}{72}`: the colour goes with
# its command, the `{72}` after it is then a plain group)
SWITCH = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|bf|rm|it|tiny|scriptsize|footnotesize|small"
                    r"|normalsize|large|Large|LARGE|huge|Huge)(?![A-Za-z])|\\(?:text)?color\s*\{[^{}]*\}")


def _unstyled(s: str) -> str:
    """`s` with its styling (SWITCH) and wrappers (_unwrap) taken off."""
    return _unwrap(SWITCH.sub("", s))


def _unwrap(s: str) -> str:
    """`\\text{{72}}` and `{72}` -> `72`: every balanced brace pair goes, with the `\\text`-like command that opens
    it; an unbalanced brace stays. One pass with a stack (unwrapping the innermost groups until none was left took
    a pass per level: ~1 s for 4,000 nested braces)."""
    command_at = {m.end() - 1: m.start() for m in WRAPPER.finditer(s)}  # a group's `{` -> where its command starts
    keep = [True] * len(s)
    opened: list[int] = []
    for i, c in enumerate(s):
        if c == "{":
            opened.append(i)
        elif c == "}" and opened:
            start = opened.pop()
            begin = command_at.get(start, start)
            keep[begin:start + 1] = [False] * (start + 1 - begin)
            keep[i] = False
    return "".join(c for c, kept in zip(s, keep) if kept)


# Two answers joined by a word (`x = 42 \text{ or } x = 43`): a side of an equation holding one is not one value.
EITHER_WORD = r"(?:(?<![\\A-Za-z])(?:or|and|either)(?![A-Za-z])|또는|혹은|이나|아니면)"


def equation_answer(content: str) -> str | None:
    """An answer box holding an equation (`m+n=72`, `m+n = 25+47 = 72`, also `5 = 72`) or a congruence with its
    modulus (`N \\equiv 72 \\pmod{1000}`): its right-hand side, the side the reference's grader compares
    (docs/evaluation.md, "AIME 2025": its Grading paragraph). None without `=`, with an empty side, or with a list
    or a joining word before the last `=` (`a=5, b=72` and `x = 42 \\text{ or } x = 43` name two values, not one
    answer); `42 == 43` is a comparison, not an equation."""
    modulus = re.search(r"\\pmod|\\bmod|\bmod\b", content)  # `\equiv` is an equation only with one
    sides = re.split(r"(?<![<>!=])=(?!=)|\\equiv" if modulus else r"(?<![<>!=])=(?!=)", content)
    if len(sides) < 2 or any(not side.strip() or re.search(rf"[,;]|{EITHER_WORD}", side) for side in sides[:-1]):
        return None
    return sides[-1]


# An answer past this many digits is graded wrong as it stands: Python's int() refuses 4,300 (the ValueError ended
# a whole eval run, and an RL reward), and no contest answer comes near it.
MAX_ANSWER_DIGITS = 1000
# Words after a number that change it (`42 million`, `42 times 1000`, `42 mod 5`, `42 or more`): no unit to drop
# (a boxed `72 \text{ million}` is wrong), and in a sentence the number does not end its clause (labelled_answer).
# Any other word is a unit (`72 ways`, `72 times`).
CHANGING_WORD = (r"(?i:(?:(?:m|b|tr)illion|thousand|hundred|dozen|score)s?|times(?=\s*[0-9])|plus|minus|over|divided"
                 r"|mod|modulo|squared|cubed|factorial|or|to|point|more|less|pi)(?![A-Za-z])")
CHANGED = re.compile(rf"[0-9](?:\s+{CHANGING_WORD}|\s*{KOREAN_CHANGING})")  # Korean: korean_answer_words.py
UNIT = re.compile(rf"(?<=[0-9])(?:\s+(?!{CHANGING_WORD}|(?i:and)\b)[A-Za-z]{{2,}}\.?){{1,2}}\s*$")  # `2xy` stays
# A modulus after the answer, read once wrappers are gone (`\text{mod }`, `\mathrm{mod}` are `mod`, `\pmod{1{,}000}`
# is `\pmod1,000`): `\pmod m`, `(mod m)` in any spelling; a bare `70 \bmod 1000` is 70 only below its modulus
MOD_WORD = r"(?:\\[bp]?mod|\\operatorname\s*mod|mod)(?![A-Za-z])"
MODULUS = re.compile(rf"(?:\\pmod\s*[0-9A-Za-z,. ]*|\(\s*{MOD_WORD}[^()]*\))\s*$")
BARE_MODULUS = re.compile(rf"(?<![0-9.,])([0-9]+)\s*{MOD_WORD}\s*([0-9][0-9,]*)\s*$")


def _answer_text(content: str) -> str:
    """A box's content with its wrappers, units, modulus and LaTeX spacing taken off (normalise_integer's first
    steps): `72~\\text{minutes}`, `\\text{72 ways}` and `72 \\pmod{1000}` are `72`."""
    # LaTeX spacing, before the wrappers go (a phantom's braces hold a digit): a word space or wider (`\ `, `~`,
    # `\quad`, a phantom, \hspace) separates two numbers, which math-verify then added up (`70\quad 2` read as 72); a
    # thin space joins a number's digits (`1\,000`, `1\thinspace 000`)
    s = re.sub(r"\\(?:q?quad|enspace)(?![A-Za-z])|\\[hv]?phantom\{[^{}]*\}|\\hspace\*?\{[^{}]*\}|\\ |~", " ",
               content.translate(AS_SEEN))
    s = re.sub(r"\\(?:[,!;:]|(?:neg)?(?:thin|med|thick)space(?![A-Za-z])\s*)", "", s)
    s = MODULUS.sub("", _unstyled(s.strip().strip("$")))
    bare = BARE_MODULUS.search(s)  # `70 \bmod 1000` is 70, `1070 \bmod 1000` is no integer as written
    if bare and int(bare.group(1)) < int(bare.group(2).replace(",", "")):
        s = s[:bare.end(1)]
    s = re.sub(r"\^\s*\{?\\circ\}?|\\degree|°|\\%|%", "", s)
    # a Korean counter after the number, as AIME-ko answers write it (`72개`, `72 가지`); `\text{개}` was already
    # unwrapped to the same text, so the two spellings grade alike; an English unit the same way (`72 minutes`)
    # (not a word that changes it: `72만`, `72 이상`, korean_answer_words.py)
    s = re.sub(rf"(?<=[0-9])(?!\s*{KOREAN_CHANGING})\s*(?:[가-힣]{{1,3}}|\((?:정|)답\))[.!]?\s*$", "", s.strip())
    return UNIT.sub("", s)


# Two numbers with a word between them (`70 or 2`, `70\,\text{and}\,2`, `70 또는 2`, `70이나 2`) or in a list
# (`70, 2`): several candidates, which math-verify added up (`70\,\text{or}\,2` was right for 72). A word is two
# or more letters not opening a LaTeX command (`4.2\times 10` is one product) or Korean; the spacing around it,
# `\,` included, is taken off by _answer_text first, so `70or2` is what is left of the first example.
APART = r"(?:\s|~|[,;])*"
WORD_BETWEEN = re.compile(rf"[0-9]{APART}(?:(?<![\\A-Za-z])[A-Za-z]{{2,}}|[가-힣]+){APART}-?[0-9]")
# ... or a joining word anywhere between two numbers (`x = 42 or x = 43`, several_answers), or a relation that is no
# equation between two numbers (`42 \equiv 43`, `42 == 43`, `42 \approx 43`: math-verify read these as 43, or 42)
RELATION_BETWEEN = re.compile(r"[0-9]\s*(?:==|\\(?:equiv|approx|simeq|sim|cong|doteq|thickapprox)(?![A-Za-z])|[≡≈≃≅∼])"
                              r"\s*-?[0-9]")
LIST_BETWEEN = re.compile(r"[0-9]\s*[,;]\s*-?[0-9]")
THOUSANDS = re.compile(r"(?<=[0-9]),(?=[0-9]{3}(?![0-9]))")


def several_answers(content: str) -> str | None:
    """"several numbers" when `content` (an answer as written) puts numbers side by side (`70 2`, `70\\quad 2`), with
    a word between (`70\\,\\text{or}\\,2`, `x=42 \\text{ or } x=43`) or in a relation (`42 \\equiv 43`): math-verify
    added up the first ones (70 + 2 was right for 72) and read the others as one of their numbers. Both graders
    refuse these before asking math-verify: the AIME one here, the RL reward's exact one (posttrain/exact_grader.py)."""
    s = _answer_text(content)
    between = re.split(r"[0-9]+", s)[1:-1]  # the text between two numbers (a split: a search backtracked)
    if (re.search(r"[0-9]\s+[0-9]", s) or WORD_BETWEEN.search(s) or RELATION_BETWEEN.search(s)
            or any(re.search(EITHER_WORD, part) for part in between)):
        return "several numbers"
    return None


def not_one_integer(content: str) -> str | None:
    """Why `content` is graded wrong without asking math-verify, or None: several answers (several_answers), a list
    (`70, 2`, which math-verify added up to 72 too), a number with a word that changes it (CHANGING_WORD) or an
    integer too long to be an answer."""
    s = _answer_text(content)
    if several_answers(content) or LIST_BETWEEN.search(THOUSANDS.sub("", s)):
        return "several numbers"
    if CHANGED.search(s):
        return "a number a word changes"  # `72 \text{ million}`, `72 \text{ or more}`: math-verify dropped the word
    run = max((len(m.group().lstrip("0")) for m in re.finditer(r"[0-9]+", s)), default=0)
    return f"a {run}-digit number" if run > MAX_ANSWER_DIGITS else None


def normalise_integer(content: str) -> int | None:
    """`070`, `$70$`, `\\text{70}`, `\\mathbf{70}`, `(70)`, `70^\\circ`, `72°`, `1,000` -> the integer; anything else
    (fractions, words, digits apart like `7 2`, past MAX_ANSWER_DIGITS) -> None."""
    if not_one_integer(content):
        return None  # `7 2` or `1 2 3`: several numbers, not one integer
    s = re.sub(r"\s", "", _answer_text(content))
    s = re.sub(r"(?<=[0-9]),(?=[0-9]{3}\b)", "", s)
    s = s.rstrip(".")
    if s.startswith("(") and s.endswith(")"):  # `\textbf{(072)}`, as answer choices are written
        s = s[1:-1]
    if not re.fullmatch(r"[0-9]+", s):  # ASCII digits only: `²`.isdigit() is true
        return None
    return int(s.lstrip("0") or "0")  # leading zeros do not count toward int()'s digit limit


# A label before the number in an answer box: an answer word (`\text{Answer: }72`, `The final answer is 72`, Korean
# `정답: 72`) and/or a multiple-choice letter as AMC writes it (`\text{(B) } 72`, what a model trained on AMC puts
# in an AIME box). One of each at most, and only before the number: what follows must still be one integer, so
# `\text{72 or 73}` and `(B) 72 \text{ or } (C) 73` stay wrong, and `\text{(B)}` alone has no number to grade.
ANSWER_LABEL = re.compile(r"(?:(?i:(?:the\s+)?(?:final\s+)?answer(?:\s+is\b\s*:?|\s*:|(?=\s))|ans\s*:)"
                          r"|(?:최종\s*)?(?:정답|답)\s*(?:은|는)?\s*:?)?\s*(?:\([A-E]\))?")
LABEL_GAP = re.compile(r"(?:\s|~|\\[,!;: ]|\\q?quad(?![A-Za-z]))*")


def answer_after_label(content: str) -> str | None:
    """The box's content after a leading answer label (ANSWER_LABEL), wrappers such as `\\text{}` undone; None when
    it has no label."""
    s = _unstyled(content.translate(AS_SEEN)).strip().strip("$").strip()
    label = ANSWER_LABEL.match(s)
    if not label.group(0).strip():
        return None
    return s[LABEL_GAP.match(s, label.end()).end():]


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
    if boxed is not None and not _unwrap(boxed.translate(AS_SEEN)).strip(" \t\n$"):
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
