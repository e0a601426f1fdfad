"""Passkey lengths are the whole prompt's tokens (chat template, lead text, needle and question included), counted
with the model's tokenizer where the backend can count, and a length that cannot fit the model's context with
--max-tokens is refused before any request. Before: the filler was sized at 4 characters a token with the rest on
top, so `--passkey-lengths 1900` sent a 3,055-token prompt to a 2,048-token model, which was refused, recorded as
unanswered, and the run told to rerun, which failed the same way for ever."""

import json
import re
import time

import pytest
from transformers import AutoTokenizer

from axk1.eval.tasks.passkey import CHARS_PER_TOKEN
from tests.eval_fake_server import FakeChatServer, fake_server, run_eval_cli, sample_records
from tests.serve_helpers import make_model_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("passkey") / "model")  # axk1-tiny: a 1,024-token context


def test_a_model_folder_gets_prompts_of_the_length_asked_by_transformers_count(folder, tmp_path):
    out = tmp_path / "run"
    assert run_eval_cli("--model", str(folder), "--tasks", "passkey", "--passkey-lengths", "300,900",
                        "--passkey-depths", "0,0.5", "--passkey-trials", "1", "--max-tokens", "4",
                        "--temperature", "0", "--device", "cpu", "-o", str(out)) == 0
    tokenizer = AutoTokenizer.from_pretrained(folder)  # the peer library's count of the same chat
    records = sample_records(out)
    assert len(records) == 4
    for r in records:
        n = len(tokenizer.apply_chat_template(r["messages"], add_generation_prompt=True, tokenize=True,
                                              return_dict=True)["input_ids"])
        length = r["meta"]["length"]
        assert length - 8 <= n <= length, (r["problem_id"], n)
        assert r["meta"]["prompt_tokens"] == n and r["status"] != "too_long"
    info = json.loads((out / "results.json").read_text())["tasks"]["passkey"]["info"]
    assert info["sizing"] == "the whole prompt's tokens, counted by the backend"


def test_a_length_past_the_context_is_refused_before_any_request_naming_the_longest_that_fits(folder, tmp_path):
    with pytest.raises(ValueError, match=r"--passkey-lengths 1022: a prompt of that many tokens and --max-tokens 4 "
                                         r"exceed the model's context of 1024 tokens; the longest length that fits "
                                         r"is 1020"):
        run_eval_cli("--model", str(folder), "--tasks", "passkey", "--passkey-lengths", "256,1022",
                     "--max-tokens", "4", "--device", "cpu", "-o", str(tmp_path / "run"))
    assert not (tmp_path / "run" / "completions.jsonl").exists()  # nothing was asked
    with pytest.raises(ValueError, match=r"--max-tokens 32768 leaves no room for any prompt: lower it"):
        run_eval_cli("--model", str(folder), "--tasks", "passkey", "--device", "cpu", "-o", str(tmp_path / "run"))


def _count(messages) -> int:
    return 10 + len(messages[-1]["content"]) // 3  # the fake server's tokenizer: 3 characters a token


class _Tokenizing(FakeChatServer):
    """A vLLM-like server: /tokenize counts a chat (and says the context), /v1/models lists max_model_len."""

    models = {"data": [{"id": "m", "max_model_len": 2000}]}
    counted = 0

    def do_POST(self):
        if self.path != "/tokenize":
            return super().do_POST()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).counted += 1
        self._send(200, {"count": _count(body["messages"]), "max_model_len": 2000, "tokens": []})


def test_a_server_with_tokenize_counts_the_prompts_and_one_without_gets_the_estimate(tmp_path):
    with fake_server(_Tokenizing) as (base, handler):
        out = tmp_path / "run"
        run_eval_cli("--model", f"openai:{base}", "--tasks", "passkey", "--passkey-lengths", "500,1500",
                     "--passkey-depths", "0,1", "--passkey-trials", "1", "--max-tokens", "8", "-o", str(out))
        assert len(handler.bodies) == 4
        for body in handler.bodies:
            n = _count(body["messages"])
            assert any(length - 3 <= n <= length for length in (500, 1500)), n
        assert handler.counted <= 4 * 6  # a few counts a prompt
        calls = handler.calls
        with pytest.raises(ValueError, match="the longest length that fits is 1992"):
            run_eval_cli("--model", f"openai:{base}", "--tasks", "passkey", "--passkey-lengths", "1995",
                         "--max-tokens", "8", "-o", str(tmp_path / "again"))
        assert handler.calls == calls  # refused before any chat request
    with fake_server() as (base, handler):  # no /tokenize, no max_model_len: 4 characters a token in all
        out = tmp_path / "estimate"
        run_eval_cli("--model", f"openai:{base}", "--tasks", "passkey", "--passkey-lengths", "500",
                     "--passkey-depths", "0", "--passkey-trials", "1", "--max-tokens", "8", "-o", str(out))
        [body] = handler.bodies
        assert abs(len(body["messages"][-1]["content"]) - 500 * CHARS_PER_TOKEN) < 100


