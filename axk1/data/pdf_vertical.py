"""Vertical Korean text (세로쓰기): columns of syllables stacked top to bottom, read right to left.

PDFium reads such a column as one line only when the syllables touch (a pitch under ~1.2 em) and then loses the
word spaces (a space is an empty slot, not a character); set looser, as vertical text usually is, every syllable
came out on a line of its own, and the page read as one syllable a line. Here consecutive one-syllable lines
with the same centre x, each lower than the last by about one pitch, become one line marked `vertical`, with a
space wherever a slot was left empty. A page's vertical lines are read right to left (pdf_layout), and a column
that reaches the bottom of its block continues in the next one (pdf_reflow), as a full line does.
"""

from __future__ import annotations

from axk1.data.pdf_lines import Line
from axk1.text.korean import is_wide

MIN_RUN = 3          # syllables stacked before a run counts as a column (two could be a table's cells)
MAX_GLYPHS = 2       # a stacked "line" holds one syllable (or one and a punctuation mark: 다.)


def _glyph(ln: Line) -> bool:
    text = ln.text.strip()
    return 0 < len(text) <= MAX_GLYPHS


def _below(a: Line, b: Line, pitch: float | None) -> bool:
    """`b` is the next slot of `a`'s column: its centre within the column's width (a full stop sits to one side
    of its slot), the same type size, lower by about the column's pitch (`pitch`: its closest step so far) or
    by two of them (an empty slot: a word space); the first step, whatever its pitch, at most 4.5 em."""
    em = max(a.size, b.size)
    inside = a.x0 - 0.25 * em <= (b.x0 + b.x1) / 2 <= a.x1 + 0.25 * em
    step = a.y0 - b.y0
    most = 4.5 * em if pitch is None else 2.3 * pitch + 0.2 * em
    return inside and 0.7 * em <= step <= most and abs(a.size - b.size) <= 0.15 * em


def _column(run: list[Line]) -> Line:
    steps = sorted(a.y0 - b.y0 for a, b in zip(run, run[1:]))
    pitch = steps[0] if steps else run[0].size  # the closest two syllables: no empty slot between them
    parts = [run[0].text.strip()]
    for a, b in zip(run, run[1:]):
        if a.y0 - b.y0 > 1.5 * pitch:  # an empty slot: a word space
            parts.append(" ")
        parts.append(b.text.strip())
    return Line("".join(parts), min(ln.x0 for ln in run), min(ln.y0 for ln in run), max(ln.x1 for ln in run),
                max(ln.y1 for ln in run), run[0].size, vertical=True)


def merge_vertical(lines: list[Line]) -> list[Line]:
    """The page's lines with each stacked run of one-syllable lines (PDFium's order) made one vertical line."""
    out: list[Line] = []
    run: list[Line] = []

    def flush() -> None:
        if sum(is_wide(ln.text.strip()[0]) for ln in run) >= MIN_RUN:  # syllables, not a stack of digits
            out.append(_column(run))
        else:
            out.extend(run)
        run.clear()

    for ln in lines:
        pitch = min((x.y0 - y.y0 for x, y in zip(run, run[1:])), default=None)
        if _glyph(ln) and run and _below(run[-1], ln, pitch):
            run.append(ln)
            continue
        flush()
        if _glyph(ln) and is_wide(ln.text.strip()[0]):  # a column starts with a syllable
            run.append(ln)
        else:
            out.append(ln)
    flush()
    return out


def right_to_left(columns: list[Line]) -> list[Line]:
    """Vertical lines in reading order: columns right to left (a column: centres within half an em), and within
    a column (pieces of it, split by a figure) top to bottom."""
    order = sorted(columns, key=lambda ln: -(ln.x0 + ln.x1))
    key, cluster, last = {}, 0, None
    for ln in order:
        centre = (ln.x0 + ln.x1) / 2
        if last is not None and last - centre > 0.5 * ln.size:
            cluster += 1
        key[id(ln)], last = cluster, centre
    return sorted(order, key=lambda ln: (key[id(ln)], -ln.y1))


def column_box(block: list[Line]) -> tuple[float, float, float, bool]:
    """A block of vertical lines as pdf_reflow's Box: its top, its bottom, the usual distance between columns."""
    steps = sorted(a.x0 - b.x0 for a, b in zip(block, block[1:]) if a.x0 - b.x0 > 0.5 * a.size)
    pitch = steps[len(steps) // 2] if steps else 1.5 * block[0].size
    return max(ln.y1 for ln in block), min(ln.y0 for ln in block), pitch, False


def vertical_continues(cur: Line, nxt: Line, box: tuple[float, float, float, bool]) -> bool:
    """Whether column `cur` runs on into `nxt`, the column to its left (`box`: column_box of their block): `cur`
    reaches the block's bottom, `nxt` starts at its top (a paragraph's first column starts a slot lower) and
    follows at about the usual distance (not after an empty column: a paragraph gap). "Reaches the bottom" allows
    one empty slot (up to 2.2 em at the usual pitches): a word space falls at a column's end, never at the next
    one's start, and a column so ended broke its paragraph in two."""
    top, bottom, pitch, _ = box
    em = cur.size
    return (cur.y0 <= bottom + 2.2 * em and nxt.y1 >= top - 0.5 * em
            and 0 < cur.x0 - nxt.x0 <= max(1.5 * pitch, 2.5 * em))
