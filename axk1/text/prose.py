"""Prose: a text with its math, code and LaTeX commands taken out, and how much of it is Korean (the one rule for
"this statement, translation or reply is in Korean": AIME and LiveCodeBench checks, the benchmark translator)."""

from __future__ import annotations

import re

from axk1.text.korean import count_syllables

# Not prose in any language: fenced and inline code, $$…$$, $…$, \(…\), \[…\] math, LaTeX commands (\frac). \( and \[
# are matched alone and prose() looks for their closing with str.find: as \\\(.*?\\\) every unclosed \( read on to the
# end of the text (50,000 of them: 46 s); once one finds no closing, no later one can.
MATH_AND_CODE = re.compile(r"```.*?```|`[^`\n]+`|\$\$.*?\$\$|\$[^$]+\$|\\[(\[]|\\[A-Za-z]+", re.S)
_CLOSING = {"\\(": "\\)", "\\[": "\\]"}
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")  # one letter alone (`N`, `A_i`, `x`) is an identifier, not English
# The prose_hangul_share that makes prose Korean: an AIME statement, a translated LiveCodeBench statement, a model's
# reply to LCB-ko. Measured on the public Korean AIME 2025 statements (as translations of the English ones): 0.89
# at the lowest of 30, 1.0 for most; the English ones (as an echo, or as "translations" of the Korean ones): 0. On
# the same statements one Hangul syllable says what 2.2 English letters do, so 0.3 is about half the prose, by what
# it says, in Korean: it passes a statement that keeps English words (`Yes`, `nums`) or AtCoder's format sentence
# (0.48 on a short one) and refuses one whose prose stayed English (one clause of an AtCoder statement translated:
# 0.05).
MIN_HANGUL_SHARE = 0.3


def prose(text: str) -> str:
    """`text` with its math, code and LaTeX commands (MATH_AND_CODE) turned into spaces: what is left is written in
    a natural language."""
    out, done, at, unclosed = [], 0, 0, set()
    while m := MATH_AND_CODE.search(text, at):
        start, end = m.span()
        closing = _CLOSING.get(m.group())
        if closing is not None:  # \( or \[: math up to the first closing after it, else not math
            close = -1 if closing in unclosed else text.find(closing, end)
            if close < 0:
                unclosed.add(closing)
                at = start + 1
                continue
            end = close + len(closing)
        out += (text[done:start], " ")
        done = at = end
    out.append(text[done:])
    return "".join(out)


def prose_hangul_share(prose_text: str) -> float | None:
    """Hangul syllables / (Hangul syllables + letters of English words) in prose (`prose(text)`), None when it has
    neither. Unlike hangul_ratio (a document's letters, any script), an English word of one letter is an
    identifier and does not count: `N 개의 정수` is Korean prose."""
    hangul = count_syllables(prose_text)
    english = sum(map(len, ENGLISH_WORD.findall(prose_text)))
    return hangul / (hangul + english) if hangul + english else None
