"""Page layout from measured lines: running headers/footers, columns, reading order.

Every line gets exactly one role (header, footer, margin or body), so nothing is both removed and kept.
A header or footer is a line at the very top or bottom of the page, set apart from the body by a gap (any gap,
for the outermost line when it repeats in that place on at least 80% of the pages, or is a page number that
repeats so), and
at least one of: the same text (digits and roman numerals as #) in that position on another page; a page
number alone (arabic or roman); at the top, a line smaller than the body text or carrying a page number at
one end, or set exactly where two other pages' headers are (a chapter-and-section header that changes every
page). Footnotes (small type at the bottom) stay body text: at the bottom only page numbers and repetition
count. A margin note read into a body line's end becomes a line of its own, role margin (`split_margin_notes`).
Columns: a vertical gap, however narrow, that splits the body lines in two (`find_gutter`); lines crossing it are
full-width bands, and within a band the left column is read before the right.
"""

from __future__ import annotations

import re
from collections import Counter

from axk1.data.pdf_lines import Line, PageLines
from axk1.data.pdf_size import body_size
from axk1.data.pdf_vertical import right_to_left

Rect = tuple[float, float, float, float]  # left, bottom, right, top

_ROMAN = r"(?=[ivx])(?:x{0,3})(?:ix|iv|v?i{0,3})"  # i … xxxix, never empty
PAGE_NUMBER_RE = re.compile(r"^[-–—\s\[(]*(?:page|p\.|페이지)?\s*(?:\d{1,4}|" + _ROMAN + r")\s*(?:(?:/|of)\s*\d{1,4})?"
                            r"\s*(?:쪽|면)?[-–—\s\])]*$", re.IGNORECASE)
_NUMBER_AT_END_RE = re.compile(r"(?:^(?:\d{1,4}|" + _ROMAN + r")\s)|(?:\s(?:\d{1,4}|" + _ROMAN + r")$)", re.IGNORECASE)
_ROMAN_TOKEN_RE = re.compile(r"\b" + _ROMAN + r"\b", re.IGNORECASE)

BAND = 0.2           # top/bottom share of the page where headers and footers can sit (TeX margins are wide)
TIGHT_BAND = 0.09    # a one-off header (no repetition, no size difference) must sit this close to the edge


def repeat_key(text: str) -> str:
    """Header text with the parts that change from page to page (numbers) made equal."""
    key = re.sub(r"\d+", "#", " ".join(text.split()))
    return _ROMAN_TOKEN_RE.sub("#", key)


def is_page_number(text: str) -> bool:
    return bool(text.strip()) and bool(PAGE_NUMBER_RE.match(text.strip()))


def _edge_candidates(page: PageLines) -> tuple[list[tuple[Line, float]], list[tuple[Line, float]]]:
    """Up to two lines from the top and from the bottom, each with its gap to the next line inward."""
    order = sorted(page.lines, key=lambda ln: -ln.y1)
    top, bottom = [], []
    for i, ln in enumerate(order[:2]):
        if ln.y0 >= (1 - BAND) * page.height and i + 1 < len(order):
            top.append((ln, ln.y0 - order[i + 1].y1))
    rev = order[::-1]
    for i, ln in enumerate(rev[:2]):
        if ln.y1 <= BAND * page.height and i + 1 < len(rev):
            bottom.append((ln, rev[i + 1].y0 - ln.y1))
    return top, bottom


def assign_roles(pages: list[PageLines]) -> None:
    """Marks header and footer lines on every page (see the module docstring); the rest stay body."""
    cands = [_edge_candidates(p) for p in pages]
    seen: Counter = Counter()
    for top, bottom in cands:
        seen.update({("t", repeat_key(ln.text)) for ln, _ in top} | {("b", repeat_key(ln.text)) for ln, _ in bottom})
    for page, (top, bottom) in zip(pages, cands):
        size = body_size(page.lines)
        for edge, group, role in (("t", top, "header"), ("b", bottom, "footer")):
            for k, (ln, gap) in enumerate(group):  # the outermost first; an inner one only when the outer one was
                count = seen[(edge, repeat_key(ln.text))]  # a header
                repeated = count >= 2
                # close to the body, the outermost line is still a header or footer when it is on (nearly) every
                # page in this place, or a page number repeated so (`- 1 -`): LibreOffice sets them a few points
                # from the body. Not an inner line: a footnote that repeats (`1 같은 책.`) stays.
                running = k == 0 and gap > 0 and ln.gaps == 0 and (count >= max(2, 0.8 * len(pages))
                                                                   or (repeated and is_page_number(ln.text)))
                apart = gap >= 0.8 * size or running
                one_off = edge == "t" and apart and ln.size <= 1.05 * size and (
                    ln.size <= 0.92 * size
                    or (_NUMBER_AT_END_RE.search(ln.text.strip()) and ln.y0 >= (1 - TIGHT_BAND) * page.height))
                if apart and (repeated or is_page_number(ln.text) or one_off):
                    ln.role = role
                else:
                    break
    _same_slot_headers(pages, cands)


