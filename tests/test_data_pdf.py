"""Korean-aware PDF extraction on generated PDFs with known text."""

import json

import pytest

from axk1.data.pdf import PdfConfig, PdfError, extract_pdf
from axk1.data.pdf_garbage import clean_span, page_garbage_reason
from axk1.data.pdf_render import render_pdf
from tests.pdf_fixtures import render_encrypted_pdf, render_image_only_pdf
from tests.pdf_test_set import build_test_set, char_error_rate


def cer(got: str, ref: str) -> float:
    return char_error_rate(got, ref)


@pytest.fixture(scope="module")
def test_set(tmp_path_factory):
    return build_test_set(tmp_path_factory.mktemp("pdfs"))


def test_cer_on_generated_korean_pdfs(test_set):
    total_err = total_len = 0
    for doc in test_set:
        res = extract_pdf(doc.path)
        c = cer(res.text, doc.truth)
        assert c <= 0.02, (doc.kind, c)
        total_err += c * len(doc.truth)
        total_len += len(doc.truth)
    assert total_err / total_len <= 0.02


def test_headers_page_numbers_and_columns(test_set):
    by_kind = {d.kind: d for d in test_set}
    single = extract_pdf(by_kind["single"].path)
    assert by_kind["single"].pages >= 2
    assert "한국어 자료 처리 보고서" not in single.text          # running header, removed by repetition
    assert "- 1 -" not in single.text and "- 2 -" not in single.text
    assert single.metadata()["pages"] == by_kind["single"].pages
    two = extract_pdf(by_kind["two_column"].path)
    assert set(two.page_methods) == {"pdfium-columns"}
    # reading order: the first paragraph comes out whole and first
    first = by_kind["two_column"].truth.split("\n")[0]
    assert cer(two.text[: len(first) + 5], first) < 0.05
    table = extract_pdf(by_kind["table"].path)
    assert "김하늘 연구개발팀 내선 2041" in table.text.split("\n")   # one table row per line


def test_line_joining_korean_and_dehyphenation(test_set):
    doc = next(d for d in test_set if d.kind == "hyphenated")
    text = extract_pdf(doc.path, PdfConfig(join="rules+kiwi")).text
    assert "internationalization" in text                # Latin–Latin hyphen break joined
    assert "well-known" in text                          # a real hyphen kept
    assert "말뭉치를" in text and "말뭉 치를" not in text   # Korean word broken across lines (Kiwi settles it)
    rules_only = extract_pdf(doc.path, PdfConfig(join="rules")).text   # the default: no evidence, a space
    assert "internationalization" in rules_only and "말뭉 치를" in rules_only


def test_cer_metric_counts_errors():
    assert cer("말뭉치를 다룹니다", "말뭉치를 다룹니다") == 0
    assert cer("말뭉 치를 다룹니다", "말뭉치를 다룹니다") == 1 / 9
    assert cer("abcd", "abxd") == 0.25


def test_nfc_never_nfkc(tmp_path):
    # Compatibility jamo and circled Hangul must survive (NFKC would change them).
    paras = ["ㅎㅏㄴㄱㅜㄱ 자모와 ㉮ 기호는 그대로 남아야 합니다. 한국어 문장이 이어집니다."]
    pdf = render_pdf(tmp_path / "jamo.pdf", paras, page_numbers=False)
    text = extract_pdf(pdf.path).text
    assert "ㅎㅏㄴㄱㅜㄱ" in text and "㉮" in text


@pytest.mark.parametrize("kind,reason", [("corrupt", "corrupt"), ("empty", "empty_file"),
                                         ("encrypted", "encrypted"), ("image", "no_text")])
def test_bad_pdfs_fail_with_reason(tmp_path, kind, reason):
    path = tmp_path / f"{kind}.pdf"
    if kind == "corrupt":
        path.write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "encrypted":
        render_encrypted_pdf(path)
    else:
        render_image_only_pdf(path)
    with pytest.raises(PdfError) as e:
        extract_pdf(path, PdfConfig(ocr="none"))
    assert e.value.reason == reason


