"""Two columns found where the gutter is narrow or full-width lines are many (axk1/data/pdf_layout.py::find_gutter):
LibreOffice sets columns 0 to 0.2 cm apart when asked (its default spacing is 0), and a first page's title,
abstract and footnotes cross the gutter. Each page here draws its columns' lines alternately, left then right, so a
page read as one column comes out with the two columns' lines interleaved. The columns' lines are double spaced,
the right column's half a row lower, so that no two lines overlap: lines that do, this close, PDFium reads as one
line, which no column finding undoes."""

import random

from axk1.data.pdf import PdfConfig, extract_pdf
from axk1.data.pdf_layout import find_gutter
from axk1.data.pdf_render import KOREAN_FONTS, _register_fonts
from axk1.data.textgen import korean_paragraph

FONT, SIZE, PITCH, ROW = KOREAN_FONTS[0], 10.0, 13.0, 26.0


def _wrap(text: str, width: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}" if cur else word
        if cur and stringWidth(trial, FONT, SIZE) > width:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    return lines + [cur]


def _justified(c, x: float, y: float, text: str, width: float) -> None:
    """`text` stretched to `width` by character spacing (0: as it is), its last character ending there."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    t = c.beginText(x, y)
    t.setFont(FONT, SIZE)
    if width and len(text) > 1:
        t.setCharSpace((width - stringWidth(text, FONT, SIZE)) / (len(text) - 1))
    t.textOut(text)
    c.drawText(t)


def _two_column_page(path, gutter: float, band_lines: int, seed: int = 0) -> tuple[str, str, str, str]:
    """A page of two ragged columns `gutter` points apart, one paragraph each, drawn a line of each in turn;
    above them `band_lines` full-width lines of an abstract, below them a full-width footnote. Returns the four
    paragraphs: abstract, left, right, footnote."""
    from reportlab.pdfgen import canvas

    _register_fonts()
    rng = random.Random(seed)
    left_x, full = 60.0, 470.0
    col = (full - gutter) / 2
    abstract = korean_paragraph(rng, sentences=2 * band_lines) if band_lines else ""
    left, right = korean_paragraph(rng, sentences=10), korean_paragraph(rng, sentences=10)
    note = korean_paragraph(rng, sentences=2)
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    y = 780.0
    c.setFont(FONT, SIZE)
    band = _wrap(abstract, full) if band_lines else []
    assert len(band) >= band_lines
    for ln in band:
        c.drawString(left_x, y, ln)
        y -= PITCH
    y -= 2 * PITCH
    lefts, rights = _wrap(left, col), _wrap(right, col)
    for i in range(max(len(lefts), len(rights))):  # the stream interleaves the columns, a line of each in turn
        for x, rows, drop in ((left_x, lefts, 0.0), (left_x + col + gutter, rights, 0.5)):
            if i < len(rows):  # right column half a row lower, its lines overlapping none of the left's
                _justified(c, x, y - (i + drop) * ROW, rows[i], col if i < len(rows) - 1 else 0.0)
    note = _wrap(note, full)[0]  # one line across both columns
    c.setFont(FONT, 7.0)
    c.drawString(left_x, 90, note)
    c.showPage()
    c.save()
    return abstract, left, right, note


def _lines_in_order(text: str, *paragraphs: str) -> bool:
    """Each paragraph whole on a line of its own, in this order."""
    lines = text.split("\n")
    try:
        at = [lines.index(p) for p in paragraphs]
    except ValueError:
        return False
    return at == sorted(at)


def test_a_gutter_of_two_points_splits_the_columns(tmp_path):
    # LibreOffice's 0.1 cm column spacing leaves 2 to 4 points between justified Korean columns; 6 were asked for
    _, left, right, _ = _two_column_page(tmp_path / "narrow.pdf", gutter=3.0, band_lines=0)
    res = extract_pdf(tmp_path / "narrow.pdf", PdfConfig(ocr="none"))
    assert res.page_methods == ["pdfium-columns"]
    assert _lines_in_order(res.text, left, right), res.text[:400]


def test_a_full_width_abstract_and_footnote_do_not_hide_the_columns(tmp_path):
    # 10 or more abstract lines and a footnote cross the gutter: more than the 15% of the lines a gutter may have across
    abstract, left, right, note = _two_column_page(tmp_path / "band.pdf", gutter=14.0, band_lines=10)
    res = extract_pdf(tmp_path / "band.pdf", PdfConfig(ocr="none"))
    assert res.page_methods == ["pdfium-columns"]
    assert _lines_in_order(res.text, abstract, left, right, note), res.text[:400]


def _rows(x0: float, x1: float, top: float, n: int) -> list[tuple[float, float, float, float]]:
    return [(x0, top - 12 * i - 10, x1, top - 12 * i) for i in range(n)]


def test_narrow_lines_set_side_by_side_inside_running_text_are_no_columns():
    # lshort-ko.pdf: LaTeX source beside its typeset output, with the page's running text above, between and below
    text = _rows(72, 500, 760, 6) + _rows(72, 500, 520, 4) + _rows(72, 500, 300, 6)
    box = _rows(80, 270, 680, 6) + _rows(300, 490, 680, 5) + _rows(80, 200, 460, 6) + _rows(300, 480, 460, 5)
    assert find_gutter(text + box) is None
    # the same narrow lines as a page's two columns under its abstract and over its footnotes are columns
    page = _rows(72, 500, 760, 4) + _rows(80, 280, 700, 30) + _rows(290, 490, 700, 30) + _rows(72, 500, 320, 6)
    assert find_gutter(page) is not None
