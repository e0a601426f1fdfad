"""Korean web pages as a crawl stores them, through the `warc` source: EUC-KR/CP949 pages with and without a
<meta> charset, wrong or disagreeing declarations, pages mixing CP949 and UTF-8, payloads stored with their chunked
transfer coding and gzip/br content coding (as wget and browsertrix write them), every WARC record type, a PDF,
<br>-only and table-laid-out pages, a Naver-blog-style frame shell. Each page gives its main text in correct Hangul,
without the site's menus and footer, or fails with a reason that says what to do. Records come from warcio's
writer."""

import gzip
import io

import pytest
from datatrove.data import Document

from axk1.data.sources import SourceConfig, read_source_file

LINES = ["서울시는 내년부터 모든 공공도서관의 운영 시간을 밤 10시까지 연장한다고 5일 밝혔다.",
         "시는 직장인과 학생들의 이용 편의를 높이기 위해 이번 결정을 내렸으며, 필요한 예산은 약 120억 원으로 추산된다.",
         "도서관 관계자는 \"야간 이용자가 꾸준히 늘고 있어 연장 운영의 효과가 클 것\"이라고 말했다.",
         "한편 시는 주말 프로그램도 확대해 어린이 독서 교실과 어르신 디지털 교육을 함께 운영할 계획이다.",
         "똠방각하와 펲시콜라처럼 확장 완성형(CP949)에만 있는 글자도 그대로 보여야 한다."]
BOILERPLATE = ["로그인", "개인정보처리방침", "무단전재", "관련기사", "많이 본 뉴스"]


def news(meta: str | None = "euc-kr", lines=LINES) -> str:
    """A news article as Korean portals lay it out: menu, article, related links, most-read list, footer."""
    head = f'<meta http-equiv="Content-Type" content="text/html; charset={meta}">' if meta else ""
    body = "\n".join(f"<p>{line}</p>" for line in lines)
    return f"""<!DOCTYPE html><html lang="ko"><head>{head}<title>서울시, 공공도서관 밤 10시까지 연장</title></head><body>
<div id="gnb"><ul><li><a href="/">홈</a></li><li><a href="/politics">정치</a></li><li><a href="/economy">경제</a></li>
<li><a href="/society">사회</a></li><li><a href="/login">로그인</a></li></ul></div>
<div id="wrap"><h1>서울시, 공공도서관 밤 10시까지 연장</h1><span class="date">입력 2025.03.05 10:21</span>
<div id="articleBody" class="article_body">{body}<p class="reporter">김기자 기자</p></div>
<div class="related"><h3>관련기사</h3><ul><li><a href="/a/1">부산도 도서관 연장 검토</a></li></ul></div>
<div class="most_read"><h3>많이 본 뉴스</h3><ol><li><a href="/a/3">주식시장 급등</a></li></ol></div></div>
<div id="footer"><p>회사소개 | 광고안내 | 개인정보처리방침</p><p>Copyright ⓒ 한빛일보. 무단전재 및 재배포 금지.</p></div>
</body></html>"""


def br_only() -> str:
    """A district office notice: a menu table, then the text as <font> lines split by <br>, no <p> at all."""
    return ('<html><head><meta charset="euc-kr"><title>공지사항</title></head><body>'
            '<table width="100%"><tr><td><a href="/">처음으로</a> | <a href="/board">게시판</a></td></tr></table>'
            '<font size="2">' + "<br>\n".join(LINES) + "<br></font><div>Copyright ⓒ 구청. All rights reserved.</div>"
            "</body></html>")


def table_page() -> str:
    """A ministry press release: the main text in the cells of a layout table."""
    rows = "".join(f"<tr><td>{line}</td></tr>" for line in LINES)
    return (f'<html><head><meta charset="euc-kr"><title>보도자료</title></head><body><table class="view">'
            f"<tr><th>제목</th><td>공공도서관 운영 시간 연장</td></tr>{rows}</table></body></html>")


NAVER_SHELL = ('<html><head><meta charset="utf-8"><title>여행 일기 : 네이버 블로그</title></head><body>'
               '<div id="whole-border"><iframe id="mainFrame" name="mainFrame" '
               'src="/PostView.naver?blogId=abc&amp;logNo=223000000000&amp;redirect=Dlog" width="100%"></iframe>'
               "</div></body></html>")


def _record(writer, uri, payload: bytes, headers=(("Content-Type", "text/html"),), status="200 OK",
            rec_type="response", warc_headers=None):
    from warcio.statusandheaders import StatusAndHeaders

    http = StatusAndHeaders(status, list(headers), protocol="HTTP/1.1") if rec_type in ("response", "request") \
        else None
    writer.write_record(writer.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), http_headers=http,
                                                  warc_headers_dict=warc_headers or {}))


