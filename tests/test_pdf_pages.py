"""Pages in one reading order (axk1/data/pdf_pages.py): a page's footnotes after its body text, and after the
next page's lines that finish a paragraph the page left unfinished."""

from pathlib import Path

from axk1.data.pdf import PdfConfig, extract_pdf
from axk1.data.pdf_lines import Line
from axk1.data.pdf_pages import ReadingOrder
from axk1.data.pdf_reflow import reflow
from axk1.text.korean import LineJoiner

FIXTURES = Path(__file__).parent / "fixtures" / "pdf_layouts"
FULL = " ".join(["가나다라마바사 아자차카타파하"] * 3)  # a line's words; where it ends is set by x1


def _body(texts: list[str], top: float, ends: list[float]) -> list[Line]:
    """Lines of 10-point body text, 12 points apart from `top` down, starting at x 72 and ending at `ends`."""
    return [Line(t, 72, top - 12 * i, x1, top - 12 * i + 10, 10.0) for i, (t, x1) in enumerate(zip(texts, ends))]


def _note(text: str, y: float, x1: float = 520) -> Line:
    return Line(text, 72, y, x1, y + 9, 9.0, footnote=True)


def _read(pages: list[list[list[Line]]]) -> list[str]:
    order = ReadingOrder()
    for blocks in pages:
        order.add_page(blocks)
    order.flush()
    return reflow(order.lines, order.boxes, order.blocks, LineJoiner(use_kiwi=False), order.breaks).split("\n")


def test_the_libreoffice_reports_paragraph_over_a_page_is_whole_and_its_footnotes_follow():
    # page 1 ends mid-sentence (`… 턱없이 부족하고,`) above two footnotes; page 2 goes on (`인터넷에서 모은 …`):
    # read in page order the footnotes cut the paragraph in two
    lines = extract_pdf(FIXTURES / "ko_report.pdf", PdfConfig(ocr="none")).text.split("\n")
    paragraphs = [i for i, ln in enumerate(lines) if ln.startswith("최근 인공지능 기술이")]
    assert len(paragraphs) == 4
    for i in paragraphs:  # each copy of the paragraph whole on its line, the one over the page too
        assert "턱없이 부족하고, 인터넷에서 모은 문서에는" in lines[i] and lines[i].endswith("필수적이다."), lines[i]
    notes = [i for i, ln in enumerate(lines) if ln.startswith(("1 훈민정음 해례본은", "2 훈민정음 해례본은"))]
    assert notes == [paragraphs[1] + 1, paragraphs[1] + 2]
    assert not any(ln.startswith("인터넷에서 모은 문서에는") for ln in lines)


def test_a_pages_footnotes_wait_for_the_end_of_the_paragraph_it_left_unfinished():
    page1 = _body([FULL, FULL, "문서 분석 결과를 꼼꼼하게"], 700, [520, 520, 520]) + [_note("1 각주의 글이다.", 80, 200)]
    page2 = _body(["검토했습니다. " + FULL, "끝나는 줄이다.", FULL, "다음 문단의 끝."], 700, [520, 300, 520, 250])
    page2[2].y0, page2[2].y1 = page2[2].y0 - 8, page2[2].y1 - 8  # a paragraph gap before the second paragraph
    page2[3].y0, page2[3].y1 = page2[3].y0 - 8, page2[3].y1 - 8
    out = _read([[page1], [page2]])
    assert len(out) == 3, out
    assert out[0].endswith("꼼꼼하게 검토했습니다. " + FULL + " 끝나는 줄이다.")
    assert out[1] == "1 각주의 글이다."
    assert out[2].startswith(FULL) and out[2].endswith("다음 문단의 끝.")


def test_a_footnote_area_never_runs_on_into_the_next_pages_text():
    # the page's paragraph ends with it (a short last line); its last footnote fills its line (`5 …지켜보았다.`),
    # and was joined to the next page's first line
    page1 = _body([FULL, "끝난 문단이다."], 700, [520, 200]) + [_note("5 " + FULL + " 지켜보았다.", 80)]
    page2 = _body(["새 문단입니다. " + FULL, "끝."], 700, [520, 100])
    out = _read([[page1], [page2]])
    assert out == [FULL + " 끝난 문단이다.", "5 " + FULL + " 지켜보았다.", "새 문단입니다. " + FULL + " 끝."]


def test_a_ragged_page_ending_a_sentence_keeps_its_footnotes_in_place():
    # a ragged block (its lines end anywhere): its last line `… option.` counted as full because the next page's
    # first word is long (`\usepackage{fontspec}`, pmhanguljamo-doc.pdf), and the code was joined to the prose
    texts = ["If you do not want to specify the option, you", "should declare the font with the option.",
             "Otherwise the defaults are used by it."]
    page1 = _body(texts, 700, [330, 300, 340]) + [_note("2 See section 4.", 80, 150)]
    page1[2].text = "proper font for Jamo Hangul with Script=Hangul option."
    page2 = _body(["\\usepackage{fontspec}", "\\usepackage{pmhanguljamo}"], 700, [200, 210])
    out = _read([[page1], [page2]])
    note = out.index("2 See section 4.")
    assert out[note - 1].endswith("Script=Hangul option.") and out[note + 1].startswith("\\usepackage{fontspec}"), out
