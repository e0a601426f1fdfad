"""`axk1 eval` against servers a new user meets (found by an outside-in probe): a rate-limited API's 429 with
Retry-After, a server that streams when asked not to, a bare URL given as --model, a task named twice, and
--thinking on against a server whose replies never close a think block."""

import email.utils
import time
import urllib.error
from email.message import Message

import pytest

from axk1.eval.backends import Request, Sampling
from axk1.eval.openai_backend import OpenAIBackend
from axk1.eval.retries import RATE_LIMIT_RETRIES, RETRY_AFTER_CAP_S, TOTAL_WAIT_S, Tries, retry_after_s, retry_delay
from axk1.eval.settings import eval_config
from tests.eval_fake_server import OK, aime_file, fake_server, run_eval_cli, sample_records

ASK = [Request([{"role": "user", "content": "q"}])]


@pytest.fixture
def server():
    with fake_server() as found:
        yield found


def _limited_then_ok(limited: int, retry_after: str):
    """A route answering 429 + Retry-After to the first `limited` requests, then the answer."""
    seen = []

    def route(prompt):
        seen.append(prompt)
        if len(seen) <= limited:
            return 429, {"error": {"message": "rate limited"}}, 0, {"Retry-After": retry_after}
        return 200, OK, 0
    return staticmethod(route)


# ---- 429 and Retry-After -------------------------------------------------------------------------------------------
def test_a_429s_retry_after_is_waited_before_the_next_try(server):
    """The old back-off retried 1 s after the first failure whatever Retry-After asked (2 s here)."""
    base, handler = server
    handler.route = _limited_then_ok(1, "2")
    [got] = OpenAIBackend(base, model="m", concurrency=1).generate(ASK, Sampling(max_tokens=8))
    assert got.error is None and got.text == "\\boxed{70}"
    assert handler.calls == 2
    assert handler.times[1] - handler.times[0] >= 1.9  # a lower bound: the wait the server asked for


def test_a_rate_limited_request_gets_more_tries_than_other_failures(server, capsys):
    """Six 429s then an answer: the old 4 tries (3 retries) failed the sample as "HTTP 429"."""
    base, handler = server
    handler.route = _limited_then_ok(6, "0")
    [got] = OpenAIBackend(base, model="m", concurrency=1, retries=3).generate(ASK, Sampling(max_tokens=8))
    assert got.error is None and got.text == "\\boxed{70}"
    assert handler.calls == 7
    assert capsys.readouterr().err.count("is rate limiting (HTTP 429)") == 1  # said once, not per try


def test_a_5xx_still_gets_the_usual_retries(server, monkeypatch):
    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)
    base, handler = server
    handler.route = staticmethod(lambda prompt: (500, {"error": "down"}, 0))
    [got] = OpenAIBackend(base, model="m", concurrency=1, retries=3).generate(ASK, Sampling(max_tokens=8))
    assert "after 4 tries: HTTP 500" in got.error and handler.calls == 4


def _http_error(code: int, retry_after: str | None) -> urllib.error.HTTPError:
    headers = Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return urllib.error.HTTPError("http://x/v1", code, "busy", headers, None)


def test_retry_after_in_seconds_or_as_a_date_and_capped():
    assert retry_after_s(_http_error(429, "7").headers) == 7.0
    in_20s = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 <= retry_after_s(_http_error(429, in_20s).headers) <= 20
    assert retry_after_s(_http_error(429, "soon").headers) is None
    assert retry_delay(_http_error(503, "5"), 0) == (5.0, None)  # a 503's is honoured too
    assert retry_delay(_http_error(429, "3600"), 0) == (RETRY_AFTER_CAP_S, 3600.0)  # cut to the cap, and said
    assert retry_delay(_http_error(500, "5"), 2) == (4.0, None)  # a 500's is not a rate limit: the back-off


def test_a_capped_wait_is_said_once(server, monkeypatch, capsys):
    waits = []
    monkeypatch.setattr("axk1.eval.retries.time.sleep", waits.append)
    base, handler = server
    handler.route = _limited_then_ok(2, "3600")
    [got] = OpenAIBackend(base, model="m", concurrency=1).generate(ASK, Sampling(max_tokens=8))
    assert got.error is None and waits == [RETRY_AFTER_CAP_S] * 2
    err = capsys.readouterr().err
    assert err.count("asked to wait 3600 s before retrying (Retry-After)") == 1 and "60 s at most" in err


def test_a_request_waits_a_bounded_time_in_all_and_its_error_says_so(server, monkeypatch):
    """A server answering every request 429 with Retry-After: 30 kept each sample 8 x 30 s = 4 minutes before it
    failed, and the error did not say how long it had waited."""
    waits = []
    monkeypatch.setattr("axk1.eval.retries.time.sleep", waits.append)
    base, handler = server
    handler.route = _limited_then_ok(10**6, "30")
    [got] = OpenAIBackend(base, model="m", concurrency=1).generate(ASK, Sampling(max_tokens=8))
    assert sum(waits) == TOTAL_WAIT_S == 120 and waits == [30.0] * 4
    assert handler.calls == 5
    assert f"after 5 tries and {TOTAL_WAIT_S:g} s of waiting" in got.error and "HTTP 429" in got.error


