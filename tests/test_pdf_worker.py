"""PDF extraction contained in a worker process (axk1/data/pdf_worker.py). In-process, a 1 MB PDF whose content
stream inflates to 1 GiB took 2.1 GB of memory and a 4 MB one 5.3 GB (PDFium inflates a stream whole): a few such
files would bring the pipeline down. Now the file fails with `pdf_memory_limit`, the worker is replaced, and the
files after it are extracted as in-process extraction does."""

import json
import zlib
from pathlib import Path

import pytest

from axk1.data.pdf import PdfConfig, PdfError, extract_pdf
from axk1.data.pdf_worker import PdfWorker
from axk1.data.sources import SourceConfig, SourceReader
from tests.data_helpers import FailureSink

REAL = sorted((Path(__file__).parent / "fixtures" / "pdf_ko").glob("*.pdf"))


def write_pdf(path: Path, content: bytes, compress_mib: int = 0) -> Path:
    """A one-page PDF whose content stream is `content`, or (compress_mib > 0) that many MiB of spaces deflated:
    a compression bomb."""
    if compress_mib:
        c = zlib.compressobj(9)
        stream = b"".join(c.compress(b" " * (1 << 20)) for _ in range(compress_mib)) + c.flush()
        head = b"<< /Length %d /Filter /FlateDecode >>" % len(stream)
    else:
        stream, head = content, b"<< /Length %d >>" % len(content)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            head + b"\nstream\n" + stream + b"\nendstream"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return write_pdf(tmp_path_factory.mktemp("bomb") / "bomb.pdf", b"", compress_mib=400)  # ~0.4 MB on disk


def test_a_compression_bomb_fails_and_the_next_file_is_extracted_as_in_process(bomb):
    cfg = PdfConfig(ocr="none", max_memory_mb=300)
    with PdfWorker(cfg) as worker:
        with pytest.raises(PdfError) as e:
            worker.extract(bomb)
        assert e.value.reason == "memory_limit" and "max_memory_mb = 300" in e.value.detail
        for path in REAL:  # the same worker object goes on (a new process), and says what extract_pdf says
            got, want = worker.extract(path), extract_pdf(path, cfg)
            assert got == want and got.text
        with pytest.raises(PdfError) as e:
            worker.extract(REAL[0].parent / "missing.pdf")
        assert e.value.reason == "missing"


def test_a_file_over_its_time_fails_and_the_worker_is_stopped():
    with PdfWorker(PdfConfig(ocr="none", timeout_s=0.01)) as worker:
        with pytest.raises(PdfError) as e:
            worker.extract(REAL[0])  # the child cannot even start Python in 10 ms
        assert e.value.reason == "timeout" and worker._proc is None


