"""Layouts from real producers (tests/fixtures/pdf_layouts, see SOURCES.md there) that lost or garbled text: a
LibreOffice report (running header and `- n -` footers a few points from the body, a table, footnote numbers
glued to their text), LibreOffice's justified two-column Korean (stretched word spaces over 1 em, letter spacing
PDFium reads as spaces, a footnote carried over to the next page), and an OCR'd
scan whose letters PDFium set apart with spaces of its own. And a line that runs thousands of characters off the
page."""

import re
from pathlib import Path

import pytest

from axk1.data.pdf import PdfConfig, extract_pdf
from axk1.data.pdf_footnotes import space_footnote_numbers
from axk1.data.pdf_lines import Line, PageLines, evenly_spaced
from axk1.data.pdf_spacing import letter_gaps
from axk1.data.pdf_reflow import standalone

FIXTURES = Path(__file__).parent / "fixtures" / "pdf_layouts"
HEADER = "한국 사회와 언어 보고서 — 2024 년 판"


@pytest.fixture(scope="module")
def report():
    return extract_pdf(FIXTURES / "ko_report.pdf", PdfConfig(ocr="none"))


def test_a_running_header_and_page_numbers_close_to_the_body_are_left_out(report):
    # 3 pages, each with the header 6 points above the body and `- n -` 3 points below its footnotes
    assert report.dropped["header_lines"] == 3
    assert report.dropped["footer_lines"] >= 3
    assert HEADER not in report.text
    assert not [ln for ln in report.text.split("\n") if ln.strip() in ("- 1 -", "- 2 -", "- 3 -")]
    # the body's first lines are kept: the title, each page's first paragraph
    assert report.text.startswith("한국 사회와 언어에 관한 짧은 보고서\n대한민국의 수도 서울은 한강을 사이에 두고")


def test_a_footnotes_number_set_on_its_baseline_gets_its_space(report):
    # LibreOffice sets the footnote area's numbers at the text's size, on its baseline: `1훈민정음 해례본은`
    assert "1 훈민정음 해례본은" in report.text and "2 훈민정음 해례본은" in report.text
    assert "1훈민정음" not in report.text and "2훈민정음" not in report.text


def test_each_footnote_is_a_paragraph_of_its_own(report):
    # page 2's two footnotes, each a line, were joined: `… 지정되어 있다. 2 훈민정음 해례본은 …`
    notes = [ln for ln in report.text.split("\n") if ln.startswith(("1 훈민정음", "2 훈민정음"))]
    assert len(notes) == 2 and all(ln.count("훈민정음 해례본은") == 1 for ln in notes), notes


def test_a_number_glued_to_a_counter_is_no_footnote_number():
    body = [Line("본문 " * 20, 72, 700 - 14 * i, 520, 711 - 14 * i, 11.0) for i in range(5)]
    small = [Line("1훈민정음 해례본은 간송미술관이 소장하고 있다.", 72, 90, 350, 99, 9.0),
             Line("3개월 이내에 다시 검사한다.", 72, 78, 200, 87, 9.0),  # not the next number (2)
             Line("2023년에 개정되었다.", 72, 66, 200, 75, 9.0)]
    above = Line("1인당 소득은 작은 글씨로 쓴 본문 위의 줄이다.", 72, 760, 350, 769, 9.0)  # above the body
    page = PageLines(595, 842, [above] + body + small, 500, footnote_marks=1)
    space_footnote_numbers([page])
    assert [ln.text for ln in small] == ["1 훈민정음 해례본은 간송미술관이 소장하고 있다.", "3개월 이내에 다시 검사한다.",
                                         "2023년에 개정되었다."]
    assert above.text.startswith("1인당")
    page.lines[-3].text, page.footnote_marks = "1훈민정음", 0
    space_footnote_numbers([page])  # no mark was left out of the page's text: no footnotes to number
    assert page.lines[-3].text == "1훈민정음"


