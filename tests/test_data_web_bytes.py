"""A page's bytes before any charset: UTF-16 without a byte-order mark, and stray NUL bytes, came out as text full of
U+FFFD (docs/data.md: nothing is decoded with replacement characters); a PDF, PNG or gzip-compressed page saved
under a .html name failed as "undecodable ... not UTF-8", where the same bytes in a WARC were not_html."""

import gzip
import io

import pytest

from axk1.data.charset import decode_html
from axk1.data.html_extract import WebConfig
from axk1.data.sources import SourceConfig, read_source_file

EN = ("<html><head><title>t</title></head><body><article>"
      + "".join(f"<p>Paragraph {i}: the harbour master said the ferry timetable changes next month because the new "
                "pier is still under repair.</p>" for i in range(8)) + "</article></body></html>")
KO = ("<html><head><title>도서관</title></head><body><article>"
      + "".join(f"<p>{i}. 서울시는 내년부터 공공도서관의 운영 시간을 밤 10시까지 연장한다고 밝혔다. 가관글 관광객과 "
                "시민 모두가 이용할 수 있다.</p>" for i in range(8)) + "</article></body></html>")


@pytest.mark.parametrize("page", [EN, KO], ids=["english", "korean"])
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read_as_utf16(page, codec):
    assert decode_html(page.encode(codec), "text/html") == (page, codec)


def test_stray_nul_bytes_are_dropped_and_said():
    notes = []
    text, codec = decode_html(EN.replace("ferry", "fer\x00ry").encode(), "", notes)
    first = EN.index("ferry") + 3
    assert (text, codec) == (EN, "utf-8") and notes == [f"8 NUL bytes dropped, the first at byte {first}"]
    text, codec = decode_html(KO.replace("서울", "서\x00울").encode("cp949"), "text/html; charset=euc-kr")
    assert (text, codec) == (KO, "cp949")  # (CP949 with NULs did not read as a page: undecodable)


def _html_source(tmp_path, files: dict, cfg: WebConfig | None = None) -> dict:
    (tmp_path / "pages").mkdir()
    for name, data in files.items():
        (tmp_path / "pages" / name).write_bytes(data)
    spec = SourceConfig(name="pages", type="html", path=str(tmp_path / "pages"))
    return {name: read_source_file(spec, tmp_path / "pages" / name, web_config=cfg) for name in files}


def test_saved_pages_with_nuls_or_in_utf16_keep_their_text(tmp_path):
    items = _html_source(tmp_path, {"nul.html": EN.replace("ferry", "fer\x00ry").encode(),
                                    "u16.html": KO.encode("utf-16-le")})
    [nul], [u16] = items["nul.html"], items["u16.html"]
    assert "the ferry timetable" in nul.text and "\ufffd" not in nul.text
    assert nul.metadata["charset_repairs"] == [f"8 NUL bytes dropped, the first at byte {EN.index('ferry') + 3}"]
    assert "서울시는 내년부터" in u16.text and u16.metadata["charset"] == "utf-16-le" and "\ufffd" not in u16.text


def test_a_utf16_page_without_a_mark_in_a_warc_is_read(tmp_path):
    """It failed as not_html (binary data): its NULs, and no markup in ASCII."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(tmp_path / "c.warc.gz", "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record("https://ex.kr/u16", "response", http_headers=http,
                                                      payload=io.BytesIO(KO.encode("utf-16-be"))))
    [doc] = read_source_file(SourceConfig(name="crawl", type="warc", path=str(tmp_path)), tmp_path / "c.warc.gz")
    assert "서울시는 내년부터" in doc.text and doc.metadata["charset"] == "utf-16-be"


def _pdf() -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.drawString(72, 700, "A report saved under the wrong name.")
    c.save()
    return out.getvalue()


def test_files_of_another_kind_named_html_fail_as_not_html_and_a_gzipped_page_is_read(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    items = _html_source(tmp_path, {"report.html": _pdf(), "logo.htm": png, "saved.html": gzip.compress(EN.encode()),
                                    "cut.html": gzip.compress(EN.encode())[:-30]})
    assert [f.reason for f in items["report.html"]] == ["not_html (application/pdf, in a file named .html)"]
    assert [f.reason for f in items["logo.htm"]] == ["not_html (image/png, in a file named .htm)"]
    [saved] = items["saved.html"]
    assert "the ferry timetable" in saved.text
    [cut] = items["cut.html"]
    assert cut.reason == "broken_gzip (a gzip-compressed page whose stream ends early (the file is cut short))"


def test_a_gzipped_page_stops_inflating_at_the_size_limit(tmp_path):
    bomb = gzip.compress(b"<html><body>" + b"<p>a</p>" * 1_000_000)  # 8 MB from 25 KB
    [item] = _html_source(tmp_path, {"bomb.html": bomb}, WebConfig(max_page_bytes=1 << 20))["bomb.html"]
    assert item.reason == "too_large (over 1048576 bytes inflated)"
