"""PDFs of special kinds for the PDF extraction tests: hyphenated lines, a page with no text layer, scans,
vertical Korean, an encrypted file, a filled form. Test fixtures only: the package renders its starter corpus with
axk1/data/pdf_render.py's `render_pdf`, whose fonts and `RenderedPdf` these share.
"""

from __future__ import annotations

import io
from pathlib import Path

from axk1.data.pdf_render import KOREAN_FONTS, RenderedPdf, _register_fonts


def render_hyphenated_pdf(path: str | Path) -> RenderedPdf:
    """Lines drawn one by one so that an English word is hyphenated across a line break, next to a Korean
    line that ends in a real hyphen, a glued Hangul break, and an English compound with a hyphen."""
    from reportlab.pdfgen import canvas

    _register_fonts()
    path = Path(path)
    lines = [
        "이 문서는 국제화 작업을 설명합니다. The guide covers inter-",
        "nationalization of well-known tools and the Korean 말뭉",
        "치를 다룹니다. 끝.",
    ]
    c = canvas.Canvas(str(path))
    c.setFont(KOREAN_FONTS[0], 11)
    # The first two lines are padded to the same right margin so they read as full lines.
    y = 760
    for line in lines:
        c.drawString(72, y, line)
        y -= 16
    c.showPage()
    c.save()
    truth = "이 문서는 국제화 작업을 설명합니다. The guide covers internationalization of well-known tools and " \
            "the Korean 말뭉치를 다룹니다. 끝."
    return RenderedPdf(path, truth, "hyphenated", 1)


def render_image_only_pdf(path: str | Path) -> Path:
    """A page with only vector shapes (a scan stand-in): no text layer."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for i in range(20):
        c.rect(72 + i * 20, 400, 12, 200, fill=1)
    c.showPage()
    c.save()
    return Path(path)


def render_scanned_pdf(path: str | Path, source: str | Path, pages: list[int] | None = None,
                       dpi: int = 150) -> Path:
    """A scan of `source`'s pages (0-based; all by default): each page a greyscale picture, no text layer.
    The source must embed its fonts (the real fixtures do): reportlab's Korean CID fonts are not embedded, and
    PDFium, with no Korean font of its own here, draws them blank."""
    import pypdfium2 as pdfium
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    path = Path(path)
    pdf = pdfium.PdfDocument(str(source))
    try:
        c = canvas.Canvas(str(path))
        for i in range(len(pdf)) if pages is None else pages:
            page = pdf[i]
            width, height = page.get_size()
            png = io.BytesIO()
            page.render(scale=dpi / 72).to_pil().convert("L").save(png, format="PNG")
            page.close()
            c.setPageSize((width, height))
            c.drawImage(ImageReader(io.BytesIO(png.getvalue())), 0, 0, width, height)
            c.showPage()
        c.save()
    finally:
        pdf.close()
    return path


def render_vertical_pdf(path: str | Path, paragraphs: list[str], title: str = "세로쓰기 시험 문서",
                        slots: int = 20, pitch: float = 1.5) -> RenderedPdf:
    """Vertical Korean (세로쓰기) under a horizontal title: each paragraph in columns of `slots` syllables set
    `pitch` em apart, top to bottom, the columns right to left; a space is an empty slot, and a paragraph's
    first column starts a slot lower, no other column starts with a space. Each syllable is drawn alone and
    followed by a space: PDFium drops a text object of one CID glyph from a font that is not embedded (reportlab's
    are not)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    _register_fonts()
    path = Path(path)
    size = 12
    width, height = A4
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont(KOREAN_FONTS[0], size)
    c.drawString(72, height - 72, title)
    x, top = width - 90, height - 110
    for para in paragraphs:
        cells = [" "] + list(para)
        while cells:
            column, cells = cells[:slots], cells[slots:]
            for i, ch in enumerate(column):
                if ch != " ":
                    c.drawString(x, top - i * pitch * size, ch + " ")
            x -= 1.6 * size
            if cells[:1] == [" "]:  # a column never starts with a space: the word break falls at the end
                cells = cells[1:]
        x -= 1.6 * size  # an empty column between paragraphs
    c.showPage()
    c.save()
    return RenderedPdf(path, "\n".join([title, *paragraphs]), "vertical", 1)


def render_vertical_columns_pdf(path: str | Path, columns: list[str], *, whole: bool = False, pitch: float = 1.0,
                                space: float = 0.5) -> RenderedPdf:
    """Vertical text as TeX sets it (xetexko, luatexko): `columns` right to left, each from the top, syllables
    `pitch` em apart and a word space `space` em of extra room, no character. `whole`: in a vertical CID font
    (UniKS-UCS2-V, its glyphs 1 em apart whatever `pitch`), a column one text object with the word spaces as TJ
    offsets, which PDFium reads as one line; Latin in it is set sideways as a vertical font does. Otherwise each
    character its own horizontal text object (PDFium: a line a character). PDFium drops a text object of
    reportlab's (not embedded) Korean CID glyphs alone, so a column's object ends in a space, and a character drawn
    alone is followed by one."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    _register_fonts()
    vertical = "HYSMyeongJo-Medium-V"
    if vertical not in pdfmetrics.getRegisteredFontNames():
        font = UnicodeCIDFont(KOREAN_FONTS[0], isVertical=True)
        font.name = font.fontName = vertical  # registered beside the horizontal face of the same name
        pdfmetrics.registerFont(font)
    path, size = Path(path), 10
    c = canvas.Canvas(str(path))
    c.setFont(KOREAN_FONTS[0], size)
    c.drawString(72, 780, "세로쓰기 보기")
    for k, column in enumerate(columns):
        x, y = 450 - 22 * k, 720
        if whole:
            text = c.beginText(x, y)
            text.setFont(vertical, size)
            words = column.split(" ")
            words[-1] += " "
            encode = pdfmetrics.getFont(vertical).formatForPdf  # a positive TJ offset moves down in vertical mode
            text._code.append("[" + f" {space * 1000:g} ".join(f"({encode(w)})" for w in words) + "] TJ")
            c.drawText(text)
            continue
        for ch in column:
            if ch == " ":
                y -= space * size
                continue
            c.drawString(x, y, ch + " ")
            y -= pitch * size
    c.showPage()
    c.save()
    return RenderedPdf(path, "\n".join(["세로쓰기 보기", *columns]), "vertical", 1)


def render_encrypted_pdf(path: str | Path, password: str = "secret") -> Path:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    _register_fonts()
    enc = pdfencrypt.StandardEncryption(password, ownerPassword=password + "-owner", canPrint=0)
    c = canvas.Canvas(str(path), encrypt=enc)
    c.setFont(KOREAN_FONTS[0], 11)
    c.drawString(72, 760, "암호가 걸린 문서입니다.")
    c.showPage()
    c.save()
    return Path(path)


def render_form_pdf(path: str | Path, value: str) -> Path:
    """An application form with one filled text field (AcroForm) holding `value`."""
    from reportlab.pdfgen import canvas

    _register_fonts()
    c = canvas.Canvas(str(path))
    c.setFont(KOREAN_FONTS[0], 11)
    c.drawString(72, 760, "신청서: 아래 칸에 신청인의 이름과 연락처를 적으십시오. 이 문서는 시험용 신청서입니다.")
    c.drawString(72, 730, "이름:")
    c.acroForm.textfield(name="name", value=value, x=120, y=722, width=200, height=20, fontName="Helvetica",
                         fontSize=11)
    c.showPage()
    c.save()
    return Path(path)
