"""Vertical Korean text (세로쓰기, axk1/data/pdf_vertical.py). Set at a pitch over ~1.2 em, as vertical text
usually is, PDFium gives every syllable a line of its own, and the page read one syllable a line (58 lines for the
3 of the fixture); set tighter, PDFium reads a column as one line but loses its word spaces."""

from axk1.data.pdf import PdfConfig, extract_pdf
from axk1.data.pdf_lines import Line
from tests.pdf_fixtures import render_vertical_columns_pdf, render_vertical_pdf
from axk1.data.pdf_vertical import merge_vertical, spaced_column

PARAS = ["세로로 쓴 글은 위에서 아래로 읽고 줄은 오른쪽에서 왼쪽으로 넘어갑니다. 옛 책과 신문이 이렇게 쓰였습니다.",
         "두 번째 문단은 한 칸 내려서 시작합니다. 끝."]


def test_vertical_columns_read_right_to_left_as_paragraphs(tmp_path):
    doc = render_vertical_pdf(tmp_path / "vertical.pdf", PARAS)
    res = extract_pdf(doc.path, PdfConfig(ocr="none"))
    # the title, then each paragraph on one line: its columns joined, the empty slots as word spaces
    assert res.text == doc.truth, res.text[:200]


def test_a_looser_pitch_and_one_column_paragraphs(tmp_path):
    doc = render_vertical_pdf(tmp_path / "loose.pdf", ["짧은 문단 하나.", "또 하나의 짧은 문단."], pitch=2.0)
    assert extract_pdf(doc.path, PdfConfig(ocr="none")).text == doc.truth


def _glyph(text: str, x: float, y: float, size: float = 10.0) -> Line:
    return Line(text, x, y, x + size, y + size, size)


def test_only_stacks_of_syllables_are_merged():
    column = [_glyph(ch, 300, 700 - 15 * i) for i, ch in enumerate("가나다")]
    numbers = [_glyph(ch, 72, 700 - 15 * i) for i, ch in enumerate("123")]      # a stack of digits
    apart = [_glyph("가", 72, 500), _glyph("나", 72, 440), _glyph("다", 72, 380)]  # 6 em apart: not one column
    out = merge_vertical(column + numbers + apart)
    assert [ln.text for ln in out] == ["가나다", "1", "2", "3", "가", "나", "다"]
    assert out[0].vertical and (out[0].y0, out[0].y1) == (670, 710)


def test_a_column_read_whole_gets_its_word_spaces_back():
    # (char, bottom, top) top to bottom: 세로 | empty slot | 쓴
    assert spaced_column([("세", 90, 100), ("로", 79, 89), ("쓴", 57, 67)], 10.0) == "세로 쓴"


def test_a_column_ending_in_a_word_space_runs_on(tmp_path):
    """A column whose last slot is the space between two words (it never starts the next column) ends a slot short
    of the others: it was read as a paragraph's end, and the paragraph broke in two."""
    para = "옛날 책은 세로로 쓰였고 그 줄은 오른쪽에서 왼쪽으로 넘어갑니다. 신문 또한 오랫동안 이렇게 만들었습니다."
    assert para[18] == " "  # the first column holds the indent and 19 slots: its last one is this space
    for pitch in (1.5, 2.0):
        doc = render_vertical_pdf(tmp_path / f"space_{pitch}.pdf", [para, "둘째 문단입니다."], pitch=pitch)
        assert extract_pdf(doc.path, PdfConfig(ocr="none")).text == doc.truth


# The poem of xetexko-doc.pdf p.8 and luatexko-doc.pdf p.8 (님의 침묵), cut to its hard columns: a title with Latin
# set sideways, a column that is all word spaces, vertical forms ︿ ﹀ in a line and ︙︙ as a column of their own.
POEM = ["님의 침묵 (The Silent Beloved)", "한 용 운", "님은 갓슴니다 아아", "에 나러갓슴니다",
        "날카로은 첫︿키쓰﹀의追憶은 나의", "제곡조를못이기는 사랑의노래는 님의沈默을 휩싸고돔니다 아아 님은갓지마는", "︙︙"]
# the longest column reaches the block's bottom and runs on into the last (︙︙); the others end short of it
POEM_TEXT = "\n".join(["세로쓰기 보기", *POEM[:-2], POEM[-2] + " " + POEM[-1]])


def test_a_column_read_whole_keeps_its_word_spaces_vertical_forms_and_latin(tmp_path):
    """xetexko: a vertical font, a column PDFium reads as one line; a word space is 0.5 em of room between touching
    syllables (under the 0.6 em that made a space), ︿ ﹀ and sideways Latin are not wide (the column was taken for
    a horizontal line and glued: `님의침묵(The Silent Beloved) 날카로은첫︿키쓰﹀의追憶은나의`, both out of place)."""
    doc = render_vertical_columns_pdf(tmp_path / "whole.pdf", POEM, whole=True, space=0.5)
    assert extract_pdf(doc.path, PdfConfig(ocr="none")).text == POEM_TEXT


def test_a_column_a_line_a_syllable_keeps_its_word_spaces(tmp_path):
    """luatexko: a line a syllable, 1 em apart, a word space 0.45 em more: under 1.5 times the closest step, and a
    column of word spaces only (`한 용 운`) has no closer step: `한용운`, `님은 갓슴니다아아`."""
    doc = render_vertical_columns_pdf(tmp_path / "slots.pdf", POEM, pitch=1.0, space=0.45)
    assert extract_pdf(doc.path, PdfConfig(ocr="none")).text == POEM_TEXT


def test_word_spaces_against_the_pages_usual_gap():
    # loose boxes of xetexko-doc.pdf p.8 (bottom, top): touching slots 0 apart, the word space 0.5 em, under 0.6 em
    cells = [("에", 704.0, 714.0), ("나", 689.1, 699.0), ("러", 679.1, 689.1), ("갓", 669.1, 679.1)]
    assert spaced_column(cells, 10.0) == "에 나러갓"
    # a column of word spaces only is measured against the page's usual gap, not its own
    cells = [("한", 634.3, 644.2), ("용", 619.3, 629.3), ("운", 604.4, 614.3)]
    assert spaced_column(cells, 10.0) == "한용운" and spaced_column(cells, 10.0, usual=0.0) == "한 용 운"
