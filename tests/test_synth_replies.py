"""`axk1 data synth` on teacher replies of unusual shape (a lone surrogate, content as a list of parts, numbers or
objects where text belongs), on the response cache across runs (the reply cap, documents without ids) and on the
accounting of passages left out. The teacher is a small OpenAI-compatible HTTP app that answers by a marker word in
the passage; the pipeline, HTTP client, cache and checks are the real ones."""

import asyncio
import json
from collections import Counter

import pytest
from fastapi.responses import Response

from axk1.synth.documents import split_passages
from axk1.synth.pipeline import SynthSummary, output_paths, plan_jobs
from axk1.synth.recipe import PassageConfig, load_synth_recipe
from axk1.synth.teacher import ResponseCache, bounded
from tests.synth_helpers import GOOD, completion_body, docs_file, jsonl_rows, serve_teacher, synth_recipe, synth_run

QA = "Question: Where does the Han river flow?\nAnswer: "
LONG = "Question: Where is Seoul?\nAnswer: " + "Seoul lies on the Han river. " * 100  # 2,934 chars


async def _answer(body):
    passage = body["messages"][0]["content"].split("Passage:\n", 1)[-1]
    answer = passage.split(". ")[-1].strip()
    reasoning = None
    if "SURROGATE" in passage:  # valid JSON text ("\ud800" escaped), but not text once decoded
        content = QA + answer + "\ud800"
    elif "SURTRACE" in passage:
        content, reasoning = QA + answer, "Let me think \udfff."
    elif "PARTS" in passage:  # as some OpenAI-compatible APIs send content
        content = [{"type": "text", "text": "Question: Where does the Han river flow?\n"},
                   {"type": "text", "text": "Answer: " + answer}]
    elif "IMAGE" in passage:
        content = [{"type": "text", "text": QA}, {"type": "image_url", "image_url": {"url": "x"}}]
    elif "NUMBER" in passage:
        content = 42
    elif "OBJTRACE" in passage:
        content, reasoning = QA + answer, {"steps": ["a", "b"]}
    elif "LONG" in passage:
        content = LONG
    else:
        content = QA + answer
    # json.dumps escapes a lone surrogate; the app's own JSON encoder cannot write one at all
    return Response(json.dumps(completion_body(body["model"], content, reasoning)), media_type="application/json")


@pytest.fixture(scope="module")
def teacher():
    with serve_teacher(_answer) as found:
        yield found


def test_a_reply_holding_a_lone_surrogate_is_one_failed_request_and_is_not_cached(teacher, tmp_path):
    """It ended the whole run ("'utf-8' codec can't encode character '\\ud800'", from the cache's SQLite write),
    every rerun again, losing the replies in flight."""
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": "a", "text": GOOD}, {"id": "s", "text": "SURROGATE. " + GOOD},
                                {"id": "t", "text": "SURTRACE. " + GOOD}, {"id": "b", "text": "Busan lies on the coast, where the Nakdong river meets the sea."}])
    for run in range(2):
        summary = synth_run(tmp_path, url, docs)
        assert (summary.kept, summary.failed) == (2, 2)
        assert (summary.sent, summary.cache_hits) == ((4, 0) if run == 0 else (2, 2))  # the two asked again
        failed = {f["doc_id"]: f["reason"] for f in jsonl_rows(tmp_path / "o.failed.jsonl")}
        assert failed["s"].startswith("ValueError: the teacher's reply content holds a lone surrogate")
        assert failed["t"].startswith("ValueError: the teacher's reply reasoning holds a lone surrogate")
    assert not list(tmp_path.glob("*.tmp"))


def test_content_parts_are_joined_and_a_malformed_reply_fails_alone_before_the_cache(teacher, tmp_path):
    """A list of parts was cached, then crashed the sorting ("'list' object has no attribute 'strip'") on every
    rerun; a number or an object ended the run with "has no len()" or "unhashable type: 'slice'"."""
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": "p", "text": "PARTS. " + GOOD}, {"id": "i", "text": "IMAGE. " + GOOD},
                                {"id": "n", "text": "NUMBER. " + GOOD}, {"id": "o", "text": "OBJTRACE. " + GOOD}])
    for run in range(2):
        summary = synth_run(tmp_path, url, docs)
        assert (summary.kept, summary.failed) == (1, 3)
        assert (summary.sent, summary.cache_hits) == ((4, 0) if run == 0 else (3, 1))  # only the good one cached
        (kept,) = jsonl_rows(tmp_path / "o.jsonl")
        assert kept["fields"]["question"] == "Where does the Han river flow?"
        failed = {f["doc_id"]: f["reason"] for f in jsonl_rows(tmp_path / "o.failed.jsonl")}
        assert failed["i"].startswith("ValueError: the teacher's reply content part 1 is 'image_url', not a text part")
        assert failed["n"].startswith("ValueError: the teacher's reply content is int (")
        assert failed["o"].startswith("ValueError: the teacher's reply reasoning is dict (")


def test_a_list_reply_an_older_version_cached_is_read_as_its_text(teacher, tmp_path):
    """The older version cached content lists (and then failed on them every rerun); a malformed stored reply is a
    miss, asked again."""
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": "a", "text": GOOD}])
    synth_run(tmp_path, url, docs)
    (kept,) = jsonl_rows(tmp_path / "o.jsonl")
    cache = ResponseCache(output_paths(tmp_path / "o.jsonl")["cache"])
    (key,) = [k for (k,) in cache.db.execute("SELECT key FROM replies")]
    stored = {"content": [{"type": "text", "text": QA}, {"type": "text", "text": GOOD}], "reasoning": None,
              "finish_reason": "stop", "usage": {}}
    cache.db.execute("UPDATE replies SET reply = ?", (json.dumps(stored),))
    cache.db.commit()
    assert cache.get(key).content == QA + GOOD
    summary = synth_run(tmp_path, url, docs)
    assert (summary.sent, summary.kept) == (0, 1) and jsonl_rows(tmp_path / "o.jsonl")[0]["text"] == kept["text"]
    cache.db.execute("UPDATE replies SET reply = ?", (json.dumps({**stored, "content": 42}),))
    cache.db.commit()
    assert cache.get(key) is None
    cache.close()
    summary = synth_run(tmp_path, url, docs)
    assert (summary.sent, summary.kept) == (1, 1)