def test_garbage_gate_signals():
    from collections import Counter

    good = "한국어 문장은 띄어쓰기가 있습니다. " * 20
    assert page_garbage_reason(good) is None
    assert page_garbage_reason("") == "no_text_layer"
    assert page_garbage_reason("한국어문장은띄어쓰기가없습니다" * 20) == "glued_words"
    dropped: Counter = Counter()
    assert clean_span("(cid:12)(cid:40)(cid:7) text", dropped) == ""
    assert clean_span("abc\x01\x03\x04\ufffd\ufffd" * 10, dropped) == ""
    assert clean_span("ÃÂÄÅÆÇÈÉÊËÌÍÎÏ " * 10, dropped) == ""
    # a few private-use glyphs (a matrix's brackets) are removed, the line's text is kept
    assert clean_span("행렬 \ue000a b\ue001 의 원소", dropped) == "행렬 a b 의 원소"
    # a sentence set with many private-use glyphs (old Hangul in a font's private area) keeps its text, as pdftotext
    # does (the line was dropped whole); a line of bracket pieces with a letter or two still goes
    old = "\uf7f7\uf7f8\uf7f9"
    assert clean_span(f"{old}나 {old}와 같은 특별한 글자입니다 {old}", dropped) == "나 와 같은 특별한 글자입니다"
    assert clean_span("\ue000\ue001\ue002 a \ue003\ue004", dropped) == ""
    # a CMap-garbled Latin word comes out as rare Hangul syllables: the word is dropped, the line kept
    assert clean_span("이 문서는 ko줮쥔쥅쥘 패키지를 다룬다", dropped) == "이 문서는 패키지를 다룬다"
    assert clean_span("똠방각하 햏 같은 말은 남는다", dropped) == "똠방각하 햏 같은 말은 남는다"
    assert dropped == {"cid_codes": 1, "bad_characters": 2, "mojibake": 1, "private_use": 11, "garbled_hangul": 1}


def test_ocr_hook_receives_rejected_pages(tmp_path):
    path = render_image_only_pdf(tmp_path / "scan.pdf")
    seen = []

    def fake_ocr(page):  # stands in for tesseract: the hook gets the page object and returns its text
        seen.append(page.get_size())
        return "스캔된 문서의 한국어 본문입니다. 띄어쓰기도 잘 되어 있습니다. " * 5

    res = extract_pdf(path, PdfConfig(ocr="none"), ocr=fake_ocr)
    assert seen and res.page_methods == ["ocr"] and "스캔된 문서" in res.text


def test_cli_pdf(tmp_path, test_set):
    import argparse

    from axk1.data.cli import add_data_parser

    (tmp_path / "in").mkdir()
    for d in test_set[:2]:
        (tmp_path / "in" / d.path.name).write_bytes(d.path.read_bytes())
    (tmp_path / "in" / "broken.pdf").write_bytes(b"not a pdf")
    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers())
    args = parser.parse_args(["data", "pdf", str(tmp_path / "in"), "-o", str(tmp_path / "out.jsonl"), "--ocr", "none"])
    assert args.func(args) == 0
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(recs) == 3
    failed = [r for r in recs if r["metadata"].get("failure_reason")]
    assert [r["id"] for r in failed] == ["broken.pdf"]
    ok = [r for r in recs if not r["metadata"].get("failure_reason")]
    assert all(r["metadata"]["pdf"]["pages"] >= 1 and r["text"] for r in ok)
    with pytest.raises(FileNotFoundError):
        args = parser.parse_args(["data", "pdf", str(tmp_path / "nope"), "-o", str(tmp_path / "x.jsonl")])
        args.func(args)


