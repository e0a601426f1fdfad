"""Renders Korean PDFs whose text we know, with reportlab's built-in Korean CID fonts (no font download).

Used for the starter corpus, and by the extraction quality test (CER) and the speed benchmark through
tests/pdf_test_set.py; the tests' PDFs of special kinds (scans, vertical text, encrypted, forms) are
tests/pdf_fixtures.py's. The ground truth is the body text the extractor should return: paragraphs one per line,
table rows as cells joined by spaces, running headers, footers and page numbers left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KOREAN_FONTS = ("HYSMyeongJo-Medium", "HYGothic-Medium")


@dataclass
class RenderedPdf:
    path: Path
    truth: str
    kind: str
    pages: int


def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    for name in KOREAN_FONTS:
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(name))


def render_pdf(path: str | Path, paragraphs: list[str], *, columns: int = 1, header: str | None = None,
               page_numbers: bool = True, cjk_wrap: bool = True, table: list[list[str]] | None = None,
               font: str = KOREAN_FONTS[0], font_size: float = 10.0, kind: str = "text") -> RenderedPdf:
    """Lays out paragraphs (then an optional table) in 1 or 2 columns on A4, with a running header and page
    numbers drawn on every page. `cjk_wrap` breaks lines anywhere, including inside Korean words."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Spacer, Table

    _register_fonts()
    path = Path(path)
    width, height = A4
    style = ParagraphStyle("body", fontName=font, fontSize=font_size, leading=font_size * 1.45,
                           wordWrap="CJK" if cjk_wrap else None, spaceAfter=font_size * 0.8)

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 9)
        if header:
            canvas.drawString(72, height - 50, header)
        if page_numbers:
            canvas.drawCentredString(width / 2, 36, f"- {doc.page} -")
        canvas.restoreState()

    gap = 18
    col_w = (width - 144 - gap * (columns - 1)) / columns
    frames = [Frame(72 + i * (col_w + gap), 72, col_w, height - 144, id=f"col{i}") for i in range(columns)]
    doc = BaseDocTemplate(str(path), pagesize=A4, title="axk1 test document", author="axk1")
    doc.addPageTemplates([PageTemplate(id="body", frames=frames, onPage=decorate)])
    story: list = []
    for para in paragraphs:
        story.append(Paragraph(_escape(para), style))
    if table:
        story.append(Spacer(1, 6))
        story.append(Table(table, style=[("FONT", (0, 0), (-1, -1), font, font_size)]))
    doc.build(story)
    import pypdfium2 as pdfium

    with pdfium.PdfDocument(str(path)) as pdf:
        pages = len(pdf)
    truth_lines = list(paragraphs) + [" ".join(row) for row in (table or [])]
    return RenderedPdf(path, "\n".join(truth_lines), kind, pages)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["RenderedPdf", "render_pdf"]