def test_a_footnote_carried_over_to_a_page_without_marks_is_numbered():
    # LibreOffice carries a footnote that does not fit over to the next page, which has no mark; it was glued to
    # its number and joined to the footnote above it (`… 검토했습니다. 5연구진은`)
    def page(marks: int, small: list[Line], text_lines: int = 5) -> PageLines:
        body = [Line("본문 " * 20, 72, 700 - 14 * i, 520, 711 - 14 * i, 11.0) for i in range(text_lines)]
        return PageLines(595, 842, body + small, 500, footnote_marks=marks)

    first = page(1, [Line("1훈민정음 해례본은 간송미술관이 소장하고 있다.", 72, 90, 350, 99, 9.0)])
    carried = page(0, [Line("2연구진은 온라인 게시판에서 살펴보았다.", 72, 90, 350, 99, 9.0)], text_lines=0)
    space_footnote_numbers([first, page(1, []), carried])  # two marks, one footnote found: one pending
    assert carried.lines[0].text == "2 연구진은 온라인 게시판에서 살펴보았다." and carried.lines[0].footnote
    # no mark pending: a small number at the bottom of a page without marks stays as it is
    first = page(1, [Line("1훈민정음 해례본은 간송미술관이 소장하고 있다.", 72, 90, 350, 99, 9.0)])
    later = page(0, [Line("2연구진은 온라인 게시판에서 살펴보았다.", 72, 90, 350, 99, 9.0)])
    space_footnote_numbers([first, later])
    assert later.lines[-1].text == "2연구진은 온라인 게시판에서 살펴보았다." and not later.lines[-1].footnote
    # a pending mark (the second of page one) takes its own number only: numbering starts again where marks are
    first = page(2, [Line("1훈민정음 해례본은 간송미술관이 소장하고 있다.", 72, 90, 350, 99, 9.0)])
    restart = page(0, [Line("1인당 소득은 작은 글씨로 쓴 줄이다.", 72, 90, 350, 99, 9.0)])
    space_footnote_numbers([first, restart])
    assert restart.lines[-1].text.startswith("1인당") and not restart.lines[-1].footnote


def test_the_narrow_reports_carried_footnote_stands_apart():
    lines = extract_pdf(FIXTURES / "ko_2col_narrow.pdf", PdfConfig(ocr="none")).text.split("\n")
    notes = [ln for ln in lines if "연구진은 온라인 게시판에서 데이터 처리 방법을" in ln]
    assert len(notes) == 1 and notes[0].startswith("5 연구진은"), notes


def test_letter_spaced_justified_korean_keeps_only_its_word_spaces():
    # LibreOffice justifies a Korean line by stretching every gap between its syllables alike; where it draws each
    # syllable on its own PDFium reads a space into every gap (`지 켜 보 았 다 . 시 청 은`), and into some gaps
    # of a line it drew in pieces (`좋지 않 아 서`), and one before a full stop drawn on its own (`지켜보았다 .`)
    text = extract_pdf(FIXTURES / "ko_2col_narrow.pdf", PdfConfig(ocr="none")).text
    assert "어린이들은 역사 유물을 끝까지 지켜보았다. 시청은 재난 대응 훈련을 자세히 설명했다." in text
    assert "또한 날씨가 좋지 않아서 회사는 수학 문제 풀이를 처음으로 공개했습니다." in text
    assert "날씨 예보를 끝까지 지켜보았다. 개발자들은" in text
    assert not re.search(r"(?:[가-힣] ){4}[가-힣]", text) and " ." not in text


def test_letter_gaps_keeps_word_spaces_and_spaced_lists():
    stretched = [0.15, 0.15, 0.6, 0.15, 0.16, 0.61, 0.15, 0.15]  # syllables 0.15 em apart, words 0.6
    assert letter_gaps(stretched) == [g < 0.3 for g in stretched]
    assert letter_gaps([0.15, None, 0.6, 0.15, 0.15]) == [True, False, False, True, True]  # a Latin pair: unjudged
    assert not any(letter_gaps([0.0, 0.0, 0.33, 0.0, 0.33, 0.0]))  # set without letter spacing: word spaces only
    assert not any(letter_gaps([1.2] + [0.3] * 12))  # a list set with spaces after its label (`gana 가 나 다`)
    assert not any(letter_gaps([0.3] * 8))  # every gap alike and none a word's: nothing tells letters apart
    assert not any(letter_gaps([0.17, 0.17, 1.04, 0.3, 26.2]))  # contents: `제 2 장 글꼴 문제 29`
    assert not any(letter_gaps([1.14, 1.18, 1.14, 1.18, 1.14]))  # a table's columns (`ㄱ g ㄴ n`)
    assert not any(letter_gaps([0.29, 0.32, 0.29, 0.32, 0.29]))  # words barely wider: not two groups


def test_no_space_before_a_table_cells_comma(report):
    assert "남동부의 항구 도시," in report.text and "도시 ," not in report.text
    assert "대한민국의 수도이며" in report.text  # the cells' own spaces stay


