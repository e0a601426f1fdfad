"""WARC records that describe the crawl (request, revisit, metadata, warcinfo) are no input, but they are not
passed over unsaid: a sound WARC holding only such records (a crawl's revisits, a requests-only capture) failed as
a bare `no_records`, read as a damaged file, and the records were counted nowhere. The file now fails saying what
it holds, and the run's accounting counts the records by type."""

import io
import json

from axk1.data.failure import Failure
from axk1.data.sources import SourceConfig, read_source_file
from axk1.data.stats import account, summary_text
from tests.data_helpers import run_warc_extract

PAGE = ("<html><head><meta charset='utf-8'><title>도서관</title></head><body><article>"
        + "".join(f"<p>{i}. 서울시는 내년부터 모든 공공도서관의 운영 시간을 밤 10시까지 연장한다고 밝혔다.</p>"
                  for i in range(6)) + "</article></body></html>").encode()


def _warc(path, revisits: int, requests: int, metadata: int, pages: int = 0) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))
        for i in range(requests):
            http = StatusAndHeaders(f"GET /r/{i} HTTP/1.1", [("Host", "ex.kr")], is_http_request=True)
            w.write_record(w.create_warc_record(f"https://ex.kr/r/{i}", "request", http_headers=http))
        for i in range(revisits):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            w.write_record(w.create_revisit_record(f"https://ex.kr/v/{i}", "sha1:AAAA", f"https://ex.kr/v/{i}",
                                                   "2024-01-01T00:00:00Z", http_headers=http))
        for i in range(metadata):
            w.write_record(w.create_warc_record(f"https://ex.kr/m/{i}", "metadata",
                                                payload=io.BytesIO(b"outlinks: none\n"),
                                                warc_content_type="application/warc-fields"))
        for i in range(pages):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"https://ex.kr/p/{i}", "response", payload=io.BytesIO(PAGE),
                                                http_headers=http))


def test_a_warc_of_non_page_records_says_what_it_holds(tmp_path):
    (tmp_path / "in").mkdir()
    _warc(tmp_path / "in" / "revisits.warc.gz", revisits=3, requests=2, metadata=1)
    spec = SourceConfig(name="crawl", type="warc", path=str(tmp_path / "in"))
    [failure] = read_source_file(spec, tmp_path / "in" / "revisits.warc.gz")
    assert isinstance(failure, Failure)
    assert failure.reason == ("no_records: holds only non-page records (3 revisit, 2 request, 1 metadata, "
                              "1 warcinfo): no response or resource record, so no page")


def test_the_run_counts_the_non_page_records(tmp_path):
    (tmp_path / "in").mkdir()
    _warc(tmp_path / "in" / "a.warc.gz", revisits=3, requests=2, metadata=0)
    _warc(tmp_path / "in" / "b.warc.gz", revisits=1, requests=4, metadata=2, pages=2)
    assert run_warc_extract(tmp_path, "[filters.quality]\nmin_words = 5\n") == 0
    acc = account(tmp_path / "out")
    assert acc.balanced and acc.inputs == 3 and acc.failed == {"no_records": 1}, (acc.failed, acc.kept)
    assert acc.non_page_records == {"revisit": 4, "request": 6, "metadata": 2, "warcinfo": 2}
    assert "not inputs: 14 WARC record(s) that describe the crawl, not pages (6 request, 4 revisit, 2 metadata, " \
           "2 warcinfo)" in summary_text(acc)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["non_page_records"] == \
        {"revisit": 4, "request": 6, "metadata": 2, "warcinfo": 2}
