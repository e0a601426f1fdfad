"""The OpenAI-compatible backend and `axk1 eval` against a server that misbehaves (a standard-library HTTP server
in a thread whose replies each test chooses), and AIME data files that are broken."""

import argparse
import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from axk1.eval.backends import Request, Sampling
from axk1.eval.openai_backend import BadReply, OpenAIBackend
from axk1.eval.cli import add_eval_parser
from axk1.eval.tasks import TaskOptions, get_task
from tests.eval_fake_server import OK, aime_file, fake_server, run_eval_cli, sample_records
from tests.serve_helpers import JsonHandler


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


# ---- think mode ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("message,thinking,status", [
    ({"content": "Let me guess \\boxed{70} hmm, keep thinking"}, True, "no_answer"),  # thinking never ended
    ({"content": "Let me guess \\boxed{5}</think>So \\boxed{70}"}, True, "correct"),
    ({"content": "Let me guess \\boxed{70} hmm"}, None, "correct"),  # no think block was opened
    ({"content": "\\boxed{70}"}, False, "correct"),
    ({"reasoning_content": "maybe \\boxed{5}", "content": "\\boxed{70}"}, True, "correct"),  # server split it
    ({"reasoning_content": "", "content": "\\boxed{70}"}, True, "correct"),  # an empty think, split by the server
    ({"reasoning_content": "maybe \\boxed{70}", "content": None}, True, "no_answer"),  # never left its think block
])
def test_think_mode_replies_follow_the_reasoning_rule(message, thinking, status):
    from axk1.eval.math_grader import grade_integer_answer

    completion = OpenAIBackend._parse({"choices": [{"message": message, "finish_reason": "stop"}]}, thinking is True)
    assert grade_integer_answer(completion.text, 70, completion.finish_reason, completion.think_open).status == status


def test_think_mode_end_to_end(server, tmp_path):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {
        "content": "Let me guess \\boxed{70} hmm, keep thinking"}, "finish_reason": "stop"}]}, 0))
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "--thinking", "on",
                 "-o", str(out)) == 1  # no reply closed a think block: a misconfigured run (test_eval_probe_server)
    assert {r["status"] for r in sample_records(out)} == {"no_answer"}


# ---- malformed replies ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reply,reason", [
    ({"choices": None}, "without choices"), ([1, 2], "without choices"), ({"choices": []}, "without choices"),
    ({"choices": [{"message": "str"}]}, "not an object"),
    ({"choices": [{"message": {"content": 5}}]}, "content is int"),
    ({"choices": [{"message": {"content": [1]}}]}, "content part 0 is 'int'"),
    # synth's teacher refuses these too (json_text.reply_text): an image part is no text, whatever its "text" says
    ({"choices": [{"message": {"content": [{"type": "image_url", "text": "70"}]}}]}, "part 0 is 'image_url'"),
    ({"choices": [{"message": {"content": "a\ud800b"}}]}, "content holds a lone surrogate"),
    ({"choices": [{"message": {"content": "", "reasoning_content": "\udfff"}}]}, "reasoning_content holds a lone"),
    ({"choices": [{"message": {"content": "7"}, "finish_reason": "st\ud800"}]}, "finish_reason holds a lone"),
])
def test_malformed_replies_fail_their_sample_with_the_reason(server, reply, reason):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, reply if "bad" in prompt else OK, 0))
    backend = OpenAIBackend(base, model="m", retries=0, concurrency=1)
    good, bad = backend.generate([Request([{"role": "user", "content": "good"}]),
                                  Request([{"role": "user", "content": "bad"}])], Sampling(max_tokens=4))
    assert good.error is None and good.text == "\\boxed{70}"
    assert bad.finish_reason == "error" and reason in bad.error
    with pytest.raises(BadReply, match=reason):
        OpenAIBackend._parse(reply)


