"""`axk1 data synth` on teacher replies a real server or proxy sends: bodies that are no JSON completion (an HTML
error page, a stream of server-sent events, a body cut short, a 200 carrying an error), replies garbled in their
encoding, a trace with no reply, R1's inline `<think>` block, a model the server does not serve, and empty replies
(not cached). The teacher is a small OpenAI-compatible HTTP app that answers by a marker word in the passage; the
pipeline, HTTP client, cache and checks are the real ones."""

import json

import pytest
from fastapi.responses import JSONResponse, Response

from axk1.cli import main
from tests.synth_helpers import GOOD, completion_body, docs_file, jsonl_rows, serve_teacher, synth_recipe, synth_run

QA = "Question: Where does the Han river flow?\nAnswer: "
SERVES = "The model 'nosuch' does not exist. This server serves 'scripted' (see /v1/models)."


async def _answer(body):
    passage = body["messages"][0]["content"].split("Passage:\n", 1)[-1]
    answer = QA + passage.split(". ")[0] + "."
    if body["model"] != "scripted":  # as `axk1 serve` and vLLM answer a model they do not serve
        return JSONResponse({"error": {"message": SERVES, "type": "NotFoundError", "code": "model_not_found"}}, 404)
    if "HTML" in passage:  # a proxy's error page, with status 200
        return Response(b"<html><body>Bad gateway</body></html>", media_type="text/html")
    if "EVENTS" in passage:  # a stream the request did not ask for
        chunk = {"choices": [{"index": 0, "delta": {"content": answer}, "finish_reason": None}]}
        return Response(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n", media_type="text/event-stream")
    if "CUT" in passage:  # a body cut short
        return Response(json.dumps(completion_body(body["model"], answer))[:90], media_type="application/json")
    if "ERRORBODY" in passage:
        return {"error": {"message": "model overloaded, try later", "code": 503}}
    if "CONTROL" in passage:
        return completion_body(body["model"], answer + " \x11\x13")
    if "REPLACED" in passage:
        return completion_body(body["model"], answer + " \ufffd\ufffd")
    if "GARBLED" in passage:  # the whole Korean reply, UTF-8 read as Latin-1 by a proxy
        garbled = "질문: 한강은 어디로 흐르는가?\n답변: 서울을 지나 서쪽으로 흐른다.".encode().decode("latin-1")
        return completion_body(body["model"], garbled)
    if "MOJIEN" in passage:  # a few words in Windows-1252 mojibake at the end of a good answer
        return completion_body(body["model"], answer + " " + "서울의 사과".encode().decode("cp1252", "replace").replace(
            "\ufffd", ""))
    if "TRACEONLY" in passage:
        return completion_body(body["model"], None, "Let me think about the Han river. " * 5)
    if "EMPTY" in passage:
        return completion_body(body["model"], "")
    if "INLINE" in passage:  # an R1-style server without a reasoning parser
        return completion_body(body["model"], f"<think>The first sentence answers it.</think>{answer}")
    return completion_body(body["model"], answer)


@pytest.fixture(scope="module")
def teacher():
    with serve_teacher(_answer) as found:
        yield found


def _by_doc(path):
    return {row.get("doc_id") or row["source"]["doc_id"]: row for row in jsonl_rows(path)}


def test_a_body_that_is_no_json_completion_fails_naming_its_type_and_first_bytes(teacher, tmp_path):
    """An HTML page or an event stream failed as "'str' object has no attribute 'choices'", a 200 error body as "no
    choices" (its message lost), a body cut short as a bare JSONDecodeError."""
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": m, "text": f"{m}. {GOOD}"} for m in ("HTML", "EVENTS", "CUT", "ERRORBODY")])
    summary = synth_run(tmp_path, url, docs)
    assert summary.failed == 4
    failed = {k: v["reason"] for k, v in _by_doc(tmp_path / "o.failed.jsonl").items()}
    assert failed["HTML"].startswith("ValueError: the teacher's body (Content-Type text/html; charset=utf-8, 37 bytes, starting "
                                     "b'<html><body>Bad gateway</body></html>') is not a JSON chat completion")
    assert failed["EVENTS"].startswith("ValueError: the teacher's body (Content-Type text/event-stream")
    assert "a stream of server-sent events, though the request asked for none" in failed["EVENTS"]
    assert failed["CUT"].startswith("ValueError: the teacher's body (Content-Type application/json, 90 bytes, "
                                    "starting b'{\"id\": \"x\"")
    assert "is not a JSON chat completion (Unterminated string" in failed["CUT"]
    assert failed["ERRORBODY"] == ("ValueError: the teacher answered with an error in its body: model overloaded, try "
                                   "later; nothing to keep; the request is asked again on the next run")


def test_garbled_replies_are_rejected_as_encoding_with_what_they_hold(teacher, tmp_path):
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": m, "text": f"{m}. {GOOD}"} for m in ("CONTROL", "REPLACED", "GARBLED", "MOJIEN")])
    summary = synth_run(tmp_path, url, docs)
    assert summary.kept == 0 and summary.rejections == {"encoding": 4}
    reasons = {k: v["reason"] for k, v in _by_doc(tmp_path / "o.rejected.jsonl").items()}
    assert reasons["CONTROL"] == "encoding: 2 control characters in the reply (the first U+0011)"
    assert reasons["REPLACED"].startswith("encoding: U+FFFD (an undecodable byte, replaced) in the reply")
    # whole: no label was left for the format check, which rejected it as `format`
    assert reasons["GARBLED"] == ("encoding: mojibake in the reply (UTF-8 read as Latin-1/Windows-1252): "
                                  "'ì§\\x88ë¬¸' is '질문'")
    assert reasons["MOJIEN"].startswith("encoding: mojibake in the reply (UTF-8 read as Latin-1/Windows-1252): 'ì„œìš¸")


def test_mojibake_is_found_in_mixed_text_and_real_latin_and_korean_text_is_not_mojibake():
    from axk1.text.mojibake import utf8_read_as_latin1

    assert utf8_read_as_latin1("The bridge opened in 1931 — " + "한강 다리".encode().decode("cp1252", "replace")) \
        == ("í•œê°•", "한강")
    assert utf8_read_as_latin1("Â© 2020") == ("Â©", "©")
    for text in ("Ærø, Straße, ¿Qué?, «Ça», naïve café, Œuvre, Škoda, 4°C, © 2020, £5, 1½, ñÑ ÀÈÌÒÙ",
                 "한강은 서울을 지나 서쪽으로 흐른다 — “따옴표” 와 ‘작은따옴표’…"):
        assert utf8_read_as_latin1(text) is None


def test_a_trace_without_a_reply_says_so_and_an_inline_think_block_is_split(teacher, tmp_path):
    """content null beside a trace was "format: empty reply"; `<think>…</think>answer` was "special token in reply"."""
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": "TRACEONLY", "text": f"TRACEONLY. {GOOD}"}, {"id": "INLINE", "text": f"INLINE. {GOOD}"}])
    summary = synth_run(tmp_path, url, docs)
    assert summary.kept == 1 and summary.rejected == 1
    (kept,) = jsonl_rows(tmp_path / "o.jsonl")
    assert kept["source"]["doc_id"] == "INLINE" and kept["fields"]["answer"] == "INLINE."
    assert "<think>" not in json.dumps(kept)
    (rejected,) = jsonl_rows(tmp_path / "o.rejected.jsonl")
    assert rejected["reason"].startswith("format: empty reply, though a reasoning trace came back (170 chars): the "
                                         "model answered inside its thinking, or the server's reasoning parser")


def test_a_model_the_server_does_not_serve_stops_the_run_after_the_first_reply(teacher, tmp_path, capsys):
    """Every request was sent, each answered 404; the error ended "(see /v1/models).." """
    url, calls = teacher
    docs = docs_file(tmp_path, [{"id": f"d{i}", "text": f"Document {i}. {GOOD}"} for i in range(5)])
    before = len(calls)
    code = main(["data", "synth", str(docs), "--teacher", f"openai:{url}", "--recipe",
                 str(synth_recipe(tmp_path, "concurrency = 1")), "-o", str(tmp_path / "o.jsonl"), "--teacher-model",
                 "nosuch", "--no-progress"])
    assert code == 1 and len(calls) - before == 1
    err = capsys.readouterr().err
    assert f"the first with: NotFoundError: Error code: 404 - {SERVES[:-1]}. All the reasons" in err
    reasons = [row["reason"] for row in jsonl_rows(tmp_path / "o.failed.jsonl")]
    assert reasons[0] == f"NotFoundError: Error code: 404 - {SERVES}"
    assert all(r.startswith("not sent: an earlier request got NotFoundError: Error code: 404 - The model 'nosuch'")
               for r in reasons[1:]) and len(reasons) == 5


def test_an_empty_reply_is_not_cached_and_is_asked_again_on_the_next_run(teacher, tmp_path):
    url, calls = teacher
    docs = docs_file(tmp_path, [{"id": "EMPTY", "text": f"EMPTY. {GOOD}"}, {"id": "good", "text": f"Fine. {GOOD}"}])
    first = synth_run(tmp_path, url, docs)
    assert first.sent == 2 and first.rejections == {"format": 1}
    assert jsonl_rows(tmp_path / "o.rejected.jsonl")[0]["reason"] == ("format: empty reply (not cached: asked again on "
                                                                   "the next run)")
    before = len(calls)
    again = synth_run(tmp_path, url, docs)
    assert again.sent == 1 and again.cache_hits == 1 and len(calls) - before == 1
    assert "EMPTY." in calls[-1]["messages"][0]["content"]
