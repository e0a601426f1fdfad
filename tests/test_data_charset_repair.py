"""Damaged pages read in their charset (axk1/data/charset.py): CP949 cut inside a syllable or with one broken
sequence (a board cutting a subject mid-syllable, a crawler's byte limit), which was `undecodable` or read as Thai
and then dropped as `language_th`; and UTF-8 pages with more than 3 stray Latin-1 bytes, read as CP1250 mojibake."""

import pytest

from axk1.data.charset import UndecodableError, decode_html
from axk1.data.sources import SourceConfig, read_source_file

POST = "<p>공유기 설정을 바꾼 뒤로 인터넷이 자주 끊깁니다. 펌웨어를 새로 올려도 마찬가지입니다.</p>"
BOARD = '<html><head><meta charset="euc-kr"><title>질문 게시판</title></head><body>' + POST * 20
SUBJECT = "<p>답변 부탁드립"  # a list of subjects, each cut by the board at a byte limit


def _cut_subject_page() -> bytes:
    # the subject's last syllable loses its second byte, and the board appends ".." after it
    return (BOARD + SUBJECT).encode("cp949")[:-1] + b"..</p></body></html>"


@pytest.mark.parametrize("content_type", ["text/html; charset=euc-kr", "text/html",
                                          "text/html; charset=ks_c_5601-1987"])
def test_a_cp949_page_with_a_syllable_cut_mid_character_is_cp949(content_type):
    """One lone lead byte in 2 KB of CP949 failed strict CP949; charset_normalizer then read the page as cp874."""
    page = _cut_subject_page()
    notes = []
    text, codec = decode_html(page, content_type, notes)
    assert codec == "cp949"
    assert text == BOARD + SUBJECT[:-1] + "..</p></body></html>"
    at = len((BOARD + SUBJECT[:-1]).encode("cp949"))
    assert notes == [f"1 invalid cp949 sequences dropped, the first at byte {at}"]


def test_the_cp949_repair_is_said_in_the_document_metadata(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "board.html").write_bytes(_cut_subject_page())
    spec = SourceConfig(type="html", path=str(tmp_path / "site"), base_url="https://bbs.example.kr/")
    [doc] = read_source_file(spec, tmp_path / "site" / "board.html")
    assert doc.metadata["charset"] == "cp949" and "공유기 설정" in doc.text
    assert doc.metadata["charset_repairs"][0].startswith("1 invalid cp949 sequences dropped")


def test_a_cp949_page_cut_at_every_byte_is_cp949():
    """A crawler's byte limit splits a syllable at half the offsets of a Korean page: each of those was
    `undecodable` or read in another charset. Declared EUC-KR, every cut is CP949; undeclared, every cut after the
    first syllable (before it the page is ASCII, or one byte that reads as nothing)."""
    page = ('<html><head><meta charset="euc-kr"><title>안내</title></head><body>' + POST * 2 + "</body></html>")
    data = page.encode("cp949")
    first = data.index("안".encode("cp949")) + 2
    for cut in range(1, len(data) + 1):
        text, codec = decode_html(data[:cut], "text/html; charset=euc-kr")
        assert codec == "cp949" and page.startswith(text) and len(text.encode("cp949")) >= cut - 1, cut
        if cut >= first:
            text, codec = decode_html(data[:cut], "text/html")
            assert codec == "cp949" and page.startswith(text), (cut, codec)


def test_a_declared_korean_page_damaged_beyond_repair_is_not_guessed_a_single_byte_charset():
    """Over one broken sequence per 1,000 bytes is no repair, but a page declaring EUC-KR that reads as Korean is
    not read in a detector's single-byte guess either (this one was read as ISO-8859-5, Cyrillic; others as cp874)."""
    notice = '<html><head><meta charset="euc-kr"><title>공지</title></head><body>' \
        + "<p>오늘 회의는 오후 세 시에 시작합니다. 자료를 미리 읽어 오세요.</p>" * 20
    page = notice.encode("cp949") + (SUBJECT.encode("cp949")[:-1] + b"..</p>") * 3 + b"</body></html>"
    with pytest.raises(UndecodableError, match="declares cp949 and reads as Korean CP949.*3 invalid sequences.*"
                                               "a guess of .* would be mojibake"):
        decode_html(page, "text/html; charset=euc-kr")


