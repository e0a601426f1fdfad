"""A page whose gzip body holds several members (RFC 1952: a gzip stream is members one after the other; a server
flushing its compressor per chunk sends such bodies) is read whole: zlib stops after the first member, and the
page silently kept its first part only, in a WARC record (Content-Encoding: gzip) and in a saved .html.gz page
alike. The size bound still holds over all the members together."""

import gzip
import zlib

import pytest

from axk1.data.failure import Failure
from axk1.data.gzip_members import inflate_members
from axk1.data.sources import SourceConfig, read_source_file
from axk1.data.warc import Skipped, WebPage, read_warc
from tests.warc_helpers import warc_response

HEAD = "<html><head><title>도서관</title></head><body><article>"
PARTS = [HEAD + "".join(f"<p>{i}. 서울시는 내년부터 공공도서관의 운영 시간을 밤 10시까지 연장한다고 밝혔다.</p>"
                        for i in range(6)),
         "".join(f"<p>{i}. 부산시는 해운대 해수욕장의 개장 기간을 9월 말까지로 늘린다고 밝혔다.</p>" for i in range(6)),
         "</article></body></html>"]
PAGE = "".join(PARTS).encode()
MEMBERS = b"".join(gzip.compress(part.encode()) for part in PARTS)
GZ = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")]


def test_a_warc_page_in_several_gzip_members_is_read_whole(tmp_path):
    (tmp_path / "m.warc").write_bytes(warc_response("https://ex.kr/m", MEMBERS, GZ)
                                      + warc_response("https://ex.kr/pad", gzip.compress(PAGE) + b"\0" * 8, GZ))
    whole, padded = list(read_warc(tmp_path / "m.warc"))
    assert isinstance(whole, WebPage) and whole.payload == PAGE
    assert isinstance(padded, WebPage) and padded.payload == PAGE  # bytes after the last member end it


def test_a_saved_page_in_several_gzip_members_keeps_its_last_paragraphs(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "m.html").write_bytes(MEMBERS)
    spec = SourceConfig(name="pages", type="html", path=str(tmp_path / "pages"))
    [doc] = read_source_file(spec, tmp_path / "pages" / "m.html")
    assert not isinstance(doc, Failure), doc
    assert "해운대 해수욕장" in doc.text and "서울시는 내년부터" in doc.text


def test_the_size_bound_holds_over_all_members(tmp_path):
    """A small first member and a bomb behind it: the bound counts every member's bytes."""
    bomb = gzip.compress(PARTS[0].encode()) + gzip.compress(b"\0" * (64 << 20))
    (tmp_path / "b.warc").write_bytes(warc_response("https://ex.kr/b", bomb, GZ)
                                      + warc_response("https://ex.kr/cut", MEMBERS[:-9], GZ))
    big, cut = list(read_warc(tmp_path / "b.warc", max_page_bytes=1 << 20))
    assert isinstance(big, Skipped) and big.reason == f"too_large (over {1 << 20} bytes)", big
    assert isinstance(cut, Skipped) and "gzip content coding ends early" in cut.reason, cut
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "b.html").write_bytes(bomb)
    spec = SourceConfig(name="pages", type="html", path=str(tmp_path / "pages"))
    from axk1.data.html_extract import WebConfig

    [fail] = read_source_file(spec, tmp_path / "pages" / "b.html", web_config=WebConfig(max_page_bytes=1 << 20))
    assert isinstance(fail, Failure) and fail.reason.startswith("too_large"), fail


def test_inflate_members():
    assert inflate_members(MEMBERS, 1 << 20) == (PAGE, True)
    assert inflate_members(MEMBERS, 10) == (PAGE[:11], False)
    assert inflate_members(MEMBERS[:-9], 1 << 20)[1] is False  # the last member cut short
    assert inflate_members(MEMBERS + b"junk", 1 << 20) == (PAGE, True)
    with pytest.raises(zlib.error):
        inflate_members(MEMBERS[:10] + b"\xff" * 40, 1 << 20)  # a reserved block type