def test_a_reply_holding_a_lone_surrogate_fails_its_sample_not_the_run(server, tmp_path, monkeypatch):
    """Valid JSON ("\\ud800", as json.dumps sends it) but not text: it reached completions.jsonl's UTF-8 writer and
    ended the whole eval with a codec error (exit 2), no sample named and nothing kept."""
    base, handler = server
    bad = {"choices": [{"message": {"content": "The answer is \ud800 \\boxed{70}"}, "finish_reason": "stop"}]}
    handler.route = staticmethod(lambda prompt: (200, bad if prompt.startswith("Problem 1") else OK, 0))
    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)  # its retries, at once
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"),
                        "--concurrency", "1", "-o", str(out)) == 1
    records = {r["problem_id"]: r for r in sample_records(out)}
    assert records["p0"]["status"] == records["p2"]["status"] == "correct"
    assert records["p1"]["status"] == "request_failed" and "content holds a lone surrogate" in records["p1"]["error"]


def test_content_parts_are_read_as_text():
    reply = {"choices": [{"message": {"content": [{"type": "text", "text": "\\boxed{"}, {"type": "text",
                                                                                          "text": "70}"}]}}]}
    assert OpenAIBackend._parse(reply).text == "\\boxed{70}"


@pytest.mark.parametrize("models,match", [({"data": [{"name": "x"}]}, 'without an "id"'),
                                          ({"data": None}, "did not answer"), ([], "did not answer"),
                                          ({"data": []}, "lists no model")])
def test_a_bad_models_list_says_to_pass_the_model_name(server, models, match):
    base, handler = server
    handler.models = models
    with pytest.raises(ValueError, match=match) as e:
        OpenAIBackend(base)
    assert "--served-model" in str(e.value)


def test_extra_body_must_be_an_object(server, tmp_path):
    base, _ = server
    with pytest.raises(ValueError, match="--extra-body must be a JSON object"):
        run_eval_cli("--model", f"openai:{base}", "--extra-body", "[1]", "-o", str(tmp_path / "x"))
    with pytest.raises(ValueError, match="extra body must be a JSON object"):
        OpenAIBackend(base, model="m", extra_body=[1])


# ---- 4xx: one sample, or the whole run when the server refuses everything -------------------------------------------
def test_a_4xx_for_one_problem_fails_that_sample_only(server, tmp_path):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (400, {"error": {"message": "context length exceeded"}}, 0)
                                 if prompt.startswith("Problem 1") else (200, OK, 0))
    out = tmp_path / "run"
    # the sample is too long for the context: the run exits 1, its score no measurement
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"),
                        "--concurrency", "1", "-o", str(out)) == 1
    records = {r["problem_id"]: r for r in sample_records(out)}
    assert records["p0"]["status"] == records["p2"]["status"] == "correct"
    assert records["p1"]["status"] == "too_long" and "context length exceeded" in records["p1"]["error"]
    assert "HTTP 400" in records["p1"]["error"]


PROMPT_ITSELF = "the prompt itself is longer than the model's context, whatever --max-tokens: serve a longer context"
LOWER = "lower --max-tokens, or serve a longer context"


