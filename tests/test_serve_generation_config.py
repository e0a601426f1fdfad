"""A model folder's generation_config.json, read by `axk1 serve` as vLLM reads it: its sampling values are the
defaults of requests that leave them out, and its eos_token_id ends replies."""

import functools
import json
import logging

import pytest
import torch
from fastapi.testclient import TestClient

import axk1
from axk1.infer.chat import ChatCodec
from axk1.infer.cli import build_server
from axk1.infer.generate import generate
from axk1.infer.generation_config import FILE, GenerationDefaults, sampling_params
from axk1.infer.protocol import ChatRequest, CompletionRequest, parse_request
from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import make_model_folder


def test_the_file_gives_defaults_and_a_bad_value_is_named(tmp_path, caplog):
    assert GenerationDefaults.from_folder(tmp_path, 512) == GenerationDefaults()  # no file, no defaults
    (tmp_path / FILE).write_text(json.dumps({"temperature": 0.6, "top_p": 0.95, "top_k": 20, "eos_token_id": [2, 7],
                                             "do_sample": True, "repetition_penalty": 1.05}))
    with caplog.at_level(logging.WARNING):
        defaults = GenerationDefaults.from_folder(tmp_path, 512)
    assert defaults == GenerationDefaults(0.6, 0.95, 20, frozenset({2, 7}), do_sample=True)
    assert "repetition_penalty" in caplog.text  # vLLM would apply it; this server says it does not
    (tmp_path / FILE).write_text(json.dumps({"eos_token_id": 5}))
    assert GenerationDefaults.from_folder(tmp_path, 512).eos_ids == {5}
    (tmp_path / FILE).write_text(json.dumps({"temperature": 2.5}))  # more than a request may send, as vLLM allows
    assert GenerationDefaults.from_folder(tmp_path, 512).temperature == 2.5
    for bad, named in (({"temperature": "hot"}, "temperature"), ({"top_p": 0}, "top_p"), ({"top_k": 1.5}, "top_k"),
                       ({"temperature": float("inf")}, "temperature"), ({"temperature": -1}, "temperature"),
                       ({"eos_token_id": [1, 512]}, "eos_token_id"), ({"eos_token_id": True}, "eos_token_id"),
                       ([], "JSON object")):
        (tmp_path / FILE).write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=named) as e:
            GenerationDefaults.from_folder(tmp_path, 512)
        assert FILE in str(e.value)
    (tmp_path / FILE).write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        GenerationDefaults.from_folder(tmp_path, 512)


def test_a_request_field_wins_and_a_left_out_or_null_one_takes_the_default():
    defaults = GenerationDefaults(temperature=0.6, top_k=20, eos_ids=frozenset({9}))

    def params(**fields):
        request = parse_request(CompletionRequest, {"model": "m", "prompt": "x", **fields})
        return sampling_params(request, 8, defaults, frozenset({2}), 3)

    p = params()
    assert (p.temperature, p.top_p, p.top_k, p.stop_ids) == (0.6, 1.0, 20, {2, 3, 9})
    p = params(temperature=1.0, top_k=None, top_p=0.5, stop_token_ids=[7])
    assert (p.temperature, p.top_p, p.top_k, p.stop_ids) == (1.0, 0.5, 20, {2, 3, 7, 9})
    p = params(top_k=-1, ignore_eos=True)
    assert (p.top_k, p.stop_ids) == (0, frozenset())
    # null where OpenAI documents "... or null" (the official client sends it for an argument passed as None): a
    # 400 "Input should be a valid number" before; now not sent, so the folder's default
    p = params(temperature=None, top_p=None, n=None, stream=None, ignore_eos=None, echo=None)
    assert (p.temperature, p.top_p, p.stop_ids) == (0.6, 1.0, {2, 3, 9})
    chat = parse_request(ChatRequest, {"model": "m", "messages": [{"role": "user", "content": "x"}],
                                       "temperature": None, "n": None, "stream": None})
    assert (chat.temperature, chat.n, chat.stream) == (1.0, 1, False) and "temperature" not in chat.model_fields_set


