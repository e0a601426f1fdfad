"""Footnote marks: the small raised digits after a word (`상황²을`, `한다.⁵`) and before a footnote's text.

PDFium gives them as plain digits, so a mark read into the word beside it (`WYG4과는`, `코드가1 데비안`) and a
footnote's own number into its first word (`5소문에 의하면`, lshort-ko.pdf). A mark is one or two digits (and a
closing parenthesis: `1)`) set smaller than the line (under 0.85 of its size: an NCCN guideline sets its marks at
0.8 to 0.82) and raised (its bottom a fifth of an
em above the character beside it). In the text a mark is left out and counted (`footnote_marks`), as the
hand-checked references do; at the start of a line it is the footnote's number and stays, set apart by a space.
Marks set one after another (`준다.²⁴ ²⁵ ²⁶ ²⁷`: PDFium puts a space between them) are all left out: after a mark
just left out, with at most a space between, a small digit group raised as high above that word is the next one
(only the first went, and `준다. 25 26 27 세로쓰기에서` stayed, luatexko-doc.pdf). A raised digit after a single
letter or before a math sign (`b² − 4ac`) or a fraction slash (`¹／₂`) is kept:
an exponent, not a mark. A footnote numbered with a lowercase letter (a table's notes: `ᵈMinimally invasive`, an
NCCN guideline) is told at a line's start by the same evidence, smaller and raised against its text, and set
apart alike (`d Minimally`, as pdftotext gives it); within a line a raised letter is left as it is. Where the
text matrix sets the size (Tf 1: PDFium says 1 for every character), a character's size is the matrix's scale.
A footnote's number set at its text's size on its baseline (LibreOffice) is told by the page instead
(`space_footnote_numbers`).
"""

from __future__ import annotations

import re
from typing import Callable

from axk1.text.korean import is_hangul

_MARK_RE = re.compile(r"\d{1,2}\)?")
_LEADING_NUMBER_RE = re.compile(r"(\d{1,2})(\s?)(?=[^\W\d_])")
_MATH_AFTER = set("／/⁄−-+=×·^") | {"\u2212"}
LETTER_MARKS = set("abcdefghijklmnopqrstuvwxyz")
Probe = Callable[[int], tuple[float, float, float]]  # offset in the line -> (font size, bottom of its box, baseline)


def _word_end(body: str, i: int) -> int | None:
    """Where the word before the mark ends (its last letter), past the word's closing punctuation (`다.²`,
    `“Ach”³`); None when there is no word (two letters or more, or a syllable): a mark follows a word."""
    j = i
    while j > 0 and body[j - 1] in ".,;:!?”’\")]":
        j -= 1
    k = j
    while k > 0 and body[k - 1].isalpha():
        k -= 1
    letters = body[k:j]
    return j - 1 if letters and (len(letters) >= 2 or not letters.isascii()) else None


def strip_marks(body: str, size: float, probe: Probe) -> tuple[str, int]:
    """`body` without its footnote marks (a leading one kept as the footnote's number, then a space), and how
    many were left out. `probe` gives a character's font size, box bottom and baseline; only digits, and a
    lowercase letter that starts the line, are probed."""
    out: list[str] = []
    pos = dropped = 0
    if body[:1] in LETTER_MARKS and _numbers_its_text(body, 1, probe, baseline=True):
        out.append(body[0] + " ")
        pos = 1
    if not any(ch.isdigit() for ch in body):
        return "".join(out) + body[pos:], 0
    last = None  # (where the mark just left out ends, the bottom of the word it follows)
    for m in _MARK_RE.finditer(body):
        i, j = m.start(), m.end()
        if (i and body[i - 1].isdigit()) or (j < len(body) and body[j].isdigit()):
            continue  # part of a longer number
        if i == 0:
            if _numbers_its_text(body, j, probe):
                out.append(body[pos:j] + " ")
                pos = j
            continue
        mark_size, mark_bottom, _ = probe(i)
        if not mark_size:
            continue
        after = body[j:j + 2].strip()[:1]
        if mark_size >= 0.85 * size or after in _MATH_AFTER:
            continue
        if last and body[last[0]:i] in ("", " ") and last[1] + 0.2 * size < mark_bottom:
            pos, last = j, (j, last[1])  # the next mark of the same word (`다.²⁴ ²⁵ ²⁶`), the space between too
            dropped += 1
            continue
        end = _word_end(body, i)
        if end is None:
            continue
        word_bottom = probe(end)[1]
        if word_bottom + 0.2 * size >= mark_bottom:
            continue  # not raised above the word's last letter: a subscript, or a digit set small on the line
        out.append(body[pos:i])
        pos, last = j, (j, word_bottom)
        dropped += 1
    out.append(body[pos:])
    return "".join(out), dropped


