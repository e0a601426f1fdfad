"""The "exact" kind's grader: a user's short answers that are not integers ("Tokyo", "3/4", "1,000", "\\sqrt{2}").

The answer is read after the think block: the last \\boxed{}'s content if there is one, else what the last answer
label states ("The answer is 43.", "Final answer: Tokyo", "답은 43이다.": eval/stated_answer.py, the evaluation's
labels, hedges and retractions; a hedged, doubted or listed one is wrong, and so is one hedged after a retraction;
a last line stating an answer by itself wins, an explanation after the label does not), else the last non-empty
line without `$` or `**` (a closing pleasantry, "Thank you!" or "감사합니다.", is never that line nor the answer);
a choice read with its text ("(B) 12") is its letter for a one-letter task answer and its text for any other. It is
right when, in this order:
1. as text it equals the task's answer, both with `\\text{}`-like wrappers and `$` taken off and normalised
   (normalise_text: NFKC, case-folded, whitespace collapsed; punctuation counts, "Paris." is not "Paris");
2. both read as plain numbers (integers or decimals with optional digit-group commas, `a/b`, `\\frac{a}{b}`,
   `\\dfrac`, `\\tfrac`) and are equal as exact fractions: `1,000` is `1000`, `3/4` is `0.75` and `\\dfrac{3}{4}`,
   and 0.7500001 is not 3/4;
3. the task's answer reads as math (digits or LaTeX, operators, single-letter variables; no words) and
   math-verify, the evaluation's own fallback grader (axk1/eval/math_grader.py, in its worker process with its
   timeouts), finds the two equal: `\\frac{\\sqrt{2}}{2}` for `\\sqrt{2}/2`. Two refusals first: numbers side by
   side or with a word or relation between them (`70 2`, `70\\quad 2`, `70\\,\\text{or}\\,2`, `3 \\equiv 5`; the
   AIME grader's several_answers) are wrong, where math-verify added them up (72) or read one of them; and a
   plain number written for a task's answer that is not one (`1.414214` for `\\sqrt{2}`) is compared exactly
   with the answer's value, so it is right only when that value is rational (`0.25` for `2^{-2}`): a rounded
   decimal is never an irrational answer, as 0.7500001 is not 3/4.
An answer with a unit (`300 g`, `5 \\text{ cm}`, `12 km/h`: a number, then a unit of letters, `°`, `%`, powers and
`/`) is settled by its own rule first: the written answer must carry the same unit (after `\\text{}`-like wrappers,
spacing commands and spaces are taken off: `300\\,\\text{g}`, `300g` and `300 \\mathrm{g}` all read `300` and `g`)
and a number that steps 1-3 find equal. A wrong unit (`300 kg`) or none (`300`) is wrong: math-verify, which drops
units, took any. A single letter after a number is a unit only where it is set apart (`300 g`, `300\\,\\text{g}`) and
is a common unit symbol; `3x` stays math. Units are compared case-sensitively (`5 M` is not `5 m`); LaTeX's degree
(`^\\circ`, `^{\\circ}`, `\\degree`) after a number reads `°`. A Hangul word after a number is a counter (`5개`),
which may be left out but not changed, unless it is a measurement unit (_HANGUL_MEASURES), which is a unit. A
unit's common spellings are one unit (_UNIT_ALIASES: `300 grams`, `300그램` and `300 g` alike).
Steps 1 and 2 are pure functions; step 3 runs only for a math-shaped answer they did not settle, and only for an
answer of at most MAX_VERIFIED characters (math-verify can hang on huge powers; its worker is killed after a
timeout and the answer is then wrong), so a reward stays bounded in time.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction

from axk1.eval.integer_answer import WRAPPER, several_answers
from axk1.eval.math_grader import last_boxed
from axk1.eval.math_verify_client import math_verify_worker
from axk1.eval.stated_answer import as_written, stated_answer, without_sign_off
from axk1.text.reasoning import split_reasoning

MAX_VERIFIED = 200  # characters of an answer (and of the task's) that math-verify is asked about
_WRAPPED = re.compile(WRAPPER.pattern + r"([^{}]*)\}")  # `\text{Tokyo}`, `\mathbf{3}`: the eval grader's wrappers
_NUMBER = re.compile(r"([+-]?)(?:\\[dt]?frac\{(\d+(?:\.\d+)?)\}\{(\d+(?:\.\d+)?)\}|\\[dt]?frac(\d)(\d)"
                     r"|(\d+(?:\.\d*)?|\.\d+)(?:/(\d+(?:\.\d+)?))?)")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_ONE_LETTER = re.compile(r"[A-Za-z]")
_CHOICE = re.compile(r"\([ \t]*([A-Za-z])[ \t]*\)")
# A choice with its text ("(B) 12", "B) 12"): the letter for a one-letter gold, else the text
_CHOICE_WITH_TEXT = re.compile(r"\(?[ \t]*([A-Za-z])[ \t]*\)[ \t]*(\S.*)")
# A gold that is a word or short phrase ("Tokyo", "New York"): no digit or math, at most four words
_WORD_GOLD = re.compile(r"[^\W\d_][^\d$\\=+*/^_{}]{0,60}")
_MATH_CHARS = re.compile(r"[0-9A-Za-z+\-*/^().{}\[\]=<>|!_' ]*")


# A unit: atoms of letters (or °, %, µ) with an optional power, joined by `/`, `·`, `*` or a space (`km/h`, `m/s^2`,
# `N·m`); the number before it must end in a digit or a closing brace (`\frac{1}{2} m`).
_UNIT_ATOM = r"(?:[^\W\d_]+|°[CF]?|%)(?:\^\{?-?\d+\}?)?"
_QUANTITY = re.compile(rf"(?P<num>.*?[\d}}])(?P<gap>\s*)"
                       rf"(?P<unit>{_UNIT_ATOM}(?:\s*[/·*]\s*{_UNIT_ATOM}|\s+{_UNIT_ATOM})*)")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad\b|~")
# single letters that are unit symbols when set apart from the number: grams, metres, seconds, hours, litres, kelvin,
# newtons, joules, watts, volts, amperes, coulombs, farads, teslas (a variable `x` or `n` never is)
_LETTER_UNITS = set("gmshlLKNJWVACFT")
# LaTeX's degree sign after a number (`90^\\circ`, `90^{\\circ}`, `90\\degree`, `90\\circ`) is the `°` a model or a
# task writes as often: both read `°`, so each form is right for the other
_DEGREE = re.compile(r"(?<=[\d}])\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\degree|\\circ)(?![A-Za-z])")
# A Hangul word after a number is a counter (`5개`, `3명`: the Korean way to write any count), not a unit, unless it
# is one of these measurement units (or a square or cube of one): a counter may be left out, a measurement may not
_HANGUL_WORD = re.compile(r"[\uac00-\ud7a3]+")
_HANGUL_MEASURES = {"미터", "센티미터", "밀리미터", "킬로미터", "그램", "킬로그램", "밀리그램", "톤", "리터", "밀리리터",
                    "초", "분", "시간", "도", "원", "달러", "퍼센트", "헥타르"}


# One unit, several spellings: a written unit is read as its symbol before the two are compared, so `300 grams` and
# `300그램` are right for "300 g" (and the reverse); the number is still compared as before, so no alias makes a
# wrong number right. Kept small on purpose: the common units of word problems. Each atom of a compound unit is read
# alone (`kilometers/hour` is `km/h`); a phrase (`kilometers per hour`, `square meters`) is not. The spellings are
# words and match whatever their case (`Grams`, `HRS`), and so does a symbol that is a word (`min`: `5 MIN` was
# wrong for "5 min" while `5 MINUTES` was right); the letter symbols stay case-sensitive (`5 M`, mega, is not `5 m`).
_UNIT_ALIASES = {
    "g": ("gram", "grams", "gramme", "grammes", "그램"),
    "kg": ("kilogram", "kilograms", "kilogramme", "kilogrammes", "킬로그램"),
    "m": ("meter", "meters", "metre", "metres", "미터"),
    "cm": ("centimeter", "centimeters", "centimetre", "centimetres", "센티미터"),
    "km": ("kilometer", "kilometers", "kilometre", "kilometres", "킬로미터"),
    "s": ("sec", "secs", "second", "seconds", "초"),
    "min": ("mins", "minute", "minutes", "분"),
    "h": ("hr", "hrs", "hour", "hours", "시간"),
    "%": ("percent", "퍼센트"),
    "°": ("deg", "degree", "degrees", "도"),
    "원": ("won",),
}
# casefolded word -> symbol: every spelling, and the symbols of three letters or more (a word, as `min`)
_SYMBOL_OF_WORD = {spelling.casefold(): symbol for symbol, spellings in _UNIT_ALIASES.items()
                   for spelling in spellings + ((symbol,) if len(symbol) > 2 else ())}


def unit_symbol(unit: str) -> str:
    """split_unit's unit with each atom read as its symbol where _UNIT_ALIASES has it (`kilometers/hour` -> `km/h`,
    `그램` -> `g`); any other atom as written."""
    def symbol(atom: re.Match) -> str:
        text = atom.group(0)
        return _SYMBOL_OF_WORD.get(text.casefold(), text) if text not in _UNIT_ALIASES else text

    return re.sub(r"[^/·^]+", symbol, unit)


def is_counter(unit: str) -> bool:
    """Whether split_unit's unit is a Korean counter (`개`, `명`, `마리`) rather than a measurement (`미터`, `제곱미터`)."""
    return (_HANGUL_WORD.fullmatch(unit) is not None
            and re.sub(r"^세?제곱", "", unit) not in _HANGUL_MEASURES)


