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
(`space_footnote_numbers`). A mark PDFium starts the next line with (`2 그 성과물로`) goes when its footnote is on
the page (`drop_spaced_marks`); the rest of a footnote split over the page end is found on the next page
(`mark_continued_note`).
"""

from __future__ import annotations

import re
from typing import Callable

from axk1.data.pdf_size import body_size
from axk1.text.korean import is_hangul

_MARK_RE = re.compile(r"\d{1,2}\)?")
_SPACED_MARK_RE = re.compile(r"(\d{1,2}) (?=\S)")
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
    run = len(body) - len(body.lstrip("0123456789"))
    for j in (2, 1):  # a footnote's number glued to text that starts with a digit: `2` + `18페이지에` read `218페이지에`
        if j < run <= 4 and _numbers_its_text(body, j, probe) and (j == 1 or _smaller_and_raised(probe(1), probe(j))):
            out.append(body[pos:j] + " ")
            pos = j
            break
    last = None  # (where the mark just left out ends, the bottom of the word it follows)
    for m in _MARK_RE.finditer(body):
        i, j = m.start(), m.end()
        if (i and body[i - 1].isdigit()) or (j < len(body) and body[j].isdigit()):
            continue  # part of a longer number
        if i < pos:
            continue  # the number glued to the line's first digits, set apart above
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
    return _smaller_and_raised(probe(0), probe(j), baseline)


def _smaller_and_raised(mark: tuple[float, float, float], text: tuple[float, float, float],
                        baseline: bool = False) -> bool:
    """Whether a character probed `mark` is set smaller than one probed `text` (under 0.85 of its size) and
    raised against it by a fifth of its em: box bottoms compared, or baselines (`baseline`)."""
    (mark_size, *low), (text_size, *text_low) = mark, text
    k = 1 if baseline else 0
    return bool(mark_size) and mark_size < 0.85 * text_size and low[k] > text_low[k] + 0.2 * text_size


def spaced_mark(read: str, probe: Probe) -> int | None:
    """The number at the start of a line as PDFium read it (`read`) when a space follows it and it is set smaller
    than the text after that space and raised against it: a footnote's own number (`2 http://...`), or a mark
    PDFium read into the next line (`블을 작성하였다.` / `2 그 성과물로 ...`, kotex-utf-doc.pdf p.55, where the
    mark ends the line before on its baseline); `drop_spaced_marks` tells them apart by the page's footnotes."""
    m = _SPACED_MARK_RE.match(read)
    return int(m.group(1)) if m and _smaller_and_raised(probe(0), probe(m.end())) else None


def drop_spaced_marks(lines: list, found: list) -> int:  # pdf_lines.Line (which imports this module)
    """Leaves out the marks `spaced_mark` found, (line, number, bottom, top of its text), that end a word on a
    line of the same baseline ending where the mark starts, when the page has that footnote below in smaller type
    (a line starting with the number): a line's leading `2` is then the mark, not a list item's number, a year or
    an exponent (`a` / `2 + b`: after one letter or before a math sign, lshort-ko.pdf). The line, its text's
    bottom and top, is joined to the one the mark ended, one line as on the page. Returns how many marks went."""
    dropped = 0
    for ln, number, y0, y1 in found:
        prefix = f"{number} "
        if not ln.text.startswith(prefix) or ln.text[len(prefix):len(prefix) + 1] in _MATH_AFTER:
            continue
        before = next((o for o in lines if o is not ln and not o.soft_hyphen and abs(o.y0 - y0) < 0.25 * ln.size
                       and 0 <= ln.x0 - o.x1 < ln.size), None)
        if before is None or _word_end(before.text, len(before.text)) is None or not any(
                o is not ln and o.y1 <= ln.y0 and o.size < 0.92 * ln.size and o.text.startswith(prefix) for o in lines):
            continue
        before.text, before.x1, before.note = f"{before.text} {ln.text[len(prefix):]}", ln.x1, ln.note
        before.y0, before.y1, before.gaps = min(before.y0, y0), max(before.y1, y1), before.gaps + ln.gaps
        lines[:] = [o for o in lines if o is not ln]
        dropped += 1
    return dropped


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
    bodies = []
    for page in pages:
        body = [ln for ln in page.lines if ln.role == "body" and not ln.vertical]
        bodies.append(body)
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
            size = text_size = body_size(body)
        floor = min((ln.y0 for ln in body if ln.size >= 0.92 * size), default=page.height)
        for ln in sorted(body, key=lambda ln: -ln.y1):
            m = _LEADING_NUMBER_RE.match(ln.text)
            if ln.y1 > floor or ln.size >= 0.92 * size or m is None \
                    or int(m.group(1)) not in ((expected,) if carried else (expected, 1)):
                continue
            if int(m.group(1)) == 1 < expected:
                # numbering starts again (a new chapter): the marks before it were all numbered by now, and only
                # this page's count towards a footnote carried over; kept, they let every later page without
                # marks take a small line starting with the next number (`2개월 …`) for a carried footnote
                marked = page.footnote_marks
            expected = int(m.group(1)) + 1
            ln.footnote = True  # a paragraph of its own: joined to the footnote above, `… 있다. 2 훈민정음 …`
            if not m.group(2):
                ln.text = f"{m.group(1)} {ln.text[m.end(1):]}"
    for before, body in zip(bodies, bodies[1:]):
        mark_continued_note(before, body)


def mark_continued_note(before: list, body: list) -> None:
    """Marks the lines of a page (`body`, its body lines) that go on with the last footnote of the page before
    (`before`, its footnotes found) as `Line.continued_note`: TeX splits a long footnote at the page end, and its
    rest stands at the bottom of the next page with no number, above the page's own footnotes. Read as body text
    it was joined to the page's last paragraph, or stood alone with the footnote cut. Recognised when the
    footnote's last line runs to the right edge of its column, where the body-size lines across it end (a
    paragraph's last line stops short), and the page has, below all its lines in the body's type size (that of
    the page before), lines in the footnote's type size before its own first footnote, the first starting with
    no footnote number."""
    first = max((ln.y1 for ln in before if ln.footnote), default=None)
    if first is None or not body:
        return
    size = body_size(before)
    notes = [ln for ln in before if ln.y1 <= first + 0.1 * ln.size and ln.size < 0.92 * size]
    if not notes:
        return
    end = min(notes, key=lambda ln: ln.y0)
    # the right edge of the text block, where the page's body-size lines end: a footnote's full line runs to it.
    # Not the footnotes' widest line: a footnote of one line is its own widest, and every short one counted as split.
    # Only the body lines of the footnote's own column (those across its x-range): in two columns a footnote at the
    # foot of the left one ends at that column's edge, never at the right column's
    edge = max((ln.x1 for ln in before if ln.size >= 0.92 * size and ln.x0 < end.x1 and ln.x1 > end.x0),
               default=None)
    if edge is None or end.x1 < edge - 0.5 * end.size:
        return  # the footnote ends on its page
    floor = min((ln.y0 for ln in body if ln.size >= 0.92 * size), default=None)
    own = max((ln.y1 for ln in body if ln.footnote), default=float("-inf"))
    rest = sorted((ln for ln in body if floor is not None and ln.y1 <= floor and ln.size < 0.92 * size
                   and ln.y0 > own), key=lambda ln: -ln.y1)
    if rest and _LEADING_NUMBER_RE.match(rest[0].text) is None and abs(rest[0].size - end.size) <= 0.15 * end.size:
        for ln in rest:
            ln.continued_note = True
