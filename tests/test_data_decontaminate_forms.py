"""Benchmark text in the forms pages and dumps hold it: JSON-escaped (json.dumps of a Korean row writes \\ud55c…),
with HTML entities (&nbsp; for spaces), with soft hyphens or other invisible characters (which the pipeline's
normalize_text removes, so the audit must too), and in fullwidth ASCII. Each is found by the one index every
caller uses (axk1/text/contamination.py); the stored text is never changed."""

import json
import re

from axk1.data.contamination_audit import audit
from axk1.text.contamination import ContaminationIndex, read_benchmark
from tests.aime_rows import ROWS, write_aime
from tests.decontaminate_helpers import FORUM

LONG_KO = [r for r in ROWS["ko"] if len(re.sub(r"\W", "", r["problem"])) >= 39 + 10]
LONG_EN = [r for r in ROWS["en"] if len(r["problem"].split()) >= 20]


def index_of(tmp_path) -> ContaminationIndex:
    files = write_aime(tmp_path)
    return ContaminationIndex([read_benchmark(files["en"]), read_benchmark(files["ko"])])


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def soft_hyphenated(text: str, every: int) -> str:
    return re.sub(rf"(\w{{{every}}})(\w)", "\\1\u00ad\\2", text)


def test_a_json_escaped_or_nbsp_spaced_copy_is_found(tmp_path):
    index = index_of(tmp_path)
    assert len(LONG_KO) >= 2 and len(LONG_EN) >= 2
    for row in LONG_KO:
        dumped = json.dumps({"messages": [{"role": "user", "content": row["problem"]}]})  # \ud55c… escapes
        assert "\\u" in dumped
        for page in (json.dumps(row), dumped, FORUM.format(row["problem"].replace(" ", "&nbsp;"))):
            found = index.match(page)
            assert found is not None and found.row == row["id"] and found.benchmark == "aime25_ko.jsonl", page
    for row in LONG_EN:
        found = index.match("<p>" + row["problem"].replace(" ", "&nbsp;").replace("<", "&lt;") + "</p>")
        assert found is not None and found.row == row["id"]
        shared, total = index.overlap(json.dumps(row["problem"].replace(" ", "&nbsp;")))
        assert total and shared == total
    # the escapes decoded are an extra reading, not a rewrite: text of none of the rows stays clean
    assert index.match(json.dumps({"text": "날씨가 좋아서 공원에 갔다. \u00e9t\u00e9 &amp; 여름 " * 20})) is None


def test_the_audit_finds_a_soft_hyphenated_copy_as_the_pipeline_filter_does(tmp_path):
    files = write_aime(tmp_path / "bench")
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": f"en-{r['id']}", "text": FORUM.format(soft_hyphenated(r["problem"], 4))} for r in LONG_EN]
    rows += [{"id": f"ko-{r['id']}", "text": FORUM.format(soft_hyphenated(r["problem"], 2).replace(" ", " \u2060"))}
             for r in LONG_KO]
    corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report = audit([corpus], [str(files["en"]), str(files["ko"])], progress=False)
    assert report["contaminated_documents"] == len(rows)
    assert sorted(report["benchmarks"]["aime25_en.jsonl"]["found"]) == sorted(r["id"] for r in LONG_EN)
    assert sorted(report["benchmarks"]["aime25_ko.jsonl"]["found"]) == sorted(r["id"] for r in LONG_KO)


def test_a_fullwidth_copy_is_found(tmp_path):
    index = index_of(tmp_path)
    for row in LONG_EN + LONG_KO:
        found = index.match(FORUM.format(fullwidth(row["problem"])))
        assert found is not None and found.row == row["id"]
