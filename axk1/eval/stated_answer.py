"""Without a box: what the last answer label states, as text, for answers that need not be one integer.

The RL exact reward (posttrain/exact_grader.py) grades "Tokyo", "3/4" or "\\sqrt{2}" that a reply states after a
label ("The answer is 43.", "Final answer: Tokyo", "답은 43이다."), where the AIME grader's unboxed_answer.py reads
the same labels for one integer and refuses anything else. The labels, their clause, the hedges, the doubts and the
retractions are that module's (docs/evaluation.md, "AIME 2025": its Grading paragraph), so the two graders read a
reply alike; only what is read after the label differs: here the clause as written, for the exact grader to compare.
"""

from __future__ import annotations

import re

from axk1.eval.integer_answer import as_seen
from axk1.eval.korean_answer_words import CLOSING_ENDING
from axk1.eval.unboxed_answer import (CLAUSE, DOUBT_AFTER, KOREAN_HEDGE_IN, LABEL_TO_ANSWER, LABEL_WORDS,
                                      MATH_DELIMITER, QUALIFIER, SENTENCE, label_retraction, last_label)

# The clause ends at a comma (", " : "The answer is 42, since 6 * 7 = 42" states 42), so a list after it would read
# as its first item: "Tokyo, Kyoto.", "42, 43", "42, or 43", "43; 44" state several answers, which gains nothing.
# A list is a comma or semicolon, then "or"/"and" or a single further item that ends the sentence or goes on listing.
LIST_AFTER = re.compile(r"[ \t]*[,;][ \t]*(?:(?i:or|and)(?![A-Za-z])|또는|혹은"
                        r"|[^\s,;.]+[ \t]*(?:[,;]|[.!?]?[ \t]*(?:$|\n)))")
# A Korean copula closing the clause (`43이다`, `서울입니다`) is no part of the answer; `임` alone only after a
# non-Hangul character (`43임`), since it also ends words (`모임`)
KOREAN_ENDING = re.compile(rf"{CLOSING_ENDING}$")


def _clause(text: str, at: int) -> tuple[re.Match, str]:
    """The clause starting at text[at] (CLAUSE) and its text without math delimiters and markdown emphasis."""
    clause = CLAUSE.match(text, at)
    return clause, MATH_DELIMITER.sub("", clause.group(0)).strip().strip("*").strip()


def stated_answer(text: str) -> tuple[str | None, str | None] | None:
    """What the last answer label of `text` (a reply's answer part, no box in it) states: (the clause after it,
    None), its math delimiters (`$`, `\\(`), markdown emphasis, a Korean copula (`43이다` is 43) and lowercase words
    before a number ("therefore 43") taken off; (None, why it is no answer) when the label's words or clause hedge or
    negate it ("The answer is maybe 43", "정답은 43일 수도 있다"), its sentence doubts it ("Tokyo, probably.",
    "43?") or it lists several ("Tokyo, Kyoto"). None where no label states an answer: there is none, it introduces
    what follows ("The answer is as follows:"), or the reply retracts it ("The answer is 42. Wait, that is wrong."):
    the caller then reads the reply by its own rule."""
    text = as_seen(text)
    label = last_label(text)
    if label is None or label_retraction(text, label) is not None:
        return None
    at = LABEL_TO_ANSWER.match(text, label.end()).end()
    clause, stated = _clause(text, at)
    if not stated or text.startswith(":", clause.end()):
        return None
    words = LABEL_WORDS.match(text, at)
    if KOREAN_HEDGE_IN.search(clause.group(0)) or (words and QUALIFIER.search(words.group(0))):
        return None, f"hedged: {stated[:80]}"
    if words and words.group(0).islower():  # "The answer is therefore 43": the number, as the evaluation reads it
        clause, stated = _clause(text, words.end())  # ("New York 2024" keeps its capitalised words)
    sentence = SENTENCE.match(text, at).group(0)
    if DOUBT_AFTER.search(sentence) or sentence.rstrip().endswith("?"):
        return None, f"doubted: {sentence[:80]}"
    if LIST_AFTER.match(text, clause.end()):
        return None, f"several answers: {sentence[:80]}"
    ending = KOREAN_ENDING.search(stated)
    if ending and not (ending.group(0) == "임" and re.search(r"[가-힣]$", stated[:ending.start()])):
        stated = stated[:ending.start()].rstrip() or stated
    return stated, None