def test_a_header_that_names_each_pages_section_is_removed_where_the_others_are(tmp_path):
    """A book's running header names the chapter and the section, so a one-page section's header repeats on no
    other page: it stayed in the text, between the halves of a sentence crossing the page (16% of a real manual's
    headers). A header set where two other pages' headers are set is a header whatever its text."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from axk1.data.pdf_render import KOREAN_FONTS, _register_fonts

    _register_fonts()
    path = tmp_path / "book.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    width, height = A4
    headers = ["제 1 장. 환영합니다 1.1. 이 문서에 대하여", "제 1 장. 환영합니다 1.1. 이 문서에 대하여",
               "제 1 장. 환영합니다 1.2. 데비안이란 무엇인가", "제 2 장. 시스템 요구 사항 2.1. 지원하는 하드웨어"]
    body = "데비안 설치 안내서는 설치 과정을 차례대로 설명하며 각 단계에서 무엇을 선택할 수 있는지 알려 줍니다."
    for page, header in enumerate(headers, 1):
        c.setFont(KOREAN_FONTS[0], 10)
        c.drawString(72, height - 50, header)  # the header slot: same baseline, same size on every page
        for i in range(30):
            c.drawString(72, height - 100 - 16 * i, f"{page}쪽 {i + 1}번째 줄: {body[: 40 + i % 7]}")
        c.drawCentredString(width / 2, 40, str(page))
        c.showPage()
    c.save()
    text = extract_pdf(path).text
    for header in headers:
        assert header not in text, header
    assert "1.2. 데비안이란" not in text and "2.1. 지원하는" not in text
    assert text.count("번째 줄") == 4 * 30


def test_a_page_with_a_word_space_every_sixteen_syllables_is_glued(tmp_path):
    """project-history.ko.pdf p.20: a page whose text layer kept a space every twenty-odd syllables (0.042 spaced
    pairs a syllable; healthy Korean pages 0.14 and up) reads as words run together, and 0.04 kept it."""
    from axk1.text.korean import hangul_space_ratio

    from reportlab.pdfgen import canvas

    from axk1.data.pdf_render import KOREAN_FONTS, _register_fonts

    run = "데비안프로젝트의역사는이안머독이처음으로시작한일에서비롯되었고많은사람이함께만들었다"
    words = [(run[i:] + run[:i])[:16] for i in range(0, 40, 4)]  # 16 syllables each (PDFium drops a repeated line)
    assert 0.04 < hangul_space_ratio(" ".join(words)) < 0.08  # 9 spaces, 160 syllables: 0.056
    _register_fonts()
    path = tmp_path / "glued.pdf"
    c = canvas.Canvas(str(path))
    c.setFont(KOREAN_FONTS[0], 10)
    for i in range(5):  # two words a line
        c.drawString(72, 700 - 14 * i, " ".join(words[2 * i: 2 * i + 2]))
    c.showPage()
    c.save()
    with pytest.raises(PdfError) as e:
        extract_pdf(path, PdfConfig(ocr="none"))
    assert e.value.reason == "no_text" and "glued_words" in e.value.detail
    spaced = "데비안 프로젝트의 역사는 이안 머독이 처음으로 시작한 일에서 비롯되었다. " * 8  # 0.2: kept
    assert page_garbage_reason(spaced) is None


@pytest.mark.parametrize("flags,join", [
    ([], "rules"), (["--kiwi"], "rules+kiwi"), (["--no-kiwi"], "rules"),
    # the last one typed wins: --no-kiwi was a switch nothing read, so `--kiwi --no-kiwi` ran Kiwi
    (["--kiwi", "--no-kiwi"], "rules"), (["--no-kiwi", "--kiwi"], "rules+kiwi"),
])
def test_the_kiwi_flag_typed_last_decides_the_join(tmp_path, monkeypatch, flags, join):
    import argparse

    from axk1.data import pdf_worker
    from axk1.data.cli import add_data_parser

    class Started(Exception):
        pass

    seen = []

    def worker(cfg):  # the extraction's settings, as the command built them; nothing is extracted
        seen.append(cfg)
        raise Started

    monkeypatch.setattr(pdf_worker, "PdfWorker", worker)
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4\n")
    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers())
    args = parser.parse_args(["data", "pdf", str(tmp_path / "a.pdf"), "-o", str(tmp_path / "out.jsonl"), *flags])
    with pytest.raises(Started):
        args.func(args)
    assert [cfg.join for cfg in seen] == [join]
