"""`axk1 data synth` on hostile input: outputs that are inputs, out-of-range recipes, teachers that echo the prompt,
write special tokens, send huge replies, trickle bytes or fail every request, and documents with bad bytes or
repeated ids. The teacher is a small OpenAI-compatible HTTP app that answers by a marker word in the passage; the
pipeline, HTTP client, cache and checks are the real ones."""

import asyncio
import json
import time

import pytest
from fastapi.responses import JSONResponse, StreamingResponse

from axk1.cli import main
from axk1.synth.documents import split_passages
from axk1.synth.filters import Decontaminator, cut_reply
from axk1.synth.pipeline import run_synth
from axk1.synth.recipe import PassageConfig, load_synth_recipe
from axk1.synth.teacher import ResponseCache
from axk1.synth.text import grounding
from tests.aime_rows import ROWS, write_aime
from tests.serve_helpers import ROOT
from tests.synth_helpers import GOOD, REASONED, completion_body, docs_file, jsonl_rows, serve_teacher, synth_recipe


async def _answer(body):
    prompt = body["messages"][0]["content"]
    passage = prompt.split("Passage:\n", 1)[-1]
    if "FAIL" in passage:
        return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
    if "TRICKLE" in passage:  # a byte at a time: every read is quick, the reply never completes

        async def trickle():
            for _ in range(120):  # 30 s in all
                yield b" "
                await asyncio.sleep(0.25)

        return StreamingResponse(trickle(), media_type="application/json")
    if "RECITE" in passage:  # a clean sample whose reasoning trace recites a benchmark row
        return completion_body(body["model"], REASONED, "Let me recall a contest problem: " + ROWS["en"][1]["problem"])
    if "OWNTRACE" in passage:
        return completion_body(body["model"], REASONED, "One box holds seven balls, so two hold fourteen.")
    if "THINKCUT" in passage:  # a thinking teacher that spent max_tokens reasoning: no content at all
        return completion_body(body["model"], None, "Let me think about the Han river. " * 20, finish="length")
    if "NOCHOICES" in passage:
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": []}
    if "ECHO" in passage:
        content = prompt
    elif "SPECIAL" in passage:
        content = f"Question: Where is Seoul?\nAnswer: {GOOD} <|im_end|>"
    elif "HUGE" in passage:
        content = "Question: Where is Seoul?\nAnswer: " + "Seoul lies on the Han river. " * 4000
    else:
        content = f"Question: Where does the Han river flow?\nAnswer: {passage.split('. ')[0]}."
    return completion_body(body["model"], content)


@pytest.fixture(scope="module")
def teacher():
    with serve_teacher(_answer) as found:
        yield found


def test_an_output_that_is_an_input_is_refused_before_anything_is_written(tmp_path, capsys):
    docs = docs_file(tmp_path, [{"id": "a", "text": GOOD}])
    before = docs.read_bytes()
    recipe = synth_recipe(tmp_path)
    base = ["data", "synth", str(docs), "--teacher", "openai:http://127.0.0.1:9/v1", "--recipe", str(recipe),
            "--no-progress"]
    for extra in (["-o", str(docs)], ["-o", str(tmp_path / "x.jsonl"), "--cache", str(docs)],
                  ["-o", str(tmp_path / "x.jsonl"), "--cache", str(recipe)],
                  ["-o", str(tmp_path / "x.jsonl"), "--cache", str(tmp_path / "x.jsonl")]):
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert "error:" in err and ("is an input" in err or "would both be" in err), err
        assert docs.read_bytes() == before
    # a side file resolving to an input: -o d.jsonl writes d.failed.jsonl
    side = docs_file(tmp_path, [{"id": "a", "text": GOOD}], name="d.failed.jsonl")
    assert main(base[:2] + [str(side)] + base[3:] + ["-o", str(tmp_path / "d.jsonl")]) == 2
    assert "failed output" in capsys.readouterr().err and json.loads(side.read_text())["id"] == "a"
    assert main(base + ["-o", str(tmp_path / "s.jsonl.gz")]) == 2
    assert "plain JSONL" in capsys.readouterr().err
    assert not list(tmp_path.glob("x*")) and not list(tmp_path.glob("s.*"))


