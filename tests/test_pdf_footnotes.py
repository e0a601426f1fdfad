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


def render_mark_opening_a_line(path):
    """kotex-utf-doc.pdf p.55 (Debian texlive-lang-korean): `작성하였다.²` with the period from an embedded font,
    whose box is flat, so PDFium starts a line at the raised mark and reads `2 그 성과물로 …` after a line
    `블을 작성하였다.` on the same baseline; footnote 2 at the page's foot."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    _register_fonts()
    pdfmetrics.registerFont(TTFont("Vera", "Vera.ttf"))  # shipped with reportlab
    c = canvas.Canvas(str(path))

    def run(x, y, text, font, size):
        t = c.beginText(x, y)
        t.setFont(font, size)
        t.textOut(text)
        c.drawText(t)
        return x + stringWidth(text, font, size)

    run(72, 720, "1 첫째 항목.", KOREAN_FONTS[0], 10)  # a list item's number stays
    x = run(run(72, 700, "블을 작성하였다", KOREAN_FONTS[0], 10), 700, ".", "Vera", 10)
    x = run(x + 0.8, 703.8, "2", "Vera", 7.3)
    run(x + 5, 700, "그 성과물로 포함된 것이 여러 유틸리티들이다.", KOREAN_FONTS[0], 10)
    run(run(72, 100, "2", "Vera", 5) + 2, 97, "누리집에 대응표가 있다.", KOREAN_FONTS[0], 8)
    c.showPage()
    c.save()
    return path


def test_a_mark_read_at_a_line_start_goes_when_its_footnote_is_on_the_page(tmp_path):
    res = extract_pdf(render_mark_opening_a_line(tmp_path / "lead.pdf"), PdfConfig(ocr="none"))
    assert res.text.split("\n") == ["1 첫째 항목.", "블을 작성하였다. 그 성과물로 포함된 것이 여러 유틸리티들이다.",
                                    "2 누리집에 대응표가 있다."]
    assert res.dropped["footnote_marks"] == 1


def test_a_leading_number_stays_unless_it_ends_a_word_and_numbers_a_footnote_below():
    from axk1.data.pdf_footnotes import drop_spaced_marks
    from axk1.data.pdf_lines import Line

    def page():
        return [Line("피타고라스의 정리: a", 72, 600, 170, 610, 10), Line("2 + b", 171, 600, 200, 610, 10),  # b²
                Line("끝났다.", 72, 580, 110, 590, 10), Line("3 그 다음", 111, 580, 200, 590, 10),  # no footnote 3
                Line("2 각주의 글.", 72, 100, 200, 108, 8)]

    lines = page()
    assert drop_spaced_marks(lines, [(lines[1], 2, 600, 610), (lines[3], 3, 580, 590)]) == 0
    assert [ln.text for ln in lines] == [ln.text for ln in page()]
    lines = page()
    lines[3].text = "2 그 다음"
    assert drop_spaced_marks(lines, [(lines[3], 2, 580, 590)]) == 1
    assert [ln.text for ln in lines][2:] == ["끝났다. 그 다음", "2 각주의 글."]


def test_a_leading_footnote_number_glued_to_a_digit_stands_apart():
    """kotex-utf-doc.pdf p.45: footnote 2 reads `18페이지에 …`, and PDFium gave `218페이지에`."""
    def probe(i):
        return (6.0, 4.0, 4.0) if i == 0 else (8.0, 0.0, 0.0)

    assert strip_marks("218페이지에 설명이 있다.", 8.0, probe) == ("2 18페이지에 설명이 있다.", 0)
    assert strip_marks("123.9.1절에", 8.0, lambda i: (6.0, 4.0, 4.0) if i < 2 else (8.0, 0.0, 0.0))[0] == \
        "12 3.9.1절에"
    assert strip_marks("2018년에", 8.0, lambda i: (8.0, 0.0, 0.0))[0] == "2018년에"  # a year


def _page(marks: int, *lines):
    from axk1.data.pdf_lines import Line, PageLines

    return PageLines(500, 800, [Line(t, 72, y, 72 + w, y + s, s) for t, y, w, s in lines], 100, footnote_marks=marks)


def test_numbering_that_starts_again_resets_the_count_of_marks():
    """A chapter restarts its footnotes at 1: the marks of the chapters before no longer wait for footnotes, so a
    small line starting with the next number on a page without marks is no carried footnote (`2개월`)."""
    from axk1.data.pdf_footnotes import space_footnote_numbers

    body = ("본문의 한 줄이 여기에 길게 놓여 있다고 하자.", 700, 300, 10)
    pages = [_page(3, body, ("1각주 하나.", 120, 100, 8), ("2각주 둘.", 110, 100, 8), ("3각주 셋.", 100, 100, 8)),
             _page(1, body, ("1새 장의 각주.", 100, 100, 8)),
             _page(0, body, ("2개월 뒤의 표를 보라.", 100, 100, 8))]
    space_footnote_numbers(pages)
    assert [ln.text for ln in pages[1].lines][1] == "1 새 장의 각주."
    assert pages[2].lines[1].text == "2개월 뒤의 표를 보라." and not pages[2].lines[1].footnote
    # a footnote carried over after the restart is still found: two marks, one footnote on their page
    pages = [_page(3, body, ("1각주 하나.", 120, 100, 8), ("2각주 둘.", 110, 100, 8), ("3각주 셋.", 100, 100, 8)),
             _page(2, body, ("1새 장의 각주.", 100, 100, 8)), _page(0, body, ("2연구진은 말했다.", 100, 100, 8))]
    space_footnote_numbers(pages)
    assert pages[2].lines[1].text == "2 연구진은 말했다." and pages[2].lines[1].footnote


SPLIT_BODY = [["이 문단은 본문의 글자 크기로", "짜여 있고 쪽의 대부분을", "차지한다. 각주보다 본문이",
               "길어야 글자 크기를 안다.", "본문의 줄은 각주의 줄보다", "좁게 짜서 각주가 꽉 찬다."],
              ["둘째 쪽도 본문의 글자 크기로", "짜인 문단으로 시작한다. 같은",
               "자리에 같은 줄이 거듭 나오면", "머리말로 빠지므로 다르다.", "이 쪽에도 각주가 하나 있고",
               "앞쪽 각주의 나머지도 있다."]]
# the body's type size holds most of each page's text, in lines narrower than the footnote's (which run full);
# not the same lines on both pages, which would be a running header


def _render_two_pages(path, bodies: list[list[str]], notes: list[list[list[tuple[str, float, float]]]]):
    """Two pages, each a paragraph (`bodies`, its last line `첫 쪽은 끝난다.` / `둘째 쪽도 끝난다.` ending in a
    mark) with lines in small type at its foot (`notes`, a page's lines of pieces, an empty one a blank line)."""
    from reportlab.pdfgen import canvas

    _register_fonts()
    c = canvas.Canvas(str(path))
    for page, (body, end, foot) in enumerate(zip(bodies, ("첫 쪽은 끝난다.", "둘째 쪽도 끝난다."), notes)):
        for k, line in enumerate(body):
            _draw(c, 72, 740 - 14 * k, [(line, 10, 0)])
        _draw(c, 72, 740 - 14 * len(body), [(end, 10, 0), (str(page + 1), 6, 3)])
        for k, pieces in enumerate(foot):
            if pieces:
                _draw(c, 72, 120 - 10 * k, pieces)
        c.showPage()
    c.save()
    return path


def render_split_footnote(path):
    """A footnote TeX split over the page end: its rest at the next page's foot, unnumbered, above that page's
    own footnote."""
    return _render_two_pages(path, SPLIT_BODY, [
        [[("1", 5, 3), ("각주의 첫 줄은 이렇게 길게 오른쪽 끝까지 이어지며 다음", 8, 0)],
         [("줄에서도 쪽의 끝에 이를 때까지 계속되어 다음 쪽으로 넘어가며,", 8, 0)]],
        [[("거기서 끝난다.", 8, 0)], [], [("2", 5, 3), ("둘째 각주.", 8, 0)]]])


def test_a_footnote_split_over_the_page_end_is_read_whole(tmp_path):
    """Its rest was read as the next page's body text, after that page's paragraph; now it follows the footnote,
    joined as a wrapped line, before the next page's body."""
    res = extract_pdf(render_split_footnote(tmp_path / "split.pdf"), PdfConfig(ocr="none"))
    lines = res.text.split("\n")
    note = ("1 각주의 첫 줄은 이렇게 길게 오른쪽 끝까지 이어지며 다음 줄에서도 쪽의 끝에 이를 때까지 계속되어 다음 쪽으로 "
            "넘어가며, 거기서 끝난다.")
    assert note in lines and lines.index(note) == lines.index("첫 쪽은 끝난다.") + 1, lines
    assert lines[lines.index(note) + 1].startswith("둘째 쪽도 본문의"), lines
    assert lines[-1] == "2 둘째 각주." and res.text.count("거기서 끝난다.") == 1, lines
    assert res.dropped["footnote_marks"] == 2


def test_a_short_footnote_does_not_take_the_next_pages_small_type(tmp_path):
    """A one-line footnote is its own widest line: measured against the footnotes alone it ran "to the edge", and
    the next page's unnumbered small line at its foot (a table's source) was read on the page before, after the
    footnote. Measured against the body's right edge it ends on its page, and the source line stays last."""
    bodies = [SPLIT_BODY[0], SPLIT_BODY[1][:4] + ["이 쪽에는 각주가 없고", "표의 출처가 아래에 있다."]]
    path = _render_two_pages(tmp_path / "source.pdf", bodies, [
        [[("1", 5, 3), ("짧은 각주.", 8, 0)]], [[("출처: 통계청 자료를 바탕으로 필자 작성", 8, 0)]]])
    lines = extract_pdf(path, PdfConfig(ocr="none")).text.split("\n")
    assert lines[lines.index("첫 쪽은 끝난다.") + 1] == "1 짧은 각주.", lines
    assert lines[lines.index("1 짧은 각주.") + 1].startswith("둘째 쪽도 본문의"), lines
    assert lines[-1] == "출처: 통계청 자료를 바탕으로 필자 작성", lines


def _two_column_page(footnote_x: float) -> tuple[list, list]:
    """Synthetic lines: a page of two 10 pt columns (50-290, 310-550) with a two-line 8 pt footnote at the foot
    of the column starting at `footnote_x`, its last line running to that column's edge; the next page has an
    unnumbered 8 pt line at that column's foot, below all its body lines."""
    from axk1.data.pdf_lines import Line

    def line(text, x0, y, x1, size, **kw):
        return Line(text, x0, y, x1, y + size, size, **kw)
    before = [line("왼쪽 단의 본문 문장입니다", 50, 700 - 14 * i, 290, 10) for i in range(40)]
    before += [line("오른쪽 단의 본문 문장입니다", 310, 700 - 14 * i, 550, 10) for i in range(40)]
    right = footnote_x + 240
    before += [line("1) 각주의 첫 줄은 단의 끝까지 이어진다", footnote_x, 90, right, 8, footnote=True),
               line("각주의 둘째 줄도 단의 끝에 닿아 다음 쪽으로 넘어간다", footnote_x, 80, right, 8)]
    body = [line("다음 쪽 본문", x, 700 - 14 * i, x + 240, 10) for x in (50, 310) for i in range(40)]
    body.append(line("넘어온 각주의 나머지 부분이다", footnote_x, 90, footnote_x + 150, 8))
    return before, body


def test_a_split_footnote_in_a_column_is_found_against_its_columns_edge():
    """The edge was the page's widest body line: a footnote at the foot of the left column (ending at 290) never
    reached the right column's edge (550), and its rest on the next page was read as body text. Measured within
    the footnote's own column it runs to the edge, in either column."""
    from axk1.data.pdf_footnotes import mark_continued_note

    for x in (50, 310):
        before, body = _two_column_page(x)
        mark_continued_note(before, body)
        assert body[-1].continued_note, x
        assert not any(ln.continued_note for ln in body[:-1]), x


def test_a_short_footnote_in_a_column_is_not_taken_as_split():
    """Against its own column's edge a footnote whose last line stops short still ends on its page."""
    from axk1.data.pdf_footnotes import mark_continued_note

    before, body = _two_column_page(50)
    before[-1].x1 = 200
    mark_continued_note(before, body)
    assert not any(ln.continued_note for ln in body)
