"""An answer as written (a box's content, or what follows an answer label) read as one integer, or refused.

What the AIME grader (math_grader.py) and the RL exact reward (posttrain/exact_grader.py) share: the wrappers,
units, moduli and spacing a reader ignores are taken off (_answer_text), several answers written as one and words
that change a number are refused (several_answers, not_one_integer), and what is left must be one integer
(normalise_integer); docs/evaluation.md, "AIME 2025": its Grading paragraph.
"""

from __future__ import annotations

import re

from axk1.eval.korean_answer_words import KOREAN_CHANGING, KOREAN_HEDGE

# Characters a tokenizer may put inside a number without changing what a reader sees.
AS_SEEN = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Fullwidth digits (a Korean or Japanese input method writes ７２ for 72) read as the digits they are; not a general
# NFKC, which would also read a superscript ² as 2.
AS_SEEN.update({0xFF10 + i: ord("0") + i for i in range(10)})
# A minus sign in any of its Unicode forms is a minus (`−43` was read as 43: the sign was dropped, the digits kept):
# U+2212, the small and fullwidth hyphen-minus always; a dash (figure, en, em, bar) only right before a digit and
# not after a letter or digit, as a sign is written (`10–42` is a range and `42 — so` a pause)
AS_SEEN.update(dict.fromkeys(map(ord, "\u2212\ufe63\uff0d"), ord("-")))
DASH_MINUS = re.compile(r"[\u2012-\u2015](?<![0-9A-Za-z].)(?=[0-9])")  # the dash first: a C-speed scan to it


def as_seen(s: str) -> str:
    """`s` as a reader sees its numbers (AS_SEEN, DASH_MINUS)."""
    return DASH_MINUS.sub("-", s.translate(AS_SEEN))


# box (`\boxed{\boxed{72}}`).
WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|mathrm|mathbf|mathit|mathsf|mathtt"
                     r"|boldsymbol|bm|mbox|underline|emph|boxed|fbox)\s*\{")
# ... switches that style what follows (`\large 72`, `{\color{red} 72}`, `\textcolor{red}{72}`: the colour goes with
# its command, the `{72}` after it is then a plain group)
SWITCH = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|bf|rm|it|tiny|scriptsize|footnotesize|small"
                    r"|normalsize|large|Large|LARGE|huge|Huge)(?![A-Za-z])|\\(?:text)?color\s*\{[^{}]*\}")


def _unstyled(s: str) -> str:
    """`s` with its styling (SWITCH) and wrappers (unwrap) taken off."""
    return unwrap(SWITCH.sub("", s))


def unwrap(s: str) -> str:
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
                 r"|mod|modulo|squared|cubed|factorial|or|to|point|more|less|pi"
                 # a bound (`43 at most`, `43 and up`), a fraction's denominator (`43 tenths`, `43 halves`), an
                 # operation (`43 reciprocal`) or a verdict on it (`43 is wrong`, `43 not`): 43 is not the answer
                 r"|at\s+(?:most|least)|and\s+(?:up|more|over|above|higher|greater|beyond|less|under|below|fewer)"
                 r"|reciprocal|inverse|(?:tenth|hundredth|thousandth|millionth|third|fourth"
                 r"|fifth|sixth|seventh|eighth|ninth)s|halves|quarters|(?:is\s+)?(?:wrong|incorrect|not)"
                 r"|(?:is|was)(?=\s+(?:wrong|incorrect|not|false)))(?![A-Za-z])")
CHANGED = re.compile(rf"[0-9](?:\s+{CHANGING_WORD}|\s*{KOREAN_CHANGING})")  # Korean: korean_answer_words.py
# A hedge (`43 maybe`) is no unit either (UNSURE); `2xy` keeps its letters (one space at least before a unit).
# The same meanings as KOREAN_HEDGE (korean_answer_words.py), one for one: a doubt (maybe, perhaps, I think: 아마,
# 어쩌면, 것 같), an estimate (approximately, about, roughly, -ish: 약, 대략, 추정), a bound (at least: 적어도) or
# no check (unverified: 미확인); a box holding one is wrong in either language. It is searched only in the answer
# (a box's content, the clause after an answer label): "Let's think about it" before the label is no hedge.
HEDGE_WORD = (r"(?i:not|n't|never|maybe|perhaps|possibly|probably|likely|might|seems|unsure|uncertain"
              r"|guess(?:ed)?|i\s+(?:think|believe|guess)|(?<!\\)approx(?:imately|\.)?|about|around|roughly|almost"
              r"|nearly|estimat(?:ed?|ion)|-?\s*ish|at\s+(?:least|most)|unverified|unconfirmed|unchecked)(?![A-Za-z])")
