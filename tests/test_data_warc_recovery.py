"""WARC/ARC files with broken records, in every layout a crawler writes: uncompressed, one gzip member a record
(Common Crawl), several records a member, one gzip stream for the whole file. Each broken record is one
`broken_record` failure and every record after it is still read; a header of hundreds of megabytes costs a
bounded buffer; and `axk1 data run` counts each record once (kept + excluded + failed = records read)."""

import gzip
import hashlib
import io
import re
import tracemalloc

import pytest

from axk1.data.stats import account
from axk1.data.warc import Skipped, WebPage, read_warc
from tests.data_helpers import run_warc_extract
from tests.warc_helpers import buffer_work

BODY = ("<html><head><title>도서관 소식</title></head><body><article><p>"
        + "서울시는 내년부터 공공도서관의 운영 시간을 밤 10시까지 연장한다고 밝혔다. " * 8
        + "</p></article></body></html>").encode()


def _record(uri: str, body: bytes = BODY, content_length: int | None = None) -> bytes:
    """One uncompressed response record from warcio's own writer (`content_length`: a wrong one written over)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http))
    data = out.getvalue()
    if content_length is not None:
        data = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % content_length, data, count=1)
    return data


def _request(uri: str) -> bytes:
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    writer.write_record(writer.create_warc_record(uri, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")))
    return out.getvalue()


# each: the broken bytes written between the good records https://ex.kr/1 and /3, /4
BROKEN = {
    "no_target_uri": _record(""),                                    # warcio's own AttributeError
    "no_content_length": b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://ex.kr/x\r\n\r\njunk\r\n\r\n",
    "content_length_too_large": _record("https://ex.kr/2", content_length=len(BODY) + 3000),  # swallows /3
    "content_length_too_small": _record("https://ex.kr/2", content_length=100),
    "junk_between_records": b"\x00\x01 these bytes are no record \xff\xfe\r\n" * 3,
}
LAYOUTS = {
    "plain.warc": lambda records: b"".join(records),
    "member-per-record.warc.gz": lambda records: b"".join(gzip.compress(r) for r in records),
    "whole-file.warc.gz": lambda records: gzip.compress(b"".join(records)),  # one gzip member for everything
    "two-members.warc.gz": lambda records: gzip.compress(b"".join(records[:2])) + gzip.compress(b"".join(records[2:])),
    # files joined from plain and gzipped parts (cat a.warc b.warc.gz): the part after the first was read as junk
    "plain-then-members.warc": lambda records: b"".join(records[:2]) + b"".join(gzip.compress(r) for r in records[2:]),
    "members-then-plain.warc.gz": lambda records: b"".join(gzip.compress(r) for r in records[:2])
    + b"".join(records[2:]),
    "plain-whole-plain.warc": lambda records: b"".join(records[:2]) + gzip.compress(b"".join(records[2:4]))
    + b"".join(records[4:]),
}


def _read(path):
    items = list(read_warc(path))
    return [x.url for x in items if isinstance(x, WebPage)], [x.reason for x in items if isinstance(x, Skipped)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_valid_file_in_every_layout_gives_every_page(tmp_path, layout):
    # a whole-file gzip stream gave its first record, then failed the file (warcio's "non-chunked gzip" error)
    records = [_record(f"https://ex.kr/{i}") for i in range(4)] + [_request("https://ex.kr/")]
    (tmp_path / layout).write_bytes(LAYOUTS[layout](records))
    assert _read(tmp_path / layout) == ([f"https://ex.kr/{i}" for i in range(4)], [])


@pytest.mark.parametrize("broken", BROKEN)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_records_after_a_broken_one_are_read(tmp_path, layout, broken):
    records = [_record("https://ex.kr/1"), BROKEN[broken], _record("https://ex.kr/3"), _record("https://ex.kr/4")]
    (tmp_path / layout).write_bytes(LAYOUTS[layout](records))
    urls, reasons = _read(tmp_path / layout)
    assert urls == ["https://ex.kr/1", "https://ex.kr/3", "https://ex.kr/4"], (urls, reasons)
    assert len(reasons) == 1 and reasons[0].startswith("broken_record: "), reasons


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_record_after_junk_longer_than_a_read_is_read(tmp_path, layout):
    # junk past the bytes read ahead, then a record starting early in the next megabyte scanned, with no other
    # record start in it: the scan's position went negative when the junk was dropped, and "WARC/" was looked for
    # only in that megabyte's last few kilobytes (a negative start counts from the end), so /3 went with the junk
    big = BODY.replace(b"</p>", b" " + b"z" * 1_200_000 + b"</p>")
    records = [_record("https://ex.kr/1"), b"no record here\n" + b"x" * 150_000 + b"\n",
               _record("https://ex.kr/3", body=big), _record("https://ex.kr/4")]
    (tmp_path / layout).write_bytes(LAYOUTS[layout](records))
    urls, reasons = _read(tmp_path / layout)
    assert urls == ["https://ex.kr/1", "https://ex.kr/3", "https://ex.kr/4"], (urls, reasons)
    assert len(reasons) == 1 and reasons[0].startswith("broken_record: no record starts here"), reasons


def test_a_corrupt_member_of_a_whole_file_stream_loses_the_rest_and_says_so(tmp_path):
    bodies = [BODY + hashlib.sha256(b"%d" % i).hexdigest().encode() * 20 for i in range(30)]  # none alike
    whole = b"".join(_fixed(_record(f"https://ex.kr/{i}", body=b), i) for i, b in enumerate(bodies))
    data = bytearray(gzip.compress(whole, compresslevel=1, mtime=0))  # the same bytes on every run
    data[len(data) // 2: len(data) // 2 + 16] = b"\xff" * 16
    (tmp_path / "c.warc.gz").write_bytes(bytes(data))
    urls, reasons = _read(tmp_path / "c.warc.gz")
    # the records inflated before zlib finds the damage are kept (a failed zlib call returns nothing: the reader
    # inflates that input again a little at a time); the record the damage cuts fails
    assert 5 < len(urls) < 30 and urls == [f"https://ex.kr/{i}" for i in range(len(urls))]
    assert len(reasons) == 1 and "does not inflate" in reasons[0] and "the rest of the file is lost" in reasons[0]
    # a later member is a place to go on: the records there are read
    (tmp_path / "d.warc.gz").write_bytes(bytes(data) + gzip.compress(_record("https://ex.kr/later")))
    urls2, reasons2 = _read(tmp_path / "d.warc.gz")
    assert urls2 == urls + ["https://ex.kr/later"] and len(reasons2) == len(reasons) and "lost" not in reasons2[-1]


def _fixed(record: bytes, n: int) -> bytes:
    """A record with a fixed id and date (warcio's writer makes new ones each time)."""
    record = re.sub(rb"urn:uuid:[0-9a-f-]+", b"urn:uuid:00000000-0000-0000-0000-%012d" % n, record)
    return re.sub(rb"WARC-Date: \S+", b"WARC-Date: 2025-03-05T10:21:00Z", record)


def test_a_member_whose_gzip_check_fails_is_one_failure_not_a_page(tmp_path):
    members = [gzip.compress(_record(f"https://ex.kr/{i}")) for i in range(4)]
    bad = bytearray(members[1])
    bad[-8] ^= 0xFF  # its CRC-32: the bytes inflate, but gzip's check says they are not what was written
    (tmp_path / "crc.warc.gz").write_bytes(members[0] + bytes(bad) + members[2] + members[3])
    urls, reasons = _read(tmp_path / "crc.warc.gz")
    assert urls == ["https://ex.kr/0", "https://ex.kr/2", "https://ex.kr/3"]
    assert len(reasons) == 1 and "incorrect data check" in reasons[0], reasons


def test_a_payload_holding_a_record_start_is_not_split_in_a_valid_file(tmp_path):
    inner = _record("https://ex.kr/inner")  # a page about WARC that quotes a record (no resync in a sound file)
    page = b"<html><body><pre>\r\n" + inner + b"</pre><p>" + BODY + b"</p></body></html>"
    records = [_record("https://ex.kr/1", body=page), _record("https://ex.kr/2")]
    for layout, pack in LAYOUTS.items():
        (tmp_path / layout).write_bytes(pack(records))
        assert _read(tmp_path / layout) == (["https://ex.kr/1", "https://ex.kr/2"], []), layout


def test_a_target_uri_that_does_not_parse_costs_nothing_else(tmp_path):
    # urlsplit raised ValueError on it while the page was made a document: the file's reader failed and every
    # record after it was lost as one "unreadable" failure
    from axk1.data.sources import SourceConfig, read_source_file

    (tmp_path / "c.warc").write_bytes(_record("http://[bad/x") + _record("https://ex.kr/2"))
    out = list(read_source_file(SourceConfig(type="warc", path=str(tmp_path), name="c"), tmp_path / "c.warc"))
    assert [d.metadata["url"] for d in out] == ["http://[bad/x", "https://ex.kr/2"], out
    assert out[0].metadata["host"] == "" and out[1].metadata["host"] == "ex.kr"


def test_arc_records_after_a_broken_one_are_read(tmp_path):
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n" + BODY
    desc = b"1 0 axk1-test\nURL IP-address Archive-date Content-type Archive-length\n"
    head = b"filedesc://t.arc 0.0.0.0 20250101000000 text/plain %d\n" % len(desc) + desc + b"\n"

    def rec(uri: bytes, length: int) -> bytes:
        return b"%s 10.0.0.1 20250102030405 text/html %d\n" % (uri, length) + http + b"\n"
    data = head + rec(b"http://ex.kr/1", len(http)) + rec(b"http://ex.kr/2", 40) + rec(b"http://ex.kr/3", len(http))
    for name, packed in (("t.arc", data), ("t.arc.gz", gzip.compress(data))):
        (tmp_path / name).write_bytes(packed)
        urls, reasons = _read(tmp_path / name)
        assert urls == ["http://ex.kr/1", "http://ex.kr/3"] and len(reasons) == 1, (name, reasons)


def test_a_300_megabyte_style_header_line_costs_a_bounded_buffer(tmp_path):
    # warcio reads a header line whole: a 300 MB line took about 1 GB. The header is bounded at 1 MiB; the line's
    # rest is scanned past in chunks, and the next record is read.
    path = tmp_path / "long.warc.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_record("https://ex.kr/1") + b"WARC/1.0\r\nWARC-Type: response\r\nX-Long: ")
        for _ in range(24):
            f.write(b"a" * (1 << 20))
        f.write(b"\r\nContent-Length: 4\r\n\r\nabcd\r\n\r\n" + _record("https://ex.kr/3"))
    tracemalloc.start()
    try:
        urls, reasons = _read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert urls == ["https://ex.kr/1", "https://ex.kr/3"]
    assert len(reasons) == 1 and "a header over 1048576 bytes" in reasons[0], reasons
    assert peak < 8 << 20, peak  # a 24 MiB line


@pytest.mark.e2e
def test_data_run_counts_every_record_once(tmp_path, capsys):
    """`axk1 data run` on broken files of each layout: every page record and every broken record is one input,
    and kept + excluded + failed adds up to them; requests are no input."""
    (tmp_path / "in").mkdir()
    n_records = 0
    for i, (layout, pack) in enumerate(LAYOUTS.items()):
        records = [_record(f"https://ex{i}.kr/1"), BROKEN["no_target_uri"], _request(f"https://ex{i}.kr/"),
                   _record(f"https://ex{i}.kr/3", body=b"<html><body><nav>home</nav></body></html>"),
                   BROKEN["content_length_too_small"], _record(f"https://ex{i}.kr/5")]
        (tmp_path / "in" / layout).write_bytes(pack(records))
        n_records += 5  # 3 pages + 2 broken; the request is not an input
    assert run_warc_extract(tmp_path, "[filters.quality]\nmin_words = 5\n") == 0
    acc = account(tmp_path / "out")
    assert f"in {n_records} = kept" in capsys.readouterr().out
    assert acc.balanced and acc.inputs == n_records
    assert acc.failed["broken_record"] == 2 * len(LAYOUTS) and acc.failed["no_main_text"] == len(LAYOUTS), acc.failed
    assert acc.kept + sum(acc.excluded.values()) == 2 * len(LAYOUTS)


def test_a_zstd_compressed_warc_fails_saying_what_to_do(tmp_path):
    import zstandard

    (tmp_path / "c.warc.zst").write_bytes(zstandard.ZstdCompressor().compress(_record("https://ex.kr/1")))
    assert _read(tmp_path / "c.warc.zst") == ([], [
        "unsupported_format (a zstd-compressed WARC, .warc.zst: decompress it first, zstd -d FILE, or recompress it "
        "with gzip)"])  # was: "no record starts here", then a scan of the compressed bytes


def test_hostile_record_starts_cost_linear_time(tmp_path):
    """Every line a record start, or every record claiming 100 MB: each broken record is searched again for the
    records inside it, and that rereading is bounded (a header read up to the next record start; at most the
    file's size plus 64 MiB reread), so such files take time in proportion to their size. A run of record starts
    with nothing after them is one failure that counts them (it was a failure a line: 10 MB took 3 s to read, and
    the pipeline wrote 45,000 failures a second)."""
    (tmp_path / "starts.warc").write_bytes(b"WARC/1.0\r\n" * 1_000_000)
    (tmp_path / "swallow.warc").write_bytes(b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://a/x\r\n"
                                            b"Content-Length: 99999999\r\n\r\n" * 20000)
    # the work is counted in bytes, not seconds: what the reader's buffer held each time bytes were cut from it or
    # put back into it stays within a few times the file's size (measured: 1.3 times, and none for the second
    # file); putting back each broken header's following lines to be searched again was quadratic in it
    (urls, reasons), work = buffer_work(lambda: _read(tmp_path / "starts.warc"))
    assert work <= 3 * (tmp_path / "starts.warc").stat().st_size + (8 << 20), work
    assert (urls, reasons) == ([], [
        "broken_record: a header cut short by the next record's start (999999 records in a row broke so)",
        "broken_record: a header cut short"])  # the last line: the file ends inside its header
    (urls, reasons), work = buffer_work(lambda: _read(tmp_path / "swallow.warc"))
    assert urls == [] and reasons and all("short of its Content-Length" in r for r in reasons)
    assert work <= 3 * (tmp_path / "swallow.warc").stat().st_size + (8 << 20), work


def test_wet_and_zstd_files_in_a_warc_folder_are_inputs_that_fail_with_a_reason(tmp_path):
    """A WARC folder ignored every name but .warc/.warc.gz/.arc/.arc.gz, and a WET file's conversion records were
    skipped as crawl descriptions: a folder of Common Crawl WET or .warc.zst files gave an empty crawl, no failure."""
    import zstandard
    from warcio.warcwriter import WARCWriter

    from axk1.data.source_files import list_files
    from axk1.data.sources import SourceConfig

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    writer.write_record(writer.create_warc_record("https://ex.kr/1", "conversion", payload=io.BytesIO(
        "서울시는 도서관 운영 시간을 연장한다.".encode()), warc_content_type="text/plain"))
    (tmp_path / "CC-MAIN-1.warc.wet.gz").write_bytes(out.getvalue())
    (tmp_path / "c.warc.zst").write_bytes(zstandard.ZstdCompressor().compress(_record("https://ex.kr/2")))
    (tmp_path / "README.md").write_text("not a crawl")
    files = list_files(SourceConfig(name="crawl", type="warc", path=str(tmp_path)))
    assert sorted(p.name for p in files) == ["CC-MAIN-1.warc.wet.gz", "c.warc.zst"]
    pages, reasons = _read(tmp_path / "CC-MAIN-1.warc.wet.gz")
    assert pages == [] and len(reasons) == 1 and reasons[0].startswith("unsupported_record (conversion: a WET file")


def test_a_run_whose_every_input_fails_ends_with_its_accounting_not_a_traceback(tmp_path, capsys):
    # the extract stage kept nothing, and the next stage's datatrove reader raised "No files found" (a traceback)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "0.warc").write_bytes(BROKEN["junk_between_records"])
    assert run_warc_extract(tmp_path) == 0
    assert "in 1 = kept 0 + excluded 0 + failed 1" in capsys.readouterr().out
    acc = account(tmp_path / "out")
    assert acc.balanced and acc.inputs == 1 and acc.failed["broken_record"] == 1
