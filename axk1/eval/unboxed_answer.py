"""Without a box: the answer a reply states after its last answer label, else its last math span or number.

The AIME grader (math_grader.py) grades what this finds as it grades a box's content (integer_answer.py), or
refuses it here with a reason (docs/evaluation.md, "AIME 2025": its Grading paragraph).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from axk1.eval.integer_answer import (CHANGING_WORD, GLUED_UNIT, THOUSANDS, WRONG_MARK, as_seen, equation_answer,
                                      normalise_integer)
from axk1.eval.korean_answer_words import (CLOSING_ENDING, KOREAN_CHANGING, KOREAN_HEDGE, KOREAN_MISTAKE_FIXED,
                                           KOREAN_MISTAKE_KEPT, KOREAN_NOT_RETRACTED, KOREAN_RETRACTION, NOT_BUT)

# Without a box, the final answer is the integer after the last answer label (labelled_answer), else the last math
# span or number of the text (docs/evaluation.md, "AIME 2025": its Grading paragraph).
# The whole text is searched (TEXT_LABEL), so each pattern is linear: a `\(` span ends at the next `\(` as well as
# at its `\)`, or 10 MB of `\(` was scanned 1,000 characters at every one of them. A span starts only at `$` or `\`,
# which no number holds, so the spans of a text are found without its numbers and its last number from its end
# (last_token).
SPAN = (r"\$\$[^$]{1,1000}\$\$|\$[^$]{1,1000}\$|\\\((?:(?!\\[()]).){1,1000}?\\\)"
        r"|\\\[(?:(?!\\[\[\]]).){1,1000}?\\\]")
NUMBER = r"-?[0-9]+(?:,[0-9]{3})*(?:\.[0-9]+)?"
LAST_ANSWER = re.compile(rf"{SPAN}|{NUMBER}", re.S)
SPANS = re.compile(rf"(?=[$\\])(?:{SPAN})", re.S)  # the lookahead lets the engine skip to a `$` or `\` at C speed
NUMBERS = re.compile(NUMBER)
NUMBER_RUN = re.compile(r"[-0-9,.]*")
# LaTeX without `$` after a label (`The answer is \frac{84}{2}.`, `정답은 \sqrt{3}입니다.`): the expression as a whole,
# to the end of its sentence or a word, read as a math span; its last digits were read before (`\frac{1}{2}` as 2)
BARE_LATEX = re.compile(r"\\(?![()\[\]])[A-Za-z]+(?:[^\s$.,;:?!가-힣]|[.,](?=[0-9])"
                        r"|[ \t]+(?=[\\{}^_+\-*/=<>()0-9])){0,300}")
# ... and, without a label, the last number when it sits in such an expression's braces (`So we get \frac{84}{2}`)
IN_COMMAND = re.compile(r"\\[A-Za-z]+(?:\{[^{}\s]{0,50}\})*\{[ \t]*$")
# A last number that is an exponent (`2^{10}`, `1.5e2`) or has one (`42^n`) is no answer as it stands
EXPONENT = re.compile(r"(?:\^[ \t]*\{?[ \t]*|[0-9.][eE][+-]?)$")
HAS_EXPONENT = re.compile(r"[ \t]*\^|[eE][+-]?[0-9]")

# An answer label outside a box, as a reply without one states its answer: "The answer is 42 (mod 1000).",
# "Final answer: 42", "Final answer 42" (bare only right before a number: "the final answer checks out" after "The
# answer is 17" is no label), "따라서 정답은 42이며, ..."; "answer isn't" is one too, so that its negation is read.
# The integer right after the last label is the answer, not a later number of the same sentence (the last-number
# rule read 1000, or 3).
# Each alternative starts with the letter it needs, its word boundary checked once that letter is read (`\bans` is
# `[Aa](?<!\w.)ns`), so the engine skips at C speed to where a label may start: the whole text is searched (a label
# 4,000 characters before the end was missed when only a tail was), and `(?i:\b...` took 2-5 s for 10 MB of prose.
# A colon may follow the label's closing emphasis (`**Final Answer**: 42`, `**정답**: 서울`)
TEXT_LABEL = re.compile(r"[Aa](?<!\w.)(?i:nswer\s*(?:is(?:\b|(?=n['’]t\b))|\**:|=)|ns\s*\**:)"
                        r"|[Ff](?<!\w.)(?i:inal\s+answer\s*(?:is(?:\b|(?=n['’]t\b))|\**:|=)"
                        r"|(?P<bare>inal\s+answer)(?=[\s*$]*\d))"
                        r"|[정답최](?<![가-힣].)(?:(?<=최)종\s*(?:정답|답)|(?<=정)답|(?<=답))\s*(?:은|는|\**:|=)")  # not `대답은`
LABEL_TO_ANSWER = re.compile(r"[\s*:,]*")  # `**Answer:** 42`, `The answer is: $42$`, `The answer is, maybe, 43`
# Words between the label and its number that make it no answer: a negation ("The answer is not 43", "isn't 43",
# "definitely not 43"; "not 42 but 43" is 43) or a hedge ("either 42 or 43", "maybe 43", "at least 43", "about 43").
# Other words ("The answer is therefore 42") leave the reply to the last-number rule. Korean hedges sit mostly after
# the number (정답은 43일 수도 있다: "might be 43"), so the whole clause the label states is searched for them
# (KOREAN_HEDGE_IN, korean_answer_words.py): "정답은 아마 43입니다" is no answer as "The answer is maybe 43." is not.
LABEL_WORDS = re.compile(r"(?:(?:[A-Za-z]+|[A-Za-z]*['’]t)[ \t,]+){1,4}(?=\$|\\[A-Za-z(\[]|-?[0-9])")
# The hedges are one list with the RL reward's (stated_answer.py), in two kinds it reads apart: a sentence adverb
# hedges the statement ("maybe it is 43"), a degree word or bound only the number right after it ("about 43")
HEDGE_ADVERB = r"possibly|maybe|perhaps|probably|likely"
HEDGE_DEGREE = r"either|about|approximately|approx|around|roughly|nearly|almost|(?:at[ \t]+)?(?:least|most)"
QUALIFIER = re.compile(rf"(?i:(?<![A-Za-z])(?:not|never|no|{HEDGE_ADVERB}|{HEDGE_DEGREE})(?![A-Za-z'’])"
                       r"|n['’]t(?![A-Za-z]))")
KOREAN_HEDGE_IN = re.compile(KOREAN_HEDGE)
# ... and an English doubt after the number, in the sentence the label states, as a box's is (UNSURE in
# integer_answer.py: `72?`, `72 \text{ (not sure)}`): a note in parentheses that starts with one ("43 (maybe)",
# "(I think so)", "(?)"), one after a comma ending its clause ("43, probably.", "43, I think"), or a `?` on the
# number ("43?"). "43 (mod 1000)", "43, not 42" and a doubt in a later sentence ("43. Maybe I should check.") are none.
# An estimate the same way ("43 (approximately)", "43, roughly.", "43 (unverified)"), and one written onto the number
# ("43 approximately.", "43-ish"), as a box's (HEDGE_WORD in integer_answer.py; Korean: KOREAN_HEDGE_IN).
DOUBT = (r"(?i:maybe|perhaps|probably|possibly|likely|not\s+(?:sure|certain)|unsure|uncertain"
         r"|i\s+(?:think|guess|believe)|guess(?:ed)?|approx(?:imately|\.)?|about|around|roughly|almost|nearly"
         r"|estimat(?:ed?|ion)|unverified|unconfirmed|unchecked)(?![A-Za-z'’])")
DOUBT_AFTER = re.compile(rf"\([ \t]*(?:{DOUBT}|\?)|,[ \t]*{DOUBT}[ \t]*(?:[.;:!?,)]|$)"
                         r"|[0-9$)}*_\]][ \t]*\?"
                         r"|[0-9$)}*_\]](?:[ \t]*-[ \t]*ish|[ \t]+(?i:approximately|roughly|or\s+so))(?![A-Za-z])")
# The sentence after a label: as CLAUSE, but past a comma or colon, and with the `?` that ends it
SENTENCE = re.compile(r"[^\n]{0,300}?(?:\?(?=\s|$)|(?=\n|[.;](?:\s|$)|$))|[^\n]{0,300}")
BUT = re.compile(r"[ \t]*,?[ \t]*(?i:but)[ \t]+(?:(?i:rather|instead)[ \t,]+)?")
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
# ((mod 1000), (검산: 6 × 7); not (or 43), nor a wrong mark: (X), (오답)), a modulus or an end mark; a unit written
# onto it (42cm) as one after a space.
CLAUSE_END = re.compile(
    rf"(?![ \t]*{WRONG_MARK})(?:\\?%|°|\^\s*\{{?\\circ\}}?|{GLUED_UNIT})?(?:[*_}})\]\"'”’]|\\[)\]])*[ \t]*"
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
# A retraction after the labelled answer's clause: "The answer is 42. Wait, that is wrong. So it's 43." A reader takes
# 43, the answer the text goes on to give; the label rule read 42. So the answer is then read from the text after
# the retraction alone (its last number), and there is none when that text gives none. Only an explicit one: the
# answer called wrong by a demonstrative (that/this/it is wrong, incorrect, not right, a mistake; not "43 is wrong",
# a check of another number, nor "is that wrong?"), "I made a mistake", "scratch that", "wait, no." (a reply's
# checking after its answer keeps the label's: "The answer is 42. Check: 6 * 7 = 42, and 43 - 1 = 42."), and only
# where its sentence names no other number before it ("Earlier I wrote 41, but that was wrong." retracts 41). The
# last such one counts. Korean: KOREAN_RETRACTION. A box is read before any of this: the last box is the answer
# whatever follows it.
RETRACTION = re.compile(
    r"(?i:(?<![A-Za-z])(?:that|this|it)(?:['’]s|[ \t]+(?:is|was))[ \t]+(?:(?:all|completely|clearly|definitely)[ \t]+)?"
    r"(?:wrong|incorrect|not[ \t]+(?:right|correct)|a[ \t]+mistake|an[ \t]+error)(?![A-Za-z])(?![ \t]*\?)"
    r"|(?<![A-Za-z])I[ \t]+made[ \t]+(?:a|an)[ \t]+(?:mistake|error)(?![A-Za-z])"
    r"|(?<![A-Za-z])scratch[ \t]+that(?![A-Za-z])"
    r"|(?<![A-Za-z])wait[ \t]*,?[ \t]*no[ \t]*[.!,;])"
    rf"|{KOREAN_RETRACTION}")
# ... and not where its clause negates it ("I don't think that is wrong.", "No one can say that is wrong.", "이건
# 틀렸을 리가 없다", "틀렸다고 보지 않는다") or asks it ("Let me check whether that is wrong", "계산이 틀렸는지 보자"):
# English puts the negation or question before it, Korean after it
NEGATED_BEFORE = re.compile(r"(?i:(?<![A-Za-z])(?:not|never|nobody|no[ \t]+one|cannot|whether|if)(?![A-Za-z])"
                            r"|n['’]t(?![A-Za-z]))")
NEGATED_AFTER = re.compile(KOREAN_NOT_RETRACTED)
# "I made a mistake" (and 실수가 있었다, 잘못 계산했다) retracts whatever follows it ("I made a mistake in computing the
# sum. It is 48.", "... with the sign.", "... here. It should be 48.", "I made a mistake in step 3: 43."), except
# where its sentence goes on to a contrast or a fix: "I made a mistake in step 3 earlier but fixed it.", "I made a
# mistake, although the final answer stands", "Earlier I made a mistake, which I corrected." go on about a mistake
# already put right, and "(I made a mistake in an earlier draft.)" about another text. "The corrected answer is 48"
# names the new answer, no fix of the old one. Korean: KOREAN_MISTAKE_KEPT, KOREAN_MISTAKE_FIXED.
MISTAKE = re.compile(r"(?i:I[ \t]+made)|실수|잘못")
MISTAKE_KEPT = re.compile(r"(?i:(?<![A-Za-z])(?:but|although|though|however|draft|put[ \t]+right"
                          r"|(?:fixed|corrected|resolved)(?![ \t]+(?:answer|value|result|version|sum|total|count"
                          r"|number|one|calculation|computation)))(?![A-Za-z]))"
                          rf"|^{KOREAN_MISTAKE_KEPT}|{KOREAN_MISTAKE_FIXED}")
# The rest of a mistake's sentence, where MISTAKE_KEPT is looked for: to its end (`.`, `!`, `?`, a line's end), bounded
MISTAKE_SENTENCE = re.compile(r"[^.!?\n]{0,200}")
# An earlier clause's negation does not cancel a retraction: "Plugging back in doesn't work — that is wrong." and
# "Hmm, not quite — that is wrong." retract; a dash (—, –, " - ") ends a clause as a comma does
CLAUSE_CUT = ".!?\n,;:—–"


# After a retraction, a sentence that names the new answer against the retracted one ("It is 48, not 42.", "6*8 is 48
# rather than 42.", "48 instead of 42") ends on the number it rejects: the value named before the negation is read.
# Not inside a number, a power or a subscript (`2^{10}, not 42` names no value of its own)
VALUE = rf"{SPAN}|-?[0-9]+/[0-9]+|{NUMBER}"
NAMED_NOT = re.compile(rf"(?<![0-9/.,^{{_])(?:{VALUE})(?=[ \t*]*(?:,[ \t]*(?i:not)|[ \t,]+(?i:rather[ \t]+than"
                       rf"|instead[ \t]+of))[ \t]+[*$]*$)", re.S)


def named_over_negated(text: str, at: int) -> tuple[int, int] | None:
    """(start, end) of the value a sentence names right before negating the one at text[at] ("48, not 42", "48
    rather than 42", "48 instead of 42"); None where that one is not negated so. Searched in the 400 characters
    before it, so a long text is not scanned again."""
    named = NAMED_NOT.search(text, max(0, at - 400), at)
    return named.span() if named is not None else None


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


def _balanced(latex: re.Match | None) -> re.Match | None:
    """`latex` when its braces pair up; an unclosed `\\boxed{42` (a reply cut short) is read on its number, as
    before."""
    if latex is None:
        return None
    depth = 0
    for c in latex.group(0):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return None
    return latex if depth == 0 else None


def last_label(text: str) -> re.Match | None:
    """The last answer label (TEXT_LABEL) of `text`, None without one."""
    label = None
    for label in TEXT_LABEL.finditer(text):
        pass
    return label


def label_retraction(text: str, label: re.Match) -> re.Match | None:
    """The retraction (RETRACTION) of what `label`, the last answer label of text, states; None where the reply keeps
    it. The RL exact reward's stated_answer.py reads the same retractions."""
    return _retraction(text, CLAUSE.match(text, LABEL_TO_ANSWER.match(text, label.end()).end()).end())


def labelled_answer(text: str, label: re.Match) -> Labelled | None:
    """What `label`, the last answer label (TEXT_LABEL) of text, states: its integer (bare or a one-integer math span)
    when the integer ends its clause (CLAUSE_END); `70 2` when it is hedged ("70 or 2"); else the integer its
    `=` chain ends with (`25 + 47 = 72`), and otherwise no answer (Labelled.answer None: "42/43" is wrong). None
    without a label, when no number follows the last one ("The answer is $\\frac12$ ... 42" is left to the
    last-number rule) and for a bare "final answer" whose number does not end its clause ("Final answer 2 times
    we checked: 42")."""
    at = LABEL_TO_ANSWER.match(text, label.end()).end()
    clause = CLAUSE.match(text, at).group(0)
    if KOREAN_HEDGE_IN.search(clause):
        return Labelled(None, MATH_DELIMITER.sub("", clause))
    words = LABEL_WORDS.match(text, at)
    if words and QUALIFIER.search(words.group(0)):
        answer = LAST_ANSWER.match(text, words.end())
        but = BUT.match(text, answer.end()) if answer and re.search(r"(?i:not|n['’]t)\b", words.group(0)) else None
        if but and len(words.group(0).split()) == 1:  # "The answer is not 42 but 43" states 43
            return _undoubted(text, at, _stated_at(text, but.end(), False, negation=False))
        return Labelled(None, MATH_DELIMITER.sub("", CLAUSE.match(text, at).group(0)))
    return _undoubted(text, at, _stated_at(text, at, bool(label.group("bare"))))


def _undoubted(text: str, at: int, labelled: Labelled | None) -> Labelled | None:
    """`labelled` (the answer the label before text[at] states), or no answer (as a hedge before the number gets)
    when the sentence doubts it after its first number (DOUBT_AFTER): "The answer is 43 (maybe)." is wrong."""
    if labelled is None or labelled.answer is None:
        return labelled
    sentence = SENTENCE.match(text, at).group(0)
    first = LAST_ANSWER.search(sentence)
    if first is not None and DOUBT_AFTER.search(sentence, first.start()):
        return Labelled(None, MATH_DELIMITER.sub("", sentence))
    return labelled


def _stated_at(text: str, at: int, bare: bool, negation: bool = True) -> Labelled | None:
    """What a label whose answer starts at text[at] states (labelled_answer); `bare`: a bare "final answer";
    `negation`: whether "70이 아니라 71" may still be followed to 71 (once: a chain of them is no answer)."""
    answer = LAST_ANSWER.match(text, at)
    stated = MATH_DELIMITER.sub("", CLAUSE.match(text, at).group(0))
    latex = _balanced(BARE_LATEX.match(text, at)) if answer is None else None
    if latex is not None:  # `\frac{84}{2}` is graded as `$\frac{84}{2}$` would be, never on its last digits
        return Labelled(f"${latex.group(0).rstrip()}$", stated)
    if answer is None:
        return None
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


def _retraction(text: str, start: int) -> re.Match | None:
    """The last retraction (RETRACTION) of the answer stated before text[start]: one whose sentence, from `start`
    on, names no number before it (that one retracts the number it names). One pass: the text between two
    retractions is read once, for its last sentence end and its numbers (10 MB of "that is wrong " is one scan)."""
    candidates, sentence, numbered, read = [], start, False, start
    for retraction in RETRACTION.finditer(text, start):
        cut = max(text.rfind(c, read, retraction.start()) for c in ".!?\n")
        if cut >= 0:  # a new sentence since the last retraction: its numbers alone count
            sentence, numbered = cut + 1, False
        numbered = numbered or NUMBERS.search(text, max(sentence, read), retraction.start()) is not None
        read = retraction.start()
        if not numbered:
            candidates.append(retraction)
    # the last one that holds (_holds), checked from the end: usually the first one checked
    return next((retraction for retraction in reversed(candidates) if _holds(text, retraction)), None)


def _holds(text: str, retraction: re.Match) -> bool:
    """Whether `retraction` is one: its clause does not negate it (NEGATED_BEFORE, NEGATED_AFTER; the clause starts
    after the last CLAUSE_CUT), and a mistake "made" is not followed by a contrast or a fix in its sentence
    (MISTAKE_KEPT). Bounded look-arounds, so the search stays one pass."""
    before = text[max(0, retraction.start() - 120):retraction.start()]
    dash = before.rfind(" - ")
    clause = before[max(max(before.rfind(c) for c in CLAUSE_CUT) + 1, dash + 3 if dash >= 0 else 0):]
    if NEGATED_BEFORE.search(clause) or NEGATED_AFTER.match(text[retraction.end():retraction.end() + 40]):
        return False
    if MISTAKE.match(retraction.group(0)):
        return MISTAKE_KEPT.search(MISTAKE_SENTENCE.match(text, retraction.end()).group(0)) is None
    return True


def last_token(text: str) -> re.Match | None:
    """The last match of a left-to-right LAST_ANSWER scan of `text`, without matching every number before it (10 MB
    of `1 ` is 5 million matches): the last span, then the last number after it, read from the run of number
    characters it ends (that run's start is where the scan would start it)."""
    span = None
    for span in SPANS.finditer(text):
        pass
    start = span.end() if span else 0
    digit = max(text.rfind(d, start) for d in "0123456789")
    if digit < 0:
        return span
    run = len(NUMBER_RUN.match(text[start:digit + 1][::-1]).group(0))
    # a `-` only opens a number, so the scan restarts at the run's last one (10 MB of `-1` is 5 million numbers)
    begin = max(digit + 1 - run, text.rfind("-", digit + 1 - run, digit + 1))
    number = None
    for number in NUMBERS.finditer(text, begin, digit + 1):
        pass
    return number


def unboxed_answer(text: str) -> tuple[str | None, str | None]:
    """Without a box: (the answer to grade, None), or (None, why it is wrong). The answer is what the last answer
    label states (labelled_answer; when the reply then retracts it, what follows the retraction: RETRACTION), else
    the last `$...$`, `\\(...\\)`, `\\[...\\]` or number of the text; (None,
    None) when there is none. Only the last one counts, so listing several candidates ("72 or 5 or 99") gains
    nothing. A last number in a LaTeX command's braces is read with its command (`\\frac{84}{2}`); one that is or
    has an exponent (`2^{10}`, `1.5e2`), or is marked wrong (`42 (X)`), is refused."""
    text = as_seen(text)
    label = last_label(text)
    labelled = labelled_answer(text, label) if label is not None else None
    if labelled is not None:
        retracted = label_retraction(text, label)
        if retracted is not None:  # "The answer is 42. Wait, that is wrong. So it's 43.": what follows is read
            rest = text[retracted.end():]
            after = unboxed_answer(rest)
            token = last_token(rest) if after[0] is not None and last_label(rest) is None else None
            named = named_over_negated(rest, token.start()) if token and after[0] == token.group(0) else None
            if named is not None:  # "It is 48, not 42.": 48, the value the reply names, not the one it rejects
                after = rest[named[0]:named[1]], None
            return after if after != (None, None) else (None, f"retracted: {retracted.group(0)[:80]}")
    if labelled is not None:
        return (labelled.answer, None) if labelled.answer is not None else (None, f"not one integer: "
                                                                                  f"{labelled.stated[:80]}")
    last = last_token(text)
    if last is None or last.group(0)[0] in "$\\":
        return (last.group(0) if last else None), None
    before = text[max(0, last.start() - 300):last.start()]
    command = IN_COMMAND.search(before)
    latex = _balanced(BARE_LATEX.match(text, last.start() - len(before) + command.start())) if command else None
    if latex is not None and latex.end() >= last.end():
        return f"${latex.group(0).rstrip()}$", None
    if EXPONENT.search(before) or HAS_EXPONENT.match(text, last.end()):
        return None, f"not one integer: an exponent ({text[max(0, last.start() - 20):last.end() + 5].strip()})"
    if re.match(rf"[ \t]*{WRONG_MARK}", text[last.end():last.end() + 40]):
        return None, f"not one integer: marked wrong ({text[last.start():last.end() + 40].strip()})"
    return last.group(0), None
