"""Without a box: what the last answer label states, as text, for answers that need not be one integer.

The RL exact reward (posttrain/exact_grader.py) grades "Tokyo", "3/4" or "\\sqrt{2}" that a reply states after a
label ("The answer is 43.", "Final answer: Tokyo", "답은 43이다."), where the AIME grader's unboxed_answer.py reads
the same labels for one integer and refuses anything else. The labels, their clause, the hedges, the doubts and the
retractions are that module's (docs/evaluation.md, "AIME 2025": its Grading paragraph), so the two graders read a
reply alike; only what is read after the label differs: here the clause as written, for the exact grader to compare
(a comma in brackets does not end it), and only a label no last line overrides by stating an answer by itself (the
exact grader's fallback is the last line, where the evaluation's is the last number). This reward is stricter
than the evaluation on hedges: a label hedged before it in its clause ("Maybe the answer is 48.") and a hedged
replacement after a retraction are no answer (HEDGES), and after a retraction a word answer is read after its copula
("It's Tokyo.": WORD_AFTER_COPULA). A closing pleasantry after the answer ("Thank you!") is never read as one
(without_sign_off).
"""

from __future__ import annotations

import re
from typing import Callable

from axk1.eval.integer_answer import as_seen
from axk1.eval.korean_answer_words import (CLOSING_ENDING, KOREAN_ESTIMATE, KOREAN_HEDGE, KOREAN_HEDGE_ADVERB,
                                           KOREAN_HEDGE_AFTER, NOT_BUT)
from axk1.eval.unboxed_answer import (DOUBT_AFTER, HEDGE_ADVERB, HEDGE_DEGREE, KOREAN_HEDGE_IN, LABEL_TO_ANSWER,
                                      LABEL_WORDS, MATH_DELIMITER, NUMBER, QUALIFIER, SENTENCE, SPAN,
                                      label_retraction, last_label, last_token, named_over_negated)

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
# A closing pleasantry ("Thank you!", "Hope this helps.", "감사합니다.", "도움이 되었길 바랍니다."), a line or a last
# sentence of its own, is no answer: it is taken off the reply's end before the answer is read (without_sign_off),
# so "It's Tokyo.\n\nThank you" ends on "It's Tokyo.". Only the pleasantry and a few words of thanks after it
# ("Thanks for asking!"): "Thanks to symmetry, it is 48." is no sign-off.
PLEASANTRY = (r"thanks?|thank[ \t]+you|cheers|regards|best|good[ \t]+luck|(?:i[ \t]+)?hope[ \t]+(?:this|that|it)"
              r"[ \t]+helps|enjoy|happy[ \t]+[a-z]+")
KOREAN_THANKS = r"감사합니다|고맙습니다"
KOREAN_PLEASANTRY = rf"{KOREAN_THANKS}|도움이[ \t]*되"  # a line starting so follows an answer (FOLLOWS_AN_ANSWER)
# ... and one of these is a whole sign-off: "도움이 되었길 바랍니다", "도움이 됐으면 좋겠어요"; not "도움이 되는 답은 서울"
KOREAN_SIGN_OFF = rf"{KOREAN_THANKS}|도움이[ \t]*(?:되(?:었|셨)?|됐)(?:길|기를|으면)[가-힣 \t]{{0,10}}"
LABEL_ENDS = re.compile(r":[*_ \t]*\s*$")  # text ending in a label's colon ("**Answer:**", "The phrase is:")
SIGN_OFF_LIMIT = 80  # characters: a sign-off is short, and a long line is never matched against SIGN_OFF
SIGN_OFF = re.compile(rf"[*_ \t]*(?:(?i:(?:{PLEASANTRY})(?:[ \t]+(?:so|very|much|you|for|your|the|this|that|it|all|a"
                      r"|lot|asking|reading|question|help|time|and|good|luck|great|day|in|advance)(?![A-Za-z]))*)"
                      rf"|{KOREAN_SIGN_OFF})[\W_]*")