def _read(tmp_path, records) -> list:
    """The `warc` source's output (Documents and Failures, in order) for records written by warcio."""
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "crawl.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for args, kwargs in records:
            _record(writer, *args, **kwargs)
    return list(read_source_file(SourceConfig(type="warc", path=str(tmp_path), name="crawl"), path))


def rec(*args, **kwargs):
    return args, kwargs


def _main_text_in_hangul(doc, lines=LINES):
    assert isinstance(doc, Document), doc
    for line in lines:
        assert line in doc.text, (line, doc.text[:300])
    leaked = [b for b in BOILERPLATE if b in doc.text]
    assert not leaked, (leaked, doc.text)


CHARSET_CASES = {
    # name: (payload, HTTP Content-Type, the charset the page must be read in)
    "euc-kr meta": (news("euc-kr").encode("cp949"), "text/html", "cp949"),
    "no declaration at all": (news(None).encode("cp949"), "text/html", "cp949"),
    "Apache's default Latin-1 over CP949": (news("euc-kr").encode("cp949"), "text/html; charset=ISO-8859-1", "cp949"),
    "Latin-1 header, no meta": (news(None).encode("cp949"), "text/html; charset=iso-8859-1", "cp949"),
    "header UTF-8, meta EUC-KR, bytes CP949": (news("euc-kr").encode("cp949"), "text/html; charset=utf-8", "cp949"),
    "meta EUC-KR left in a UTF-8 template": (news("euc-kr").encode("utf-8"), "text/html", "utf-8"),
    "header EUC-KR over UTF-8": (news(None).encode("utf-8"), "text/html; charset=euc-kr", "utf-8"),
    "IE's x-windows-949 label": (news("x-windows-949").encode("cp949"), "text/html", "cp949"),
    "the label 'korean'": (news(None).encode("cp949"), "text/html; charset=korean", "cp949"),
    "a UTF-8 widget in a CP949 page": (news("euc-kr").encode("cp949").replace(
        LINES[3].encode("cp949"), LINES[3].encode("utf-8")), "text/html", "cp949+utf-8"),
    "a CP949 paste in a UTF-8 page": (news("utf-8").encode("utf-8").replace(
        LINES[3].encode("utf-8"), LINES[3].encode("cp949")), "text/html", "utf-8+cp949"),
}


@pytest.mark.parametrize("case", CHARSET_CASES)
def test_korean_charsets_as_sites_really_serve_them(tmp_path, case):
    payload, content_type, charset = CHARSET_CASES[case]
    (doc,) = _read(tmp_path, [rec("https://news.example.kr/a/1", payload, headers=[("Content-Type", content_type)])])
    _main_text_in_hangul(doc)
    assert doc.metadata["charset"] == charset and doc.metadata["title"] == "서울시, 공공도서관 밤 10시까지 연장"


def _chunked(data: bytes, size: int = 700) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def test_payloads_stored_with_their_transfer_and_content_coding(tmp_path):
    import brotli

    page = news("euc-kr").encode("cp949")
    docs = _read(tmp_path, [
        rec("https://a.example.kr/chunked", _chunked(page), headers=[
            ("Content-Type", "text/html; charset=EUC-KR"), ("Transfer-Encoding", "chunked")]),
        rec("https://a.example.kr/gzip-chunked", _chunked(gzip.compress(page)), headers=[
            ("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")]),
        rec("https://a.example.kr/br", brotli.compress(page), headers=[
            ("Content-Type", "text/html"), ("Content-Encoding", "br")]),
        rec("https://a.example.kr/gzip-said-not-done", page, headers=[  # a server that names gzip and sends plain
            ("Content-Type", "text/html"), ("Content-Encoding", "gzip")]),
        # warcio matched only the exact value "chunked": these left chunk sizes inside the page's text
        rec("https://a.example.kr/Chunked", _chunked(page), headers=[
            ("Content-Type", "text/html"), ("Transfer-Encoding", "Chunked")]),
        rec("https://a.example.kr/te-gzip-chunked", _chunked(gzip.compress(page)), headers=[
            ("Content-Type", "text/html"), ("Transfer-Encoding", "gzip, chunked")]),
        rec("https://a.example.kr/x-gzip", gzip.compress(page), headers=[  # an old alias browsers still take
            ("Content-Type", "text/html"), ("Content-Encoding", "x-gzip")]),
    ])
    assert len(docs) == 7
    for doc in docs:
        _main_text_in_hangul(doc)
        assert doc.metadata["charset"] == "cp949"