def test_the_last_wait_is_cut_to_what_the_budget_has_left(monkeypatch):
    """Without a Retry-After, a 429's back-off (1, 2, 4 ... 30 s) keeps its tries; only the wait past the budget is
    cut."""
    waits = []
    monkeypatch.setattr("axk1.eval.retries.time.sleep", waits.append)
    tries = Tries(3)
    while tries.again(_http_error(429, None), lambda delay, asked: None):
        pass
    assert waits == [1, 2, 4, 8, 16, 30, 30, 29] and sum(waits) == TOTAL_WAIT_S
    assert tries.count == RATE_LIMIT_RETRIES + 1


# ---- a streamed reply to a request for one -------------------------------------------------------------------------
def test_requests_say_stream_false(server):
    base, handler = server
    OpenAIBackend(base, model="m", concurrency=1).generate(ASK, Sampling(max_tokens=8))
    assert handler.bodies[0]["stream"] is False


@pytest.mark.parametrize("content_type", ["text/event-stream", "text/plain"])
def test_an_event_stream_reply_is_named_not_a_json_error(server, content_type):
    base, handler = server
    stream = b'data: {"choices": [{"delta": {"content": "7"}}]}\n\ndata: [DONE]\n\n'
    handler.route = staticmethod(lambda prompt: (200, stream, 0, {"Content-Type": content_type}))
    [got] = OpenAIBackend(base, model="m", concurrency=1).generate(ASK, Sampling(max_tokens=8))
    assert "event stream (text/event-stream" in got.error and "JSONDecodeError" not in got.error
    assert handler.calls == 1  # streamed again if asked again: not retried


# ---- flags ---------------------------------------------------------------------------------------------------------
def test_a_bare_url_as_model_suggests_the_openai_prefix(tmp_path):
    with pytest.raises(ValueError, match=r"did you mean openai:http://127\.0\.0\.1:18431/v1\?"):
        run_eval_cli("--model", "http://127.0.0.1:18431/v1", "-o", str(tmp_path / "out"))


def test_a_bare_url_in_a_config_file_is_not_read_as_a_path(tmp_path):
    (tmp_path / "run.toml").write_text('model = "https://api.example.com/v1"\n')
    with pytest.raises(ValueError, match=r"did you mean openai:https://api\.example\.com/v1\?"):
        run_eval_cli("--config", str(tmp_path / "run.toml"), "-o", str(tmp_path / "out"))


def test_a_task_named_twice_runs_once(server, tmp_path):
    assert eval_config({"tasks": "aime25,humaneval,aime25"}).tasks == ["aime25", "humaneval"]
    base, handler = server
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--tasks", "aime25,aime25", "--aime-data",
                        aime_file(tmp_path / "a.jsonl", n=2), "-o", str(out)) == 0
    assert handler.calls == 2 and len(sample_records(out)) == 2


# ---- --thinking on, no think block ever closed ---------------------------------------------------------------------
def test_thinking_on_with_no_closed_think_block_exits_1_naming_the_fix(server, tmp_path, capsys):
    base, handler = server
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {
        "content": "Let me guess \\boxed{70} hmm, keep thinking"}, "finish_reason": "stop"}]}, 0))
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "--thinking",
                        "on", "-o", str(out)) == 1
    assert {r["status"] for r in sample_records(out)} == {"no_answer"}
    assert "axk1 eval: error: aime25: --thinking on, but none of the 3 replies ended a think block" in \
        capsys.readouterr().err


def test_thinking_on_with_some_closed_think_blocks_is_a_measurement(server, tmp_path):
    base, handler = server
    replies = iter(["\\boxed{5}</think>\\boxed{70}", "still thinking", "still thinking"])
    handler.route = staticmethod(lambda prompt: (200, {"choices": [{"message": {
        "content": next(replies)}, "finish_reason": "stop"}]}, 0))
    out = tmp_path / "run"
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "--thinking",
                        "on", "--concurrency", "1", "-o", str(out)) == 0


def test_the_progress_bars_line_is_ended_before_the_scores_in_a_log(server, tmp_path, capsys):
    """With stdout and stderr to one log file, the first task's score line was glued to the progress bar's last
    `\\r`-ended line: the bar's line now ends with a newline where stderr is no terminal."""
    base, _ = server
    assert run_eval_cli("--model", f"openai:{base}", "--aime-data", aime_file(tmp_path / "a.jsonl"), "-o",
                        str(tmp_path / "run")) == 0
    err = capsys.readouterr().err
    assert "aime25: generating" in err and err.endswith("\n")