# A later line that states an answer by itself overrides the label ("43", "Tokyo", "**42**", "(B)"): short, no sentence
# end, none of the lines that only follow an answer (an end mark, a bullet, a table row, a fence, a "Note:" line,
# an aside in brackets, a sign-off, a working line with `=`, a sentence of several words)
BARE_LINE_LIMIT = 40
END_MARK = re.compile(r"[$\s*]*(?:\\(?:blacksquare|square|Box|qed)|QED|Q\.E\.D\.?|∎|□|■)[$\s*.]*", re.I)
FENCE = ("```", "~~~")
BARE_VALUE = re.compile(r"(?:[A-Za-z][ \t]*=[ \t]*)?-?[0-9][0-9,./^]*")  # "42", "3/4", "1,000", "x = 42"
FOLLOWS_AN_ANSWER = re.compile(
    r"[-*+•>|][ \t]|\||[0-9]+[.)][ \t]|#+[ \t]"  # a bullet, a quote, a table row, a numbered item, a heading
    r"|[^\W\d_][^\n:]{0,30}:(?:\s|$)"  # a label of its own: "Note: ...", "Source: ...", "검산: ..."
    r"|\([^)]*[^\W\d_]{2}"  # an aside in brackets: "(capital of France)"; "(B)" and "(1, 2)" are answers
    rf"|(?i:{PLEASANTRY}|references|sources?|therefore|thus|hence|so)(?![A-Za-z])"  # a sign-off, a heading word
    rf"|{KOREAN_PLEASANTRY}"  # or a connective ("Therefore, 42") that restates it; Korean sign-offs
    r"|.*(?i:verified|checked)|.*(?:확인|검산)[ \t]*완료"  # a check reported ("Answer verified ✅", "검산 완료")
    r"|.*=")
# A label that states nothing but points elsewhere ("The answer is below.", "Answer: see below", "The answer is as
# follows.", "The answer is straightforward once we factor."; not "simple", which may start an answer): the reply's
# last line is its answer
STATES_NOTHING = re.compile(r"(?i:(?:see|shown|given)[ \t]+)?(?i:below|above|as[ \t]+follows|the[ \t]+following"
                            r"|following|straightforward)(?![A-Za-z])")
# What a retraction leaves of its sentence: the rest of its Korean word ("잠깐, 틀렸다." leaves "다.", "잘못
# 계산했군요." "군요."; KOREAN_RETRACTION ends inside the word) and the punctuation after it; no part of what follows
RETRACTION_LEFTOVER = re.compile(r"(?:[가-힣]{1,4}(?=[\s.,;:!?—–-]|$))?[\s.,;:!?—–-]*")  # (it always matches)
# After a retraction, a last sentence that ends on a number or math span ("So it's 43.", "48이다.") states that
# number. Searched only in the line's last TAIL characters: anchored at the end, a search from every start of a
# long digit run would match the whole run each time (quadratic)
# A fraction ("It is 3/4.") is read whole, never as its denominator
LAST_TOKEN_ENDING = re.compile(rf"(?:{SPAN}|-?[0-9]+/[0-9]+|(?<![0-9/.]){NUMBER})"
                               rf"(?=[ \t*]*(?:{CLOSING_ENDING})?[ \t*]*[.!]?[ \t*]*$)")
