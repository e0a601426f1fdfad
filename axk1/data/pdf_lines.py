"""A PDF page as lines with measured geometry (pypdfium2): the unit every later decision works on.

One `get_text_range` call gives the page text with PDFium's own line breaks; each line then gets its box
from the boxes of its first and last characters (not every character, so reading geometry costs a fraction
of reading the text), its font size, and the gaps between PDFium's text rectangles on it. Coordinates are
moved into the crop box's frame (origin at its bottom-left corner): PDFium reports text in the MediaBox's user space, and a CropBox not at the
origin would otherwise put every line outside the page. Table rows show as lines with wide gaps between
their rectangles.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass

from axk1.data.pdf_footnotes import LETTER_MARKS, drop_spaced_marks, mark_lines, spaced_mark, strip_marks
from axk1.data.pdf_spacing import CLOSING, PHANTOM, closing_spaces, letter_spacing
from axk1.text.korean import VERTICAL_FORMS, is_wide


@dataclass
class Line:
    text: str
    x0: float            # left, bottom, right, top in points, crop-box frame
    y0: float
    x1: float
    y1: float
    size: float          # font size of the line's first visible character (points)
    gaps: int = 0        # gaps wider than 1 em between pieces of the line (table cells)
    soft_hyphen: bool = False   # PDFium marked the line's last character as a hyphen at a line end (now "-")
    role: str = "body"   # body | header | footer | margin (each line gets exactly one; pdf_layout)
    aligned: bool = False  # ends where a neighbouring line ends (set by pdf_reflow.block_box)
    vertical: bool = False  # a column of vertical text, read top to bottom (pdf_vertical)
    # a column PDFium read as one line: (character, bottom, top) of each loose box, top to bottom; pdf_vertical
    # puts the word spaces in from the gaps, against the usual gap of all the page's columns
    cells: list[tuple[str, float, float]] | None = None
    # the line's last piece after a gap over half an em: (its text, where the text before it ends, where it starts);
    # pdf_layout makes it a line of its own when it stands in the margin right of the text block (a margin note)
    note: tuple[str, float, float] | None = None
    # its word spaces are alike, none over 2.5 em (evenly_spaced): a gap over 1 em may be a justified line's
    # stretched space rather than a table's cell gap; pdf_reflow decides by where the line ends
    even: bool = False
    # it starts a footnote, with the footnote's number (pdf_footnotes.space_footnote_numbers): a paragraph of its own
    footnote: bool = False
    # it continues the last footnote of the page before, one TeX split over the page end (pdf_footnotes)
    continued_note: bool = False

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass
class PageLines:
    width: float
    height: float
    lines: list[Line]
    chars: int           # characters PDFium found on the page (0: no text layer)
    hidden: int = 0      # lines outside the crop box, left out
    footnote_marks: int = 0  # left out of the lines' text (pdf_footnotes)
    offpage_chars: int = 0  # characters of a line that runs past the page's right edge, there: left out


# PDFium marks a hyphen at a line end with U+FFFE (older builds: U+0002) and may join the two lines in its text;
# such a mark ends a line here, so the halves keep their own geometry and the hyphen is judged in pdf_reflow.
_SOFT = ("\ufffe", "\x02")
_BREAK_RE = re.compile("\n|\ufffe|\x02")
# A space PDFium put where no word gap is (marked PHANTOM): the next character starts where the generated space
# does or before it, and the gap there is no wider than the one before it (letter spacing). PDFium adds a space
# between text objects placed apart from where the last one's advance ended, and an OCR'd scan places every letter
# on its own (`Nort h Buon a Vist a Driv e`, 39% of the words of a real scan). LibreOffice draws a table cell's
# spaces elsewhere on the line; one PDFium reads before closing punctuation (`도시 ,`) is dropped too, and so are
# those it reads into a justified Korean line's letter spacing (`지 켜 보 았 다`, pdf_spacing).


def page_frame(page) -> tuple[float, float, float, float]:
    """The visible page (crop box clipped to the media box) in the user space PDFium reports text in.
    (`get_bbox`, not `get_cropbox`: the latter falls back to US Letter when the box is inherited.)"""
    left, bottom, right, top = page.get_bbox()
    return left, bottom, right, top


def is_vertical_form(ch: str) -> bool:
    """A presentation form only vertical text has (text.korean.VERTICAL_FORMS): a line made of them is a column's."""
    return any(lo <= ord(ch) <= hi for lo, hi in VERTICAL_FORMS)


