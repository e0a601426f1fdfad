"""Hostile input files against the pipeline's readers, found by a hostile tester in session 13: each used to stop
the whole run with a traceback (a truncated gzip or zstd file, a 5,000-digit number, nesting past the stack, a lone
surrogate that only the writer choked on, a WARC record without a URI), lose records silently (a zstd file cut
short gave nothing and no failure; empty texts were dropped between stages, unbalancing the accounting; symlinked
folders were skipped), hang (a FIFO) or hold a whole 2 GB line in memory. Now every one is a failure with a reason
and the run goes on."""

import gzip
import io
import json
import os

import pytest
import zstandard

from axk1.data.failure import Failure
from axk1.data.source_files import list_files
from axk1.data.sources import SourceConfig, SourceReader, read_source_file
from tests.data_helpers import FailureSink

GOOD = [json.dumps({"text": f"문서 {i} 입니다. A good line of text number {i}."}) for i in range(5)]


def _read(path, **kw):
    spec = SourceConfig(type=kw.pop("type", "jsonl"), path=str(path.parent if kw.pop("folder", False) else path), **kw)
    return list(read_source_file(spec, path))


def _reasons(items):
    return [x.reason for x in items if isinstance(x, Failure)]


def _docs(items):
    return [x for x in items if not isinstance(x, Failure)]


