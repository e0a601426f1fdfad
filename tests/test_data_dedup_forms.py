"""Deduplication keys read fullwidth ASCII as ASCII (axk1/text/ngrams.py fold_width): a copy of a page in fullwidth
Latin letters, digits and punctuation (as CJK input methods write them) is the same document, while the stored text
keeps its characters. A removed duplicate names the document it copies (metadata.duplicate_of), across shards."""

import json
import random

from datatrove.data import Document

from axk1.data.config import config_from_dict
from axk1.data.dedup import DedupConfig, ShingledMinhashSignature, normalized_content
from axk1.data.pipeline import run_pipeline
from axk1.data.stats import account, iter_records
from axk1.data.textgen import korean_document
from tests.test_data_dedup import perturb

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
    assert removed["wide"]["metadata"]["duplicate_of"] == "page"
    assert account(tmp_path / "out").balanced


def test_every_removed_duplicate_names_the_kept_document_it_copies(tmp_path):
    """Two shards: an exact and a near copy in the second of documents of the first. Each removal records the kept
    document's id, whichever shard holds it; a kept document records none."""
    rng = random.Random(3)
    base = [f"문서 {i}번: " + korean_document(rng, 3, 5) for i in range(4)]
    shards = [[{"id": f"a{i}", "text": t} for i, t in enumerate(base)],
              [{"id": "exact", "text": " " + base[1] + "\n"}, {"id": "near", "text": perturb(base[2], rng)},
               {"id": "own", "text": "다른 문서: " + korean_document(rng, 3, 5)}]]
    for n, rows in enumerate(shards):
        (tmp_path / f"in{n}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                               encoding="utf-8")
    run_pipeline(config_from_dict({
        "run": {"output_dir": str(tmp_path / "out"), "tasks": 2, "workers": 1,
                "stages": ["extract", "dedup", "annotate"]},
        "sources": [{"type": "jsonl", "path": str(tmp_path / f"in{n}.jsonl"), "filter": False} for n in range(2)],
        "filters": {"pii": False}}), progress=False)
    removed = {r["id"]: (r["metadata"]["filter_reason"], r["metadata"].get("duplicate_of"))
               for r in iter_records(tmp_path / "out" / "excluded")}
    kept = {r["id"]: r for r in iter_records(tmp_path / "out" / "documents")}
    for pair, reason in ((("a1", "exact"), "exact_duplicate"), (("a2", "near"), "near_duplicate")):
        gone = [x for x in pair if x in removed]  # which of the two datatrove keeps is its choice
        assert len(gone) == 1 and removed[gone[0]] == (reason, next(x for x in pair if x in kept)), removed
    assert len(removed) == 2 and not any("duplicate_of" in r["metadata"] for r in kept.values())
    assert account(tmp_path / "out").balanced