TAIL = 400
# The RL reward's own rule (not the evaluation's, which reads what follows a retraction by its last-number rule and
# so takes any hedge): a retracted answer's replacement hedged as a label's answer would be ("It is probably 48.",
# "maybe 48", "It's about 48.", "48, probably.", "48?", "아마 48이다", "48일 수도 있다") earns nothing, as "The
# answer is probably 48" does not; else retracting a firm answer would be the way around that rule. A label is
# hedged by what its clause says before it the same way ("Maybe the answer is 48.", "I think the answer is 48",
# "아마 정답은 48이다": _hedged_statement), where the evaluation reads only the label's own words (QUALIFIER).
# Only a hedge on the value counts, each kind where HEDGES says; the same words elsewhere in the sentence modify
# something else: "with at least one element is 48", "around the table gives 48", "최소 비용은 48" state 48.
HEDGES = {
    # anywhere before the value in its clause, as a sentence adverb hedges the whole statement ("Maybe it is 48",
    # "It should probably be 48", "아마 다시 계산하면 48이다"), and an opinion given as the reply's own ("I guess it
    # is 48", "I think the answer might be 48"; not "I think about it again: it is 48"): ADVERB_HEDGE, LONE_ADVERB
    "statement": (rf"(?i:(?<![A-Za-z])(?:{HEDGE_ADVERB})(?![A-Za-z'’]))|{KOREAN_HEDGE_ADVERB}"
                  r"|(?<![A-Za-z])I[ \t]+(?i:think|guess|believe|suppose)(?![A-Za-z'’])"
                  r"(?![ \t]+(?i:about|through|over|of|back)(?![A-Za-z]))"),
    # anywhere before the value in its sentence: a Korean concession on a doubt ("확실하지 않지만 48이다")
    # a doubt a check done then settles is none ("확실하지 않지만 검산해 보니 답은 48입니다"; "다시 계산하면", if
    # recomputed, checks nothing yet)
    "concession": (rf"(?:{KOREAN_HEDGE_AFTER})[가-힣]*지만(?![^.!?\n]*(?:검산|확인|재계산|계산|풀어|다시[ \t]*봐)"
                   r"[가-힣 \t]{0,4}?(?:보니|하니|결과|했더니|봤더니))"),
    # right before the value: a hedge or degree word ("probably 48", "is about 48", "at least 48": a bound says where
    # the value lies, not what it is, as after a label), a modal ("It might be 48"), "either 47 or", a Korean hedge
    # word ending there ("아마 48", "추정값은 48", "최소 48")
    "right_before": (rf"(?:(?i:(?<![A-Za-z])(?:{HEDGE_ADVERB}|{HEDGE_DEGREE}|(?:might|may|could)[ \t]+be)"
                     r"(?![A-Za-z'’]))|(?i:(?<![A-Za-z])either[ \t]+[^\s,;]+[ \t]+or))[ \t*$]*$"
                     rf"|{KOREAN_HEDGE}[가-힣]*[ \t*$]*$"),
    # right after the value, a counter allowed: a Korean estimate ("48 정도입니다", "48쯤이다", "48개 정도")
    "right_after": rf"[ \t*$]*(?:[가-힣]{{1,2}}[ \t]*)??{KOREAN_ESTIMATE}",
    # after it in its sentence: a Korean hedge ("48일 수도 있다", "48인 것 같다", "48이지만 확실하지 않다"); the English
    # doubts after a value are the evaluation's (DOUBT_AFTER: "48, probably.", "48?")
    "after": rf"{KOREAN_HEDGE_AFTER}|{KOREAN_HEDGE_ADVERB}",
}
HEDGE_WORD = rf"(?i:(?<![A-Za-z])(?:{HEDGE_ADVERB}|{HEDGE_DEGREE})(?![A-Za-z'’]))"  # "It's probably Tokyo."
HEDGED_BEFORE = re.compile(HEDGES["right_before"])
CONCESSION = re.compile(HEDGES["concession"])
ESTIMATE_AFTER = re.compile(HEDGES["right_after"])
NUMBER_ESTIMATE = re.compile(rf"(?<=[0-9]){HEDGES['right_after']}")  # in a label's clause: "정답은 48 정도입니다"
KOREAN_HEDGED_AFTER = re.compile(HEDGES["after"])
# A statement hedge reaches to a clause it starts ("I probably forgot the carry so it is 48": CLAUSE_WORD) or a
# comma; one alone before a comma is still the sentence's ("Probably, it is 48.", "아마, 48이다": LONE_ADVERB).
# "likely" after "the most"/"a more"/"equally" is an adjective on a noun, no hedge (LIKELY_ADJECTIVE), as
# "likely"/"possibly" after a determiner or "of" ("the count of likely outcomes", "the possibly repeated cases") or
# before a hyphen ("possibly-equal"); "and"/"then" start another clause ("I probably forgot the carry and redoing it
# gives 48"). "The most likely sum is 48." states 48, as does "Either way it is 48." (a degree word hedges only the
# value right after it)
SENTENCE_ADVERB = rf"(?:{HEDGES['statement']})"
LIKELY_ADJECTIVE = re.compile(r"(?i:(?<![A-Za-z])(?:(?:(?:the|an?)[ \t]+(?:most|more|less|least)|equally)[ \t]+likely"
                              r"(?![A-Za-z])|(?:the|an?|of|all|both|any|some|these|those|its|their)[ \t]+"
                              r"(?:likely|possibly)[ \t]+(?=[a-z])|(?:likely|possibly)-))")
CLAUSE_WORD = (r"(?i:(?<![A-Za-z])(?:because|since|which|who|whom|whose|where|whereas|while|although|though|but|so"
               r"|thus|hence|therefore|and|then)(?![A-Za-z'’])|지만)")  # Korean "but": the doubt is the clause's