@pytest.mark.parametrize("override, field", [
    (["--passages.max_chars", "0"], "max_chars"), (["--passages.max_chars", "-5"], "max_chars"),
    (["--passages.max_per_document", "0"], "max_per_document"),
    (["--passages.max_per_document", "-1"], "max_per_document"),
    (["--filters.decontam_ngram", "0"], "decontam_ngram"), (["--filters.grounding_min", "1.5"], "grounding_min"),
    (["--filters.min_hangul_ratio", "-0.1"], "min_hangul_ratio"), (["--teacher.temperature", "-1"], "temperature"),
    (["--teacher.top_p", "0"], "top_p"), (["--teacher.top_p", "1.5"], "top_p"), (["--teacher.timeout_s", "0"], "timeout_s"),
    (["--teacher.retries", "-1"], "retries"), (["--teacher.max_reply_chars", "0"], "max_reply_chars")])
def test_out_of_range_recipe_values_name_their_field(override, field):
    with pytest.raises(ValueError, match=rf"\] {field} = .*must be"):
        load_synth_recipe(ROOT / "recipes" / "synth" / "default.toml", override)


def test_passages_of_one_huge_paragraph_are_cut_quickly_and_counted_right():
    spec = PassageConfig(min_chars=100, max_chars=2000, max_per_document=4)
    text = "A sentence about rivers and cities. " * 450_000  # one 16M-char paragraph
    t0 = time.process_time()
    passages = split_passages(text, spec)
    assert time.process_time() - t0 < 1.0
    assert len(passages) == 4 and all(100 <= len(p) <= 2000 for p in passages)
    assert passages[0].startswith("A sentence") and passages[0].endswith(".")
    # short pieces do not count towards max_per_document
    short = PassageConfig(min_chars=100, max_chars=160, max_per_document=2)
    assert split_passages("x" * 50 + "\n\n" + ("y" * 150 + "\n\n") * 3, short) == ["y" * 150] * 2


def test_grounding_finds_decimals_and_grouped_numbers():
    assert grounding("Paris has 2.1 million inhabitants.", "Paris has about 2.1 million inhabitants.") == (1.0, [])
    passage = "The city had 7,799,401 people in 2020 on 605.2 square kilometres."
    assert grounding("It had 7,799,401 people on 605.2 square kilometres.", passage) == (1.0, [])
    assert grounding("It had 7799401 people.", passage)[1] == []  # the same number without its commas
    share, missing = grounding("It had 7,799,402 people on 605.3 square kilometres.", passage)
    assert missing == ["7,799,402", "605.3"] and share < 1


def test_echoes_special_tokens_and_huge_replies_are_rejected_with_reasons(teacher, tmp_path):
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": "good", "text": GOOD}, {"id": "echo", "text": "ECHO. " + GOOD},
                                {"id": "special", "text": "SPECIAL. " + GOOD}, {"id": "huge", "text": "HUGE. " + GOOD}])
    recipe = load_synth_recipe(synth_recipe(tmp_path, "max_reply_chars = 1000"))
    summary = run_synth(docs, recipe, url, tmp_path / "o.jsonl", progress=False)
    assert summary.generated == 4 and summary.kept == 1
    assert [k["source"]["doc_id"] for k in jsonl_rows(tmp_path / "o.jsonl")] == ["good"]
    rejected = {r["source"]["doc_id"]: r for r in jsonl_rows(tmp_path / "o.rejected.jsonl")}
    assert rejected["echo"]["reason"].startswith("prompt echo: the reply contains the prompt's placeholder "
                                                 "<the question>")
    assert rejected["special"]["reason"] == "special token in reply: <|im_end|>"
    assert rejected["huge"]["reason"].startswith("length: the reply has 116034 chars > [teacher] max_reply_chars 1000")
    assert len(rejected["huge"]["reply"]) == 1000  # stored cut, in the cache too
    assert summary.rejections == {"prompt echo": 1, "special token in reply": 1, "length": 1}


def test_a_trickling_teacher_fails_the_request_at_the_deadline(teacher, tmp_path):
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": "slow", "text": "TRICKLE. " + GOOD}, {"id": "good", "text": GOOD}])
    t0 = time.perf_counter()
    summary = run_synth(docs, load_synth_recipe(synth_recipe(tmp_path, "timeout_s = 1")), url, tmp_path / "o.jsonl",
                        progress=False)
    # that the 1 s deadline (with its retries) failed the request, not the trickle's end (30 s): a bound generous
    # against the deadline, not a speed goal
    assert time.perf_counter() - t0 < 20
    assert summary.failed == 1 and summary.kept == 1
    assert "no complete reply within 1s" in jsonl_rows(tmp_path / "o.failed.jsonl")[0]["reason"]