def stacks_down(cells: list[tuple[str, float, float]], em: float) -> bool:
    """Whether the characters (`(char, bottom, top)`, a line's order) stand one below the other: each centre lower
    than the last. Horizontal text never does, whatever it holds, so a column may carry Latin set sideways
    (`님의 침묵 (The Silent Beloved)`) or vertical forms, which no all-wide test let through."""
    solid = [(b + t) / 2 for ch, b, t in cells if ch != " " and t > b]
    return len(solid) >= 2 and all(b < a - 0.1 * em for a, b in zip(solid, solid[1:]))


def evenly_spaced(spaces: list[float]) -> bool:
    """Whether a line's word spaces (in em) are stretched alike, as justification stretches them: at least two,
    none over 2.5 em, and most of them at least 0.6 times the widest. A table row's cells are set apart by gaps
    wider than the spaces inside its cells (`Seoul 9.4 million` | `Busan 3.3 million`), or by gaps of several em."""
    if len(spaces) < 2 or max(spaces) > 2.5:
        return False
    return sum(1 for w in spaces if w >= 0.6 * max(spaces)) >= 0.6 * len(spaces)


def read_lines(page, textpage) -> PageLines:
    import pypdfium2.raw as raw

    left, bottom, right, top = page_frame(page)
    width, height = right - left, top - bottom
    text = textpage.get_text_range()
    handle = textpage.raw
    identity = len(text) == textpage.count_chars()  # else text and char indices differ: translate each

    def char_index(ti: int) -> int:
        return ti if identity else raw.FPDFText_GetCharIndexFromTextIndex(handle, ti)

    l_, r_, b_, t_ = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    loose = raw.FS_RECTF()

    matrix = raw.FS_MATRIX()

    def font_size(ci: int) -> float:
        """A character's font size for the line it starts; where the text matrix sets the size (Tf 1, as Quartz
        and InDesign write it, and PDFium says 1) the height of its loose box (the font's ascent to descent)."""
        size = raw.FPDFText_GetFontSize(handle, ci) or 0.0
        if size < 3:
            raw.FPDFText_GetLooseCharBox(handle, ci, loose)
            size = max(loose.top - loose.bottom, 1.0)
        return size

    def type_size(ci: int) -> float:
        """A character's font size; where the text matrix sets it, times the matrix's scale: a footnote mark set
        in 8 points and its text in 10 both said 1, and the mark was never smaller than its text."""
        size = raw.FPDFText_GetFontSize(handle, ci)
        if size < 3 and raw.FPDFText_GetMatrix(handle, ci, matrix):
            size *= abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5
        return size

    def box(ci: int) -> tuple[float, float]:
        raw.FPDFText_GetCharBox(handle, ci, l_, r_, b_, t_)
        return l_.value, r_.value

    def origin(ci: int) -> tuple[float, float]:
        raw.FPDFText_GetCharOrigin(handle, ci, l_, b_)
        return l_.value, b_.value

    def phantom(k: int) -> bool:
        """Whether the space at text index k stands between no two words (see PHANTOM)."""
        before, here, after = char_index(k - 1), char_index(k), char_index(k + 1)
        (x_before, y_before), (x_after, y_after) = origin(before), origin(after)
        em = font_size(after)
        if abs(y_after - y_before) > 0.2 * em or x_after <= x_before:
            return False  # not two characters of one horizontal run (vertical text keeps its spaces)
        at = box(here)[0]
        if raw.FPDFText_IsGenerated(handle, here) == 1 and x_after <= at + 0.1 * em and k >= 2 \
                and not text[k - 2].isspace():
            # and no wider than the gap between the two characters before it: letter spacing, not a word space
            # (LibreOffice draws a table cell's spaces elsewhere, and PDFium's space is then the only one there)
            # (TeX's Korean word spaces are PDFium's too, placed alike, and only 0.1 em wider than its letters' gaps)
            gap, letters = box(after)[0] - box(before)[1], box(before)[0] - box(char_index(k - 2))[1]
            return gap <= 1.15 * letters + 0.02 * em
        # LibreOffice draws a table cell's spaces at made-up places; most still fall between their words in
        # PDFium's order, but one before closing punctuation (`도시 ,`) belongs after it
        return text[k + 1] in CLOSING and at < box(before)[1] - 0.1 * em

    # spaces that separate nothing are marked, not deleted, so text indices still name PDFium's characters
    text = "".join(PHANTOM if ch == " " and 0 < k < len(text) - 1 and not text[k - 1].isspace()
                   and not text[k + 1].isspace() and phantom(k) else ch for k, ch in enumerate(text))

    def gap_after(i: int, j: int) -> float | None:
        """The space in em from where text[i]'s advance ends to where text[j] starts, when either is wide (Korean,
        CJK: Latin words and rows of figures are not judged) and both stand on one horizontal line."""
        if not (is_wide(text[i]) or is_wide(text[j])):
            return None
        before, after = char_index(i), char_index(j)
        (x_before, y_before), (x_after, y_after) = origin(before), origin(after)
        em = font_size(after)
        if abs(y_after - y_before) > 0.2 * em or x_after <= x_before:
            return None
        raw.FPDFText_GetLooseCharBox(handle, before, loose)  # from the origin, as wide as the advance: the
        return (x_after - loose.right) / em                  # glyph's ink does not matter

    def generated(k: int) -> bool:
        return raw.FPDFText_IsGenerated(handle, char_index(k)) == 1

    chars = list(text)
    for m in re.finditer("[^\n\ufffe\x02]+", text):
        for k in letter_spacing(text, m.start(), m.end(), gap_after) \
                + closing_spaces(text, m.start(), m.end(), gap_after, generated):
            chars[k] = PHANTOM
    text = "".join(chars)

    def last_piece(body: str, first: int, size: float) -> tuple[str, float, float] | None:
        """The last word or two of a line when a gap over half an em comes before them (see Line.note)."""
        k = len(body)
        for _ in range(3):  # a margin note is a word or two (`☜ v3.6`), a line's end runs on without gaps
            k = body.rfind(" ", 0, k)
            if k <= 0 or body[k - 1] == " ":
                return None
            right, left = box(char_index(first + k - 1))[1], box(char_index(first + k + 1))[0]
            if left - right > 0.5 * size:
                return body[k + 1:], right, left
        return None

    def word_spaces(body: str, first: int, size: float) -> list[float]:
        """The width of each single space between two words of a line, in em (the gap between the characters'
        boxes on either side)."""
        widths = []
        for k in range(1, len(body) - 1):
            if body[k] == " " and body[k - 1] != " " and body[k + 1] != " ":
                widths.append((box(char_index(first + k + 1))[0] - box(char_index(first + k - 1))[1]) / size)
        return widths

    def on_page(body: str, first: int, right: float) -> int:
        """How many of a line's first characters start left of the page's right edge `right` (a line's characters
        run left to right: a binary search, not a box per character of a 30,000-character line)."""
        lo, hi = 1, len(body)  # the first character starts on the page
        while lo < hi:
            mid = (lo + hi) // 2
            if box(char_index(first + mid))[0] < right:
                lo = mid + 1
            else:
                hi = mid
        return lo

    lines: list[Line] = []
    leads: list[tuple] = []  # (line, number, bottom, top of its text): spaced_mark's, for drop_spaced_marks
    hidden = footnote_marks = clipped = 0
    pos, n = 0, len(text)
    breaks = _BREAK_RE.finditer(text)
    while pos < n:
        m = next(breaks, None)
        end = n if m is None else m.end() if m.group() in _SOFT else m.start()  # a soft hyphen ends its line
        raw_line = text[pos:end].rstrip("\r")
        start_ti, pos = pos, (n if m is None else m.end())
        body = raw_line.strip()
        if not body:
            continue
        first = start_ti + (len(raw_line) - len(raw_line.lstrip()))
        ci0, ci1 = char_index(first), char_index(first + len(body) - 1)
        if ci0 < 0 or ci1 < ci0:
            continue
        # Character boxes, not PDFium's text rectangles: fonts without vertical metrics give flat boxes that
        # the rectangles leave out. The loose box (font ascent/descent) gives the line's height.
        x0, x1 = box(ci0)[0], box(ci1)[1]
        if x0 < right and x1 > right + 2.0 * font_size(ci0) and len(body) > 1:
            keep = on_page(body, first, right)  # runs off the page: its characters past the edge are not seen
            clipped += len(body) - keep
            body = body[:keep].rstrip()
            ci1 = char_index(first + len(body) - 1)
            x1 = box(ci1)[1]
        raw.FPDFText_GetLooseCharBox(handle, ci0, loose)
        y0, y1 = loose.bottom, loose.top
        size = font_size(ci0)
        vertical, cells = False, None
        forms = all(map(is_vertical_form, body.replace(" ", "")))  # ︙︙ alone: a column's piece, however short
        if x1 - x0 < 2.0 * size and (forms or len(body) >= 3 and sum(map(is_wide, body)) >= 2):
            cells, xs = [], []  # perhaps a column PDFium made one line: its characters one below the other
            for k, ch in enumerate(body):
                ci = char_index(first + k)
                raw.FPDFText_GetCharBox(handle, ci, l_, r_, b_, t_)
                raw.FPDFText_GetLooseCharBox(handle, ci, loose)  # a slot's full height: the gaps between the
                cells.append((ch, loose.bottom, loose.top))       # slots are 0 where syllables touch, whatever
                xs += [l_.value, r_.value]                        # the glyph (a flat box: no outline to measure)
            tall = max(c[2] for c in cells) - min(c[1] for c in cells) > 2.5 * size
            if stacks_down(cells, size) and (tall or forms):
                vertical = True  # its word spaces: pdf_vertical, from the gaps of all the page's columns
                x0, x1 = min(xs), max(xs)
                y0, y1 = min(c[1] for c in cells), max(c[2] for c in cells)
            else:
                cells = None
        marks, note, lead = 0, None, None
        if not vertical and " " in body and x1 - left > 0.6 * width:  # perhaps a margin note at its end
            note = last_piece(body, first, size)
        if not vertical:
            def probe(offset: int, first: int = first) -> tuple[float, float, float]:
                ci = char_index(first + offset)
                raw.FPDFText_GetCharBox(handle, ci, l_, r_, b_, t_)
                bottom = b_.value
                raw.FPDFText_GetCharOrigin(handle, ci, l_, b_)
                return type_size(ci), bottom, b_.value

            read, (body, marks) = body, strip_marks(body, size, probe)
            numbered = body[:1].isdigit() and " " in body[:4] or body[:1] in LETTER_MARKS and body[1:2] == " "
            if numbered and marks == 0:  # a footnote: its text's size, not its mark's
                k = body.index(" ")  # where its text starts in what PDFium read: after the space there, or at the
                start = k + 1 if read[k] == " " else k  # space strip_marks put between a glued number and it
                size = font_size(char_index(first + start))
                if read[k] == " " and (number := spaced_mark(read, probe)) is not None:
                    raw.FPDFText_GetLooseCharBox(handle, char_index(first + start), loose)
                    lead = (number, loose.bottom - bottom, loose.top - bottom)  # a mark, if its footnote is here
        if not (-0.5 * size < (y0 + y1) / 2 - bottom < height + 0.5 * size and x1 > left and x0 < right):
            hidden += 1  # outside the crop box: not on the visible page
            continue
        footnote_marks += marks
        gaps, even = 0, False
        if " " in body:  # gaps wider than 1 em between PDFium's text rectangles separate table cells
            rects = []
            for i in range(raw.FPDFText_CountRects(handle, ci0, ci1 - ci0 + 1)):
                raw.FPDFText_GetRect(handle, i, l_, t_, r_, b_)
                rects.append((l_.value, r_.value))
            rects.sort()
            gaps = sum(1 for a, b in zip(rects, rects[1:]) if b[0] - a[1] > 1.0 * size)
        even = gaps > 0 and evenly_spaced(word_spaces(text[first:first + len(raw_line.strip())], first, size))
        soft = body[-1] in _SOFT
        if soft:
            body = body[:-1] + "-"
        body = body.replace(PHANTOM, "")
        note = note and (note[0].replace(PHANTOM, ""), note[1], note[2])
        lines.append(Line(body, x0 - left, y0 - bottom, x1 - left, y1 - bottom, size, gaps, soft, even=even,
                          vertical=vertical,
                          cells=cells and [(ch, b - bottom, t - bottom) for ch, b, t in cells],
                          note=note and (note[0], note[1] - left, note[2] - left)))
        if lead:
            leads.append((lines[-1], *lead))
    footnote_marks += drop_spaced_marks(lines, leads)
    marks = mark_lines(lines)
    if marks:
        lines = [ln for ln in lines if all(ln is not m for m in marks)]
    return PageLines(width, height, lines, n, hidden, footnote_marks + len(marks), clipped)