UNIT = re.compile(rf"(?<=[0-9])(?:\s+(?!{CHANGING_WORD}|{HEDGE_WORD}|(?i:and)\b)[A-Za-z]{{2,}}\.?){{1,2}}\s*$")
# A unit written onto the number (`42cm`, `42km²`, `42kg`) is dropped as `42 cm` is; only units of two letters or
# more, since `42m` or `42g` may be a product with a variable (`42x` is no answer)
GLUED_UNIT = (r"(?:[mck]m(?:\^\{?[23]\}?|[²³])?|kg|mg|m[lL]|sec|min|hrs?|cal|kcal|cm/s|m/s|km/h|rad|deg)"
              r"(?![A-Za-z0-9])")
# A hedge or a verdict anywhere in the answer (`43\text{?}`, `43 \text{ (not sure)}`, `43 (오답)`, `43 (X)`): it is
# no answer as written, and math-verify read the number in it (a `\boxed{?}` holds no number: math-verify finds none);
# a Korean hedge the same (`43 \text{(추정)}`, `\text{아마 }43`, `43일 수도 있다`)
UNSURE = re.compile(rf"\?|(?<![A-Za-z]){HEDGE_WORD}|{KOREAN_HEDGE}")
WRONG_MARK = r"\([ \t]*(?:오답|틀림|틀렸(?:음|다|습니다)?|틀린[ \t]*답|[Xx✗✘×]|(?i:wrong|incorrect|false))[ \t]*\)"
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
               as_seen(content))
    s = re.sub(r"\\(?:[,!;:]|(?:neg)?(?:thin|med|thick)space(?![A-Za-z])\s*)", "", s)
    s = MODULUS.sub("", _unstyled(s.strip().strip("$")))
    bare = BARE_MODULUS.search(s)  # `70 \bmod 1000` is 70, `1070 \bmod 1000` is no integer as written
    if bare and int(bare.group(1)) < int(bare.group(2).replace(",", "")):
        s = s[:bare.end(1)]
    s = re.sub(rf"\^\s*\{{?\\circ\}}?|\\degree|°|\\%|%|(?<=[0-9]){GLUED_UNIT}", "", s)
    # a Korean counter after the number, as AIME-ko answers write it (`72개`, `72 가지`); `\text{개}` was already
    # unwrapped to the same text, so the two spellings grade alike; an English unit the same way (`72 minutes`)
    # (not a word that changes it: `72만`, `72 이상`, nor a hedge: `72 아마`, korean_answer_words.py)
    s = re.sub(rf"(?<=[0-9])(?!\s*(?:{KOREAN_CHANGING}|{KOREAN_HEDGE}))\s*(?:[가-힣]{{1,3}}|\((?:정|)답\))[.!]?\s*$",
               "", s.strip())
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
    integer too long to be an answer, or one hedged (UNSURE, WRONG_MARK)."""
    s = _answer_text(content)
    if re.search(r"[0-9]", s) and (UNSURE.search(s) or re.search(WRONG_MARK, s)):
        return "a hedged answer"  # `43\text{?}`, `43 \text{ (not sure)}`, `43 (오답)`
    if re.search(r"[0-9]_\s*[0-9A-Za-z]", s):
        return "a number with a subscript"  # `43_8` is 35 in base 8; math-verify read 43
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
    s = _unstyled(as_seen(content)).strip().strip("$").strip()
    label = ANSWER_LABEL.match(s)
    if not label.group(0).strip():
        return None
    return s[LABEL_GAP.match(s, label.end()).end():]