ADVERB_HEDGE = re.compile(rf"{SENTENCE_ADVERB}(?:(?!{CLAUSE_WORD})[^,;:])*$")
LONE_ADVERB = re.compile(rf"(?:^|[,;:])[ \t]*(?i:(?:so|well|then|now|and|but|oh|hmm)[ \t]+)?"
                         rf"(?i:most[ \t]+)?{SENTENCE_ADVERB}[ \t]*,[ \t]*$")
# After a retraction, a word answer (the caller's gold has no digit) is read from a last sentence that is a copula and
# the value, a negated alternative allowed ("It's Tokyo.", "The capital of Japan is Tokyo.", "So it is Tokyo, not
# Kyoto.", "수도는 도쿄입니다.", "서울이 아니라 도쿄입니다."); any other last sentence ("It's Tokyo, I think.") is
# compared whole, as before
WORD_AFTER_COPULA = re.compile(
    r"(?i:(?:(?:so|then|thus|hence|therefore|actually|no|oh|hmm|ok|okay|well)[ \t]*,?[ \t]+)*"
    r"(?:it|that|this|the[ \t]+[a-z]+(?:[ \t]+[a-z]+){0,3})(?:['’]s|[ \t]+(?:is|was|should[ \t]+be|must[ \t]+be)))"
    r"[ \t]+[*$]*(?P<value>[^\s.!?,;:*$][^.!?,;:*$\n]{0,60}?)[*$]*"
    r"(?:[ \t]*,?[ \t]*(?i:not|rather[ \t]+than|instead[ \t]+of)[ \t]+[^.!?,;\n]{1,60})?[ \t]*[.!]?"
    r"|(?:[^\s.!?]{1,20}(?:은|는)[ \t]+)?(?:[^\s.!?]{1,20}?" + NOT_BUT + r")?"  # "서울이 아니라 도쿄입니다"
    r"(?P<korean>[^\s.!?]{1,30}?)(?:입니다|이다)[.!]?")
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
    return end, as_written(text[at:end])


def as_written(answer: str) -> str:
    """An answer without its math delimiters (`$`, `\\(`), markdown emphasis (`**42**`) and a check mark after it
    (`42 ✓`)."""
    return MATH_DELIMITER.sub("", answer).strip().rstrip("✓✔✅ \t").strip().strip("*").strip()


def without_sign_off(text: str) -> str:
    """`text` without the closing pleasantries (SIGN_OFF) that end it, each a line or a last sentence of its own:
    "It's Tokyo.\n\nThank you" is "It's Tokyo."; a reply that is nothing else is empty. Only its last lines are
    read, so a long reply is not scanned again."""
    for _ in range(4):  # a pleasantry or two ("Thanks!\nHope this helps."); more is no sign-off
        text = text.rstrip()
        line = text[max(text.rfind("\n") + 1, len(text) - SIGN_OFF_LIMIT - 1):]  # a longer line is none
        last = re.split(r"(?<=[.!?])[ \t]+", line)[-1]
        if len(last) > SIGN_OFF_LIMIT or not SIGN_OFF.fullmatch(last):
            break
        before = text[:len(text) - len(last)]
        # a phrase that is the whole reply, or stands after a label ("Answer:\nThank you", "Translation:\n\nGood
        # luck"), is the answer: a task's gold may be a pleasantry
        if not before.strip() or LABEL_ENDS.search(before):
            break
        text = before
    return text


def _answer_line(line: str) -> bool:
    """Whether a line states an answer by itself ("43", "**Tokyo**", "$x^2$", "(B)"), rather than following one; a
    value alone, with a full stop or as `x = 42` ("... With the carry we get\n\n42."), is one too."""
    core = line.strip("*$ \t")
    if BARE_VALUE.fullmatch(core.removesuffix(".").rstrip("*$ \t")):
        return True
    return (0 < len(core) <= BARE_LINE_LIMIT and not core.endswith((".", "!", "?", ":"))
            and not END_MARK.fullmatch(line) and not FOLLOWS_AN_ANSWER.match(core) and len(core.split()) < 4)