def test_the_server_samples_with_the_folders_defaults_and_stops_at_its_eos(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    codec = ChatCodec.from_folder(folder)
    prompt = codec.encode("Seoul")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the engine thread takes this count: the same reductions as the reference
    try:
        greedy = generate(axk1.load_model(folder), [prompt], max_new_tokens=12, stop_ids=[]).tokens[0]
        end = next(i for i in range(3, 12) if greedy[i] not in greedy[:i] and greedy[i] > 3)
        # the folder's end of turn is a token the model emits mid-reply; its default temperature is greedy
        (folder / FILE).write_text(json.dumps({"temperature": 0, "eos_token_id": [greedy[end]]}))
        app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=2), served_name="m"))
        try:
            with TestClient(app) as client:
                def complete(**fields):
                    r = client.post("/v1/completions", json={"model": "m", "prompt": "Seoul", "max_tokens": 12,
                                                             **fields})
                    assert r.status_code == 200, r.text
                    return r.json()

                cut = complete()
                assert cut["choices"][0]["finish_reason"] == "stop" and cut["usage"]["completion_tokens"] == end
                assert cut["choices"][0]["text"] == codec.decode(greedy[:end])
                whole = complete(ignore_eos=True)  # the request's own fields win; temperature is still the folder's
                assert whole["choices"][0]["text"] == codec.decode(greedy)
                sampled = [complete(ignore_eos=True, temperature=1.0, seed=s)["choices"][0]["text"] for s in range(3)]
                assert len(set(sampled)) > 1  # a temperature the request sends is used
        finally:
            engine.stop()
    finally:
        torch.set_num_threads(threads)


def test_max_new_tokens_is_the_length_of_a_chat_reply_that_sets_no_limit(tmp_path):
    """vLLM takes generation_config.json's max_new_tokens as the default max_tokens of a chat request that sends
    none (a default, not a ceiling: a request's own limit wins); /v1/completions keeps OpenAI's 16, the field's
    default in vLLM too, unless the request sends `max_tokens: null`. Before, a chat without a limit ran to the end of the context."""
    folder = make_model_folder(tmp_path / "m")
    (folder / FILE).write_text(json.dumps({"max_new_tokens": 7}))
    codec = ChatCodec.from_folder(folder)
    short, long = [{"role": "user", "content": "hi"}], [{"role": "user", "content": "hi " * 40}]
    prompt_len = {id(m): len(codec.encode(codec.render(m), add_special_tokens=False)) for m in (short, long)}
    context = prompt_len[id(long)] + 4  # the long prompt leaves 4 tokens, the short one more than 7
    assert prompt_len[id(short)] + 20 <= context
    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=2, max_model_len=context), served_name="m"))
    try:
        with TestClient(app) as client:
            def used(path, **fields):
                body = {"model": "m", "ignore_eos": True, "temperature": 0, **fields}
                r = client.post(f"/v1/{path}", json=body)
                assert r.status_code == 200, r.text
                return r.json()["usage"]["completion_tokens"]

            assert used("chat/completions", messages=short) == 7
            assert used("chat/completions", messages=short, max_tokens=9) == 9  # the request's own limit wins
            assert used("chat/completions", messages=short, max_completion_tokens=3) == 3
            assert used("chat/completions", messages=long) == 4  # within what the context leaves
            assert used("completions", prompt="Seoul") == 16
            # an explicit null is no limit: the file's value, as vLLM reads it (it gave 16)
            assert used("completions", prompt="Seoul", max_tokens=None) == 7
    finally:
        engine.stop()
    assert GenerationDefaults.from_folder(folder, 512).max_tokens == 7
    for bad in (0, 2.5, "7", True):
        (folder / FILE).write_text(json.dumps({"max_new_tokens": bad}))
        with pytest.raises(ValueError, match="max_new_tokens") as e:
            GenerationDefaults.from_folder(folder, 512)
        assert FILE in str(e.value)