def split_unit(text: str, set_apart_only: bool = False) -> tuple[str, str] | None:
    """(number, unit) of an answer with a unit, the unit canonical (no spaces, `·` for a product, `^{2}` as `^2`);
    None where there is none. `set_apart_only` (the task's answer): a single letter counts only when spaced or
    wrapped off the number and one of _LETTER_UNITS, so `3x` is not 3 of unit x."""
    if len(text) > MAX_VERIFIED:  # a short answer's form; the lazy match below is quadratic in the length
        return None
    s = unicodedata.normalize("NFKC", text).strip().strip("$").replace("\\%", "%")
    s = _SPACING.sub(" ", s)
    s = re.sub(r"°\s+([CF])\b", r"°\1", _DEGREE.sub("°", s))  # `90^\circ C` is `90°C`
    wrapped = s
    for _ in range(8):  # `\text{ cm}`, `\mathrm{g}`: the wrapper off, its content kept
        s, n = _WRAPPED.subn(r" \1 ", s)
        if not n:
            break
    m = _QUANTITY.fullmatch(re.sub(r"\s*\^\s*", "^", " ".join(s.split())))  # `\mathrm{s}^2` unwrapped: `s ^2`
    if m is None or re.search(r"[A-Za-z]", _COMMAND.sub("", m["num"])):  # the number part is no number (`x+1 m`)
        return None
    unit = re.sub(r"\s*[·*]\s*|\s+", "·", re.sub(r"\s*/\s*", "/", m["unit"]))
    unit = re.sub(r"\^\{(-?\d+)\}", r"^\1", unit)
    if set_apart_only and re.fullmatch(r"[A-Za-z]", unit):
        apart = m["gap"] or wrapped != s  # `300 g`, `300\,\text{g}`; not `3x`
        if not (apart and unit in _LETTER_UNITS):
            return None
    return m["num"].strip(), unit


