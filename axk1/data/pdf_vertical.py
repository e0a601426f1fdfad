"""Vertical Korean text (세로쓰기): columns of syllables stacked top to bottom, read right to left.

PDFium reads such a column as one line only when the syllables touch (a pitch under ~1.2 em) and then loses the
word spaces (a space is an empty slot, not a character); set looser, as vertical text usually is, every syllable
came out on a line of its own, and the page read as one syllable a line. Here consecutive one-syllable lines
with the same centre x, each lower than the last by about one pitch, become one line marked `vertical`. A column
PDFium read whole comes marked from pdf_lines (its characters stack downward: Latin set sideways and the vertical
forms ︿ ﹀ ︙ included). Word spaces are empty room between two slots: a gap wider than the page's usual gap between
its columns' slots by 0.3 em, measured between loose boxes in a column read whole (touching syllables ~0 apart, a
word space 0.5 em in xetexko) and bottom to bottom in a column of one-slot lines (1 em, a word space 1.45 em in
luatexko), each kind against its own; the page's, not the column's: one column alone, `한 용 운`, is all spaces.
A page's vertical lines are read right to left (pdf_layout), and a column that reaches the bottom of its block
continues in the next one (pdf_reflow), as a full line does.
"""

from __future__ import annotations

from axk1.data.pdf_lines import Line, is_vertical_form
from axk1.text.korean import is_wide

MIN_RUN = 3          # syllables stacked before a run counts as a column (two could be a table's cells)
MAX_GLYPHS = 2       # a stacked "line" holds one syllable (or one and a punctuation mark: 다.)
SPACE_EM = 0.3       # a gap between two slots this much wider than the page's usual one is a word space
Cells = list[tuple[str, float, float]]  # (text, bottom, top) of each slot of a column, top to bottom


def _glyph(ln: Line) -> bool:
    text = ln.text.strip()
    return 0 < len(text) <= MAX_GLYPHS


def _below(run: list[Line], b: Line, pitch: float | None) -> bool:
    """`b` is the next slot of the column `run` stacks so far: its centre within the column's width (all of it: a
    full stop sits to one side of its slot, and the syllable after it was put out of the column), the same type
    size, lower than the last slot `a` by about the column's pitch (`pitch`: its closest step so far) or by two of
    them (an empty slot: a word space); the first step, whatever its pitch, at most 4.5 em."""
    a = run[-1]
    em = max(a.size, b.size)
    centre = (b.x0 + b.x1) / 2
    inside = min(ln.x0 for ln in run) - 0.25 * em <= centre <= max(ln.x1 for ln in run) + 0.25 * em
    step = a.y0 - b.y0
    most = 4.5 * em if pitch is None else 2.3 * pitch + 0.2 * em
    return inside and 0.7 * em <= step <= most and abs(a.size - b.size) <= 0.15 * em


def _column(run: list[Line]) -> Line:
    """A run of one-slot lines as one column. Its slots are measured bottom to bottom, as points (a slot's box here
    is its own line's, and those vary: an old-Hangul tone mark's is a sliver): the gaps are the steps."""
    return Line("".join(ln.text.strip() for ln in run), min(ln.x0 for ln in run), min(ln.y0 for ln in run),
                max(ln.x1 for ln in run), max(ln.y1 for ln in run), run[0].size, vertical=True,
                cells=[(ln.text.strip(), ln.y0, ln.y0) for ln in run])


def slot_gaps(cells: Cells) -> list[float]:
    """The room between each two slots of a column (not next to a space PDFium gave: that one is a space already)."""
    return [a[1] - b[2] for a, b in zip(cells, cells[1:]) if a[0] != " " and b[0] != " "]


def spaced_column(cells: Cells, size: float, usual: float | None = None) -> str:
    """A column's text with a space between two slots whose gap is wider than `usual` (the page's usual gap; by
    default the column's own median) by SPACE_EM: the room a word space leaves, which PDFium gives no character."""
    if usual is None:
        gaps = sorted(slot_gaps(cells))
        usual = gaps[(len(gaps) - 1) // 2] if gaps else 0.0
    out = []
    for i, (text, _, top) in enumerate(cells):
        if i and text != " " and cells[i - 1][0] != " " and cells[i - 1][1] - top > usual + SPACE_EM * size:
            out.append(" ")
        out.append(text)
    return "".join(out)


def _space_columns(columns: list[Line]) -> None:
    """Word spaces into columns of one kind on a page, against the usual (median) gap between slots of all of them."""
    gaps = sorted(g for ln in columns for g in slot_gaps(ln.cells))
    if gaps:
        usual = gaps[(len(gaps) - 1) // 2]
        for ln in columns:
            ln.text = spaced_column(ln.cells, ln.size, usual)


def _slots(lines: list[Line]):
    """The lines, a short column PDFium read whole (`︓﹁`, `︙︙`) taken as one slot, boxed by its first character
    as PDFium's one-slot lines are: it may go on a column the lines around it stack (PDFium breaks a loosely set
    column into a line a slot, and reads two vertical forms set closer as one)."""
    for ln in lines:
        if ln.cells and len(ln.text.strip()) <= MAX_GLYPHS:
            ln.y0, ln.y1 = ln.cells[0][1:]
        yield ln


def merge_vertical(lines: list[Line]) -> list[Line]:
    """The page's lines with each stacked run of one-syllable lines (PDFium's order) made one vertical line, and
    the word spaces put into every column (those pdf_lines found whole too)."""
    out: list[Line] = []
    run: list[Line] = []
    runs: list[Line] = []  # the columns made here (their gaps are steps: a pool of their own)

    def flush() -> None:
        forms = len(run) >= 2 and all(is_vertical_form(ln.text.strip()[0]) for ln in run)  # ︙ ︙
        if forms or sum(is_wide(ln.text.strip()[0]) for ln in run) >= MIN_RUN:  # syllables, not a stack of digits
            runs.append(_column(run))
            out.append(runs[-1])
        else:
            out.extend(run)
        run.clear()

    for ln in _slots(lines):
        pitch = min((x.y0 - y.y0 for x, y in zip(run, run[1:])), default=None)
        if _glyph(ln) and run and _below(run, ln, pitch):
            run.append(ln)
            continue
        flush()
        if _glyph(ln) and is_wide(ln.text.strip()[0]):  # a column starts with a syllable
            run.append(ln)
        else:
            out.append(ln)
    flush()
    made = {id(ln) for ln in runs}
    _space_columns(runs)
    _space_columns([ln for ln in out if ln.cells and id(ln) not in made])
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