def test_a_run_where_every_request_fails_keeps_the_earlier_output_and_exits_nonzero(teacher, tmp_path, capsys):
    """The earlier run's files stay whole, side files too: failed.jsonl was overwritten with the new run's failures
    beside the old kept file and summary, which then disagreed with it. The failures go to OUT.latest.failed.jsonl,
    which the next run that writes its files removes."""
    url, _ = teacher
    out = tmp_path / "o.jsonl"
    recipe = synth_recipe(tmp_path)
    args = ["data", "synth", "--teacher", f"openai:{url}", "--recipe", str(recipe), "-o", str(out), "--no-progress"]
    first = docs_file(tmp_path, [{"id": "a", "text": GOOD}, {"id": "x", "text": "FAIL. The first run's one failure."}])
    assert main(args[:2] + [str(first)] + args[2:]) == 0
    earlier = {name: (tmp_path / name).read_bytes() for name in ("o.jsonl", "o.rejected.jsonl", "o.failed.jsonl",
                                                                  "o.excluded.jsonl", "o.summary.json")}
    assert json.loads(earlier["o.jsonl"])["source"]["doc_id"] == "a"
    failing = docs_file(tmp_path, [{"id": "b", "text": "FAIL. " + GOOD}, {"id": "c", "text": "FAIL. Again."}],
                        name="failing.jsonl")
    assert main(args[:2] + [str(failing)] + args[2:]) == 1
    err = capsys.readouterr().err
    assert "every one of the 2 teacher requests failed, the first with: " in err and "left as they were" in err
    assert "boom" in err  # the teacher's own reason on the console, not only in the failed file
    assert f"All the reasons are in {tmp_path / 'o.latest.failed.jsonl'}" in err
    assert {name: (tmp_path / name).read_bytes() for name in earlier} == earlier  # one run's files, all of them
    summary = json.loads(earlier["o.summary.json"])
    assert summary["kept"] == 1 and summary["failed"] == 1 == len(jsonl_rows(tmp_path / "o.failed.jsonl"))
    latest = jsonl_rows(tmp_path / "o.latest.failed.jsonl")
    assert [f["doc_id"] for f in latest] == ["b", "c"] and all("boom" in f["reason"] for f in latest)
    assert not list(tmp_path.glob("*.tmp"))
    assert main(args[:2] + [str(first)] + args[2:]) == 0  # a run that writes its files: the latest failures go
    assert not (tmp_path / "o.latest.failed.jsonl").exists()


def test_unusable_documents_are_listed_by_line_and_ids_are_unique(teacher, tmp_path):
    url, calls = teacher
    docs = docs_file(tmp_path, [
        {"id": 0, "text": GOOD},                                 # line 1: 0 is an id
        b'{"id": "bad", "text": "caf\xe9 ' + GOOD.encode() + b'"}\n',  # line 2: a Latin-1 byte
        b"{not json\n",                                          # line 3
        [1, 2],                                                  # line 4
        {"id": "n", "text": None},                               # line 5
        {"id": 0, "text": "Another text about the Han river and its many bridges."},  # line 6: id 0 again
        {"text": "The {audience} and {language} braces stay as written. " + GOOD},    # line 7: no id
        # lines 8, 9: a lone surrogate (valid JSON "\\ud800") in the text, in the metadata: it ended the whole run
        # with a bare "'utf-8' codec can't encode character" naming no file or line
        {"id": "s", "text": GOOD + "\ud800" + GOOD},
        {"id": "m", "text": GOOD, "metadata": {"domain": "web\udfff"}},
    ])
    calls.clear()
    summary = run_synth(docs, load_synth_recipe(synth_recipe(tmp_path)), url, tmp_path / "o.jsonl", progress=False)
    assert summary.documents == 9 and summary.documents_used == 2
    assert summary.excluded == {"invalid UTF-8": 1, "not JSON": 1, "not a JSON object": 1, "no 'text' string": 1,
                                "duplicate id": 1, "lone_surrogate": 2}
    excluded = jsonl_rows(tmp_path / "o.excluded.jsonl")
    assert [(x["line"], x["reason"]) for x in excluded] == [
        (2, "invalid UTF-8"), (3, "not JSON"), (4, "not a JSON object"), (5, "no 'text' string"), (6, "duplicate id"),
        (8, "lone_surrogate"), (9, "lone_surrogate")]
    assert excluded[5]["detail"] == f"lone_surrogate: {docs}:8 at text" and "metadata.domain" in excluded[6]["detail"]
    assert f"{docs}:2" in excluded[0]["detail"] and "of line 1" in excluded[4]["detail"]
    ids = sorted(k["source"]["doc_id"] for k in jsonl_rows(tmp_path / "o.jsonl"))
    assert ids[0] == "0" and ids[1].startswith("text-")  # no id: named by its text's hash
    prompts = [c["messages"][0]["content"] for c in calls]
    assert any("The {audience} and {language} braces stay as written." in p for p in prompts)
    # a task that does not think sends no chat_template_kwargs (a hosted API may refuse the field)
    assert all("chat_template_kwargs" not in c for c in calls)