def _slot(edge: str, ln: Line) -> tuple[str, int, float]:
    return edge, round(ln.y0), round(ln.size, 1)


def _same_slot_headers(pages: list[PageLines], cands: list) -> None:
    """A top line set where the running headers of two other pages are set (same baseline to the point, same size)
    and apart from the body is a header too, whatever its text: a book's header names the chapter and the section,
    so a one-page section's header repeats nowhere (`제 1 장. … 1.3. 데비안 GNU/리눅스란?` stayed in 16% of a real
    manual's pages, between the halves of a sentence crossing the page)."""
    slots: Counter = Counter(_slot("t", ln) for top, _ in cands for ln, _ in top if ln.role == "header")
    for page, (top, _) in zip(pages, cands):
        size = body_size(page.lines)
        for ln, gap in top:
            if ln.role != "header":
                if gap >= 0.8 * size and slots[_slot("t", ln)] >= 2:
                    ln.role = "header"
                break  # only the outermost line not yet a header: what is below it is the body's


def split_margin_notes(page: PageLines) -> None:
    """A body line's last piece (`Line.note`) that stands right of the text block's edge, after a gap, becomes a
    line of its own with the role "margin" (left out of the text and counted, as a header is): a margin note
    (`Protrusion`, `\\hangulpunctuations`, `☜ v3.6` in the TeX Korean manuals). Kept in its line, it made the line
    end past the block's edge, never "full", and the wrap stopped there (`…기능이다. LuaTEX은 Protrusion` then
    `기본값으로…`), or its gap made the line a table row that nothing joins. The edge: where most lines of the
    page end (at least three, within 3 points: TeX's protrusion moves them; a line with a note ends at the note or
    before it); not when other lines reach past it too (a second column: its text is no margin note), not on a line
    with other table gaps (its last piece is the row's last cell), and not when most lines have one: that is a
    column (a price list's item names, 44 rows of `issue-914-xmp-data.pdf`, were all dropped as margin notes)."""
    body = [ln for ln in page.lines if ln.role == "body" and not ln.vertical and len(ln.text) >= 8]
    ends = sorted([ln.x1 for ln in body] + [ln.note[1] for ln in body if ln.note])  # a note's line: either end
    best, edge, lo = 0, 0.0, 0
    for hi, end in enumerate(ends):  # the most ends within 3 points
        while end - ends[lo] > 3.0:
            lo += 1
        if hi - lo + 1 > best:
            best, edge = hi - lo + 1, end
    if best < 3:
        return

    def in_margin(ln: Line) -> bool:
        text, end, start = ln.note or ("", 0.0, 0.0)
        return (bool(text) and ln.text.endswith(" " + text) and start > edge + 0.5 * ln.size
                and end <= edge + 1.0 * ln.size and ln.gaps - (start - end > ln.size) == 0)

    if sum(1 for ln in body if ln.x1 > edge + ln.size and not in_margin(ln)) > 0.1 * len(body):
        return
    if sum(map(in_margin, body)) > 0.6 * len(body):
        return  # a note beside most lines is a table's last column (a price list's item names), not margin notes
    for ln in list(page.lines):
        if ln.role == "body" and in_margin(ln):
            text, end, start = ln.note
            page.lines.append(Line(text, start, ln.y0, ln.x1, ln.y1, ln.size, role="margin"))
            ln.text, ln.x1, ln.note = ln.text[:-len(text) - 1].rstrip(), end, None
            ln.gaps = max(0, ln.gaps - (start - end > ln.size))  # its gap was no table's


_STEP = 0.25  # points per bin of the coverage count: a gutter can be narrower than a point (see find_gutter)


def find_gutter(rects: list[Rect], min_gap: float = 0.5) -> float | None:
    """The x of a vertical gap that splits the text into two columns, or None (see `_gutter`).

    Full-width lines may cross a gutter, but only 15% of the lines: a first page whose title, abstract and
    footnotes run across both columns has more, and was read as one column. When no gutter is found among all
    the lines, it is looked for again among those narrower than 60% of the text block (no column's line is
    wider), as long as they are most of the page (on a single-column page nearly every line is wide), the two
    columns share at least half of each one's height, and the wide lines lie above or below that shared
    stretch. Otherwise the narrow lines are something set side by side inside running text (lshort-ko.pdf's
    LaTeX source beside its output, five pages, whose source lines were then joined as prose).
    """
    found = _gutter(rects, min_gap)
    if found is not None or len(rects) < 6:
        return found
    left, right = min(r[0] for r in rects), max(r[2] for r in rects)
    narrow = [r for r in rects if r[2] - r[0] < 0.6 * (right - left)]
    if len(narrow) < 0.5 * len(rects) or len(narrow) == len(rects):
        return None
    gx = _gutter(narrow, min_gap)
    if gx is None:
        return None
    lefts, rights = [r for r in narrow if r[2] <= gx], [r for r in narrow if r[0] >= gx]
    bottom = max(min(r[1] for r in lefts), min(r[1] for r in rights))
    top = min(max(r[3] for r in lefts), max(r[3] for r in rights))
    wide = [r for r in rects if r[2] - r[0] >= 0.6 * (right - left)]
    for side in (lefts, rights):
        if top - bottom < 0.5 * (max(r[3] for r in side) - min(r[1] for r in side)):
            return None
    if any(bottom < (r[1] + r[3]) / 2 < top for r in wide):
        return None
    return gx