def _numbers_its_text(body: str, j: int, probe: Probe, baseline: bool = False) -> bool:
    """Whether body[:j], at a line's start, is the footnote's own number or letter glued to its text: smaller
    than the text after it (under 0.85 of its size: the NCCN guideline sets its letters at 0.8 exactly) and
    raised against it by a fifth of an em: a digit's box bottom against the text's, a letter's baseline (the
    box of a g, p or q hangs below it)."""
    if j >= len(body) or body[j] == " ":
        return False
    (mark_size, *mark), (next_size, *after) = probe(0), probe(j)
    k = 1 if baseline else 0
    return bool(mark_size) and mark_size < 0.85 * next_size and mark[k] > after[k] + 0.2 * next_size


def mark_lines(lines: list) -> list:  # pdf_lines.Line (which imports this module)
    """The lines that are a footnote mark PDFium read as a line of its own: one or two digits, smaller than a line
    of prose (two words or more, or Korean; ending in a letter or a full stop, comma or closing quote) they end
    (starting within half an em of where it ends), raised above its bottom by a fifth of an em.
    LibreOffice's mark after a paragraph's last word came out so, and stayed in the text as a line `1` between
    two paragraphs; left out (counted as footnote marks), the page's footnotes get their numbers apart. Not
    after a formula (`k² =`, a fraction's `π` over `6`: lshort-ko.pdf), whose exponents and numerators stay."""
    found = []
    for ln in lines:
        if not _MARK_RE.fullmatch(ln.text):
            continue
        if any(o is not ln and ln.size < 0.85 * o.size and abs(ln.x0 - o.x1) < 0.5 * o.size
               and o.y0 + 0.2 * o.size < ln.y0 < o.y1 and _prose_end(o.text) for o in lines):
            found.append(ln)
    return found


def _prose_end(text: str) -> bool:
    words = text.split()
    if not words or len(words[-1]) < 2 or not (text[-1].isalpha() or text[-1] in ".,”’\"'"):
        return False
    return len(words) >= 2 or any(is_hangul(ch) for ch in text)  # a paragraph's last line may be one word


def space_footnote_numbers(pages: list) -> None:  # pdf_lines.PageLines (which imports this module)
    """A footnote's number set as large as its text and on its baseline (LibreOffice's footnote area) is glued to
    its first word in PDFium's text (`1훈민정음 해례본은`), with nothing in its size or place to tell it from a
    number glued to a counter (`3개월`). Told here by where the line is and what it says: on a page whose text
    had footnote marks left out, below every line of the body's size, in smaller type, and starting with the
    next footnote number of the document (or 1, where numbering starts again). A page with no mark is looked at
    too while the document has more marks than footnotes found (LibreOffice carries a footnote that does not fit
    over to the next page), for the next number only. Such a number gets its space, and
    its line (spaced already or not) is marked as a footnote's start (`Line.footnote`), a paragraph of its own."""
    expected, marked, text_size = 1, 0, 0.0  # the next footnote's number; marks left out so far; the body's size
    for page in pages:
        body = [ln for ln in page.lines if ln.role == "body" and not ln.vertical]
        marked += page.footnote_marks
        # a page without marks may still hold a footnote whose mark was on a page before, one LibreOffice carried
        # over for want of room (the page may hold nothing else): only the next number then, while marks are
        # pending, and against the size of the text on the page of the marks
        carried = not page.footnote_marks and expected <= marked and text_size > 0
        if not (page.footnote_marks or carried) or not body:
            continue
        if carried:
            size = text_size
        else:
            sizes: dict[float, int] = {}
            for ln in body:
                sizes[round(ln.size, 1)] = sizes.get(round(ln.size, 1), 0) + len(ln.text)
            size = text_size = max(sizes, key=sizes.get)
        floor = min((ln.y0 for ln in body if ln.size >= 0.92 * size), default=page.height)
        for ln in sorted(body, key=lambda ln: -ln.y1):
            m = _LEADING_NUMBER_RE.match(ln.text)
            if ln.y1 > floor or ln.size >= 0.92 * size or m is None \
                    or int(m.group(1)) not in ((expected,) if carried else (expected, 1)):
                continue
            expected = int(m.group(1)) + 1
            ln.footnote = True  # a paragraph of its own: joined to the footnote above, `… 있다. 2 훈민정음 …`
            if not m.group(2):
                ln.text = f"{m.group(1)} {ln.text[m.end(1):]}"
