"""Without a box: what the last answer label states, as text, for answers that need not be one integer.

The RL exact reward (posttrain/exact_grader.py) grades "Tokyo", "3/4" or "\\sqrt{2}" that a reply states after a
label ("The answer is 43.", "Final answer: Tokyo", "답은 43이다."), where the AIME grader's unboxed_answer.py reads
the same labels for one integer and refuses anything else. The labels, their clause, the hedges, the doubts and the
retractions are that module's (docs/evaluation.md, "AIME 2025": its Grading paragraph), so the two graders read a
reply alike; only what is read after the label differs: here the clause as written, for the exact grader to compare
(a comma in brackets does not end it), and only a label of the reply's last paragraph, which no later line overrides
(the exact grader's fallback is the last line, where the evaluation's is the last number).
"""

from __future__ import annotations

import re
from typing import Callable

from axk1.eval.integer_answer import as_seen
from axk1.eval.korean_answer_words import CLOSING_ENDING
from axk1.eval.unboxed_answer import (DOUBT_AFTER, KOREAN_HEDGE_IN, LABEL_TO_ANSWER, LABEL_WORDS, MATH_DELIMITER,
                                      NUMBER, QUALIFIER, SENTENCE, SPAN, label_retraction, last_label)

# The clause ends at a comma (", " : "The answer is 42, since 6 * 7 = 42" states 42), so a list after it would read
# as its first item: "Tokyo, Kyoto.", "42, 43", "42, or 43", "43; 44" state several answers, which gains nothing.
# A list is a comma or semicolon, then "or"/"and" or a single further item that ends the sentence or goes on listing.
LIST_AFTER = re.compile(r"[ \t]*[,;][ \t]*(?:(?i:or|and)(?![A-Za-z])|또는|혹은"
                        r"|[^\s,;.]+[ \t]*(?:[,;]|[.!?]?[ \t]*(?:$|\n)))")
# ... but an aside that ends the sentence is no second answer: "The answer is 12, obviously." states 12
ASIDE_AFTER = re.compile(r"[ \t]*,[ \t]*(?i:obviously|clearly|of[ \t]+course|indeed|certainly|surely|definitely"
                         r"|naturally|exactly|precisely|as[ \t]+expected|as[ \t]+required|QED|done)"
                         r"[ \t]*[.!]?[ \t*]*(?:$|\n)")
# A Korean copula closing the clause (`43이다`, `서울입니다`) is no part of the answer; `임` alone only after a
# non-Hangul character (`43임`), since it also ends words (`모임`)
KOREAN_ENDING = re.compile(rf"{CLOSING_ENDING}$")
# A paragraph break, and a line that states an answer by itself after the labelled one ("43", "Tokyo"): no sentence
# end, no end mark (QED, a black square)
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
END_MARK = re.compile(r"[$\s*]*(?:\\(?:blacksquare|square|Box|qed)|QED|Q\.E\.D\.?|∎|□|■)[$\s*.]*", re.I)
# After a retraction, a last sentence that ends on a number or math span ("So it's 43.") states that number
LAST_TOKEN_ENDING = re.compile(rf"(?:{SPAN}|{NUMBER})(?=[ \t*]*[.!]?[ \t*]*$)")
_OPENING, _CLOSING = "([{", ")]}"


def _clause_end(text: str, at: int, at_comma: bool = True) -> int:
    """Where the clause starting at text[at] ends, as CLAUSE (unboxed_answer.py) ends it: at the line's end, `.`, `;`
    or `?` before a space or the end, or (`at_comma`) a comma or colon before a space; but never inside brackets, so
    "(1, 2)" and "{1, 2, 3}" are one answer. Bounded to 300 characters, as CLAUSE is."""
    depth, end = 0, min(len(text), at + 300)
    for i in range(at, end):
        c = text[i]
        if c == "\n":
            return i
        if c in _OPENING:
            depth += 1
        elif c in _CLOSING:
            depth = max(0, depth - 1)
        elif depth == 0 and (c in ".;?" or (at_comma and c in ",:")) and (i + 1 == len(text) or text[i + 1].isspace()):
            return i
    return end


def _clause(text: str, at: int, at_comma: bool = True) -> tuple[int, str]:
    """The end of the clause starting at text[at] (_clause_end) and its text without math delimiters and markdown
    emphasis."""
    end = _clause_end(text, at, at_comma)
    return end, MATH_DELIMITER.sub("", text[at:end]).strip().strip("*").strip()


def _last_paragraph(text: str) -> int:
    """Where the last paragraph holding a letter or a digit starts (a rule `---` after it is none)."""
    start, previous = 0, None
    for gap in PARAGRAPH_BREAK.finditer(text):
        if previous is not None and re.search(r"[^\W_]", text[previous:gap.start()]):
            start = previous
        previous = gap.end()
    if previous is not None and re.search(r"[^\W_]", text[previous:]):
        start = previous
    return start