def test_the_transformers_backend_knows_the_context_and_refuses_what_does_not_fit(folder, tmp_path):
    """`hf:FOLDER` had no context: `--passkey-lengths 1900` on a 1,024-token model ran 1,900-token prompts through
    transformers (which generates past the positions a model learned) and graded them as measurements. Now its
    context is the folder's (an axk1 config's context_length, YaRN's extended length included), a passkey length
    past it is refused before any request, and a prompt that does not fit is graded too_long, unasked."""
    from axk1.config import ModelConfig
    from axk1.presets import yarn_block
    from axk1.eval.backends import TOO_LONG, HFBackend, Request, Sampling, prompt_fills_context

    with pytest.raises(ValueError, match=r"--passkey-lengths 1022: a prompt of that many tokens and --max-tokens 4 "
                                         r"exceed the model's context of 1024 tokens; the longest length that fits "
                                         r"is 1020"):
        run_eval_cli("--model", f"hf:{folder}", "--tasks", "passkey", "--passkey-lengths", "256,1022",
                     "--max-tokens", "4", "--device", "cpu", "-o", str(tmp_path / "run"))
    assert not (tmp_path / "run" / "completions.jsonl").exists()

    backend = HFBackend(str(folder))
    assert backend.context_length() == 1024
    long_chat = [{"role": "user", "content": "The grass is green. " * 400}]
    short_chat = [{"role": "user", "content": "Hi"}]
    cut, ok = backend.generate([Request(long_chat), Request(short_chat)], Sampling(temperature=0, max_tokens=4))
    assert cut.finish_reason == TOO_LONG and cut.text == "" and cut.n_tokens == 0
    assert cut.error.startswith("prompt has ") and cut.error.endswith("tokens; the model's context is 1024")
    assert prompt_fills_context(cut.error)  # the report's advice is then not "lower --max-tokens"
    assert ok.finish_reason != TOO_LONG and ok.n_tokens

    tiny = ModelConfig.from_preset("axk1-tiny")
    yarn = make_model_folder(tmp_path / "yarn", config=tiny.replace(
        rope_scaling=yarn_block(4.0, tiny.max_position_embeddings)))
    assert HFBackend(str(yarn)).context_length() == 4 * tiny.max_position_embeddings == 4096


def test_a_length_below_the_prompts_fixed_text_is_refused_naming_the_smallest_that_holds_it(folder, tmp_path):
    """`--passkey-lengths 10` ran 212-token prompts (the chat template, lead, needle and question alone) labelled
    and graded as length 10, without a word. Now such a length is refused before any request, naming the smallest
    length that holds the fixed text: that length runs (a prompt of exactly it, no filler), one less is refused.
    Through a server without /tokenize the estimate (4 characters a token) decides it the same way."""
    import re

    one_cell = ("--passkey-depths", "0", "--passkey-trials", "1", "--max-tokens", "4", "--temperature", "0")
    with pytest.raises(ValueError, match=r"--passkey-lengths 10: shorter than the prompt's fixed text alone \(chat "
                                         r"template, lead, needle and question: \d+ tokens, counted by the backend\)"
                       ) as refused:
        run_eval_cli("--model", str(folder), "--tasks", "passkey", "--passkey-lengths", "10,300", *one_cell,
                     "--device", "cpu", "-o", str(tmp_path / "ten"))
    assert not (tmp_path / "ten" / "completions.jsonl").exists()
    need = int(re.search(r"the smallest length that holds it is (\d+)$", str(refused.value)).group(1))
    assert 100 < need < 300
    with pytest.raises(ValueError, match=f"--passkey-lengths {need - 1}: .* is {need}$"):
        run_eval_cli("--model", str(folder), "--tasks", "passkey", "--passkey-lengths", str(need - 1), *one_cell,
                     "--device", "cpu", "-o", str(tmp_path / "one-less"))
    run_eval_cli("--model", str(folder), "--tasks", "passkey", "--passkey-lengths", str(need), *one_cell,
                 "--device", "cpu", "-o", str(tmp_path / "exact"))
    [record] = sample_records(tmp_path / "exact")
    assert record["meta"]["prompt_tokens"] == need and record["status"] != "too_long"

    with fake_server() as (base, handler):  # no /tokenize: the estimate
        with pytest.raises(ValueError, match=r"--passkey-lengths 10: .*estimated at 4 characters a token.* is (\d+)$"):
            run_eval_cli("--model", f"openai:{base}", "--tasks", "passkey", "--passkey-lengths", "10", *one_cell,
                         "-o", str(tmp_path / "estimate"))
        assert handler.calls == 0


class _Flaky(_Tokenizing):
    """/tokenize as _Tokenizing, but answering `fail(n)` (a status, or a delay in seconds) for the n-th count."""

    fail = staticmethod(lambda n: None)

    def do_POST(self):
        if self.path != "/tokenize":
            return super().do_POST()
        type(self).asked = getattr(type(self), "asked", 0) + 1
        how = self.fail(self.asked)
        if isinstance(how, float):
            time.sleep(how)
        elif how is not None:
            self.rfile.read(int(self.headers["Content-Length"]))
            return self._send(how, {"error": {"message": f"HTTP {how}"}})
        super().do_POST()


