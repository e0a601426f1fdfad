"""Margin notes (axk1/data/pdf_layout.py, split_margin_notes): the TeX Korean manuals (luatexko-doc.pdf,
xetexko-doc.pdf) set a keyword beside a paragraph's line, in the right margin (`Protrusion`, `☜ v3.6`). PDFium
reads it into the line: the line ended past the block's edge, the wrap stopped there, and its gap made it a table
row nothing joins (`…기능이다. LuaTEX은 Protrusion` / `기본값으로…`)."""

from axk1.data.pdf import PdfConfig, extract_pdf
from axk1.data.pdf_render import KOREAN_FONTS, _register_fonts

WIDTH = 390.0  # the text block: 72 to 462 points

# (line, margin note): full lines set to the block's width (character spacing), a paragraph's last line short
LINES = [("Protrusion 특정 글자가 행 끝에 왔을 때 판면 바깥으로 끌어내는 기능이다. LuaTEX은", "Protrusion"),
         ("기본값으로 온점 반점 등을 완전 글자내밀기 한다. Protrusion은 Protrusion=default,", None),
         ("자신만의 설정을 만들어 지정할 수 있다.", None),
         ("일정한 영문 문장부호들은 한글 폰트로 식자된다. 즉, \\hangulpunctuations=1이 기본,", "\\hangulpunctuations"),
         ("0을 지시해야 이 기능이 비로소 꺼진다. 고정폭 글꼴일 때에도 작동하지 않는다.", "☜ v3.6"),
         ("그러므로 주의할 것.", None)]


def render_margin_notes_pdf(path):
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    _register_fonts()
    font = KOREAN_FONTS[0]
    c = canvas.Canvas(str(path))
    y = 720
    for i, (text, note) in enumerate(LINES):
        full = i not in (2, 5)
        spacing = (WIDTH - stringWidth(text, font, 10)) / (len(text) - 1) if full else 0
        c.setFont(font, 10)
        c.drawString(72, y, text, charSpace=spacing)
        if note:  # 12 points right of the block, smaller
            c.setFont(font if not note.isascii() else "Helvetica", 8)
            c.drawString(72 + WIDTH + 12, y + 1, note)
        y -= 16 if i != 2 else 28  # a paragraph gap after the first paragraph
    c.showPage()
    c.save()
    return path


def test_a_margin_note_leaves_its_line_and_the_paragraph_joins(tmp_path):
    res = extract_pdf(render_margin_notes_pdf(tmp_path / "margin.pdf"), PdfConfig(ocr="none"))
    lines = [t for t, _ in LINES]
    assert res.text == "\n".join([" ".join(lines[:3]), " ".join(lines[3:])])
    assert res.dropped["margin_lines"] == 3


# A price list: code, quantity (right-aligned), item name (ragged) - the layout of pypdf's issue-914-xmp-data.pdf,
# whose 44 item names, one beside every row, were all dropped as margin notes.
ROWS = [("302000001", "10.12", "두부"), ("302000002", "-2.98", "콩나물무침"), ("302000005", "45.86", "고사리"),
        ("310020059", "-6.81", "앞다리살"), ("310040001", "-0.32", "오이"), ("310040002", "-0.4", "깻잎절임"),
        ("310040003", "-0.74", "대파"), ("313000001", "179.48", "닭날개1kg")]


def render_price_list_pdf(path, with_code: bool):
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    _register_fonts()
    font = KOREAN_FONTS[0]
    c = canvas.Canvas(str(path))
    y = 720
    for code, qty, name in ROWS:
        c.setFont(font, 10)
        if with_code:
            c.drawString(72, y, code)  # a cell 5 em left of the next: a table gap
        c.drawString(350 - stringWidth(qty, font, 10), y, qty)  # right-aligned at 350
        c.drawString(357, y, name)  # 0.7 em after the numbers: a gap a margin note would have
        y -= 16
    c.showPage()
    c.save()
    return path


def test_a_tables_last_column_is_no_margin_note(tmp_path):
    for with_code in (True, False):  # on rows with table gaps, and on rows with no other gap (a two-column list)
        res = extract_pdf(render_price_list_pdf(tmp_path / f"list{with_code}.pdf", with_code), PdfConfig(ocr="none"))
        assert "margin_lines" not in res.dropped, (with_code, res.dropped)
        for code, qty, name in ROWS:  # each name in its row (the list's rows may wrap into each other: no matter)
            assert (f"{code} {qty} {name}" if with_code else f"{qty} {name}") in res.text, res.text
