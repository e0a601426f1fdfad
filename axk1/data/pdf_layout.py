"""Page geometry from pypdfium2 text rectangles: margin lines (running headers/footers) and column detection.

PDFium's text rectangles are roughly one per line segment, cheap to read (~0.3 ms a page), so geometry costs
little next to text extraction. Multi-column pages are re-extracted column by column with bounded text
extraction, in reading order: full-width lines split the page into bands; within a band, left then right.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.text.korean import is_wide

Rect = tuple[float, float, float, float]  # left, bottom, right, top (PDF points, origin bottom-left)


@dataclass
class PageLayout:
    width: float
    height: float
    margin_top: Rect            # the top band, searched for running headers
    margin_bottom: Rect         # the bottom band, searched for running footers and page numbers
    body_boxes: list[Rect]      # regions to extract in reading order
    columns: int


def page_rects(textpage) -> list[Rect]:
    return [tuple(textpage.get_rect(i)) for i in range(textpage.count_rects())]


def analyse_page(rects: list[Rect], width: float, height: float, margin_band: float = 0.08,
                 detect_columns: bool = True) -> PageLayout:
    """Splits the page into top band, body and bottom band; the body into columns when it has two.
    (PDFium reports no rectangle for some lines, e.g. Hangul-only lines in fonts without metrics, so the
    bands are fixed regions rather than unions of rectangles.)"""
    band = margin_band * height
    top_cut, bottom_cut = height - band, band
    body = [r for r in rects if bottom_cut <= (r[1] + r[3]) / 2 <= top_cut]
    margin_top = (0.0, top_cut, width, height)
    margin_bottom = (0.0, 0.0, width, bottom_cut)
    gutter = find_gutter(body) if detect_columns else None
    if gutter is None:
        return PageLayout(width, height, margin_top, margin_bottom, [(0.0, bottom_cut, width, top_cut)], 1)
    boxes = _column_boxes(body, gutter, width, bottom_cut, top_cut)
    return PageLayout(width, height, margin_top, margin_bottom, boxes, 2)


def find_gutter(rects: list[Rect], min_gap: float = 6.0) -> float | None:
    """The x of a vertical gap that splits the text into two columns, or None.

    A gutter: a run of x covered by at most 15% of the rectangles (full-width titles may cross it), at least
    `min_gap` wide, inside the middle 60% of the text block, with at least a fifth of the lines wholly on
    each side, and lines that fill their column (so a table with spaced cells is not taken for columns).
    """
    rects = [r for r in rects if r[2] - r[0] > 1.0]
    n = len(rects)
    if n < 6:
        return None
    left, right = min(r[0] for r in rects), max(r[2] for r in rects)
    span = right - left
    if span < 100:
        return None
    lo, hi = int(left + 0.2 * span), int(right - 0.2 * span)
    cover = [0] * (hi - lo + 1)
    for r in rects:
        a, b = max(lo, int(r[0])), min(hi, int(r[2]) + 1)
        for x in range(a, b):
            cover[x - lo] += 1
    limit = 0.15 * n
    best: tuple[int, int] | None = None
    start = None
    for i, c in enumerate(cover + [limit + 1]):
        if c <= limit and start is None:
            start = i
        elif c > limit and start is not None:
            if i - start >= min_gap and (best is None or i - start > best[1] - best[0]):
                best = (start, i)
            start = None
    if best is None:
        return None
    gx = lo + (best[0] + best[1]) / 2
    lefts = [r for r in rects if r[2] <= gx]
    rights = [r for r in rects if r[0] >= gx]
    if len(lefts) < 0.2 * n or len(rights) < 0.2 * n:
        return None
    if _median([r[2] - r[0] for r in lefts]) < 0.5 * (gx - left):
        return None
    if _median([r[2] - r[0] for r in rights]) < 0.5 * (right - gx):
        return None
    return gx


def _column_boxes(body: list[Rect], gx: float, width: float, bottom: float, top: float) -> list[Rect]:
    spanning = sorted((r for r in body if r[0] < gx < r[2]), key=lambda r: -r[3])
    boxes: list[Rect] = []
    cursor = top
    for r in spanning:
        if r[3] < cursor - 1:
            boxes += [(0.0, r[3], gx, cursor), (gx, r[3], width, cursor)]
        boxes.append((0.0, r[1], width, r[3]))
        cursor = r[1]
    if cursor > bottom + 1:
        boxes += [(0.0, bottom, gx, cursor), (gx, bottom, width, cursor)]
    return boxes


def _median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2] if s else 0.0


def line_width_em(line: str) -> float:
    """Width of a line in em, estimated from its characters: wide (CJK) 1, others about half."""
    w = 0.0
    for ch in line:
        if is_wide(ch):
            w += 1.0
        elif ch == " ":
            w += 0.28
        elif ch in "ilI.,;:'!|":
            w += 0.3
        elif ch in "mwMW":
            w += 0.8
        else:
            w += 0.52
    return w


def full_lines(lines: list[str], ratio: float = 0.88) -> list[bool]:
    """Which lines reach (about) the right edge of their block, i.e. continue on the next line."""
    widths = [line_width_em(x) for x in lines]
    widest = max(widths, default=0.0)
    if widest < 8:
        return [False] * len(lines)
    return [w >= ratio * widest for w in widths]