def normalise_text(text: str) -> str:
    """How an exact answer is compared as text: Unicode NFKC (fullwidth ｔｏｋｙｏ is tokyo), case-folded, whitespace
    trimmed and every inner run of whitespace one space. Nothing else: punctuation counts."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _plain(text: str) -> str:
    """The text without math delimiters and `\\text{}`-like wrappers (nested ones too), normalised."""
    s = text.strip().strip("$")
    for _ in range(8):  # a wrapper a level; real answers nest one or two
        s, n = _WRAPPED.subn(r"\1", s)
        if not n:
            break
    return normalise_text(s)


def read_answer(text: str, thinking: bool, gold: str | None = None) -> tuple[str | None, str | None]:
    """(the answer as written, None), or (None, why the labelled one is refused): after the think block, the last
    \\boxed{}'s content; else what the last answer label states (stated_answer, the
    evaluation's reading of "The answer is 43." and "답은 43이다.", hedges and retractions alike); else the last
    non-empty line, its math delimiters and markdown emphasis taken off. (None, None) where there is none. A
    bracketed letter, "(B)", is that letter when the gold is one letter; a choice with its text ("(B) 12", "B) 12")
    is its letter for such a gold and its text for any other ("12"), unless the gold is written as a choice; a
    closing pleasantry ("Thank you!") is no last line (without_sign_off). A gold
    that is a word or short phrase has a word read after a retraction's copula ("It's Tokyo.": stated_answer). A `gold` holding a comma ("Tokyo, Japan",
    "Washington, D.C.") may match the labelled sentence whole, which otherwise reads as a list."""
    part = split_reasoning(text, thinking).answer or ""
    boxed = last_boxed(part)
    if boxed is not None:
        return boxed, None
    accepts = (lambda form: exact_match(form, gold)) if gold is not None and "," in gold else None
    words = gold is not None and _WORD_GOLD.fullmatch(gold.strip()) is not None and len(gold.split()) <= 4
    stated = stated_answer(part, accepts, words)
    if stated is None:  # the last line, as a label's clause is read: "**42**" and "$42$" state 42; not a sign-off
        lines = [line for line in without_sign_off(part).splitlines() if line.strip()]
        stated = (as_written(lines[-1]) or None) if lines else None, None
    raw, refused = stated
    if raw is None or gold is None:
        return raw, refused
    letter = _ONE_LETTER.fullmatch(gold.strip()) is not None
    if letter and _CHOICE.fullmatch(raw):
        return _CHOICE.fullmatch(raw).group(1), refused  # "(B)" for the gold "B": a choice's letter, not its brackets
    choice = _CHOICE_WITH_TEXT.fullmatch(raw)
    if choice is not None and not _CHOICE_WITH_TEXT.fullmatch(gold.strip()):  # "(B) 12": B for "B", 12 for "12"
        return choice.group(1 if letter else 2).strip(), refused
    return raw, refused


def as_number(text: str) -> Fraction | None:
    """A plain number's exact value (normalised text: `1,000`, `-0.75`, `3/4`, `\\dfrac{3}{4}`, `\\tfrac34`); None
    for anything else, a list of numbers (`1,2`, `7 2`) included."""
    s = re.sub(r"\s*/\s*", "/", text.replace("{,}", ",").replace("\\,", ""))
    s = re.sub(r"(?<=\d),(?=\d{3}(?![\d]))", "", s)  # digit groups: 1,000,000
    if len(s) > 100:
        return None
    m = _NUMBER.fullmatch(s)
    if m is None:
        return None
    sign, num, den, num1, den1, whole, over = m.groups()
    try:
        value = (Fraction(num) / Fraction(den) if num else Fraction(int(num1), int(den1)) if num1
                 else Fraction(whole) / Fraction(over or "1"))
    except ZeroDivisionError:
        return None
    return -value if sign == "-" else value


def reads_as_math(text: str) -> bool:
    """Digits or LaTeX commands with operators and single-letter variables, no word ("Paris 2024" is text)."""
    rest = _COMMAND.sub(" ", text)
    words = re.search(r"[A-Za-z]{2,}", rest)
    has_math = re.search(r"\d", rest) or _COMMAND.search(text)
    return bool(has_math) and not words and _MATH_CHARS.fullmatch(rest) is not None


def exact_match(raw: str, gold: str) -> bool:
    """Whether the answer `raw` (as written) is the task's `gold` (module docstring: text, number, math-verify)."""
    found, want = _plain(raw), _plain(gold)
    gold_quantity = split_unit(gold, set_apart_only=True)
    if gold_quantity is not None:  # a unit must be the same, case and all (`5 M` is not `5 m`), the number equal
        written = split_unit(raw)
        if written is None and is_counter(gold_quantity[1]):
            return exact_match(raw, gold_quantity[0])  # `5` for "5개": a counter may be left out, not changed
        return (written is not None and unit_symbol(written[1]) == unit_symbol(gold_quantity[1])
                and exact_match(written[0], gold_quantity[0]))
    if found == want:
        return True
    a, b = as_number(found), as_number(want)
    if a is not None and b is not None:
        return a == b  # two plain numbers are settled here, exactly: no float rounding, no worker
    gold_math = gold.strip().strip("$")
    if not (reads_as_math(gold_math) and len(raw) <= MAX_VERIFIED and len(gold_math) <= MAX_VERIFIED):
        return False
    if several_answers(raw):
        return False  # `70 2`, `70\,\text{or}\,2`: math-verify added them up to 72
    if a is not None:  # a plain number against a symbolic answer: exactly its value, never a rounding of it
        return a == math_verify_worker().rational(gold_math)
    return bool(math_verify_worker().grade(f"\\boxed{{{raw}}}", f"${gold_math}$").get("correct"))


def exact_correct(text: str, gold: str, finish_reason: str, thinking: bool) -> tuple[bool, str]:
    if finish_reason == "length":
        return False, "truncated"
    raw, refused = read_answer(text, thinking, str(gold))
    if refused is not None:
        return False, "wrong"  # an answer was stated, but hedged, doubted or one of several
    if raw is None or not _plain(raw):
        return False, "no_answer"
    return (True, "correct") if exact_match(raw, str(gold)) else (False, "wrong")