def test_a_chinese_page_mislabelled_euc_kr_is_still_read_in_its_charset():
    """GB2312 bytes read as CP949 are mostly Hangul too (the two tables share their layout): a multi-byte guess that
    decodes strictly is taken, however the page is labelled."""
    page = ('<html><head><meta charset="euc-kr"><title>图书馆</title></head><body>'
            + "<p>我们的图书馆每天开放到晚上十点。欢迎大家来借书和学习，森林公园就在旁边。</p>" * 20 + "</body></html>")
    for data in (page.encode("gb2312"), page.encode("gb2312")[:-30]):
        text, codec = decode_html(data, "text/html; charset=euc-kr")
        assert codec == "gb18030" and "图书馆每天开放" in text


def test_utf8_declared_euc_kr_and_cut_mid_character_stays_utf8():
    page = BOARD.replace("euc-kr", "utf-8") + "<p>끝"
    data = page.encode()[:-2]  # 끝 loses 2 of its 3 bytes
    notes = []
    assert decode_html(data, "text/html; charset=euc-kr", notes) == (page[:-1], "utf-8")
    assert notes == [f"utf-8 cut inside its last character: 1 bytes from byte {len(data) - 1} dropped"]


def test_a_cp949_text_file_cut_inside_a_syllable_is_read_and_the_repair_said(tmp_path):
    notice = ("공지사항입니다. 다음 주 월요일은 휴관합니다.\n" * 5).encode("cp949")
    (tmp_path / "notice.txt").write_bytes(notice[:-3])  # the newline, the full stop and half of 다
    [doc] = read_source_file(SourceConfig(type="text", path=str(tmp_path), name="t"), tmp_path / "notice.txt")
    assert doc.metadata["charset"] == "cp949" and doc.text.startswith("공지사항입니다.")
    assert doc.metadata["charset_repairs"] == [f"cp949 cut inside its last character: 1 byte from byte "
                                               f"{(tmp_path / 'notice.txt').stat().st_size - 1} dropped"]


# a German page: three umlauts a paragraph in UTF-8, and a footer pasted in Latin-1 (4 stray bytes)
VEREIN = ("<p>Unser Verein pflegt verletzte Wildvögel und hilft Tieren in Not. Über die Jahre wurden viele Vögel "
          "gesund.</p>")
FOOTER = "<footer>Mitgefühl wählen! Mitgefühl wählen!</footer></body></html>"


def _verein(meta: str) -> bytes:
    head = f'<html><head>{meta}<title>Wildvogelhilfe</title></head><body>'.encode()
    return head + (VEREIN * 60).encode() + FOOTER.encode("latin-1")


@pytest.mark.parametrize("meta", ['<meta charset="utf-8">', ""])
def test_a_utf8_page_with_more_than_3_stray_latin1_bytes_is_repaired(meta):
    """180 umlauts in UTF-8 and 4 in Latin-1 over 7 KB: the flat cap of 3 stray bytes sent the page to the
    detector, which read it as CP1250 mojibake. Declared UTF-8, or valid multi-byte characters outnumbering the
    stray bytes 10 to 1, lifts the cap; one per 1,000 bytes remains the limit."""
    data = _verein(meta)
    notes = []
    text, codec = decode_html(data, "text/html", notes)
    assert codec == "utf-8" and "Wildvögel" in text and "Mitgefhl whlen!" in text
    assert notes == [f"4 stray non-UTF-8 bytes dropped, the first at byte {data.index(b'Mitgef') + 6}"]


def test_a_latin1_page_declaring_utf8_keeps_its_letters():
    """Declared UTF-8 alone is no evidence: a Latin-1 page with no UTF-8 in it is not stripped of its umlauts."""
    data = _verein('<meta charset="utf-8">').replace("ö".encode(), b"o").replace("Ü".encode(), b"U") \
        + b"<p>" + b"Ordinary words about the weather and the garden. " * 100 + b"</p>"
    text, codec = decode_html(data, "text/html; charset=utf-8")
    assert codec != "utf-8" and "Mitgefühl wählen!" in text


def test_few_multibyte_characters_do_not_lift_the_cap_without_a_declaration():
    """5 UTF-8 umlauts and 4 Latin-1 ones, undeclared: no majority either way, so no repair drops letters."""
    data = _verein("").replace("ö".encode(), b"o").replace("Ü".encode(), b"U")
    data = data.replace(b"Wildvogelhilfe", "Wildvögelhilfe für Vögel in Not, Übersicht".encode())
    text, codec = decode_html(data, "text/html")
    assert codec != "utf-8", text[:200]