def _restated_after(text: str, at: int) -> bool:
    """Whether the last line after the one holding text[at] states an answer by itself (_answer_line): "The answer
    is 42. Hmm, actually it is 43.\n43" ends on 43, which the last-line rule reads. A rule (`---`) or an end mark is
    no such line, nor the code a closing fence ends."""
    line_end = text.find("\n", at)
    later = [line.strip() for line in text[line_end:].splitlines() if line.strip()] if line_end >= 0 else []
    while later and not later[-1].startswith(FENCE) and not re.search(r"[^\W_]", later[-1]):
        later.pop()
    return bool(later) and not later[-1].startswith(FENCE) and _answer_line(later[-1])


def _starts(text: str, start: int) -> tuple[int, int]:
    """Where the sentence and the clause holding text[start] start (after `.`, `!`, `?` or a line's end; after `,`,
    `;` or `:`), looked for in the 300 characters before it only, so a long run of words is not read again for
    each value."""
    window = max(0, start - 300)
    sentence_start = max(max(text.rfind(c, window, start) for c in ".!?\n") + 1, window)
    return sentence_start, max(sentence_start, max(text.rfind(c, sentence_start, start) for c in ",;:") + 1)


def _hedged_statement(text: str, start: int) -> int | None:
    """Where the sentence holding text[start] starts when what it states from there on is hedged before it: a
    statement hedge (HEDGES) in the clause before (ADVERB_HEDGE) or alone before a comma (LONE_ADVERB), or a Korean
    concession (CONCESSION) in the sentence before; None where it is not."""
    sentence_start, clause_start = _starts(text, start)
    before = LIKELY_ADJECTIVE.sub("", text[clause_start:start])
    lead = LIKELY_ADJECTIVE.sub("", text[sentence_start:clause_start])  # the clauses before the value's
    if (ADVERB_HEDGE.search(before) or (LONE_ADVERB.search(lead) and not re.search(CLAUSE_WORD, before))
            or CONCESSION.search(text, sentence_start, start)):
        return sentence_start
    return None


def _hedged(text: str, start: int, end: int) -> str | None:
    """The sentence of `text` holding the value text[start:end] when it hedges the value (HEDGES: a statement hedge
    or concession before it, _hedged_statement; a hedge right before it, HEDGED_BEFORE, or right after it,
    ESTIMATE_AFTER; a doubt after it, DOUBT_AFTER, KOREAN_HEDGED_AFTER); None where it does not."""
    sentence_start, clause_start = _starts(text, start)
    sentence = text[sentence_start:start] + SENTENCE.match(text, start).group(0)
    after = sentence[end - sentence_start:]
    if (_hedged_statement(text, start) is not None or HEDGED_BEFORE.search(text, clause_start, start)
            or ESTIMATE_AFTER.match(text, end) or KOREAN_HEDGED_AFTER.search(after)
            or DOUBT_AFTER.search(sentence, start - sentence_start + max(0, end - start - 1))):
        return sentence.strip()
    return None


def _after_retraction(text: str, at: int, why: str, words: bool) -> tuple[str | None, str | None]:
    """What a reply states after retracting its labelled answer, as unboxed_answer.py reads it: the number or math
    span ending the last line when that is a sentence ("So it's 43.", "다시 계산하면 48이다."), else the last number
    or span of what follows ("It should be 48 instead."), the value named before a negated one ("It is 48, not
    42.": named_over_negated), else that last line; (None, "retracted: ...") when nothing follows, (None, "hedged:
    ...") when the value is hedged (_hedged). `words` (the caller's gold is a word): a last sentence that is a
    copula and the value (WORD_AFTER_COPULA) states that value."""
    rest = text[RETRACTION_LEFTOVER.match(text, at).end():]
    lines = [line.strip() for line in rest.splitlines() if re.search(r"[^\W_]", line)]
    if not lines:
        return None, f"retracted: {why[:80]}"
    last = re.sub(r"^[\s.,;:!?—–-]+", "", lines[-1])
    sentence = re.split(r"(?<=[.!?])\s+", last)[-1].strip()
    if words and len(sentence) <= TAIL:  # a short sentence, read whole: never a fragment of a long one
        copula = WORD_AFTER_COPULA.fullmatch(sentence)
        if copula is not None:
            group = "value" if copula.group("value") else "korean"
            value = as_written(copula.group(group))
            if re.match(HEDGE_WORD, value) or _hedged(sentence, *copula.span(group)):  # "It's probably Tokyo."
                return None, f"hedged: {sentence[:80]}"
            return value, None
    cut = max(0, len(last) - TAIL)
    token, source = LAST_TOKEN_ENDING.search(last, cut), last
    if token is None or token.start() in (0, cut):  # a whole line, or a number the tail cut: read as the eval does
        token, source = last_token(rest), rest
    if token is None:
        return last, None
    start, end = named_over_negated(source, token.start()) or token.span()
    hedge = _hedged(source, start, end)
    if hedge is not None:
        return None, f"hedged: {hedge[:80]}"
    if source[start:end] != last:
        return MATH_DELIMITER.sub("", source[start:end]).strip(), None
    return last, None


