"""Footnote marks (axk1/data/pdf_footnotes.py): small raised digits that PDFium gives as plain digits, read into
the word beside them (`상황2을`, `걸린다.5`) and into a footnote's first word (`5소문에 의하면`): 143 footnote
numbers glued to their text at a line start in 18 Debian documents, 25 after (the rest are text: `64비트`)."""

from axk1.data.pdf import PdfConfig, extract_pdf
from axk1.data.pdf_footnotes import strip_marks
from axk1.data.pdf_render import KOREAN_FONTS, _register_fonts


def _draw(c, x: float, y: float, pieces: list[tuple[str, float, float]]) -> None:
    """One line in one text object: (text, size, rise) pieces, digits in Helvetica (PDFium drops a lone glyph
    of a Korean CID font that is not embedded), the rest in a Korean font."""
    t = c.beginText(x, y)
    for text, size, rise in pieces:
        t.setFont("Helvetica" if text.isascii() else KOREAN_FONTS[0], size)
        t.setRise(rise)
        t.textOut(text)
    c.drawText(t)


def render_footnoted_pdf(path):
    from reportlab.pdfgen import canvas

    _register_fonts()
    c = canvas.Canvas(str(path))
    _draw(c, 72, 700, [("특수한 상황", 10, 0), ("2", 6, 3), ("을 위하여 마련한 기능입니다.", 10, 0)])
    _draw(c, 72, 100, [("5", 5, 3), ("소문에 의하면 이 점이 바뀐다고 한다.", 8, 0)])
    c.showPage()
    c.save()
    return path


def test_marks_are_left_out_and_a_footnotes_number_stands_apart(tmp_path):
    res = extract_pdf(render_footnoted_pdf(tmp_path / "fn.pdf"), PdfConfig(ocr="none"))
    lines = res.text.split("\n")
    assert lines[0] == "특수한 상황을 위하여 마련한 기능입니다."
    assert lines[-1] == "5 소문에 의하면 이 점이 바뀐다고 한다."
    assert res.dropped["footnote_marks"] == 1


def test_strip_marks_on_its_own():
    boxes = {i: (10.0, 0.0, 0.0) for i in range(40)}  # (size, box bottom, baseline)

    def probe(i):
        return boxes[i]

    # a mark after a full stop, and an exponent (PDFium puts a raised digit after a short glyph of a font that
    # is not embedded on a line of its own, so these are not drawn)
    body = "코드가1 데비안 3.14와 x2 그리고 끝.5"
    boxes[3] = (6.0, 4.0, 4.0)     # 1: small and raised, after a word: a mark
    boxes[16] = (6.0, 4.0, 4.0)    # 2 of x2: after one Latin letter, an exponent
    boxes[24] = (6.0, 4.0, 4.0)    # 5 after 끝.: a mark
    assert strip_marks(body, 10.0, probe) == ("코드가 데비안 3.14와 x2 그리고 끝.", 2)
    assert strip_marks("판별식은 b2 − 4ac", 10.0, lambda i: (6.0, 4.0, 4.0) if i == 6 else (10.0, 0.0, 0.0))[1] == 0


BODY = ["Surgery is the primary treatment for most differentiated thyroid carcinomas, and the extent",
        "of the operation depends on the size of the tumor, the findings of the ultrasound and the",
        "results of the biopsy. A lobectomy is enough for many small tumors confined to one lobe,",
        "while a total thyroidectomy is advised when the tumor is large or has spread to the nodes."]


