"""What `axk1 eval` sends an OpenAI-compatible server, and what keys its kept completions: what is sent is what
config.json says, and settings that cannot change a reply do not throw kept ones away."""

import json
import time

import pytest

from tests.eval_fake_server import OK, FakeChatServer, aime_file, fake_server, run_eval_cli


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


@pytest.mark.parametrize("extra,flag", [
    ({"temperature": 0.0}, "--temperature"), ({"max_tokens": 10}, "--max-tokens"), ({"seed": 5}, "--seed"),
    ({"messages": []}, "the task writes the prompt"), ({"model": "x"}, "--served-model"), ({"n": 4}, "-n"),
    ({"chat_template_kwargs": {"enable_thinking": False}}, "--thinking on|off"),
    ({"chat_template_kwargs": [1]}, "must be a JSON object"),
])
def test_extra_body_may_not_override_what_axk1_sets(server, tmp_path, extra, flag):
    """--extra-body replaced the temperature, max_tokens, seed (one seed for every sample) and even the messages of
    every request while config.json and report.md kept the defaults."""
    base, handler = server
    with pytest.raises(ValueError, match="--extra-body") as e:
        run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"),
                     "--extra-body", json.dumps(extra), "-o", str(tmp_path / "run"))
    assert flag in str(e.value)
    assert handler.calls == 0


def test_extra_body_is_merged_and_recorded(server, tmp_path):
    """A nested chat_template_kwargs replaced the enable_thinking that --thinking set; now the two are merged."""
    base, handler = server
    extra = {"chat_template_kwargs": {"thinking": True}, "repetition_penalty": 1.1}
    out = tmp_path / "run"
    run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl", 2), "--thinking", "on",
                 "-n", "2", "--extra-body", json.dumps(extra), "-o", str(out))
    assert len(handler.bodies) == 4
    for body in handler.bodies:
        assert body["chat_template_kwargs"] == {"thinking": True, "enable_thinking": True}
        assert body["repetition_penalty"] == 1.1 and body["temperature"] == 0.6 and body["max_tokens"] == 32768
    assert sorted(b["seed"] for b in handler.bodies) == [0, 0, 1, 1]
    config = json.loads((out / "config.json").read_text())
    assert config["backend"]["extra_body"] == extra and config["sampling"]["thinking"] is True


def test_a_new_concurrency_reuses_kept_completions_and_translations(server, tmp_path):
    """--concurrency was part of the key of every kept completion and translation: changing it sampled and
    translated everything again."""
    from axk1.eval.openai_backend import OpenAIBackend
    from axk1.eval.translate import TranslationCache, translate_all

    base, handler = server
    out, data = tmp_path / "run", aime_file(tmp_path / "a.jsonl", 3)
    args = ("--model", f"openai:{base}", "--aime-data", data, "-o", str(out))
    assert run_eval_cli(*args, "--concurrency", "1") == 0 and handler.calls == 3
    assert run_eval_cli(*args, "--concurrency", "4") == 0 and handler.calls == 3  # all three reused
    config = json.loads((out / "config.json").read_text())
    assert config["reused_completions"] == 3 and config["backend_settings"]["concurrency"] == 4

    # the translator answers in Korean, keeping the numbers: the translation survives the check
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {
        "content": prompt.split("\n\n", 1)[1].replace("Print", "출력하세요:")}, "finish_reason": "stop"}]}, 0))
    cache = TranslationCache(tmp_path / "tr.json")
    for concurrency in (1, 4):
        handler.calls = 0
        translations, _ = translate_all({"q": "Print 1 2 3."}, OpenAIBackend(base, model="m", concurrency=concurrency),
                                        cache)
        assert translations["q"].ok and handler.calls == (1 if concurrency == 1 else 0)


@pytest.mark.parametrize("finish", ["abort", "error"])
def test_a_reply_the_server_aborted_fails_its_sample_after_retries(server, monkeypatch, finish):
    """vLLM and SGLang answer finish_reason "abort" for a request they cut off: it was graded as a complete answer
    and recorded as "stop"."""
    from axk1.eval.backends import Request, Sampling
    from axk1.eval.openai_backend import OpenAIBackend

    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {"content": "\\boxed{70}"},
                                                                     "finish_reason": finish}]}, 0))
    [got] = OpenAIBackend(base, model="m", retries=2).generate([Request([{"role": "user", "content": "q"}])],
                                                               Sampling(max_tokens=4))
    assert got.finish_reason == "error" and f"finish_reason {finish!r}" in got.error and handler.calls == 3


def test_other_finish_reasons_are_recorded_as_sent(server):
    from axk1.eval.backends import Request, Sampling
    from axk1.eval.openai_backend import OpenAIBackend

    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {"content": "x"},
                                                                     "finish_reason": "content_filter"}]}, 0))
    [got] = OpenAIBackend(base, model="m").generate([Request([{"role": "user", "content": "q"}])],
                                                    Sampling(max_tokens=4))
    assert got.error is None and got.finish_reason == "content_filter"


class _Trickle(FakeChatServer):
    """Sends the reply's headers at once, then its body one byte every 0.3 s (about 27 s in all)."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps(OK).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:  # the client gave up
            pass


def test_request_timeout_bounds_the_whole_reply_not_each_read():
    """--request-timeout was a socket timeout per read: a server trickling a byte at a time held one reply ~20 s
    past --request-timeout 3, and the reply was accepted."""
    from axk1.eval.backends import Request, Sampling
    from axk1.eval.openai_backend import OpenAIBackend

    with fake_server(_Trickle) as (base, _):
        start = time.monotonic()
        [got] = OpenAIBackend(base, model="m", timeout_s=1.0).generate([Request([{"role": "user", "content": "q"}])],
                                                                       Sampling(max_tokens=4))
        # that the 1 s deadline cut the reply, not the trickle's end (about 27 s): a bound generous against the
        # deadline, not a speed goal
        assert time.monotonic() - start < 15
    assert got.finish_reason == "error" and "no reply within 1 s" in got.error


@pytest.mark.parametrize("message,warned", [({"content": "\\boxed{70}"}, True),
                                            ({"reasoning_content": "r", "content": "\\boxed{70}"}, False),
                                            ({"content": "r</think>\\boxed{70}"}, False)])
def test_a_thinking_run_warns_when_no_reply_ever_thought(server, tmp_path, capsys, message, warned):
    """A server that ignores enable_thinking answers at once; with --thinking on every such answer reads as
    unfinished thinking, and the run scored 0 ({'no_answer': 30}) without a word."""
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": message, "finish_reason": "stop"}]}, 0))
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl", 2), "--thinking",
                        "on", "-o", str(out)) == (1 if warned else 0)  # warned: a misconfigured run, exit 1
    warnings = json.loads((out / "results.json").read_text())["tasks"]["aime25"]["warnings"]
    err = capsys.readouterr().err
    if warned:
        assert len(warnings) == 1 and "none of the 2 replies ended a think block" in warnings[0]
        assert "enable_thinking" in err and "**warning**" in (out / "report.md").read_text()
    else:
        assert warnings == [] and "warning" not in err
