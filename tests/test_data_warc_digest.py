"""WARC-Block-Digest and WARC-Payload-Digest, as warcio (a writer nobody here wrote) writes them: its files are read
whole with every digest checked, and a byte changed anywhere in a record's block of an uncompressed WARC (which has
no other check) fails that record as `digest_mismatch`, counted in the run's accounting, instead of giving a wrong
page."""

import base64
import hashlib
import io
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axk1.data.stats import account
from axk1.data.warc import Skipped, WebPage, read_warc
from tests.data_helpers import run_warc_extract

PAGES = {f"https://ex.kr/{i}": ("<html><body><p>" + f"서울 도서관 소식 {i}번째 글입니다. " * 30
                                + "</p></body></html>").encode() for i in range(3)}


def _warcio_file(gzip: bool = False) -> bytes:
    """Three responses and a resource record, as warcio writes them (sha1 block and payload digests)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzip)
    for i, (url, body) in enumerate(PAGES.items()):
        if i == 2:  # a resource: the block is the page, no HTTP headers
            record = writer.create_warc_record(url, "resource", payload=io.BytesIO(body),
                                               warc_content_type="text/html; charset=utf-8")
        else:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
        writer.write_record(record)
    return out.getvalue()


def _blocks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each record's block in an uncompressed file."""
    spans = []
    for m in re.finditer(rb"WARC/1\.[01]\r\n(?:.+\r\n)*?Content-Length: (\d+)\r\n(?:.+\r\n)*?\r\n", data):
        spans.append((m.end(), m.end() + int(m.group(1))))
    return spans


def _read(tmp_path, data: bytes, name: str = "c.warc"):
    (tmp_path / name).write_bytes(data)
    items = list(read_warc(tmp_path / name))
    pages = {x.url: x for x in items if isinstance(x, WebPage)}
    return pages, {x.url: x.reason for x in items if isinstance(x, Skipped)}


def test_warcio_files_are_read_whole_with_every_digest_checked(tmp_path):
    for gz in (False, True):
        pages, failed = _read(tmp_path, _warcio_file(gz), "c.warc.gz" if gz else "c.warc")
        assert failed == {} and {u: p.payload for u, p in pages.items()} == PAGES
        assert {p.digest for p in pages.values()} == {"sha1"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=st.integers(0, 2), where=st.floats(0, 0.999), bit=st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]))
def test_a_byte_changed_in_a_plain_warc_fails_its_record_and_no_other(tmp_path, record, where, bit):
    # it was read as the page, with the changed byte in its text (or a changed status or content type)
    data = _warcio_file()
    start, end = _blocks(data)[record]
    at = start + int((end - start) * where)
    pages, failed = _read(tmp_path, data[:at] + bytes([data[at] ^ bit]) + data[at + 1:])
    url = list(PAGES)[record]
    assert url not in pages and failed[url].startswith("digest_mismatch (WARC-Block-Digest sha1:")
    assert {u: p.payload for u, p in pages.items()} == {u: b for u, b in PAGES.items() if u != url}


def test_a_changed_byte_is_a_failure_in_the_runs_accounting(tmp_path):
    data = _warcio_file()
    start, _ = _blocks(data)[1]
    at = data.index("관".encode(), start) + 2  # 관 (EA B4 80) becomes 괁 (EA B4 81): still sound Korean text
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "0.warc").write_bytes(data[:at] + b"\x81" + data[at + 1:])
    assert run_warc_extract(tmp_path) == 0
    acc = account(tmp_path / "out")
    assert acc.balanced and acc.inputs == 3 and dict(acc.failed) == {"digest_mismatch": 1}


def _with_digest(data: bytes, block_digest: str | None, payload_digest: str | None = "keep") -> bytes:
    """The file with each record's WARC-Block-Digest set to block_digest(block) (None: removed) and, when
    payload_digest is None, its WARC-Payload-Digest removed."""
    out, pos = [], 0
    for start, end in _blocks(data):
        head = data[pos:start]
        head = re.sub(rb"WARC-Block-Digest: \S+\r\n", b"" if block_digest is None else
                      b"WARC-Block-Digest: " + block_digest(data[start:end]).encode() + b"\r\n", head)
        if payload_digest is None:
            head = re.sub(rb"WARC-Payload-Digest: \S+\r\n", b"", head)
        out += [head, data[start:end]]
        pos = end
    return b"".join(out) + data[pos:]


def test_other_algorithms_and_encodings_are_checked_and_unknown_ones_left_unchecked(tmp_path):
    spellings = {"sha256": lambda b: "sha-256:" + hashlib.sha256(b).hexdigest(),
                 "md5": lambda b: "md5:" + base64.b64encode(hashlib.md5(b).digest()).decode(),
                 "sha512": lambda b: "SHA512:" + base64.b32encode(hashlib.sha512(b).digest()).decode().lower()}
    for algorithm, spell in spellings.items():
        pages, failed = _read(tmp_path, _with_digest(_warcio_file(), spell))
        assert failed == {} and {p.digest for p in pages.values()} == {algorithm}
        wrong = _with_digest(_warcio_file(), lambda b: spell(b + b"x"))
        assert _read(tmp_path, wrong)[0] == {}
    pages, failed = _read(tmp_path, _with_digest(_warcio_file(), lambda b: "blake9:ABCDEF"))
    assert failed == {} and len(pages) == 3
    assert {p.digest for p in pages.values()} == {"unchecked (WARC-Block-Digest uses 'blake9', which hashlib does "
                                                  "not have)"}


def test_a_record_with_only_a_payload_digest_is_checked_by_it(tmp_path):
    data = _with_digest(_warcio_file(), None)
    pages, failed = _read(tmp_path, data)
    assert failed == {} and {p.digest for p in pages.values()} == {"sha1"}
    at = data.index("글입니다".encode())
    pages, failed = _read(tmp_path, data[:at] + b"X" + data[at + 1:])
    assert list(failed.values()) == [failed["https://ex.kr/0"]]
    assert failed["https://ex.kr/0"].startswith("digest_mismatch (WARC-Payload-Digest sha1:")
    pages, failed = _read(tmp_path, _with_digest(_warcio_file(), None, None))  # no digest at all: read, and said so
    assert failed == {} and {p.digest for p in pages.values()} == {"none"}