def render_lettered_pdf(path, matrix_sizes: bool = False):
    """Two footnotes numbered with raised lowercase letters, as a table's notes are (an NCCN guideline, pypdf's
    issue-604.pdf: `ᵈMinimally invasive ...` read as `dMinimally`). `matrix_sizes`: sizes set by the text matrix
    over a 1-point font, as InDesign and Quartz write them (PDFium then says 1 for the mark and its text alike),
    the mark at 0.8 of its text's size, as that guideline sets it."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    c.setFont("Helvetica", 11)
    for k, line in enumerate(BODY):
        c.drawString(72, 700 - 14 * k, line)
    for y, mark, text in ((120, "d", "Minimally invasive follicular carcinoma is an encapsulated tumor."),
                          (100, "e", "Formerly called the encapsulated follicular variant of the carcinoma.")):
        t = c.beginText()
        if matrix_sizes:
            t.setTextTransform(8, 0, 0, 8, 72, y + 3)
            t.setFont("Helvetica", 1)
            t.textOut(mark)
            t.setTextTransform(10, 0, 0, 10, 72 + stringWidth(mark, "Helvetica", 8), y)
            t.textOut(text)
        else:
            t.setTextOrigin(72, y)
            t.setFont("Helvetica", 6)
            t.setRise(3)
            t.textOut(mark)
            t.setFont("Helvetica", 10)
            t.setRise(0)
            t.textOut(text)
        c.drawText(t)
    c.showPage()
    c.save()
    return path


def test_a_footnote_lettered_at_a_line_start_stands_apart(tmp_path):
    for matrix_sizes in (False, True):
        res = extract_pdf(render_lettered_pdf(tmp_path / f"fn{matrix_sizes}.pdf", matrix_sizes), PdfConfig(ocr="none"))
        lines = res.text.split("\n")
        assert lines[-2:] == ["d Minimally invasive follicular carcinoma is an encapsulated tumor.",
                              "e Formerly called the encapsulated follicular variant of the carcinoma."], matrix_sizes
        assert lines[0] == " ".join(BODY) and res.dropped.get("footnote_marks", 0) == 0


def test_a_lowercase_word_at_a_line_start_is_no_mark():
    """A letter is a mark only when smaller than the text after it and its baseline raised against the text's
    (a g's box hangs below its baseline: `gEstimated` stayed glued when box bottoms were compared)."""
    def probe(i):
        return (10.0, 0.0, 0.0)

    assert strip_marks("aThis line starts glued", 10.0, probe) == ("aThis line starts glued", 0)
    assert strip_marks("dMinimally", 10.0, lambda i: (8.0, 3, 3) if i == 0 else (10.0, 0, 0)) == ("d Minimally", 0)
    assert strip_marks("gEstimated", 10.0, lambda i: (8.0, 1, 3) if i == 0 else (10.0, 0, 0)) == ("g Estimated", 0)
    assert strip_marks("dMinimally", 10.0, lambda i: (8.0, 1, 1) if i == 0 else (10.0, 0, 0))[0] == "dMinimally"


def test_marks_one_after_another_all_go(tmp_path):
    """luatexko-doc.pdf p.6 sets four marks after one sentence (`준다.²⁴ ²⁵ ²⁶ ²⁷`) and PDFium puts a space between
    them: only the first was left out (`준다. 25 26 27 세로쓰기에서`). Digits in the line's size after a mark are
    text (`한 번¹³ 12 38`)."""
    from reportlab.pdfgen import canvas

    _register_fonts()
    path = tmp_path / "marks.pdf"
    c = canvas.Canvas(str(path))
    _draw(c, 72, 700, [("폰트에 RawFeature=vertical 옵션을 준다.", 10, 0), ("24", 7, 3.5), (" 25", 7, 3.5),
                       (" 26", 7, 3.5), (" 27", 7, 3.5), (" 세로쓰기에서 효과는 제6절을 참조.", 10, 0)])
    _draw(c, 72, 670, [("각주는 한 번", 10, 0), ("13", 7, 3.5), (" 12 38 같은 숫자는 그대로 둔다. 이 줄이 더 길다.", 10, 0)])
    c.showPage()
    c.save()
    res = extract_pdf(path, PdfConfig(ocr="none"))
    assert res.text.replace("\n", " ") == ("폰트에 RawFeature=vertical 옵션을 준다. 세로쓰기에서 효과는 제6절을 참조. "
                                         "각주는 한 번 12 38 같은 숫자는 그대로 둔다. 이 줄이 더 길다.")
    assert res.dropped["footnote_marks"] == 5


def test_a_mark_read_as_a_line_of_its_own_is_left_out_but_not_an_exponent():
    from axk1.data.pdf_footnotes import mark_lines
    from axk1.data.pdf_lines import Line

    prose = Line("특수문자의 예를 표 1.1에서 보였다.", 72, 600, 300, 610.5, 10.5)
    mark = Line("1", 300.5, 604.5, 303, 610, 6.1)           # LibreOffice: after the paragraph's last word, raised
    formula = Line("k2 =", 72, 500, 100, 510.5, 10.5)
    power = Line("2", 100.5, 504.5, 103, 510, 6.1)           # lshort-ko.pdf: `π²/6`'s numerator, not a mark
    lone = Line("3", 200, 400, 203, 406, 6.1)                 # stands at the end of nothing
    assert mark_lines([prose, mark, formula, power, lone]) == [mark]
