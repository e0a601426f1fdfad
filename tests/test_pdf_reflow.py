"""Joining wrapped lines (axk1/data/pdf_reflow.py): what may never be joined to the line above."""

from axk1.data.pdf import PdfConfig, extract_pdf
from axk1.data.pdf_render import KOREAN_FONTS, _register_fonts

# Getting-Started-with-the-Rcmdr-ko.pdf p.3: R Commander's menu tree, each branch a line starting with leader dots
# and a bar. The lines are short, their first words (the dots) long: every one looked full, and the menu ran
# together (`편집하기 - 자르기 .......| - 복사하기`, `.......| - 붙이기 .......| - 지우기 .......| - 찾기`).
MENU = ["편집하기 - 자르기",
        ".......| - 복사하기",
        ".......| - 붙이기",
        "....................| - 지우기",
        "|SAS xport 파일에서",
        "├─ 도구 - 패키지 불러오기",
        "└─ 도움말"]


def test_the_branches_of_a_menu_tree_are_never_joined(tmp_path):
    _register_fonts()
    from reportlab.pdfgen import canvas

    path = tmp_path / "menu.pdf"
    c = canvas.Canvas(str(path))
    c.setFont(KOREAN_FONTS[0], 10)
    for i, line in enumerate(MENU):
        c.drawString(106, 700 - 12 * i, line)
    c.showPage()
    c.save()
    assert extract_pdf(path, PdfConfig(ocr="none")).text == "\n".join(MENU)