def _gutter(rects: list[Rect], min_gap: float) -> float | None:
    """The x of a vertical gap that splits the text into two columns, or None.

    A gutter: a run of x covered by at most 15% of the lines (full-width titles may cross it), at least
    `min_gap` wide, inside the middle 60% of the text block, with at least a fifth of the lines wholly on
    each side, and lines that fill their column (so a table with spaced cells is not taken for columns).
    The lines on either side, not the width of the empty run, are the evidence: LibreOffice sets columns
    0 to 0.2 cm apart when asked (its default spacing is 0), and justified Korean then leaves a run of 0.7 to
    5 points that no line crosses; the 6 points (counted in whole points) this asked for read such pages as
    one column. A single-column page has no x that 85% of its lines stay off with a fifth of them on each side.
    """
    rects = [r for r in rects if r[2] - r[0] > 1.0]
    n = len(rects)
    if n < 6:
        return None
    left, right = min(r[0] for r in rects), max(r[2] for r in rects)
    span = right - left
    if span < 100:
        return None
    lo, hi = left + 0.2 * span, right - 0.2 * span
    bins = int((hi - lo) / _STEP) + 1
    delta = [0] * (bins + 1)  # lines covering each bin, by a difference array (one pass per line, not per x)
    for r in rects:
        a = max(0, int((r[0] - lo) / _STEP))
        b = min(bins, int((r[2] - lo) / _STEP) + 1)
        if a < b:
            delta[a] += 1
            delta[b] -= 1
    cover, run = [], 0
    for d in delta[:-1]:
        run += d
        cover.append(run)
    limit = 0.15 * n
    best: tuple[int, int] | None = None
    start = None
    for i, c in enumerate(cover + [limit + 1]):
        if c <= limit and start is None:
            start = i
        elif c > limit and start is not None:
            if (i - start) * _STEP >= min_gap and (best is None or i - start > best[1] - best[0]):
                best = (start, i)
            start = None
    if best is None:
        return None
    gx = lo + (best[0] + best[1]) / 2 * _STEP
    lefts = [r for r in rects if r[2] <= gx]
    rights = [r for r in rects if r[0] >= gx]
    if len(lefts) < 0.2 * n or len(rights) < 0.2 * n:
        return None
    if _median([r[2] - r[0] for r in lefts]) < 0.5 * (gx - left):
        return None
    if _median([r[2] - r[0] for r in rights]) < 0.5 * (right - gx):
        return None
    return gx


def body_blocks(page: PageLines, detect_columns: bool = True) -> tuple[list[list[Line]], int]:
    """The body lines in reading order as blocks (a column of a band, or the whole page), and the number of
    columns found. Lines keep PDFium's order within a block."""
    body = [ln for ln in page.lines if ln.role == "body"]
    vertical = right_to_left([ln for ln in body if ln.vertical])
    if vertical:  # a block of its own, read where its top is among the horizontal blocks
        blocks, columns = body_blocks(PageLines(page.width, page.height, [ln for ln in body if not ln.vertical],
                                                page.chars), detect_columns)
        top = max(ln.y1 for ln in vertical)
        at = next((i for i, b in enumerate(blocks) if max(ln.y1 for ln in b) < top), len(blocks))
        return blocks[:at] + [vertical] + blocks[at:], columns
    gx = find_gutter([(ln.x0, ln.y0, ln.x1, ln.y1) for ln in body]) if detect_columns else None
    if gx is None:
        return ([body] if body else []), 1
    spanning = sorted((ln for ln in body if _spans(ln, gx)), key=lambda ln: -ln.y1)
    blocks: list[list[Line]] = []
    cursor = float("inf")
    for cut in spanning + [None]:
        floor = cut.y1 if cut is not None else float("-inf")
        band = [ln for ln in body if not _spans(ln, gx) and floor <= (ln.y0 + ln.y1) / 2 < cursor]
        blocks += [b for b in ([ln for ln in band if (ln.x0 + ln.x1) / 2 < gx],
                               [ln for ln in band if (ln.x0 + ln.x1) / 2 >= gx]) if b]
        if cut is not None:
            if band or not blocks or not _spans(blocks[-1][-1], gx):
                blocks.append([])
            blocks[-1].append(cut)  # consecutive full-width lines form one block
            cursor = cut.y0
    return blocks, 2


def _spans(ln: Line, gx: float) -> bool:
    """A full-width line: it reaches half an em past the gutter on both sides. A column's line that ends a
    point into a narrow gutter (its closing punctuation) is no band: taken for one, each such line cut both
    columns there, and the right column's lines above it were read before the left column's below."""
    reach = 0.5 * ln.size
    return ln.x0 < gx - reach and ln.x1 > gx + reach


def _median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2] if s else 0.0