def test_the_reply_cap_is_applied_to_cached_replies_as_to_fresh_ones(teacher, tmp_path):
    """The cap was decided when a reply arrived: raising it after a rejection rejected again, with a false reason
    ("2934 chars > max_reply_chars 5000"); lowering it kept cached replies that a fresh cache rejects."""
    url, _ = teacher
    long = docs_file(tmp_path, [{"id": "long", "text": "LONG. " + GOOD}], name="long.jsonl")
    summary = synth_run(tmp_path, url, long, "max_reply_chars = 1000")
    (rejected,) = jsonl_rows(tmp_path / "o.rejected.jsonl")
    assert rejected["reason"] == "length: the reply has 2934 chars > [teacher] max_reply_chars 1000 (stored cut)"
    summary = synth_run(tmp_path, url, long, "max_reply_chars = 5000")  # stored cut: asked again, whole this time
    assert (summary.sent, summary.cache_hits, summary.reasked_longer_cap) == (1, 0, 1)
    assert "stored cut under a lower [teacher] max_reply_chars asked again" in summary.table()
    assert not any(r["reason"].startswith("length") for r in jsonl_rows(tmp_path / "o.rejected.jsonl"))
    assert (summary.kept + summary.rejected, summary.rejections.get("length")) == (1, None)
    summary = synth_run(tmp_path, url, long, "max_reply_chars = 5000")
    assert (summary.sent, summary.cache_hits) == (0, 1)
    # lowered: the warm cache (whole reply stored) and a fresh one reject alike
    warm = synth_run(tmp_path, url, long, "max_reply_chars = 100")
    fresh = synth_run(tmp_path, url, long, "max_reply_chars = 100", out="fresh.jsonl")
    assert (warm.sent, fresh.sent) == (0, 1)
    assert jsonl_rows(tmp_path / "o.rejected.jsonl") == jsonl_rows(tmp_path / "fresh.rejected.jsonl")
    (rejected,) = jsonl_rows(tmp_path / "o.rejected.jsonl")
    assert rejected["reason"].startswith("length: the reply has 2934 chars > [teacher] max_reply_chars 100")
    assert len(rejected["reply"]) == 100


def test_documents_without_ids_are_named_by_their_text(teacher, tmp_path):
    """Named by line number, which seeds the requests: removing one broken line re-paid every request after it."""
    url, _ = teacher
    rows = [{"text": f"Seoul {n}. " + GOOD} for n in range(3)] + [{"text": "Seoul 0. " + GOOD}]  # the last a copy
    docs = docs_file(tmp_path, [b"{broken line\n"] + rows)
    summary = synth_run(tmp_path, url, docs)
    assert (summary.sent, summary.excluded) == (4, {"not JSON": 1})
    ids = [job.doc_id for job in plan_jobs(docs, load_synth_recipe(synth_recipe(tmp_path)), SynthSummary())]
    assert len(set(ids)) == 4 and ids[3] == ids[0] + "-2" and ids[0].startswith("text-")
    docs_file(tmp_path, rows)  # the broken line removed
    summary = synth_run(tmp_path, url, docs)
    assert (summary.sent, summary.cache_hits) == (0, 4)
    assert [job.doc_id for job in plan_jobs(docs, load_synth_recipe(synth_recipe(tmp_path)), SynthSummary())] == ids


def test_passages_left_out_are_counted_by_reason(tmp_path):
    spec = PassageConfig(min_chars=100, max_chars=160, max_per_document=2)
    dropped = Counter()
    assert split_passages("x" * 50 + "\n\n" + ("y" * 150 + "\n\n") * 3, spec, dropped) == ["y" * 150] * 2
    assert dropped == {"under min_chars": 1, "past max_per_document": 1}
    docs = docs_file(tmp_path, [{"id": "a", "text": "Short.\n\n" + ("A passage about the Han river. " * 4 + "\n\n") * 3},
                                {"id": "b", "text": "Tiny."}])  # b is excluded for it, not counted again here
    recipe = load_synth_recipe(synth_recipe(tmp_path))
    recipe.passages = PassageConfig(min_chars=50, max_chars=130, max_per_document=2)
    summary = SynthSummary()
    assert len(plan_jobs(docs, recipe, summary)) == 2
    assert summary.passages_dropped == {"under min_chars": 1, "past max_per_document": 1}
    assert "passages dropped: 1 under min_chars, 1 past max_per_document" in summary.table()


def test_bounded_takes_a_job_only_when_a_slot_frees():
    """Every request's task was made up front: 200,000 pending requests held 264 MB before the first reply."""
    taken = []

    def jobs():
        for n in range(1000):
            taken.append(n)

            async def job(n=n):
                await asyncio.sleep(0)
                return n
            yield job

    async def first_and_all():
        results = bounded(4, jobs())
        first = await results.__anext__()
        in_hand = len(taken)
        return first, in_hand, [first] + [r async for r in results]

    first, in_hand, results = asyncio.run(first_and_all())
    assert in_hand <= 5 and sorted(results) == list(range(1000))