def _restated_after(text: str, at: int) -> bool:
    """Whether a later line than the one holding text[at] states an answer by itself, as the last line: "The answer
    is 42. Hmm, actually it is 43.\n43" ends on 43, which the last-line rule reads."""
    line_end = text.find("\n", at)
    lines = [line.strip() for line in text[line_end:].splitlines() if re.search(r"[^\W_]", line)] \
        if line_end >= 0 else []
    return bool(lines) and not lines[-1].rstrip("*$ ").endswith((".", "!", "?", ":")) \
        and not END_MARK.fullmatch(lines[-1])


def _after_retraction(text: str, at: int, why: str) -> tuple[str | None, str | None]:
    """What a reply states after retracting its labelled answer (unboxed_answer.py reads its last number there): the
    last line after text[at], read on the number or math span that ends it when it is a sentence ("So it's 43.");
    (None, "retracted: ...") when nothing follows."""
    lines = [line.strip() for line in text[at:].splitlines() if re.search(r"[^\W_]", line)]
    if not lines:
        return None, f"retracted: {why[:80]}"
    last = re.sub(r"^[\s.,;:!?—–-]+", "", lines[-1])
    token = LAST_TOKEN_ENDING.search(last)
    if token is not None and token.start() > 0:
        return MATH_DELIMITER.sub("", token.group(0)).strip(), None
    return last, None


def stated_answer(text: str, accepts: Callable[[str], bool] | None = None) -> tuple[str | None, str | None] | None:
    """What the last answer label of `text` (a reply's answer part, no box in it) states: (the clause after it,
    None), its math delimiters (`$`, `\\(`), markdown emphasis, a Korean copula (`43이다` is 43) and lowercase words
    before a number ("therefore 43") taken off; (None, why it is no answer) when the label's words or clause hedge or
    negate it ("The answer is maybe 43", "정답은 43일 수도 있다"), its sentence doubts it ("Tokyo, probably.",
    "43?") or it lists several ("Tokyo, Kyoto"; a comma in brackets, "(1, 2)", lists nothing, nor an aside,
    "12, obviously."). `accepts` (the caller's gold, when it holds a comma) may take the whole sentence instead of a
    list: "Tokyo, Japan", "Washington, D.C.". When the reply retracts the label ("The answer is 42. Wait, that is
    wrong. So it's 43."), what follows the retraction (_after_retraction). None where no label states an answer:
    there is none, it is not in the last paragraph ("The answer is below.\n\n42"), a later line restates an answer
    by itself ("... actually it is 43.\n43") or it introduces what follows ("The answer is as follows:"): the caller
    then reads the reply by its own rule, its last line."""
    text = as_seen(text)
    label = last_label(text)
    if label is None:
        return None
    at = LABEL_TO_ANSWER.match(text, label.end()).end()  # where the answer starts ("Final answer:\n\n**Tokyo**")
    if at < _last_paragraph(text) or _restated_after(text, at):
        return None
    retraction = label_retraction(text, label)
    if retraction is not None:
        return _after_retraction(text, retraction.end(), retraction.group(0))
    end, stated = _clause(text, at)
    if not stated or text.startswith(":", end):
        return None
    words = LABEL_WORDS.match(text, at)
    if KOREAN_HEDGE_IN.search(text[at:end]) or (words and QUALIFIER.search(words.group(0))):
        return None, f"hedged: {stated[:80]}"
    if words and words.group(0).islower():  # "The answer is therefore 43": the number, as the evaluation reads it
        at = words.end()  # ("New York 2024" keeps its capitalised words)
        end, stated = _clause(text, at)
    sentence = SENTENCE.match(text, at).group(0)
    if DOUBT_AFTER.search(sentence) or sentence.rstrip().endswith("?"):
        return None, f"doubted: {sentence[:80]}"
    if accepts is not None and text.startswith(",", end):  # the sentence whole, and with its full stop ("D.C.")
        whole_end, whole = _clause(text, at, at_comma=False)
        for form in (whole, MATH_DELIMITER.sub("", text[at:whole_end + 1]).strip().strip("*").strip()):
            if accepts(form):
                return form, None
    if LIST_AFTER.match(text, end) and not ASIDE_AFTER.match(text, end):
        return None, f"several answers: {sentence[:80]}"
    ending = KOREAN_ENDING.search(stated)
    if ending and not (ending.group(0) == "임" and re.search(r"[가-힣]$", stated[:ending.start()])):
        stated = stated[:ending.start()].rstrip() or stated
    return stated, None