def test_a_payload_whose_coding_breaks_half_way_fails_instead_of_being_cut(tmp_path):
    cut = bytearray(gzip.compress(news("utf-8").encode() * 3))
    cut[len(cut) // 2: len(cut) // 2 + 8] = b"\xff" * 8
    (failure,) = _read(tmp_path, [rec("https://a.example.kr/bad", bytes(cut), headers=[
        ("Content-Type", "text/html"), ("Content-Encoding", "gzip")])])
    assert failure.reason.startswith("broken_record: its gzip content coding does not inflate"), failure.reason


def test_a_content_coding_nothing_here_decodes_fails_with_what_to_do(tmp_path):
    import zlib

    packed = zlib.compress(news("utf-8").encode())  # standing in for LZW: `compress` is a coding no browser reads
    (failure,) = _read(tmp_path, [rec("https://a.example.kr/z", packed, headers=[
        ("Content-Type", "text/html"), ("Content-Encoding", "compress")])])
    assert failure.reason.startswith("unsupported_encoding (compress"), failure.reason  # was: undecodable bytes


def test_a_zstd_coded_page_is_read(tmp_path):
    import zstandard

    (doc,) = _read(tmp_path, [rec("https://a.example.kr/zstd", zstandard.ZstdCompressor().compress(
        news("utf-8").encode()), headers=[("Content-Type", "text/html"), ("Content-Encoding", "zstd")])])
    assert "서울" in doc.text, doc  # was: unsupported_encoding (zstd), as browsers have read it since 2024


def test_record_types_pdf_and_statuses(tmp_path):
    out = _read(tmp_path, [
        rec("https://a.example.kr/", b"GET / HTTP/1.1\r\nHost: a.example.kr\r\n\r\n", rec_type="request"),
        rec("https://a.example.kr/old", b"", rec_type="revisit", warc_headers={
            "WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"}),
        rec("https://a.example.kr/page", b"outlinks: https://a.example.kr/b\r\n", rec_type="metadata",
            warc_headers={"Content-Type": "application/warc-fields"}),
        rec("https://a.example.kr/saved", news("euc-kr").encode("cp949"), rec_type="resource",
            warc_headers={"Content-Type": "text/html; charset=euc-kr"}),
        rec("https://a.example.kr/report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
            headers=[("Content-Type", "application/pdf")]),
        rec("https://a.example.kr/moved", b"", headers=[("Location", "https://a.example.kr/new")],
            status="301 Moved Permanently"),
    ])
    # request, revisit and metadata records describe the crawl: no input, no failure
    assert [type(x).__name__ for x in out] == ["Document", "Failure", "Failure"]
    _main_text_in_hangul(out[0])
    assert out[0].metadata["charset"] == "cp949"
    assert out[1].reason.startswith("not_html (application/pdf)")
    assert out[2].reason.startswith("http_status_301")


def test_pages_laid_out_with_br_and_with_tables_keep_every_line(tmp_path):
    # the <br>-only notice lost its first line (trafilatura drops the text of a block that follows a table)
    same_div = br_only().replace('<font size="2">', "").replace("</font>", "").replace(
        "<body><table", "<body><div><table").replace("<br><div>", "<br></div><div>")  # the lines: the table's tail
    assert "</table>" + LINES[0] in same_div
    out = _read(tmp_path, [rec("https://gu.example.kr/notice", br_only().encode("cp949")),
                           rec("https://gu.example.kr/notice2", same_div.encode("cp949")),
                           rec("https://mois.example.kr/press", table_page().encode("cp949"))])
    for doc in out:
        assert isinstance(doc, Document) and all(line in doc.text for line in LINES), doc
    assert "\n".join(LINES) in out[0].text and "\n".join(LINES) in out[1].text  # one line each, in order


def test_a_frame_shell_fails_naming_the_frame_to_crawl(tmp_path):
    (failure,) = _read(tmp_path, [rec("https://blog.naver.com/abc/223000000000", NAVER_SHELL.encode())])
    assert failure.reason.startswith("no_main_text (0 characters; its text is in a frame: crawl "
                                     "https://blog.naver.com/PostView.naver?blogId=abc&logNo=223000000000"), failure
    frameset = (b'<html><head><title>\xc7\xd1\xb1\xdb</title></head><frameset cols="200,*">'
                b'<frame src="menu.html"><frame src="main.html"></frameset></html>')
    (failure,) = _read(tmp_path, [rec("http://old.example.kr/index.html", frameset)])
    assert "crawl http://old.example.kr/menu.html" in failure.reason


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_compression_bomb_payload_stops_at_the_size_limit(tmp_path, coding):
    import tracemalloc

    import brotli
    from warcio.warcwriter import WARCWriter

    from axk1.data.warc import read_warc

    page = b"<html><body><p>" + b"\0" * (64 << 20) + b"</p></body></html>"  # 64 MiB inflating from a few KB
    packed = gzip.compress(page, compresslevel=1) if coding == "gzip" else brotli.compress(page, quality=1)
    del page
    with open(tmp_path / "bomb.warc.gz", "wb") as fh:
        _record(WARCWriter(fh, gzip=True), "https://a.example.kr/bomb", packed,
                headers=[("Content-Type", "text/html"), ("Content-Encoding", coding)])
    tracemalloc.start()
    try:
        (item,) = list(read_warc(tmp_path / "bomb.warc.gz", max_page_bytes=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert item.reason.startswith("too_large"), item
    assert peak < 16 << 20, peak


def test_binary_payloads_served_as_html_fail_as_what_they_are(tmp_path):
    # a PNG behind a server's text/html decoded "strictly" as CP949 (NULs are valid there) and became a document
    html = [("Content-Type", "text/html")]
    out = _read(tmp_path, [
        rec("https://a.example.kr/logo.html", b"\x89PNG\r\n\x1a\n" + bytes(4000), headers=html),
        rec("https://a.example.kr/doc.html", b"%PDF-1.4\n" + bytes(range(256)) * 8, headers=html),
        rec("https://a.example.kr/utf16.html", news("utf-16").encode("utf-16"), headers=html),
    ])
    assert out[0].reason.startswith("not_html (image/png, served as text/html)"), out[0]
    assert out[1].reason.startswith("not_html (application/pdf, served as text/html)"), out[1]
    _main_text_in_hangul(out[2])  # NULs, but a UTF-16 page with its byte-order mark


def test_a_response_stored_without_its_http_headers_is_read(tmp_path):
    # warcio read the page's first lines as a status line and headers: the page failed as "http_status_html><html"
    page = news("utf-8").encode()
    head = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://a.example.kr/bare\r\n"
            b"WARC-Date: 2025-03-05T10:21:00Z\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page))
    (tmp_path / "bare.warc").write_bytes(head + page + b"\r\n\r\n")
    (doc,) = list(read_source_file(SourceConfig(type="warc", path=str(tmp_path), name="c"), tmp_path / "bare.warc"))
    _main_text_in_hangul(doc)


def test_an_unknown_binary_served_as_html_fails_as_binary(tmp_path):
    (failure,) = _read(tmp_path, [rec("https://a.example.kr/blob.html", b"\x07\x00\x01" + bytes(range(256)) * 8,
                                      headers=[("Content-Type", "text/html")])])
    assert failure.reason.startswith("not_html (binary data, served as text/html)"), failure.reason


def test_a_site_folder_with_a_korean_domain_name_passes_its_allow_list(tmp_path):
    """`axk1 data starter --web` over kweb/한국.kr/: the URL's host was percent-encoded (https://%ED%95%9C...), so
    `allow_domains = ["한국.kr"]` excluded every page. A hidden file beside the pages (an editor's backup) is no
    page."""
    from axk1.data.html_pages import folder_pages
    from axk1.data.stats import account, iter_records
    from axk1.data.warc import write_warc
    from tests.data_helpers import run_warc_extract

    site = tmp_path / "kweb" / "한국.kr"
    site.mkdir(parents=True)
    (site / "p1.html").write_text(news("utf-8"), encoding="utf-8")
    (site / ".p1.html").write_text(news("utf-8"), encoding="utf-8")
    (tmp_path / "in").mkdir()
    assert write_warc(tmp_path / "in" / "web.warc.gz", folder_pages(tmp_path / "kweb")) == 1
    assert run_warc_extract(tmp_path, '[filters.url]\nallow_domains = ["한국.kr"]\n') == 0
    acc = account(tmp_path / "out")
    assert acc.inputs == 1 and acc.kept == 1, (acc.excluded, acc.failed)
    [doc] = iter_records(tmp_path / "out" / "clean")
    assert doc["metadata"]["url"] == "https://xn--3e0b707e.kr/p1.html"


def test_a_base_url_without_a_host_is_refused_at_load(tmp_path):
    """base_url = "https://" gave pages the URL 'https:/site.kr/news1.html' and no host, silently."""
    from axk1.data.config import config_from_dict

    (tmp_path / "site.kr").mkdir()
    (tmp_path / "site.kr" / "news1.html").write_text(news("utf-8"), encoding="utf-8")
    raw = {"run": {"output_dir": str(tmp_path / "out"), "stages": ["extract"]},
           "sources": [{"type": "html", "path": str(tmp_path / "site.kr"), "name": "saved", "base_url": "https://"}]}
    with pytest.raises(ValueError, match="source 'saved': base_url 'https://' is no http\\(s\\) URL with a host"):
        config_from_dict(raw)
    raw["sources"][0]["base_url"] = "https://site.kr/"
    spec = config_from_dict(raw).sources[0]
    [doc] = read_source_file(spec, tmp_path / "site.kr" / "news1.html")
    assert doc.metadata["url"] == "https://site.kr/news1.html" and doc.metadata["host"] == "site.kr"
