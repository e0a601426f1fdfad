"""PDF pages as scanners and office tools leave them: turned by /Rotate, with filled form fields; and the reasons
given for files PDFium cannot open, which must be the file's own, not an earlier file's."""

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from axk1.data.pdf import PdfConfig, PdfError, extract_pdf
from axk1.data.pdf_render import render_pdf
from tests.pdf_fixtures import render_encrypted_pdf, render_form_pdf, render_image_only_pdf
from tests.pdf_test_set import char_error_rate

PARAS = ["서울시는 내년부터 모든 공공도서관의 운영 시간을 밤 10시까지 연장한다고 5일 밝혔다. 시는 직장인과 학생들의 "
         "이용 편의를 높이기 위해 이번 결정을 내렸으며, 필요한 예산은 약 120억 원으로 추산된다.",
         "도서관 관계자는 야간 이용자가 꾸준히 늘고 있어 연장 운영의 효과가 클 것이라고 말했다. 한편 시는 주말 "
         "프로그램도 확대해 어린이 독서 교실과 어르신 디지털 교육을 함께 운영할 계획이다."]


def test_a_page_turned_by_rotate_reads_in_order(tmp_path):
    """A page stored upright and shown turned (/Rotate 90, as scanners and "rotate page" leave it): its lines came
    out scrambled (similarity 0.1 to pdftotext's), with no warning."""
    upright = render_pdf(tmp_path / "upright.pdf", PARAS, page_numbers=False)
    pdf = pdfium.PdfDocument(str(upright.path))
    for page in pdf:
        page.set_rotation(90)
    pdf.save(str(tmp_path / "turned.pdf"))
    pdf.close()
    want = extract_pdf(upright.path).text
    assert char_error_rate(want, upright.truth) <= 0.02
    assert extract_pdf(tmp_path / "turned.pdf").text == want


def test_ocr_still_sees_a_turned_scan_as_shown(tmp_path):
    """The turn is undone for the text layer only: a scan stored sideways and shown upright by /Rotate reaches OCR
    with its /Rotate."""
    scan = render_image_only_pdf(tmp_path / "scan.pdf")
    pdf = pdfium.PdfDocument(str(scan))
    pdf[0].set_rotation(90)
    pdf.save(str(tmp_path / "turned.pdf"))
    pdf.close()
    seen = []

    def fake_ocr(page):
        seen.append(page.get_rotation())
        return "스캔된 문서의 한국어 본문입니다. 띄어쓰기도 잘 되어 있습니다. " * 5

    res = extract_pdf(tmp_path / "turned.pdf", PdfConfig(ocr="none"), ocr=fake_ocr)
    assert seen == [90] and res.page_methods == ["ocr"]


def test_a_filled_form_fields_value_is_text(tmp_path):
    """An application form filled in a viewer: the value lives in the field, not the page content, and was lost."""
    form = render_form_pdf(tmp_path / "form.pdf", "Hong Gildong 2041")
    assert "Hong Gildong 2041" in extract_pdf(form).text


FORMS = Path(__file__).parent / "fixtures" / "pdf_forms"  # real forms from pypdf's sdist (SOURCES.md there)


@pytest.mark.parametrize("name,values", [("libreoffice-form.pdf", ["Alice", "Bob"]), ("form_evince.pdf", ["bar"])])
def test_values_real_form_writers_leave_to_the_viewer_are_text(name, values):
    """LibreOffice and Evince store a field's value without drawing it (pdftotext prints it): flattening drew
    nothing for them until the document's form was set up before its pages loaded."""
    text = extract_pdf(FORMS / name, PdfConfig(ocr="none")).text
    assert all(v in text.split() for v in values), text
    assert ("Example for a Form" if name.startswith("libre") else "foo") in text  # the page's own text stays


def _no_pages_pdf(path):
    """A PDF whose page tree is empty (what `qpdf --empty` writes), which PDFium refuses without a reason."""
    import io

    pdf = pdfium.PdfDocument.new()
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    path.write_bytes(buf.getvalue())
    return path