def test_every_chat_sampler_of_a_folder_stops_where_serve_does(tmp_path):
    """`axk1 eval` on a folder and RL's held-out evaluation stopped at config.json's eos only: with A.X K1's ids
    (config.json's eos is not the turn's `<|im_end|>`) every reply ran to its token limit. They now take the stop
    ids `axk1 serve` takes: config.json's, generation_config.json's and the template's end of turn."""
    from axk1.eval.backends import NativeBackend
    from axk1.infer.generation_config import reply_stop_ids

    config = axk1.ModelConfig.from_preset("axk1-tiny")
    config.eos_token_id = 1  # `<|endoftext|>`: the turn's end `<|im_end|>` is 2 in the test tokenizer
    folder = make_model_folder(tmp_path / "m", config=config)
    (folder / FILE).write_text(json.dumps({"eos_token_id": [7]}))
    assert reply_stop_ids(folder, [1], config.vocab_size, 2) == [1, 2, 7]
    assert reply_stop_ids(folder, [1], config.vocab_size, None) == [1, 7]
    assert NativeBackend(folder).stop_ids == [1, 2, 7]


def test_axk1_generate_stops_where_serve_does(tmp_path, monkeypatch, capsys):
    """`axk1 generate` stopped at config.json's and generation_config.json's eos only: with config.json naming
    another id than the turn's `<|im_end|>` (as A.X K1's does) it ran past the end of the turn to the limit."""
    import importlib

    from axk1.cli import main

    generate_module = importlib.import_module("axk1.infer.generate")  # the package's `generate` is the function

    config = axk1.ModelConfig.from_preset("axk1-tiny")
    config.eos_token_id = 1
    folder = make_model_folder(tmp_path / "m", config=config)
    seen = {}
    real = generate_module.generate

    @functools.wraps(real)  # the CLI's flags read generate()'s defaults through its signature
    def spy(model, prompts, **kw):
        seen["stop_ids"] = kw["stop_ids"]
        return real(model, prompts, **kw)

    monkeypatch.setattr(generate_module, "generate", spy)
    assert main(["generate", str(folder), "--prompt", "hello", "--max-new-tokens", "2"]) == 0
    assert seen["stop_ids"] == [1, 2]  # config.json's eos and the tokenizer's <|im_end|>


def test_the_native_eval_backend_gives_each_prompt_its_own_verdict(tmp_path, monkeypatch):
    """One long prompt in a batch of 8 set every reply's token limit to what its context left (a 145-token prompt
    cut to 3 tokens and graded truncated beside a 509-token one). Each prompt now gets all of --max-tokens, and
    one whose prompt and --max-tokens exceed the context is refused too_long, as a server refuses it (it was cut to
    the room left and graded as a measurement)."""
    import importlib

    from axk1.eval.backends import TOO_LONG, NativeBackend, Request, Sampling, prompt_fills_context

    generate_module = importlib.import_module("axk1.infer.generate")
    folder = make_model_folder(tmp_path / "m")
    backend = NativeBackend(folder)
    context = backend.model.config.max_position_embeddings
    budgets = []
    real = generate_module.generate
    monkeypatch.setattr(generate_module, "generate",
                        lambda model, prompts, **kw: budgets.append((len(prompts), kw["max_new_tokens"]))
                        or real(model, prompts, **kw))
    def prompt_len(text):
        return len(backend.tokenizer.encode(backend.prompt([{"role": "user", "content": text}], None).text,
                                            add_special_tokens=False).ids)

    long_text = "hi"
    while prompt_len(long_text + " hi") < context - 3:  # 3 tokens of room or a few more: less than 8
        long_text += " hi"
    out = backend.generate([Request([{"role": "user", "content": "hi"}]),
                            Request([{"role": "user", "content": long_text}])], Sampling(temperature=0, max_tokens=8))
    assert len(out) == 2 and budgets == [(1, 8)]  # the short prompt alone, with all 8 tokens
    room = context - prompt_len(long_text)
    assert out[0].finish_reason != TOO_LONG and out[1].finish_reason == TOO_LONG and out[1].n_tokens == 0
    assert out[1].error.endswith(f"(ask for at most {room} new tokens)") and not prompt_fills_context(out[1].error)