@pytest.mark.parametrize("message,remedy", [
    # axk1 serve's and vLLM's refusals of a prompt that alone fills the context: lowering --max-tokens cannot help
    ("This model's maximum context length is 512 tokens, but the prompt has 626 tokens. Shorten the prompt.",
     PROMPT_ITSELF),
    ("This model's maximum context length is 512 tokens. However, you requested 1650 tokens (626 in the messages, "
     "1024 in the completion). Please reduce the length of the messages or completion.", PROMPT_ITSELF),
    # ... and of a prompt that fits with a shorter completion (axk1 serve's, vLLM's; a wording that says neither)
    ("This model's maximum context length is 512 tokens. However, you requested 1450 tokens (426 in the prompt, 1024 "
     "for the completion). Ask for at most 86 tokens (max_tokens).", LOWER),
    ("This model's maximum context length is 512 tokens. However, you requested 1450 tokens (426 in the messages, "
     "1024 in the completion).", LOWER),
    ("context_length_exceeded", LOWER),
])
def test_context_length_400s_first_do_not_stop_the_run(server, tmp_path, capsys, message, remedy):
    """A passkey run whose longest lengths came first: the server's context-length 400s on the first three requests
    were taken for a wrong URL, key or model and stopped the run, the shorter lengths never sent. They fail their
    own samples (too_long, with the server's reason); the run goes on. The same request is refused on every run, so
    the run is not called unanswered and a rerun is not advised (it was: "Run the same command again", for ever).
    Where the prompt alone is longer than the context, the advice says so (it said "lower --max-tokens", which
    cannot help)."""
    base, handler = server
    long = {"Problem 0", "Problem 1", "Problem 2"}
    handler.route = staticmethod(lambda prompt: (400, {"error": {"message": message}}, 0)
                                 if prompt[:9] in long else (200, OK, 0))
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl", 5),
                        "--concurrency", "1", "-o", str(out)) == 1  # ran to the end; its score no measurement
    records = sorted(sample_records(out), key=lambda r: r["problem_id"])
    assert [r["status"] for r in records] == ["too_long"] * 3 + ["correct"] * 2
    assert message[:40] in records[0]["error"]
    err = capsys.readouterr().err
    assert "3/5 samples too long for the model's context" in err and "A rerun is refused the same way" in err
    assert "Run the same command again" not in err
    # the remedy is the task's: an AIME problem cannot be shortened (it advised passkey's --passkey-lengths)
    assert f"(aime25: {remedy})" in err and "--passkey-lengths" not in err
    assert f"refused on every run; {remedy}" in (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())["tasks"]["aime25"]
    assert results["too_long"] == 3 and results["unanswered"] == 0
    assert results["too_long_prompt"] == (3 if remedy == PROMPT_ITSELF else 0)


def test_a_4xx_on_every_request_stops_the_run_with_a_clear_message(server, tmp_path):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (404, {"error": {"message": "model 'x' does not exist"}}, 0))
    with pytest.raises(ValueError, match=r"rejected the first 3 requests \(HTTP 404\).*--served-model"):
        run_eval_cli("--model", f"openai:{base}", "--served-model", "x", "--aime-data",
              aime_file(tmp_path / "a.jsonl", 40), "--concurrency", "2", "-o", str(tmp_path / "run"))
    assert handler.calls < 40  # stopped early, the queued requests were not sent


# ---- nothing answered; timeouts -----------------------------------------------------------------------------------
def test_a_run_with_no_answer_at_all_exits_non_zero_and_keeps_its_samples(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)  # the retries' back-off
    out = tmp_path / "run"
    rc = run_eval_cli("--model", "openai:http://127.0.0.1:9/v1", "--served-model", "m", "--aime-data",
               aime_file(tmp_path / "a.jsonl", 2), "-o", str(out))
    assert rc == 1
    assert "no request was answered for aime25" in capsys.readouterr().err
    assert [r["status"] for r in sample_records(out)] == ["request_failed"] * 2


def test_request_timeout_fails_the_sample_without_retrying(server, tmp_path):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, OK, 3 if "slow" in prompt else 0))
    backend = OpenAIBackend(base, model="m", timeout_s=0.5, retries=3, concurrency=1)
    [slow] = backend.generate([Request([{"role": "user", "content": "slow"}])], Sampling(max_tokens=4))
    assert slow.finish_reason == "error" and "no reply within 0.5 s" in slow.error and "--request-timeout" in slow.error
    assert handler.calls == 1
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers())
    assert parser.parse_args(["eval", "--request-timeout", "90"]).request_timeout == 90.0
    with pytest.raises(ValueError, match="--request-timeout must be > 0"):
        run_eval_cli("--model", f"openai:{base}", "--request-timeout", "0", "-o", str(tmp_path / "x"))


# ---- AIME data files ----------------------------------------------------------------------------------------------
def _load(source: str):
    return get_task("aime25").load(TaskOptions(data={"aime25": source}))


def test_aime_data_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "problem": "p", "answer": "1"}\n\n{"id": "b", "problem": "p", answer: 2}\n')
    with pytest.raises(ValueError, match=rf"{bad}:3: not a JSON line \(.*\); each line holds one problem as"):
        _load(str(bad))
    bad.write_bytes(b'{"id": "a", "problem": "\xff", "answer": "1"}\n')
    with pytest.raises(ValueError, match=rf"{bad}:1: not UTF-8 text \(byte 24 of the file is 0xff\)"):
        _load(str(bad))
    bad.write_text('{"id": "a", "problem": "p", "answer": "\u00b2"}\n')
    with pytest.raises(ValueError, match=rf"{bad}:1: answer '\u00b2' is not an integer 0-999"):
        _load(str(bad))
    bad.write_text('[1]\n')
    with pytest.raises(ValueError, match=rf"{bad}:1: a JSON list"):
        _load(str(bad))
    bad.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        _load(str(bad))
    with pytest.raises(ValueError, match="not a regular file"):
        _load("/dev/null")