def stated_answer(text: str, accepts: Callable[[str], bool] | None = None,
                  words: bool = False) -> tuple[str | None, str | None] | None:
    """What the last answer label of `text` (a reply's answer part, no box in it) states: (the clause after it,
    None), its math delimiters (`$`, `\\(`), markdown emphasis, a Korean copula (`43이다` is 43) and lowercase words
    before a number ("therefore 43") taken off; (None, why it is no answer) when the label's words or clause hedge or
    negate it ("The answer is maybe 43", "정답은 43일 수도 있다"), its sentence doubts it ("Tokyo, probably.",
    "43?") or it lists several ("Tokyo, Kyoto"; a comma in brackets, "(1, 2)", lists nothing, nor an aside,
    "12, obviously."). `accepts` (the caller's gold, when it holds a comma) may take the whole sentence instead of a
    list: "Tokyo, Japan", "Washington, D.C.". When the reply retracts the label ("The answer is 42. Wait, that is
    wrong. So it's 43."), what follows the retraction (_after_retraction; `words`: the caller's gold is a word, read
    after a copula there: "It's Tokyo."). None where no label states an answer:
    there is none, it points elsewhere ("The answer is below.\n\n42"), the last line restates an answer by itself
    ("... actually it is 43.\n43"; an explanation, list or sign-off after the label does not: _answer_line) or it
    introduces what follows ("The answer is as follows:"): the caller then reads the reply by its own rule, its last
    line."""
    text = without_sign_off(as_seen(text))
    label = last_label(text)
    if label is None:
        return None
    at = LABEL_TO_ANSWER.match(text, label.end()).end()  # where the answer starts ("Final answer:\n\n**Tokyo**")
    if _restated_after(text, at):
        return None
    retraction = label_retraction(text, label)
    if retraction is not None:
        return _after_retraction(text, retraction.end(), retraction.group(0), words)
    end, stated = _clause(text, at)
    if not stated or text.startswith(":", end) or STATES_NOTHING.match(stated):
        return None
    hedged_from = _hedged_statement(text, label.start())  # "Maybe the answer is 48.", "I think the answer is 48."
    if hedged_from is not None:
        return None, f"hedged: {as_written(text[hedged_from:end])[:80]}"
    words = LABEL_WORDS.match(text, at)
    if (KOREAN_HEDGE_IN.search(text[at:end]) or NUMBER_ESTIMATE.search(text, at, end)
            or (words and QUALIFIER.search(words.group(0)))):
        return None, f"hedged: {stated[:80]}"
    if words and words.group(0).islower():  # "The answer is therefore 43": the number, as the evaluation reads it
        at = words.end()  # ("New York 2024" keeps its capitalised words)
        end, stated = _clause(text, at)
    sentence = SENTENCE.match(text, at).group(0)
    if DOUBT_AFTER.search(sentence) or sentence.rstrip().endswith("?"):
        return None, f"doubted: {sentence[:80]}"
    if accepts is not None and text.startswith(",", end):  # the sentence whole, and with its full stop ("D.C.")
        whole_end, whole = _clause(text, at, at_comma=False)
        for form in (whole, as_written(text[at:whole_end + 1])):
            if accepts(form):
                return form, None
    if LIST_AFTER.match(text, end) and not ASIDE_AFTER.match(text, end):
        return None, f"several answers: {sentence[:80]}"
    ending = KOREAN_ENDING.search(stated)
    if ending and not (ending.group(0) == "임" and re.search(r"[가-힣]$", stated[:ending.start()])):
        stated = stated[:ending.start()].rstrip() or stated
    return stated, None