def test_a_timed_out_ocr_page_is_named_and_leaves_no_process_and_no_file_behind(tmp_path, monkeypatch):
    """A scan of three pages, a stand-in `tesseract` on PATH: it reads page 1, hangs on page 2 (with a helper of
    its own in the background, as a real one's child would be), and page 3 is never started. Before, the file
    timed out whole (page 1 lost) and the hung tesseract outlived the worker, re-parented to init, its page image
    left in /tmp. Now page 2 is stopped short of the file's deadline, page 1 is kept, pages 2 and 3 are named,
    and closing the worker stops its process group and removes its TMPDIR."""
    import os
    import tempfile
    import time

    from tests.pdf_fixtures import render_scanned_pdf

    bin_dir, tmp, seen, count = tmp_path / "bin", tmp_path / "tmp", tmp_path / "seen", tmp_path / "count"
    bin_dir.mkdir()
    tmp.mkdir()
    fake = bin_dir / "tesseract"
    text = "스캔된 문서의 한국어 본문입니다. 띄어쓰기도 잘 되어 있습니다. " * 5
    fake.write_text(f"""#!/bin/sh
n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}
if [ $n = 1 ]; then printf '%s\\n' '{text}' > "$2.txt"; exit 0; fi
sleep 60 </dev/null >/dev/null 2>&1 &
echo $$ $! "$1" > {seen}
exec sleep 60
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    scan = render_scanned_pdf(tmp_path / "scan.pdf", REAL[0], [0, 1, 2], dpi=36)
    # 10 s: room for the child to start on a loaded machine before page 1 (it shares the file's deadline)
    with PdfWorker(PdfConfig(ocr="tesseract", timeout_s=10)) as worker:
        res = worker.extract(scan)
        assert res.page_methods == ["ocr", "rejected", "rejected"] and "스캔된 문서" in res.text
        assert res.ocr["pages"] == 1 and res.ocr["failed"] == 1 and res.ocr["not_tried"] == 1
        assert "OCR stopped after" in res.rejected_pages[0]["reason"]
        assert "OCR not tried" in res.rejected_pages[1]["reason"]
    pids, image = seen.read_text().split()[:2], seen.read_text().split()[2]
    assert Path(image).is_relative_to(tmp)  # the worker's own temporary folder
    for pid in pids:
        for _ in range(50):  # SIGKILL is delivered at once; the zombie is init's to reap
            if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"tesseract's process {pid} still runs after the worker closed")
    assert not Path(image).exists() and list(tmp.iterdir()) == []


def test_the_pipeline_reader_accounts_for_a_bomb_among_real_pdfs(tmp_path, bomb):
    (tmp_path / "in").mkdir()
    for path in [bomb, *REAL]:
        (tmp_path / "in" / path.name).write_bytes(path.read_bytes())
    sink = FailureSink()
    reader = SourceReader([SourceConfig(type="pdf", path=str(tmp_path / "in"))], failed_writer=sink,
                          pdf_config=PdfConfig(ocr="none", max_memory_mb=300))
    kept = list(reader.run())
    failures = [(d.metadata["path"], d.metadata["failure_reason"]) for d in sink.docs]
    assert len(kept) == len(REAL) and all(d.text for d in kept)
    assert len(failures) == 1 and failures[0][0] == "bomb.pdf" and failures[0][1].startswith("pdf_memory_limit")


def test_the_cli_takes_the_limits_and_refuses_bad_ones(tmp_path, bomb, capsys):
    import argparse

    from axk1.data.cli import add_data_parser

    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers())
    out = tmp_path / "out.jsonl"
    args = parser.parse_args(["data", "pdf", str(bomb), "-o", str(out), "--ocr", "none", "--max-memory-mb", "300"])
    assert args.func(args) == 1  # nothing extracted
    [rec] = [json.loads(x) for x in out.read_text().splitlines()]
    assert rec["metadata"]["failure_reason"] == "pdf_memory_limit"
    for flag, value in (("--timeout", "0"), ("--timeout", "inf"), ("--max-memory-mb", "-5")):
        with pytest.raises(SystemExit):
            parser.parse_args(["data", "pdf", str(bomb), "-o", str(out), flag, value])
        assert flag in capsys.readouterr().err
    with pytest.raises(ValueError, match="max_memory_mb"):
        PdfConfig(max_memory_mb=16)


def test_a_pdf_without_pages_says_so_not_pdfium_success(tmp_path):
    path = tmp_path / "zero.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
                     b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    with PdfWorker(PdfConfig(ocr="none")) as worker:
        with pytest.raises(PdfError) as e:
            worker.extract(path)
    assert e.value.reason in ("corrupt", "no_pages") and "Success" not in e.value.detail, e.value


# Damaged files PDFium opens but whose pages it cannot load (the probe's hostile set): a page tree that holds itself
# among its kids, and an object stream that extends itself. Written by hand, without an xref table (PDFium rebuilds
# one), as such files come.
PAGE_TREE_LOOP = (b"%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                  b"2 0 obj << /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >> endobj\n"
                  b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] %s>> endobj\n%s"
                  b"trailer << /Root 1 0 R /Size 6 >>\n%%%%EOF\n")
TEXT = (b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R ",
        b"4 0 obj << /Length 44 >> stream\nBT /F1 12 Tf 20 100 Td (Readable text) Tj ET\nendstream endobj\n"
        b"5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n")
OBJECT_STREAM_LOOP = (b"%PDF-1.5\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                      b"2 0 obj << /Type /Pages /Kids [4 0 R] /Count 1 >> endobj\n"
                      b"5 0 obj << /Type /ObjStm /N 1 /First 4 /Length 20 /Extends 5 0 R >> stream\n4 0 5 0 R\n"
                      b"endstream endobj\ntrailer << /Root 1 0 R /Size 6 /Prev 0 >>\n%%EOF\n")


def test_a_page_pdfium_cannot_load_is_a_corrupt_input_not_an_extractor_error(tmp_path):
    """PdfiumError at a page's load ("Failed to load page.") came out of extract_pdf as an exception, and the
    worker reported the file as `extractor_error`: the input is damaged, and says so (`corrupt`)."""
    loop = tmp_path / "pagetree_loop.pdf"
    loop.write_bytes(PAGE_TREE_LOOP % (b"", b""))
    objstm = tmp_path / "objstm_loop.pdf"
    objstm.write_bytes(OBJECT_STREAM_LOOP)
    cfg = PdfConfig(ocr="none")
    with PdfWorker(cfg) as worker:
        for path in (loop, objstm):
            with pytest.raises(PdfError) as e:
                worker.extract(path)
            assert e.value.reason == "corrupt" and "cannot load page" in e.value.detail
    # the pages that load are kept, the others rejected with the reason
    mixed = tmp_path / "mixed.pdf"
    mixed.write_bytes(PAGE_TREE_LOOP % TEXT)
    res = extract_pdf(mixed, cfg)
    assert res.text == "Readable text"
    assert [p["reason"].split(" ")[0] for p in res.rejected_pages] == ["corrupt_page"]


def _form_pdf(forms: dict[int, tuple[dict[str, int], str]]) -> bytes:
    """A page drawing form 5 (`/X1 Do`); `forms`: object number -> (its XObject names, its content)."""
    objs = [b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n",
            b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n",
            b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /XObject << /X1 5 0 R >> >> "
            b"/Contents 4 0 R >> endobj\n",
            b"4 0 obj << /Length 7 >> stream\n/X1 Do\nendstream endobj\n"]
    for num, (names, content) in forms.items():
        refs = " ".join(f"/{n} {o} 0 R" for n, o in names.items())
        objs.append(f"{num} 0 obj << /Type /XObject /Subtype /Form /BBox [0 0 200 200] /Resources << /XObject << "
                    f"{refs} >> >> /Length {len(content)} >> stream\n{content}\nendstream endobj\n".encode())
    return b"%PDF-1.4\n" + b"".join(objs) + b"trailer << /Root 1 0 R /Size 9 >>\n%%EOF\n"


def test_a_form_that_draws_itself_twice_fails_as_such_before_it_fills_the_memory(tmp_path):
    """Drawn, its copies double at every level PDFium allows: the file failed as `pdf_memory_limit`, at any cap."""
    twice = tmp_path / "twice.pdf"
    twice.write_bytes(_form_pdf({5: ({"X1": 5}, "/X1 Do /X1 Do")}))
    around = tmp_path / "around.pdf"  # two forms, one drawing the other twice: the same around a cycle
    around.write_bytes(_form_pdf({5: ({"X2": 6}, "/X2 Do /X2 Do"), 6: ({"X1": 5}, "/X1 Do")}))
    with PdfWorker(PdfConfig(ocr="none", max_memory_mb=300)) as worker:
        for path, forms in ((twice, "5"), (around, "5, 6")):
            with pytest.raises(PdfError) as e:
                worker.extract(path)
            assert e.value.reason == "recursive_form" and f"Form XObject(s) {forms} draw" in e.value.detail
        # a form drawing itself once, or two forms each other once: PDFium cuts them short; the file is read
        for name, forms in (("once", {5: ({"X1": 5}, "/X1 Do")}), ("mutual", {5: ({"X2": 6}, "/X2 Do"),
                                                                              6: ({"X1": 5}, "/X1 Do")})):
            (tmp_path / f"{name}.pdf").write_bytes(_form_pdf(forms))
            with pytest.raises(PdfError) as e:
                worker.extract(tmp_path / f"{name}.pdf")
            assert e.value.reason == "no_text", e.value  # nothing drawn has text: not recursive_form


def _many_forms_pdf(count: int, cycle: bytes = b"", names: str = "") -> bytes:
    """`_form_pdf`'s page (drawing form 5, the last one here, which draws `cycle`'s content) after `count` unused
    Flate forms whose content each inflates to 1 MiB of lines; `names` "self": each form's resources name itself
    (it may draw itself, so its content is read), "next": the form after it (a chain, no cycle), "": none."""
    content = zlib.compress(b"0 0 m 1 1 l S\n" * ((1 << 20) // 14 + 1), 9)
    named = {"self": 0, "next": 1}
    unused = b"".join(b"%d 0 obj << /Type /XObject /Subtype /Form /BBox [0 0 1 1] %s/Filter /FlateDecode /Length %d >>\n"
                      b"stream\n%s\nendstream endobj\n" % (
                          10 + i, b"/Resources << /XObject << /Y %d 0 R >> >> " % (10 + i + named[names]) if names
                          else b"", len(content), content) for i in range(count))
    return _form_pdf({5: ({"X1": 5}, cycle.decode())}).replace(b"5 0 obj", unused + b"5 0 obj", 1)


def test_the_form_scan_keeps_no_content_so_many_forms_do_not_fill_the_memory():
    """Each form's inflated content (up to 1 MiB) was kept for all of them at once: a 5 MB file of 2,500 unused
    forms took 2.5 GB and failed as `pdf_memory_limit`, which PDFium reads. Now only the counts of `Do`s stay."""
    import tracemalloc

    from axk1.data.pdf_bytes import multiplying_forms_of

    data = _many_forms_pdf(40, b"/X1 Do /X1 Do", "self")  # 40 MiB inflated: the cycle after them is still found
    tracemalloc.start()
    try:
        forms = multiplying_forms_of(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert forms == [5] and peak < 4 << 20, (forms, peak)


def test_the_form_scan_stops_at_its_budget_and_reads_the_file(monkeypatch):
    """Past _MAX_FORM_SCAN inflated bytes the forms after are not read: the check is skipped, the file not failed."""
    import axk1.data.pdf_bytes as pdf_bytes

    data = _many_forms_pdf(8, b"/X1 Do /X1 Do", "self")
    monkeypatch.setattr(pdf_bytes, "_MAX_FORM_SCAN", 3 << 20)
    assert pdf_bytes.multiplying_forms_of(data) == []
    monkeypatch.setattr(pdf_bytes, "_MAX_FORM_SCAN", 64 << 20)
    assert pdf_bytes.multiplying_forms_of(data) == [5]


def test_forms_that_name_no_cycle_do_not_use_up_the_budget():
    """65 forms of 1 MiB each with no resources (they can draw nothing) used up the 64 MiB read in all, and the
    cycle the page draws after them was not found: a 74 KB file that PDFium then drew until its memory cap. Only
    forms whose resources name a cycle of forms are read; a chain of forms naming the next one is no cycle."""
    from axk1.data.pdf_bytes import multiplying_forms_of

    assert multiplying_forms_of(_many_forms_pdf(65, b"/X1 Do /X1 Do")) == [5]
    assert multiplying_forms_of(_many_forms_pdf(65, b"/X1 Do /X1 Do", "next")) == [5]


def test_many_cycles_nothing_refers_to_are_checked_in_one_pass_over_the_file(monkeypatch):
    """Each member of each unreferenced cycle read the whole file again for a reference to it: 1,000 cycles of two
    forms in 303 KB took 17.6 s, 4,000 over 250 s. The references are now gathered in one pass for them all."""
    import axk1.data.pdf_bytes as pdf_bytes

    forms = {}
    for k in range(300):  # form a draws form b twice, b draws a: a cycle, which no page draws
        a, b = 1000 + 2 * k, 1001 + 2 * k
        forms[a], forms[b] = ({"X": b}, "/X Do /X Do"), ({"X": a}, "/X Do")
    forms[5] = ({"X1": 10}, "/X1 Do")  # the page's form draws one more such cycle, which is found
    forms[10], forms[11] = ({"X": 11}, "/X Do /X Do"), ({"X": 10}, "/X Do")
    data = _form_pdf(forms)

    original = pdf_bytes._REF_RE

    class CountingRefs:  # the pattern for `N 0 R`, counting its searches of the whole file
        scans = 0

        def __getattr__(self, name):  # findall and the rest: the pattern's own
            return getattr(original, name)

        def finditer(self, text, *args):
            CountingRefs.scans += text is data
            return original.finditer(text, *args)

    monkeypatch.setattr(pdf_bytes, "_REF_RE", CountingRefs())
    assert pdf_bytes.multiplying_forms_of(data) == [10, 11]
    assert CountingRefs.scans == 1


def test_a_cycle_nothing_refers_to_is_never_drawn_and_not_rejected():
    """A form drawing itself twice that no page (nor anything else) refers to is never drawn: the file was
    rejected as `recursive_form` all the same. Referred to from a page's resources, even through an indirect
    resources dictionary, it is; a `Do` cut between two pieces of inflated content still counts."""
    from axk1.data.pdf_bytes import multiplying_forms_of

    unused = _form_pdf({5: ({}, "0 0 m"), 6: ({"X6": 6}, "/X6 Do /X6 Do")})
    assert multiplying_forms_of(unused) == []
    drawn = _form_pdf({5: ({"X6": 6}, "/X6 Do"), 6: ({"X6": 6}, "/X6 Do /X6 Do")})
    assert multiplying_forms_of(drawn) == [6]
    indirect = _form_pdf({5: ({}, "0 0 m"), 6: ({"X6": 6}, "/X6 Do /X6 Do")}).replace(
        b"/Resources << /XObject << /X1 5 0 R >> >>", b"/Resources 7 0 R", 1).replace(
        b"trailer", b"7 0 obj << /XObject << /X1 6 0 R >> >> endobj\ntrailer", 1)
    assert multiplying_forms_of(indirect) == [6]
    cut = _form_pdf({5: ({"X1": 5}, " " * ((1 << 16) - 4) + "/X1 Do /X1 Do")})  # the first Do across 64 KiB
    assert multiplying_forms_of(cut) == [5]
