"""OCR page by page within the document's time (axk1/data/pdf_ocr.py). A 40-page scan overran the 300 s a file is
allowed, and a page whose OCR failed failed the file: every page already read was lost. Now a page that fails or
runs out of time is rejected with that reason, the pages read are kept, and the result counts them."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from axk1.data.pdf import PdfConfig, PdfError, extract_pdf
from axk1.data.pdf_ocr import OcrTimeout
from tests.pdf_fixtures import render_scanned_pdf

FIXTURES = Path(__file__).parent / "fixtures" / "pdf_ko"
TEXT = "스캔된 문서의 한국어 본문입니다. 띄어쓰기도 잘 되어 있습니다. " * 5


@pytest.fixture(scope="module")
def scan3(tmp_path_factory):
    """Three image-only pages (pictures of a real manual's pages; low resolution: the hooks here do not read it)."""
    return render_scanned_pdf(tmp_path_factory.mktemp("scan") / "scan3.pdf", FIXTURES / "cjk-ko-doc.pdf", [0, 1, 2],
                              dpi=36)


def test_a_failed_or_timed_out_page_is_named_and_the_pages_read_are_kept(scan3):
    calls = []

    def ocr(page, timeout_s=None):
        calls.append(timeout_s)
        if len(calls) == 2:
            raise RuntimeError("tesseract exit code 1: Error in pixReadStream")
        if len(calls) == 3:
            raise OcrTimeout(f"{timeout_s:.0f} s")
        return TEXT

    res = extract_pdf(scan3, PdfConfig(ocr="none", ocr_page_timeout_s=7), ocr=ocr)
    assert calls == [7, 7, 7]  # each page gets its own limit (the document has more time left than that)
    assert res.page_methods == ["ocr", "rejected", "rejected"] and "스캔된 문서" in res.text
    assert res.ocr == {"pages": 1, "failed": 2, "not_tried": 0, "seconds": res.ocr["seconds"]}
    (p2, why2), (p3, why3) = [(r["page"], r["reason"]) for r in res.rejected_pages]
    assert p2 == 2 and "OCR failed: RuntimeError: tesseract exit code 1" in why2
    assert p3 == 3 and "OCR stopped after 7 s" in why3
    assert res.metadata()["ocr"]["failed"] == 2


def test_once_the_documents_time_is_spent_the_remaining_pages_are_named_not_tried(scan3):
    def slow_ocr(page):  # a hook without timeout_s: it is not stopped, but no page is started too late
        time.sleep(1.6)
        return TEXT

    # 3.6 s for OCR from the start (a tenth kept back), 1 s a page at least: page 1 starts even when opening the
    # file takes 2 s on a loaded machine, page 3 never does
    res = extract_pdf(scan3, PdfConfig(ocr="none", timeout_s=4.0), ocr=slow_ocr)
    assert res.page_methods[0] == "ocr" and res.page_methods[-1] == "rejected"
    assert res.ocr["pages"] + res.ocr["not_tried"] == 3 and res.ocr["not_tried"] >= 1
    assert all("OCR not tried: the document's time (timeout_s) was spent" in r["reason"] for r in res.rejected_pages)


def test_a_document_whose_every_page_fails_says_what_ocr_did(scan3):
    def broken(page):
        raise OSError("no space left on device")

    with pytest.raises(PdfError) as e:
        extract_pdf(scan3, PdfConfig(ocr="none"), ocr=broken)
    assert e.value.reason == "no_text" and "'failed': 3" in e.value.detail


def test_the_page_limit_must_be_a_positive_number():
    with pytest.raises(ValueError, match="ocr_page_timeout_s"):
        PdfConfig(ocr_page_timeout_s=0)


def _has_korean_tesseract() -> bool:
    exe = shutil.which("tesseract")
    if exe is None:
        return False
    langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True).stdout.split()
    return "kor" in langs


@pytest.mark.skipif(not _has_korean_tesseract(), reason="tesseract with Korean (tesseract-ocr-kor) not installed")
def test_tesseract_reads_a_scanned_page(tmp_path):
    scan = render_scanned_pdf(tmp_path / "scan.pdf", FIXTURES / "fntnormal.pdf")
    res = extract_pdf(scan, PdfConfig(ocr="tesseract", ocr_page_timeout_s=120))
    assert res.page_methods == ["ocr"] and res.ocr["pages"] == 1 and not res.rejected_pages
    assert "여름 방학" in res.text


OCR_PAGE = """1.2 설치 준비

데비안 설치 프로그램은 여러 가지 하드웨어에서 동작하며 설치에 필요한 드라이버
를 자동으로 찾아서 읽어 들입니다. 설치하기 전에 시스템의 하드웨어 정보를 확
인해 두면 좋습니다. 자세한 내용은 다음 절을 보십시오.

• 메모리 크기
• 디스크 공간
"""


def test_an_ocr_pages_wrapped_lines_are_joined_as_the_text_layers(scan3):
    """tesseract keeps the page's line breaks: a paragraph came out as three lines, two words cut in half."""
    res = extract_pdf(scan3, PdfConfig(ocr="none"), ocr=lambda page: OCR_PAGE)
    first = res.text.split("\n")[:5]
    assert first == ["1.2 설치 준비",
                     "데비안 설치 프로그램은 여러 가지 하드웨어에서 동작하며 설치에 필요한 드라이버를 자동으로 찾아서 읽어 "
                     "들입니다. 설치하기 전에 시스템의 하드웨어 정보를 확인해 두면 좋습니다. 자세한 내용은 다음 절을 보십시오.",
                     "• 메모리 크기", "• 디스크 공간", "1.2 설치 준비"]
