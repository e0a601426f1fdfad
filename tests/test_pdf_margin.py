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