def test_aime_lines_end_at_newlines_only(tmp_path):
    """A problem whose text holds U+2028 or U+0085 (legal unescaped in JSON) was cut there: the reader split its
    text with str.splitlines, so a valid file was refused as broken JSON. Line numbers still count newlines."""
    rows = [{"id": "a", "problem": "p\u2028q\u0085r", "answer": "1"}, {"id": "b", "problem": "s", "answer": "2"}]
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows) + "\n{\"id\": \"c\"", "utf-8")
    with pytest.raises(ValueError, match=rf"{good}:4: "):
        _load(str(good))
    good.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    problems = _load(str(good)).problems
    assert [p.id for p in problems] == ["a", "b"] and problems[0].messages[0]["content"].startswith("p\u2028q\u0085r")


def test_duplicate_ids_are_refused_at_load_naming_both_lines(tmp_path):
    bad = tmp_path / "dup.jsonl"
    rows = [{"id": "x", "problem": "p", "answer": "1"}, {"id": "y", "problem": "q", "answer": "2"},
            {"id": "x", "problem": "r", "answer": "3"}]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match=rf"id 'x' appears twice \({bad}:1 and {bad}:3\)"):
        _load(str(bad))


@pytest.mark.parametrize("source", ["out/data/missing.jsonl", "missing.jsonl", "./missing", "data/x.parquet"])
def test_a_missing_file_is_not_taken_for_a_dataset_id(tmp_path, monkeypatch, source):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("axk1.eval.tasks.aime._hub_rows", lambda *a: pytest.fail("went to the hub"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _load(source)


def test_duplicate_ids_from_any_task_are_refused_before_generation():
    from axk1.eval.runner import _check_unique_ids
    from axk1.eval.tasks.base import Problem

    _check_unique_ids("t", [Problem("a", [], "1"), Problem("b", [], "1")])
    with pytest.raises(ValueError, match="problems 1 and 3 share the id 'a'"):
        _check_unique_ids("t", [Problem("a", [], "1"), Problem("b", [], "1"), Problem("a", [], "2")])


def test_humaneval_prompts_that_are_not_python_are_refused_at_load(tmp_path):
    bad = tmp_path / "he.jsonl"
    bad.write_text(json.dumps({"task_id": "X/0", "prompt": "def f(:\n", "entry_point": "f", "test": "",
                               "canonical_solution": ""}) + "\n")
    with pytest.raises(ValueError, match="problem 'X/0': its prompt is not a Python function stub"):
        get_task("humaneval").load(TaskOptions(data={"humaneval": str(bad)}))


class _RawServer(JsonHandler):
    """Answers "bad" prompts with raw bytes that are no HTTP reply a client can finish reading."""

    protocol_version = "HTTP/1.1"
    raw = b""

    def do_GET(self):
        self._send(200, {"data": [{"id": "m"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if "bad" not in body["messages"][-1]["content"]:
            return self._send(200, OK)
        self.wfile.write(self.raw)
        self.close_connection = True


@pytest.mark.parametrize("raw, reason", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"choices\": [", "IncompleteRead"),  # cut mid-body
    (b"GARBAGE\r\n\r\n", "BadStatusLine"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 41\r\n\r\n{\"choices\":[{\"message\":{\"content\":\"\xff\"}}]}", "decode"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"[" * 100_000 + b"]" * 100_000, "Recursion"),
])
def test_a_reply_that_cannot_be_read_fails_its_sample_not_the_run(raw, reason):
    """A dropped connection mid-body, a garbled status line, a body that is not UTF-8 or nests past the stack:
    each escaped the backend's handling and ended the whole eval with a traceback, every finished sample lost."""
    class Handler(_RawServer):
        pass

    Handler.raw = raw
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{httpd.server_address[1]}/v1", model="m", retries=0,
                                concurrency=1)
        good, bad = backend.generate([Request([{"role": "user", "content": "good"}]),
                                      Request([{"role": "user", "content": "bad"}])], Sampling(max_tokens=4))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert good.error is None and good.text == "\\boxed{70}"
    assert bad.finish_reason == "error" and reason in bad.error, bad.error


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_temperature_that_is_not_a_number_is_refused(value):
    """`--temperature nan` passed the `< 0` check and went to the server as `"temperature": NaN`, not JSON."""
    with pytest.raises(ValueError, match="finite temperature"):
        Sampling(temperature=value)


def test_aime_rows_without_ids_are_named_as_the_corpus_audit_names_them(tmp_path):
    """An AIME file without ids: eval named its problems "0", "1", ... and `axk1 data contamination` named them
    "line 1", "line 2", ..., so no flag of the audit ever matched a problem (`idx` was read by one only)."""
    from axk1.text.contamination import read_benchmark

    path = tmp_path / "noid.jsonl"
    path.write_text("".join(json.dumps({"problem": f"Problem {i}: find the number of widgets {i}.", "answer": "7"})
                            + "\n" for i in range(3)) + json.dumps({"idx": 9, "problem": "Problem 9: find the number of gadgets 9.", "answer": "1"})
                    + "\n")
    assert [p.id for p in _load(str(path)).problems] == ["line 1", "line 2", "line 3", "9"]
    assert sorted(set(read_benchmark(str(path)).ids)) == ["9", "line 1", "line 2", "line 3"]


def test_an_eval_run_again_reuses_what_the_first_run_got_and_asks_only_for_the_rest(server, tmp_path, monkeypatch):
    """Nothing was kept until a task had generated and been graded, and a rerun overwrote it: a crash an hour into
    a run lost the hour. Completions are kept as they arrive; a rerun asks only for the missing and failed ones."""
    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)
    base, handler = server
    handler.route = staticmethod(lambda prompt: (503, {"error": "down"}, 0) if "Problem 2" in prompt else (200, OK, 0))
    out, data = tmp_path / "run", aime_file(tmp_path / "a.jsonl", 3)
    args = ("--model", f"openai:{base}", "--served-model", "m", "--aime-data", data, "-o", str(out), "-n", "2",
            "--temperature", "0.6")
    run_eval_cli(*args)
    assert [r["status"] for r in sample_records(out)] == ["correct"] * 4 + ["request_failed"] * 2
    handler.calls = 0
    handler.route = staticmethod(lambda prompt: (200, OK, 0))  # the server is back
    run_eval_cli(*args)
    assert handler.calls == 2  # the two failed samples, asked again; the four answered ones reused
    assert [r["status"] for r in sample_records(out)] == ["correct"] * 6
    assert json.loads((out / "config.json").read_text())["reused_completions"] == 4


def test_ctrl_c_ends_an_eval_at_once_with_what_came_kept(server, tmp_path):
    """Ctrl-C waited for the requests in flight (the thread pool joins them, up to --request-timeout: an hour by
    default); the reply that had come was lost. Now the command ends at once and the answered sample is kept."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, OK, 60 if "Problem 1" in prompt else 0))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "axk1", "eval", "--model", f"openai:{base}", "--served-model", "m",
                             "--aime-data", aime_file(tmp_path / "a.jsonl", 2), "-o", str(out), "--concurrency", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                            # as a terminal's Ctrl-C finds it: an xdist worker ignores SIGINT, and a child that
                            # inherits that ignores it too (Python keeps an ignored SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while handler.calls < 2 and time.monotonic() < deadline:  # both requests sent: one answered, one hanging
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, err = proc.communicate(timeout=50)
    # well under the hanging request's 60 s (the old wait), with room for a loaded machine (12.5 s seen)
    assert time.monotonic() - start < 40 and "interrupted" in err, err[-2000:]
    kept = (out / "completions.jsonl").read_text().splitlines()
    assert len(kept) == 1 and "boxed{70}" in kept[0]  # the answered request, kept as it arrived