def test_justified_two_column_paragraphs_are_joined():
    res = extract_pdf(FIXTURES / "ko_2col_plain.pdf", PdfConfig(ocr="none"))
    assert res.page_methods == ["pdfium-columns", "pdfium-columns"]
    lines = res.text.split("\n")
    # each has a line whose word spaces justification stretched past 1 em (`있고, 수도권 … 절반`)
    for para in ("대한민국의 수도 서울은 한강을 사이에 두고 남북으로 나뉘어 있으며, 조선 시대부터 육백 년이 넘도록 "
                 "나라의 중심 역할을 해 왔다. 오늘날 서울에는 약 구백사십만 명이 살고 있고, 수도권 전체로 보면 "
                 "인구의 절반 가까이가 이 지역에 모여 산다.",
                 "한글은 1443 년 세종대왕이 창제하고 1446 년 훈민정음이라는 이름으로 반포한 문자이다. 자음 열네 개와 "
                 "모음 열 개를 조합하여 음절을 만들며, 과학적인 원리에 따라 만들어진 문자로 널리 알려져 있다. "
                 "유네스코는 훈민정음 해례본을 세계기록유산으로 지정하였다."):
        assert para in lines, res.text[:600]


def test_libreoffice_columns_a_tenth_of_a_centimetre_apart():
    # 0.1 cm column spacing, a full-width title and abstract, a table and footnotes: page 1 was read as one column,
    # each footnote mark after a paragraph's last word stayed as a line `1`, and the footnotes ran together
    res = extract_pdf(FIXTURES / "ko_2col_narrow.pdf", PdfConfig(ocr="none"))
    assert res.page_methods[0] == "pdfium-columns"
    lines = res.text.split("\n")
    assert not [ln for ln in lines if ln.isdigit()]
    assert res.dropped["footnote_marks"] == 5
    assert ("기자들은 시장 골목에서 문서 분석 결과를 자세히 설명했다. 운영진은 서울에서 재난 대응 훈련을 자세히 "
            "설명했다. 게다가 예산이 부족했기 때문에 정부는 건강 검진 안내를 꼼꼼하게 검토했습니다.") in lines
    for note in ("1 요리사는 온라인 게시판에서 역사 유물을 조용히 살펴보았다. 게다가 오류가 자주 발생했기 때문에 시청은 "
                 "역사 유물을 새롭게 개선했습니다.",
                 "2 하지만 사람들의 관심이 높아져서 개발자들은 오래된 기록을 체계적으로 분류했다. 관광객들은 재난 대응 "
                 "훈련을 나란히 비교했다.",
                 "3 시민들은 환경 보호 정책을 함께 정리하였다. 선생님은 전시장 입구에서 문서 분석 결과를 빠르게 "
                 "준비했습니다."):
        assert note in lines, note


def test_a_stretched_line_joins_only_at_its_blocks_justified_edge():
    box = (72.0, 286.0, 12.6, True)  # left, right, pitch, justified
    prose = Line("있고, 수도권 전체로 보면 인구의 절반", 72.0, 643.0, 286.0, 653.0, 11.0, gaps=1, even=True)
    assert not standalone(prose, box)
    assert standalone(prose, box[:3] + (False,))  # a ragged block: no justification stretched it
    short = Line("있고, 수도권 전체로", 72.0, 643.0, 200.0, 653.0, 11.0, gaps=1, even=True)
    assert standalone(short, box)  # stops short of the edge: cells
    row = Line("서울특별시 9,411,000 605.2", 72.0, 643.0, 286.0, 653.0, 11.0, gaps=2, even=False)
    assert standalone(row, box)
    assert evenly_spaced([1.1, 1.2, 1.15]) and evenly_spaced([1.5, 0.3, 1.5, 1.4])  # one space LibreOffice added
    assert not evenly_spaced([0.25, 3.0, 0.25])   # cells with spaces inside them
    assert not evenly_spaced([3.0, 3.2])          # single-word cells far apart
    assert not evenly_spaced([1.2])               # one gap: nothing to compare


def test_an_ocr_layers_letter_spacing_is_no_word_space():
    res = extract_pdf(FIXTURES / "indirect-rotation.pdf", PdfConfig(ocr="none"))
    assert "9 North Buona Vista Drive" in res.text
    assert "The Metropolis Tower" in res.text
    assert "Nort h" not in res.text and "Vist a" not in res.text


def test_a_line_running_off_the_page_keeps_only_what_is_on_it(tmp_path):
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(tmp_path / "long.pdf"), pagesize=(595, 842))
    c.setFont("Helvetica", 10)
    c.drawString(72, 700, "Visible start of a very long line. " + "x" * 20000)
    c.drawString(72, 640, "A second line, wholly on the page.")
    c.showPage()
    c.save()
    res = extract_pdf(tmp_path / "long.pdf", PdfConfig(ocr="none"))
    long = "Visible start of a very long line. " + "x" * 20000
    kept = res.text[:res.text.index("x ") + 1]  # the lines may join (the first one is full): no matter here
    assert kept.startswith("Visible start of a very long line. xxx")
    assert len(kept) < 200  # 523 points of 10-point Helvetica: about 100 characters, not 20,035
    assert res.text.endswith("A second line, wholly on the page.")
    assert res.dropped["offpage_chars"] == len(long) - len(kept)