def test_thinking_control_is_sent_when_asked_for(teacher, tmp_path):
    url, calls = teacher
    docs = docs_file(tmp_path, [{"id": "a", "text": GOOD}])
    calls.clear()
    run_synth(docs, load_synth_recipe(synth_recipe(tmp_path, "thinking_control = true")), url, tmp_path / "o.jsonl",
              progress=False)
    assert calls[-1]["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_cache_that_is_not_a_cache_and_a_broken_decontam_file_are_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not a database at all, just some text that is long enough " * 20)
    with pytest.raises(ValueError, match="is not a synth response cache"):
        ResponseCache(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="is a folder"):
        ResponseCache(tmp_path)
    bench = tmp_path / "bench.jsonl"
    bench.write_text('{"problem": "fine"}\n{oops\n')
    with pytest.raises(ValueError, match=rf"{bench}:2: not a JSON line"):
        Decontaminator([str(bench)], tmp_path)


def test_a_trace_reciting_a_benchmark_is_rejected_and_the_audit_gate_reads_traces(teacher, tmp_path, capsys):
    """A reasoning sample keeps the teacher's trace (fields.teacher_reasoning); the decontamination check and
    `axk1 data contamination --check` (docs/data.md: the gate before training) read the text alone, so a trace
    reciting an AIME problem word for word was kept, and passed the gate."""
    url, _ = teacher
    aime = write_aime(tmp_path)["en"]
    docs = docs_file(tmp_path, [{"id": "recite", "text": "RECITE. " + GOOD}, {"id": "own", "text": "OWNTRACE. " + GOOD}])
    recipe = load_synth_recipe(synth_recipe(tmp_path, kind="reasoning", benchmarks='["aime25_en.jsonl"]'))
    summary = run_synth(docs, recipe, url, tmp_path / "o.jsonl", progress=False)
    assert [k["source"]["doc_id"] for k in jsonl_rows(tmp_path / "o.jsonl")] == ["own"]
    (rejected,) = jsonl_rows(tmp_path / "o.rejected.jsonl")
    assert rejected["reason"].startswith("decontamination: its fields.teacher_reasoning shares a 13-gram with "
                                         "aime25_en.jsonl (t-2)")
    assert summary.rejections == {"decontamination": 1}
    gate = ["data", "contamination", "--benchmark", str(aime), "--check"]
    assert main(gate[:2] + [str(tmp_path / "o.jsonl")] + gate[2:]) == 0
    # the sample as an earlier (unchecked) run would have kept it: the gate finds the trace
    unchecked = {k: v for k, v in rejected.items() if k not in ("reason", "reply")}
    (tmp_path / "old.jsonl").write_text(json.dumps(unchecked) + "\n")
    assert main(gate[:2] + [str(tmp_path / "old.jsonl")] + gate[2:]) == 1
    assert "1 of 1 documents share a 13-gram" in capsys.readouterr().out


def test_a_reply_cut_while_reasoning_says_so_and_a_reply_without_choices_fails_clearly(teacher, tmp_path):
    """`axk1 serve` thinks by default: a task that does not think spent max_tokens reasoning, content null, and was
    rejected as "format: empty reply" though the teacher said finish_reason length. A 200 with `choices: []` was an
    IndexError."""
    url, _ = teacher
    docs = docs_file(tmp_path, [{"id": "cut", "text": "THINKCUT. " + GOOD}, {"id": "none", "text": "NOCHOICES. " + GOOD}])
    summary = run_synth(docs, load_synth_recipe(synth_recipe(tmp_path, "max_tokens = 64")), url, tmp_path / "o.jsonl",
                        progress=False)
    assert summary.generated == 1 and summary.failed == 1 and summary.rejections == {"length": 1}
    (cut,) = jsonl_rows(tmp_path / "o.rejected.jsonl")
    assert cut["reason"].startswith("length: the teacher spent [teacher] max_tokens (64) reasoning and was cut before "
                                    "its reply: raise max_tokens, or turn its thinking off")
    (failed,) = jsonl_rows(tmp_path / "o.failed.jsonl")
    assert failed["reason"].startswith("ValueError: the teacher's reply has no choices")
    assert cut_reply("Question: Where is", None, "length", 64) == ("length: the teacher hit [teacher] max_tokens (64) "
                                                                  "(the reply is cut)")