def test_a_cut_gzip_or_zstd_file_keeps_what_it_read_and_fails_the_rest(tmp_path):
    data = ("\n".join(GOOD * 200) + "\n").encode()
    gz = gzip.compress(data)
    (tmp_path / "cut.jsonl.gz").write_bytes(gz[: len(gz) * 2 // 3])
    items = _read(tmp_path / "cut.jsonl.gz")
    assert 0 < len(_docs(items)) < 1000 and len(_reasons(items)) == 1
    assert _reasons(items)[0].startswith("unreadable") and "after" in _reasons(items)[0]
    zst = zstandard.ZstdCompressor().compress(data)
    (tmp_path / "cut.jsonl.zst").write_bytes(zst[: len(zst) * 3 // 4])  # zstandard's reader gave no error here
    assert "cut short" in " ".join(_reasons(_read(tmp_path / "cut.jsonl.zst")))
    (tmp_path / "fake.jsonl.zst").write_bytes(data[:500])  # plain JSON named .zst
    assert _reasons(_read(tmp_path / "fake.jsonl.zst"))[0].startswith("unreadable: ZstdError")
    # a whole file in two frames reads whole
    two = zstandard.ZstdCompressor().compress(data[:len(data) // 2]) + zstandard.ZstdCompressor().compress(
        data[len(data) // 2:])
    (tmp_path / "two.jsonl.zst").write_bytes(two)
    assert len(_docs(_read(tmp_path / "two.jsonl.zst"))) == 1000 and not _reasons(_read(tmp_path / "two.jsonl.zst"))


def test_bad_records_fail_one_by_one_and_the_rest_of_the_file_is_read(tmp_path):
    lines = ['{"text": "x", "id": ' + "9" * 5000 + "}",  # past Python's int-parsing limit
             "[" * 100_000 + "]" * 100_000,  # past the recursion limit
             '{"text": "a \\ud800 b"}',  # valid JSON, not text
             '{"text": 123}', '{"text": null}', '{"body": "x"}']
    (tmp_path / "bad.jsonl").write_text("\ufeff" + GOOD[0] + "\n" + "\n".join(lines) + "\n" + GOOD[1] + "\n")
    items = _read(tmp_path / "bad.jsonl")
    reasons = _reasons(items)
    assert len(_docs(items)) == 2  # the first line despite its byte-order mark, and the last
    assert reasons[0].startswith("invalid_json") and reasons[1].startswith("invalid_json")
    assert reasons[2:] == ["lone_surrogate", "text_not_a_string ('text' is int)",
                           "text_not_a_string ('text' is NoneType)",
                           "missing_text_field 'text' (keys: 'body'; set the source's text_field to the one holding "
                           "the text)"]


def test_a_line_past_the_limit_is_refused_without_holding_it(tmp_path):
    (tmp_path / "long.jsonl").write_bytes(b'{"text": "' + b"a" * 300_000 + b'"}\n' + GOOD[0].encode() + b"\n")
    items = _read(tmp_path / "long.jsonl", max_line_chars=10_000)
    assert _reasons(items) == ["line_too_long (300013 bytes)"] and len(_docs(items)) == 1


def test_files_that_are_not_regular_or_give_nothing_are_inputs_that_fail(tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")  # open() would block for ever
    assert _reasons(_read(tmp_path / "pipe.jsonl", folder=True)) == ["not_a_regular_file"]
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    assert _reasons(_read(tmp_path / "blank.jsonl")) == ["no_records"]
    (tmp_path / "empty.jsonl").write_text("")
    assert _read(tmp_path / "empty.jsonl") == []  # an empty file holds no input


@pytest.mark.parametrize("name,kind", [("aborted.jsonl.gz", "jsonl"), ("aborted.warc.gz", "warc"),
                                       ("aborted.warc", "warc")])
def test_a_zero_byte_crawl_or_gzip_file_fails(tmp_path, name, kind):
    """No gzip stream and no crawl is zero bytes (a download that stopped): such a file was in no line of the
    accounting, neither failed nor "not read" (a zero-byte .zst, .bz2 or .xz failed already, as cut short)."""
    (tmp_path / name).write_bytes(b"")
    spec = SourceConfig(name="in", type=kind, path=str(tmp_path))
    assert [(f.id, f.reason) for f in read_source_file(spec, tmp_path / name)] == [
        (f"in/{name}", "empty_file (0 bytes: a download or write that stopped before its first byte)")]


def test_symlinked_folders_are_followed_once_and_a_loop_ends(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.jsonl").write_text(GOOD[0] + "\n")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "linked").symlink_to(real)
    (real / "loop").symlink_to(corpus)
    files = list_files(SourceConfig(type="jsonl", path=str(corpus)))
    assert [f.name for f in files] == ["a.jsonl"]


def test_empty_documents_fail_with_a_reason_instead_of_vanishing_between_stages(tmp_path):
    (tmp_path / "t.jsonl").write_text(json.dumps({"text": ""}) + "\n" + json.dumps({"text": "\u200b "}) + "\n"
                                      + GOOD[0] + "\n")
    (tmp_path / "empty.txt").write_text("")
    sink = FailureSink()
    reader = SourceReader([SourceConfig(type="jsonl", path=str(tmp_path / "t.jsonl")),
                           SourceConfig(type="text", path=str(tmp_path / "empty.txt"))], failed_writer=sink)
    kept = list(reader.run())
    failures = [d.metadata["failure_reason"] for d in sink.docs]
    assert len(kept) == 1 and failures == ["empty_text"] * 3  # "", a zero-width space, the empty .txt file


def _warc_record(uri: str) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    body = b"<html><body><article><p>" + "한국어 문장입니다. ".encode() * 40 + b"</p></article></body></html>"
    writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http))
    return buffer.getvalue()


def test_a_broken_warc_record_fails_alone_and_the_records_after_it_are_read(tmp_path):
    # a record without a URI breaks warcio's iterator (its own AttributeError), a corrupt deflate stream breaks
    # zlib: each used to end the file, losing every record after it; one gzip member a record, the next member
    # is a clean place to go on
    corrupt = bytearray(_warc_record("https://ex.kr/d"))
    corrupt[30:40] = b"\xff" * 10
    for name, parts in (("mid.warc.gz", ["https://ex.kr/a", "", "https://ex.kr/c", corrupt, "https://ex.kr/e"]),
                        ("first.warc.gz", ["", "https://ex.kr/a", corrupt])):
        data = b"".join(p if isinstance(p, bytearray) else _warc_record(p) for p in parts)
        (tmp_path / name).write_bytes(data)
        items = _read(tmp_path / name, type="warc")
        urls = [d.metadata["url"] for d in _docs(items)]
        assert urls == [p for p in parts if isinstance(p, str) and p], (name, items)
        reasons = _reasons(items)
        assert len(reasons) == 2 and all(r.startswith("broken_record") for r in reasons), reasons
        assert "WARC-Target-URI" in reasons[0] and "gzip member at byte" in reasons[1]
    # uncompressed, there is no clean place to go on: the file ends at the broken record, counted
    (tmp_path / "plain.warc").write_bytes(gzip.decompress(_warc_record("https://ex.kr/a") + _warc_record("")))
    items = _read(tmp_path / "plain.warc", type="warc")
    assert len(_docs(items)) == 1 and [r.split(":")[0] for r in _reasons(items)] == ["broken_record"]


def test_korean_legacy_and_utf16_text_files_are_read_not_failed(tmp_path):
    ko = "대한민국의 수도는 서울특별시입니다. 서울은 한강 옆의 큰 도시입니다. " * 5
    (tmp_path / "cp949.txt").write_bytes(ko.encode("cp949"))  # was "invalid_utf8"
    (tmp_path / "utf16.txt").write_bytes(ko.encode("utf-16"))  # with its byte-order mark; was "binary_file"
    (tmp_path / "latin1.txt").write_bytes("café déjà vu".encode("latin-1"))  # no guessing among single-byte charsets
    spec = SourceConfig(type="text", path=str(tmp_path))
    [cp], [u16], [lat] = (list(read_source_file(spec, tmp_path / n)) for n in ("cp949.txt", "utf16.txt", "latin1.txt"))
    assert cp.text.startswith("대한민국의 수도는") and cp.metadata["charset"] == "cp949"
    assert u16.text.startswith("대한민국의 수도는")
    assert isinstance(lat, Failure) and lat.reason.startswith("invalid_utf8")
    # Latin-1 whose `°` or `©` stands before a letter decodes strictly as CP949 (`4°C` -> `4캜`): it was kept as Korean
    # mojibake; the syllables it makes are outside KS X 1001, where nearly all written Korean is
    (tmp_path / "notes.txt").write_bytes("Keep reagents at 4°C, never above 25°C.\n©Copyright 2003 Lab".encode("latin-1"))
    [notes] = read_source_file(spec, tmp_path / "notes.txt")
    assert isinstance(notes, Failure) and notes.reason.startswith("invalid_utf8")
    rare = "똠방각하와 펲시콜라처럼 확장 완성형에만 있는 글자도 읽힌다. " * 3  # a few extension syllables among common ones
    (tmp_path / "rare.txt").write_bytes(rare.encode("cp949"))
    [kept] = read_source_file(spec, tmp_path / "rare.txt")
    assert kept.text.startswith("똠방각하와") and kept.metadata["charset"] == "cp949"


def _warc_page(uri: str, body: bytes | None = None) -> bytes:
    """One response record as its own gzip member (`body`: the page, else a short Korean one)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    if body is None:
        return _warc_record(uri)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http))
    return buffer.getvalue()


def _one_member(*uris: str) -> bytes:
    """Several records in ONE gzip member (not Common Crawl's layout, but valid WARC)."""
    return gzip.compress(b"".join(gzip.decompress(_warc_record(u)) for u in uris))


def _warc_items(tmp_path, name, data):
    from axk1.data.warc import read_warc

    (tmp_path / name).write_bytes(data)
    items = list(read_warc(tmp_path / name))  # raising here (OSError from a negative seek) fails the test
    return [x.url for x in items if not hasattr(x, "reason")], [x.reason for x in items if hasattr(x, "reason")]


def test_warc_members_holding_several_records_go_on_after_a_broken_one(tmp_path):
    # warcio's record offset inside a multi-record member is no file offset (negative here): salvage from it raised
    # OSError (a negative seek), or skipped "the next member" and lost https://ex.kr/c without a word; later it
    # ended the file at the broken record. Now the reader finds the next record start inside the member.
    a, c = _warc_record("https://ex.kr/a"), _warc_record("https://ex.kr/c")
    for name, data in (("x-b-broken.warc.gz", a + _one_member("https://ex.kr/x", "https://ex.kr/b", "") + c),
                       ("b-broken.warc.gz", a + _one_member("https://ex.kr/b", "") + c)):
        urls, reasons = _warc_items(tmp_path, name, data)
        assert urls[0] == "https://ex.kr/a" and urls[-2:] == ["https://ex.kr/b", "https://ex.kr/c"], name
        assert len(reasons) == 1 and "WARC-Target-URI" in reasons[0], reasons
    # the whole file as one gzip stream (warcio alone stops after its first record): the same
    urls, reasons = _warc_items(tmp_path, "one-stream.warc.gz", _one_member("https://ex.kr/a", "", "https://ex.kr/c"))
    assert urls == ["https://ex.kr/a", "https://ex.kr/c"] and len(reasons) == 1, reasons


def test_warc_last_member_cut_short_is_a_failure_not_a_silent_end(tmp_path):
    second = _warc_record("https://ex.kr/b")
    for cut in (len(second) // 2, 20):
        urls, reasons = _warc_items(tmp_path, f"cut{cut}.warc.gz", _warc_record("https://ex.kr/a") + second[:cut])
        assert urls == ["https://ex.kr/a"]
        assert len(reasons) == 1 and "gzip member at byte" in reasons[0] and "ends inside" in reasons[0], reasons
    urls, reasons = _warc_items(tmp_path, "whole.warc.gz", _warc_record("https://ex.kr/a") + second)
    assert urls == ["https://ex.kr/a", "https://ex.kr/b"] and reasons == []


def test_warc_salvage_walks_past_a_member_inflating_past_a_megabyte(tmp_path):
    from axk1.data.gzip_members import GZIP_MAGIC, Inflated

    # 3 MB of markup compresses to a few KB: the member inflates past the 1 MB output cap per call, which once made
    # the walk put the next member too early (a spurious "broken_record: gzip member at byte N")
    big = b"<html><body><p>" + b"x" * (3 << 20) + b"</p></body></html>"
    parts = [_warc_record("https://ex.kr/a"), _warc_record(""), _warc_page("https://ex.kr/big", big),
             _warc_record("https://ex.kr/d")]
    data = b"".join(parts)
    urls, reasons = _warc_items(tmp_path, "big.warc.gz", data)
    assert urls == ["https://ex.kr/a", "https://ex.kr/big", "https://ex.kr/d"]
    assert len(reasons) == 1 and "WARC-Target-URI" in reasons[0], reasons
    starts = [sum(len(p) for p in parts[:i]) for i in range(len(parts))]
    assert all(data[s:s + 3] == GZIP_MAGIC for s in starts)
    with open(tmp_path / "big.warc.gz", "rb") as fh:  # inflated across members: every byte, in order, no error
        stream, out = Inflated(fh), []
        while chunk := stream.read():
            out.append(chunk)
    assert b"".join(out) == gzip.decompress(data) and stream.error == ""


def test_every_compression_of_a_jsonl_file_is_an_input_read_or_failed_with_a_reason(tmp_path):
    """A folder of part-000.json.gz (Hugging Face / Spark exports), .jsonl.bz2 and .jsonl.xz was reported as its
    one plain file: the others were never listed, so never counted. Now bz2 and xz are read, .json.gz too, and a
    compression not read here fails saying what to do."""
    import bz2
    import lzma

    data = ("\n".join(GOOD) + "\n").encode()
    (tmp_path / "part-000.json.gz").write_bytes(gzip.compress(data))
    (tmp_path / "part-001.jsonl.bz2").write_bytes(bz2.compress(data))
    (tmp_path / "part-002.jsonl.xz").write_bytes(lzma.compress(data))
    (tmp_path / "part-003.jsonl").write_bytes(data)
    (tmp_path / "part-004.jsonl.lz4").write_bytes(b"\x04\x22\x4d\x18" + data)
    spec = SourceConfig(type="jsonl", path=str(tmp_path))
    files = list_files(spec)
    assert [f.name for f in files] == [f"part-00{i}.{ext}" for i, ext in
                                       enumerate(["json.gz", "jsonl.bz2", "jsonl.xz", "jsonl", "jsonl.lz4"])]
    for f in files[:4]:
        items = list(read_source_file(spec, f))
        assert len(_docs(items)) == 5 and not _reasons(items), f.name
    (reason,) = _reasons(read_source_file(spec, files[4]))
    assert reason.startswith("unreadable") and ".lz4 compression is not read here" in reason


def test_vendored_folders_of_a_code_source_are_named_in_the_accounting(tmp_path):
    """A code source passes over `venv/`, `build/`, `node_modules/`, ...: the run's accounting said `in 1 = kept 1`
    with no word of the files it never read (the standard library's own `venv/` package among them)."""
    from axk1.data.sources import SourceReader
    from axk1.data.stats import account, summary_text

    code = tmp_path / "code"
    for rel in ("glob.py", "venv/__init__.py", "build/shlex.py", "pkg/vendor/six.py", ".git/hooks.py"):
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_text("def f():\n    return 1\n")
    out = tmp_path / "out"
    reader = SourceReader([SourceConfig(type="code", path=str(code), name="code")], counts_folder=str(out / "counts"))
    docs = [list(reader.run(rank=r, world_size=2)) for r in (0, 1)]
    assert sorted(d.metadata["path"] for ds in docs for d in ds) == ["glob.py"]
    acc = account(out)
    assert sorted(acc.vendored_folders) == ["code/build", "code/pkg/vendor", "code/venv"]  # once, not per task
    assert "not read: 3 vendored or build folder(s)" in summary_text(acc)


def test_a_pdf_folder_reads_compressed_pdfs_and_names_the_files_it_does_not_read(tmp_path, capsys):
    """Debian ships its manuals as `install.ko.pdf.gz`: a PDF source passed over them, and over any other file, with
    no word in the accounting (`in 24 = kept 1 + ...` and the .gz named nowhere)."""
    import bz2
    import lzma

    from axk1.cli import main
    from axk1.data.pdf_render import render_pdf
    from axk1.data.stats import account, summary_text

    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    text = "한국어 문서를 압축해서 배포하는 경우가 많습니다. 압축된 파일도 읽어야 합니다."
    raw = render_pdf(pdfs / "plain.pdf", [text]).path.read_bytes()
    (pdfs / "manual.pdf.gz").write_bytes(gzip.compress(raw))
    (pdfs / "manual.pdf.bz2").write_bytes(bz2.compress(raw))
    (pdfs / "manual.pdf.xz").write_bytes(lzma.compress(raw))
    (pdfs / "broken.pdf.gz").write_bytes(b"not gzip at all")
    (pdfs / "README.txt").write_text("about these files")
    (pdfs / "manual.pdf.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    (pdfs / ".DS_Store").write_bytes(b"\0")
    out = tmp_path / "out"
    reader = SourceReader([SourceConfig(type="pdf", path=str(pdfs), name="pdf")], failed_writer=None,
                          counts_folder=str(out / "counts"))
    docs = list(reader.run())
    assert sorted(d.metadata["path"] for d in docs) == ["manual.pdf.bz2", "manual.pdf.gz", "manual.pdf.xz", "plain.pdf"]
    assert len({d.text for d in docs}) == 1 and "압축된 파일도" in docs[0].text
    (failure,) = [f for f in read_source_file(SourceConfig(type="pdf", path=str(pdfs), name="pdf"),
                                              pdfs / "broken.pdf.gz") if isinstance(f, Failure)]
    assert failure.reason.startswith("pdf_corrupt") and ".gz compression" in failure.reason
    acc = account(out)
    assert acc.other_files == 2 and sorted(acc.other_examples) == ["pdf/README.txt", "pdf/manual.pdf.zst"]
    assert "not read: 2 file(s) of a kind their source does not read" in summary_text(acc)
    assert main(["data", "pdf", str(pdfs), "-o", str(tmp_path / "one.jsonl")]) == 0
    assert "5 PDFs: 4 extracted, 1 failed (pdf_corrupt: 1" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "one.jsonl").read_text().splitlines()]
    assert sum("압축된 파일도" in row.get("text", "") for row in rows) == 4


def test_the_summary_prints_ids_and_reasons_as_written():
    """The summary printed through rich with markup on: a record key `[/meta]` in a failure's reason raised
    MarkupError at the end of a finished `axk1 data run` (no table, exit 1), `pq/a.parquet:100:` came out as an
    emoji and `[b]x[/b]` as `x`."""
    from axk1.data.stats import Accounting, summary_text

    acc = Accounting(inputs=3, kept=0, kept_stage="tokenize")
    acc.failed.update({"no text field (keys: [/meta], body)": 2, "bad [b]x[/b]": 1})
    acc.failed_items += [("web/a.jsonl:1", "no text field (keys: [/meta], body)"), ("pq/a.parquet:100:", "x"),
                         ("web/b.jsonl:2", "bad [b]x[/b] :fire:")]
    text = summary_text(acc)
    for written in ("keys: [/meta], body", "pq/a.parquet:100:", "bad [b]x[/b] :fire:"):
        assert written in text, text