def test_a_count_that_fails_midway_falls_back_to_the_estimate_not_a_traceback():
    """Only the first count was checked for None: a later one (a /tokenize that timed out) was used as a number,
    and `axk1 eval` ended in `TypeError: unsupported operand type(s) for -: 'NoneType' and 'int'`."""
    from axk1.eval.tasks.passkey import content, sized_content

    calls = []

    def count(messages):
        calls.append(1)
        return 60 if len(calls) == 1 else None

    text, tokens = sized_content(512, 0.5, 12345, count)
    assert tokens is None and text == sized_content(512, 0.5, 12345, None)[0]
    assert len(text) == 512 * CHARS_PER_TOKEN and text.startswith(content(0, 0.5, 12345)[:50])


def test_one_run_sizes_every_prompt_one_way_when_counting_fails_after_some():
    """Counted prompts and estimated ones (a tokenizer of 2.5 characters a token against the estimate's 4: the same
    label, 1.6x apart) ran in one grid under one label, and info.sizing described only the last. Now a count that
    fails after some prompts sizes them all by the estimate again, and says so."""
    from axk1.eval.tasks.passkey import PasskeyOptions, PasskeyTask

    state = {"calls": 0}

    def count(messages):  # the server goes away after 3 counts
        state["calls"] += 1
        return None if state["calls"] > 3 else 30 + len(messages[0]["content"]) * 2 // 5

    options = PasskeyOptions(passkey_lengths=(512,), passkey_depths=(0.5,), passkey_trials=4, passkey_count=count)
    data = PasskeyTask().load(options)
    assert {len(p.messages[0]["content"]) for p in data.problems} == {512 * CHARS_PER_TOKEN}
    assert all(p.meta["prompt_tokens"] is None for p in data.problems)
    assert data.info["sizing"] == ("estimated at 4 characters a token for every prompt (the backend's count failed "
                                   "after 1 of 4 prompts)")


def test_a_server_whose_tokenize_fails_midway_runs_on_with_one_sizing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)  # the retries' back-off
    Server = type("Server", (_Flaky,), {"fail": staticmethod(lambda n: 503 if n > 9 else None)})
    with fake_server(Server) as (base, handler):
        out = tmp_path / "run"
        assert run_eval_cli("--model", f"openai:{base}", "--tasks", "passkey", "--passkey-lengths", "500",
                            "--passkey-depths", "0,1", "--passkey-trials", "2", "--max-tokens", "8",
                            "-o", str(out)) == 0
    assert "every prompt is sized by the estimate" in capsys.readouterr().err
    info = json.loads((out / "results.json").read_text())["tasks"]["passkey"]["info"]
    assert re.fullmatch(r"estimated at 4 characters a token for every prompt \(the backend's count failed after "
                        r"[1-3] of 4 prompts\)", info["sizing"])
    records = sample_records(out)
    assert len(records) == 4 and all(r["meta"]["prompt_tokens"] is None for r in records)
    assert {len(r["messages"][-1]["content"]) for r in records} == {500 * CHARS_PER_TOKEN}


def test_tokenize_is_given_up_on_for_a_missing_route_only(monkeypatch):
    """One failed /tokenize (a timeout, a 5xx) made the backend never count again; now a 5xx is retried as a chat
    request is, a timeout fails that count only, and only a 404 or 405 (no such route) is final."""
    from axk1.eval.openai_backend import OpenAIBackend

    monkeypatch.setattr("axk1.eval.retries.time.sleep", lambda s: None)
    chat = [{"role": "user", "content": "x" * 300}]
    for status, counted_after in [(503, True), (502, True), (404, False), (405, False)]:
        Server = type("Server", (_Flaky,), {"fail": staticmethod(lambda n, s=status: s if n == 1 else None)})
        with fake_server(Server) as (base, handler):
            backend = OpenAIBackend(base, model="m", timeout_s=30)
            first = backend.prompt_tokens(chat, None)
            assert (first == _count(chat)) is counted_after, status  # a 5xx: asked again at once, and counted
            assert (backend.prompt_tokens(chat, None) == _count(chat)) is counted_after, status
            assert handler.asked == (3 if counted_after else 1), status  # a missing route: never asked again
    monkeypatch.undo()  # (that patch is time.sleep itself: the server's delay below needs it)
    Server = type("Server", (_Flaky,), {"fail": staticmethod(lambda n: 1.2 if n == 1 else None)})
    with fake_server(Server) as (base, handler):
        backend = OpenAIBackend(base, model="m", timeout_s=0.5)
        assert backend.prompt_tokens(chat, None) is None  # timed out: not asked again for this prompt
        assert backend.prompt_tokens(chat, None) == _count(chat)  # but the next one is
