"""PDF extraction on real Korean documents nobody here wrote (tests/fixtures/pdf_ko, see SOURCES.md there), scored
against hand-checked reference paragraphs, and compared with plain pypdfium2 on the same files."""

from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from axk1.data.pdf import PdfConfig, extract_pdf
from tests.pdf_eval import load_references, paragraph_errors, score
from axk1.data.pdf_garbage import byte_mapped_blocks, clean_span
from axk1.data.pdf_reflow import keep_hyphen

FIXTURES = Path(__file__).parent / "fixtures" / "pdf_ko"
REFS = load_references(FIXTURES / "references.json")
DOCS = sorted(p.name for p in FIXTURES.glob("*.pdf"))


def plain_pages(name: str) -> list[str]:
    pdf = pdfium.PdfDocument(str(FIXTURES / name))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


@pytest.fixture(scope="module")
def ours():
    return {d: extract_pdf(FIXTURES / d, PdfConfig(ocr="none")) for d in DOCS}


def test_every_fixture_has_references():
    assert DOCS and {r.doc for r in REFS} == set(DOCS)
    kinds = {r.kind for r in REFS}
    assert {"page_break_list", "table", "formula", "two_column_cropped"} <= kinds


def test_reference_paragraphs_beat_plain_pypdfium2(ours):
    mine = score({d: r.text for d, r in ours.items()}, REFS)
    plain = score({d: "\n".join(plain_pages(d)) for d in DOCS}, REFS)
    assert mine["pooled_cer"] < 0.015, mine
    assert mine["pooled_cer"] < 0.5 * plain["pooled_cer"], (mine, plain)
    for doc, cer in mine["per_doc"].items():  # and on every document, not only pooled
        assert cer <= plain["per_doc"][doc], (doc, cer, plain["per_doc"][doc])


def test_no_text_page_lost(ours):
    for d, res in ours.items():
        texty = [i for i, t in enumerate(plain_pages(d), 1) if t.strip()]
        rejected = {p["page"] for p in res.rejected_pages}
        assert texty and not rejected & set(texty), (d, res.rejected_pages)


def test_cropped_two_column_page(ours):
    # Quartz PDF whose CropBox starts at (67, 365): text coordinates are in MediaBox space
    res = ours["fntnormal.pdf"]
    assert res.page_methods == ["pdfium-columns"]
    assert res.dropped == {"hidden_lines": 1}   # the source page's number, outside the crop box
    assert res.text.startswith("나는 여름 방학이 되어 집에 내려 오면")
    assert "갖추었고 침선이나 음식 솜씨도" in res.text   # left column's last line joins the right column's first
    assert "\n" not in res.text.strip()            # one paragraph


def test_page_numbers_and_contents_across_a_page_break(ours):
    res = ours["cjk-ko-doc.pdf"]
    lines = res.text.split("\n")
    assert res.dropped["footer_lines"] == 6       # one page number per page, each removed once
    assert not [ln for ln in lines if ln.strip().isdigit()]
    i = lines.index("6 kotex.sty 4")
    assert lines[i + 1] == "7 License 6"          # the contents continue on page 2 without the page number
    assert "˙" not in res.text and "오로지 현대 한국어 문서를" in res.text   # emphasis dots are not text


def test_table_rows_stay_rows(ours):
    lines = ours["cjk-ko-doc.pdf"].text.split("\n")
    for label in ("jaso", "gana", "hnum", "Hnum", "hroman", "hRoman", "hNum", "hanjanum"):
        assert sum(ln.startswith(label + " ") for ln in lines) == 1, label
    # TeX sets the list with word spaces alike: no letter spacing of a justified line (pdf_spacing.letter_gaps)
    assert "gana 가 나 다 라 마 바 사 아 자 차 카 타 파 하" in lines
    assert lines[lines.index("표 1: 한글 카운터 목록") - 1].startswith("hanjanum ")


def test_matrix_glyphs_dropped_page_kept(ours):
    res = ours["ob-mathleading-doc.pdf"]
    assert res.page_methods == ["pdfium"] * 4
    assert res.dropped["bad_characters"] > 0        # the matrices' bracket pieces, counted
    ref = next(r for r in REFS if r.doc == "ob-mathleading-doc.pdf" and r.kind == "formula")
    assert paragraph_errors(res.text, ref.text) <= 2


def test_line_end_hyphens():
    vocab = Counter({"well": 2, "known": 1, "utf": 1})
    assert keep_hyphen("kotex", "utf.sty", vocab)      # a file name
    assert keep_hyphen("well", "known", vocab)          # both halves are words, the join is not
    assert not keep_hyphen("inter", "nationalization", vocab)
    assert not keep_hyphen("equa", "tion", Counter({"equation": 3}))
    assert keep_hyphen("CJK", "ko", vocab) and keep_hyphen("한국어", "영어", vocab)
    assert keep_hyphen("non", "English", vocab)


def test_byte_mapped_hangul_read_back():
    # Lines as PDFium reads kotex-doc.pdf (Debian texlive-lang-korean): Latin set from a Hangul subfont whose
    # ToUnicode maps byte c to U+C900 + c.
    lines = ["줲줰줱줳년에 ko줮쥔쥅쥘이 쥃쥔쥁쥎에 등재되어줬 주요 쥔쥅쥘 배포판에 수용됨에 따라 사실상",
             "한국어 조판의 표준으로 자리잡은 지도 어언 수년이 흘렀다줮 이 기간 동안 ko줮쥔쥅쥘",
             "그가 사과를 줬다. 쥐가 달린다."]
    blocks = byte_mapped_blocks(lines)
    assert blocks == {0xC900}
    dropped: Counter = Counter()
    out = [clean_span(x, dropped, blocks) for x in lines]
    assert out[0] == "2013년에 ko.TEX이 CTAN에 등재되어, 주요 TEX 배포판에 수용됨에 따라 사실상"
    assert out[1].endswith("흘렀다. 이 기간 동안 ko.TEX")
    assert out[2] == lines[2]                       # real syllables of that block (줬, 쥐) are left alone
    assert dropped["garbled_hangul_repaired"] == 7  # runs read back
    assert byte_mapped_blocks(["똠방각하 햏", "뷁 같은 말"]) == frozenset()
    # Middle Korean from pmhanguljamo-kdoc.pdf: rare syllables beside conjoining jamo and tone marks stay
    assert clean_span("便뼌安ᅙᅡᆫ〮킈 나랏말ᄊᆞ미", Counter()) == "便뼌安ᅙᅡᆫ〮킈 나랏말ᄊᆞ미"


def test_broken_figure_text_layer_dropped_per_line():
    # kotex-utf-doc.pdf page 28 includes a figure whose Korean text layer reads as Latin-1 junk with control codes
    # (Ghostscript, no ToUnicode); the page's own text around it stays.
    junk = ["'¯ó K's Ws/\x83 ³\x0f 37'. /Ë´ï\x0fG PageStyle", "h\x0b×\x0f. FAQ (FancyHdr) K's/ ë\x0b/."]
    good = ["그대로 입력해도 잘 처리한다 : ò ó ô õ ö ø.",           # lshort-ko.pdf page 32: accents listed in Korean
            "\x1a \\lnapprox \x1b \\gnapprox \x1c \\nsim"]         # page 77: symbols drawn as control codes
    dropped: Counter = Counter()
    assert [clean_span(x, dropped) for x in junk] == ["", ""]
    assert [clean_span(x, dropped) for x in good] == [good[0], "\\lnapprox \\gnapprox \\nsim"]
    assert dropped == {"mojibake": 2, "control": 3}
