"""Deduplication keys read fullwidth ASCII as ASCII (axk1/text/ngrams.py fold_width): a copy of a page in fullwidth
Latin letters, digits and punctuation (as CJK input methods write them) is the same document, while the stored text
keeps its characters."""

import json

from datatrove.data import Document

from axk1.data.config import config_from_dict
from axk1.data.dedup import DedupConfig, ShingledMinhashSignature, normalized_content
from axk1.data.pipeline import run_pipeline
from axk1.data.stats import account, iter_records

PAGE = ("The Riverside library opens at 9:00 on weekdays and at 10:00 on Saturdays (closed on Sundays). Members may "
        "borrow up to 12 books for 21 days; renewals are possible online at most twice, unless another reader has "
        "reserved the book. 도서관 회원증은 안내 데스크에서 신분증을 보여 주고 무료로 발급받을 수 있다.")


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def test_a_fullwidth_copy_has_the_keys_of_its_original():
    assert normalized_content(Document(fullwidth(PAGE), "a")) == normalized_content(Document(PAGE, "b"))
    sig = ShingledMinhashSignature("/tmp/unused-sigs", DedupConfig(shingles="char"))
    assert sig.get_signature(sig.get_shingles(fullwidth(PAGE))) == sig.get_signature(sig.get_shingles(PAGE))


def test_a_fullwidth_copy_is_an_exact_duplicate(tmp_path):
    rows = [{"id": "page", "text": PAGE}, {"id": "wide", "text": fullwidth(PAGE)},
            {"id": "other", "text": "전혀 다른 문서: 오늘은 비가 와서 산책을 하지 못하고 집에서 책을 읽었다. " * 4}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    run_pipeline(config_from_dict({
        "run": {"output_dir": str(tmp_path / "out"), "tasks": 1, "workers": 1,
                "stages": ["extract", "dedup", "annotate"]},
        "sources": [{"type": "jsonl", "path": str(tmp_path / "in.jsonl"), "filter": False}],
        "filters": {"pii": False}}), progress=False)
    removed = {r["id"]: r for r in iter_records(tmp_path / "out" / "excluded" / "exact_duplicate")}
    kept = {r["id"]: r["text"] for r in iter_records(tmp_path / "out" / "documents")}
    assert list(removed) == ["wide"] and set(kept) == {"page", "other"}
    assert removed["wide"]["text"] == fullwidth(PAGE)  # the key folds, the text is kept as written
    assert account(tmp_path / "out").balanced
