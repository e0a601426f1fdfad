"""Spaces PDFium reads into a justified Korean line where no word ends: letter spacing, and before punctuation.

LibreOffice justifies Korean by stretching every gap between syllables alike, and where it draws each syllable
on its own PDFium puts a space in every gap (`지 켜 보 았 다`) or some of them (`작은 마 을에서`); it also draws a
full stop on its own, and PDFium reads a space before it (`지켜보았다 .`). These functions find such spaces in a
page's text (PDFium's `get_text_range`, one line at a time) from measured gaps; pdf_lines reads the geometry and
leaves the spaces found out of the lines. Each returns the text indices of the spaces to leave out.
"""

from __future__ import annotations

import re
from typing import Callable

from axk1.text.korean import is_wide

# A space PDFium put where no word gap is, marked in the page's text rather than deleted, so text indices still
# name PDFium's characters (pdf_lines leaves it out of the line's text at the end).
PHANTOM = "\uffff"
CLOSING = set(",.;:!?)]}”’")
_BEFORE_CLOSING_RE = re.compile("[ ](?=[,.;:!?)\\]}”’])")
_SYLLABLES_RE = re.compile("[\uac00-\ud7a3]{2}")  # two touching Korean syllables
# (i, j) -> the space in em from where text[i]'s advance ends to where text[j] starts, or None where it is not
# measured (neither is wide, or they do not stand on one horizontal line): pdf_lines.read_lines' gap_after
GapFn = Callable[[int, int], "float | None"]


def letter_gaps(gaps: list[float | None]) -> list[bool]:
    """Which gaps of a line are a justified line's letter spacing, not word spaces. `gaps` holds, for each two
    neighbouring characters in the line's order, the space in em from where the first one's advance ends to where
    the second starts (None where it is not measured).

    LibreOffice justifies Korean by stretching every character gap alike, and where it draws each syllable on its
    own PDFium puts a space in every gap (`지 켜 보 았 다`). Such a line's gaps fall in two groups: the stretch
    alone, in most of them, and the stretch plus a word's space, 0.3 to 0.75 em wider. Text set without letter
    spacing has gaps of 0 between the letters of a word, and a list set with spaces (`가 나 다 라`) or a table of
    contents has word spaces of one width and gaps of another (a label's, a page number's) not a space wider."""
    measured = [g for g in gaps if g is not None]
    if len(measured) < 4:
        return [False] * len(gaps)
    least = min(measured)
    letters = [g is not None and g <= least + 0.15 for g in gaps]
    words = [g for g in measured if g > least + 0.15]
    if least < 0.05 or least > 0.5 or not words or sum(letters) < 0.5 * len(measured) \
            or not all(least + 0.3 <= g <= least + 0.75 for g in words):
        return [False] * len(gaps)
    return letters


def letter_spacing(text: str, lo: int, hi: int, gap_after: GapFn) -> list[int]:
    """The spaces of text[lo:hi], one line, that only a justified line's letter spacing put there
    (letter_gaps). Geometry is read only for a line of lone syllables, or whose first two touching syllables
    stand apart: a line set without letter spacing costs one gap, a contents line's dots none."""
    line = text[lo:hi]
    words = line.split()
    if len(words) < 3:
        return []
    stretch = None
    # most words a lone syllable (`지 켜 보 았 다.`), or else the first two touching syllables set apart
    if len(words) - 1 < 0.5 * (len("".join(words)) - 1) \
            or sum(1 for w in words if is_wide(w[0]) and (len(w) == 1 or len(w) == 2 and not w[1].isalnum())) \
            < 0.5 * len(words):
        touching = _SYLLABLES_RE.search(text, lo, hi)
        stretch = touching and gap_after(touching.start(), touching.start() + 1)
        if stretch is None or stretch < 0.1:
            return []
    pairs = []  # (first character, second, the space between them or -1)
    for k in range(lo + 1, hi):
        if not text[k].isspace() and text[k] != PHANTOM:
            if not text[k - 1].isspace() and text[k - 1] != PHANTOM:
                pairs.append((k - 1, k, -1))
            elif text[k - 1] == " " and k >= lo + 2 and not text[k - 2].isspace() and text[k - 2] != PHANTOM:
                pairs.append((k - 2, k, k - 1))
    spaced = {space: gap_after(i, j) for i, j, space in pairs if space >= 0}
    if stretch is not None and not any(g is not None and g <= stretch + 0.15 for g in spaced.values()):
        return []  # letter spacing, but PDFium put no space into it (TeX's justified Korean: word spaces only)
    gaps = [spaced[space] if space >= 0 else gap_after(i, j) for i, j, space in pairs]
    # a gap over 1 em parts the line (a column's, a tab's): each part is judged on its own gaps
    found, start = [], 0
    for end in [k for k, g in enumerate(gaps) if g is not None and g > 1.0] + [len(gaps)]:
        for (_, _, space), letter in zip(pairs[start:end], letter_gaps(gaps[start:end])):
            if letter and space >= 0:
                found.append(space)
        start = end + 1
    return found


def closing_spaces(text: str, lo: int, hi: int, gap_after: GapFn, generated: Callable[[int], bool]) -> list[int]:
    """The spaces of text[lo:hi], one line, that PDFium put before closing punctuation (`지켜보았다 .`:
    LibreOffice draws the full stop on its own) where they are clearly narrower than the line's word spaces; a
    space someone typed there is as wide as the others. `generated(k)`: PDFium made up the space at text index k.
    Not before a contents line's leader (`문서 . . . 3`), whose dots stand where the page grid puts them."""
    before = [m.start() for m in _BEFORE_CLOSING_RE.finditer(text, lo, hi - 1)]
    before = [k for k in before if k > lo and not text[k - 1].isspace() and text[k - 1] != PHANTOM
              and text[k + 2:k + 4] != " " + text[k + 1] and generated(k)]
    # LibreOffice's full stop set on its own stands a letter's stretch from its word (0.2 em), a word space
    # further than that: the line's other spaces are measured only for a gap that small
    before = [k for k in before if (gap := gap_after(k - 1, k + 1)) is not None and gap < 0.35]
    if not before:
        return []
    words = [g for k in range(lo + 1, hi - 1) if text[k] == " " and k not in before
             and not text[k - 1].isspace() and not text[k + 1].isspace() and text[k - 1] != PHANTOM
             and text[k + 1] != PHANTOM and (g := gap_after(k - 1, k + 1)) is not None]
    if len(words) < 2:
        return []
    usual = sorted(words)[len(words) // 2]
    return [k for k in before if (gap := gap_after(k - 1, k + 1)) is not None and gap < 0.75 * usual]