def _object_stream_pdf(path, objects: list[bytes]):
    """A PDF 1.5 whose objects 1.. (1: the catalog) sit in one Flate-compressed object stream, found through a
    cross-reference stream, as qpdf and pikepdf write them."""
    import struct
    import zlib

    body, offsets = b"", []
    for o in objects:
        offsets.append(len(body))
        body += o + b"\n"
    header = b" ".join(b"%d %d" % (n, off) for n, off in enumerate(offsets, 1)) + b"\n"
    packed = zlib.compress(header + body)
    n = len(objects)
    out = b"%PDF-1.5\n"
    at_stream = len(out)
    out += (b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d /Filter /FlateDecode >>\nstream\n"
            % (n + 1, n, len(header), len(packed)) + packed + b"\nendstream\nendobj\n")
    at_xref = len(out)
    rows = [(0, 0, 65535)] + [(2, n + 1, i) for i in range(n)] + [(1, at_stream, 0), (1, at_xref, 0)]
    xref = b"".join(struct.pack(">BIH", *r) for r in rows)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n"
            % (n + 2, n + 3, len(xref)) + xref + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at_xref)
    path.write_bytes(out)
    return path


def test_an_empty_page_tree_inside_an_object_stream_is_no_pages(tmp_path):
    """Reported `corrupt` ("gave no reason") when the page tree was compressed where a search of the file's bytes
    does not see it; qpdf checks such a file as valid."""
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    path = _object_stream_pdf(tmp_path / "objstm.pdf", [catalog, b"<< /Type /Pages /Kids [] /Count 0 >>"])
    for source in (path, path.read_bytes()):
        with pytest.raises(PdfError) as e:
            extract_pdf(source, PdfConfig(ocr="none"))
        assert e.value.reason == "no_pages", str(e.value)
    # a page object in the stream: not a document without pages, whatever else is wrong with it
    from axk1.data.pdf_bytes import has_no_pages

    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"
    tree = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    assert not has_no_pages(_object_stream_pdf(tmp_path / "paged.pdf", [catalog, tree, page]))


@pytest.mark.parametrize("before,reason", [("encrypted", "encrypted"), ("corrupt", "corrupt")])
def test_a_files_failure_reason_is_its_own_not_the_file_befores(tmp_path, before, reason):
    """PDFium's last error outlives a document and is not set by every failure: a PDF with no pages read after an
    encrypted one failed as "the PDF needs a password" (after a corrupt one, "Data format error")."""
    first = tmp_path / "first.pdf"
    if before == "encrypted":
        render_encrypted_pdf(first)
    else:
        first.write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    with pytest.raises(PdfError) as e:
        extract_pdf(first, PdfConfig(ocr="none"))
    assert e.value.reason == reason
    with pytest.raises(PdfError) as e:
        extract_pdf(_no_pages_pdf(tmp_path / "zero_pages.pdf"), PdfConfig(ocr="none"))
    assert e.value.reason == "no_pages", str(e.value)  # said as it is, not "corrupt … gave no reason"


def test_cli_pdf_lists_a_fifo_and_a_dangling_link_as_failed(tmp_path):
    """`axk1 data pdf DIR` skipped them unsaid ("1 PDFs: 1 extracted, 0 failed"); a FIFO must not be opened."""
    import argparse
    import json
    import os

    from axk1.data.cli import add_data_parser

    (tmp_path / "in").mkdir()
    render_pdf(tmp_path / "in" / "good.pdf", PARAS, page_numbers=False)
    os.mkfifo(tmp_path / "in" / "pipe.pdf")
    (tmp_path / "in" / "gone.pdf").symlink_to(tmp_path / "moved.pdf")
    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers())
    args = parser.parse_args(["data", "pdf", str(tmp_path / "in"), "-o", str(tmp_path / "out.jsonl"),
                              "--ocr", "none"])
    assert args.func(args) == 0
    recs = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert recs["good.pdf"]["text"]
    assert recs["pipe.pdf"]["metadata"]["failure_reason"] == "pdf_not_a_regular_file"
    assert recs["gone.pdf"]["metadata"]["failure_reason"] == "pdf_missing"
