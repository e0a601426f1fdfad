"""`axk1 serve` as a drop-in for vLLM's server, through the official openai client where it applies: the fields
current vLLM clients send or read (`reasoning`, thinking switches, `return_token_ids`, `stop_reason`, `cache_salt`,
an omitted `model`, any int64 seed) and vLLM's /tokenize, /detokenize, /version and /ping."""

import json
import urllib.request

import openai
import pytest

from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import ServerProcess, make_model_folder, post_json

HI = [{"role": "user", "content": "Two plus two?"}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("vllm") / "axk1-tiny-chat")


@pytest.fixture(scope="module")
def server(folder):
    with ServerProcess(folder) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", timeout=60, max_retries=0)


def test_reasoning_comes_back_under_vllms_name_and_deepseeks(client, folder):
    """Current vLLM sends `reasoning` (it dropped `reasoning_content`): an app migrating from it read nothing."""
    kwargs = dict(model=folder.name, messages=HI, max_completion_tokens=6, temperature=0,
                  extra_body={"chat_template_kwargs": {"enable_thinking": True}, "ignore_eos": True})
    message = client.chat.completions.create(**kwargs).choices[0].message
    assert message.reasoning_content and message.model_extra["reasoning"] == message.reasoning_content
    streamed = {"reasoning": "", "reasoning_content": ""}
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        for name in streamed:
            streamed[name] += (chunk.choices[0].delta.model_extra or {}).get(name) or ""
    assert streamed == {"reasoning": message.reasoning_content, "reasoning_content": message.reasoning_content}


@pytest.mark.parametrize("field", ["enable_thinking", "thinking"])
def test_a_top_level_thinking_switch_is_refused_naming_chat_template_kwargs(client, folder, field):
    """Qwen's / DashScope's spelling was ignored: the model thought although told not to."""
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=folder.name, messages=HI, max_tokens=2, extra_body={field: False})
    assert e.value.body["param"] == field and "chat_template_kwargs" in e.value.message
    assert "enable_thinking" in e.value.message


def test_enable_thinking_null_is_unset_so_the_model_thinks(client, folder):
    """The template tests `enable_thinking is defined and not enable_thinking`: a client forwarding an optional
    setting as None switched thinking off, where leaving it out thinks."""
    kwargs = dict(model=folder.name, messages=HI, max_completion_tokens=3, temperature=0,
                  extra_body={"ignore_eos": True})
    omitted = client.chat.completions.create(**kwargs)
    null = client.chat.completions.create(**{**kwargs, "extra_body": {
        "ignore_eos": True, "chat_template_kwargs": {"enable_thinking": None}}})
    off = client.chat.completions.create(**{**kwargs, "extra_body": {
        "ignore_eos": True, "chat_template_kwargs": {"enable_thinking": False}}})
    assert omitted.choices[0].message.reasoning_content is not None and off.choices[0].message.reasoning_content is None
    assert null.usage.prompt_tokens == omitted.usage.prompt_tokens != off.usage.prompt_tokens
    assert null.choices[0].message == omitted.choices[0].message


def _tokenizer(folder):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


def test_return_token_ids_on_chats_gives_the_prompt_and_reply_ids_streamed_or_not(client, folder):
    """vLLM's return_token_ids (agent-RL clients train on the ids sampled) was ignored without a word."""
    kwargs = dict(model=folder.name, messages=HI, max_completion_tokens=8, temperature=0, n=2,
                  extra_body={"chat_template_kwargs": {"enable_thinking": False}, "ignore_eos": True,
                              "return_token_ids": True})
    whole = client.chat.completions.create(**kwargs)
    prompt = whole.model_extra["prompt_token_ids"]
    assert len(prompt) == whole.usage.prompt_tokens and _tokenizer(folder).decode(prompt, skip_special_tokens=False)
    for c in whole.choices:
        ids = c.model_extra["token_ids"]
        assert len(ids) == 8 and _tokenizer(folder).decode(ids) == c.message.content
    streamed, prompts = {0: [], 1: []}, []
    for chunk in client.chat.completions.create(**kwargs, stream=True):
        if "prompt_token_ids" in chunk.model_extra:
            prompts.append(chunk.model_extra["prompt_token_ids"])
        for c in chunk.choices:
            streamed[c.index] += c.model_extra.get("token_ids") or []
    assert prompts == [prompt, prompt]  # the role chunks
    assert streamed == {c.index: c.model_extra["token_ids"] for c in whole.choices}
    plain = client.chat.completions.create(**{**kwargs, "extra_body": {"ignore_eos": True}})
    assert "prompt_token_ids" not in plain.model_extra and "token_ids" not in plain.choices[0].model_extra


def test_return_token_ids_on_completions_gives_each_choice_its_prompt(client, folder):
    kwargs = dict(model=folder.name, prompt=["Seoul", "Two plus two"], max_tokens=6, temperature=0, n=2,
                  extra_body={"ignore_eos": True, "return_token_ids": True})
    whole = client.completions.create(**kwargs)
    for c in whole.choices:
        assert c.model_extra["prompt_token_ids"] == _tokenizer(folder).encode(kwargs["prompt"][c.index // 2]).ids
        assert len(c.model_extra["token_ids"]) == 6 and _tokenizer(folder).decode(c.model_extra["token_ids"]) == c.text
    streamed = {}
    for chunk in client.completions.create(**kwargs, stream=True):
        for c in chunk.choices:
            if c.index not in streamed:  # its first chunk carries its prompt
                streamed[c.index] = {"prompt_token_ids": c.model_extra["prompt_token_ids"], "ids": []}
            streamed[c.index]["ids"] += c.model_extra["token_ids"]
    assert streamed == {c.index: {"prompt_token_ids": c.model_extra["prompt_token_ids"],
                                  "ids": c.model_extra["token_ids"]} for c in whole.choices}


def test_cache_salt_is_refused_as_the_prefix_cache_is_shared(client, folder):
    """vLLM's cache_salt keeps tenants' cached prompts apart; accepted and ignored, it promised isolation."""
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=folder.name, messages=HI, max_tokens=2,
                                       extra_body={"cache_salt": "s3cret"})
    assert e.value.body["param"] == "cache_salt" and "prefix cache" in e.value.message


def test_stop_reason_names_the_stop_string_or_stop_token_id_that_ended_a_choice(client, folder):
    """vLLM's stop_reason was missing: a client could not tell which of its stops ended the reply."""
    kwargs = dict(model=folder.name, prompt="Seoul", max_tokens=12, temperature=0,
                  extra_body={"ignore_eos": True, "return_token_ids": True})
    whole = client.completions.create(**kwargs).choices[0]
    assert whole.finish_reason == "length" and whole.model_extra["stop_reason"] is None
    text, ids = whole.text, whole.model_extra["token_ids"]
    cases = [({"stop": [text[8:10], text[4:7]]}, text[4:7]),
             ({"extra_body": {**kwargs["extra_body"], "stop_token_ids": [ids[3]]}}, ids[3])]
    for fields, expected in cases:
        choice = client.completions.create(**{**kwargs, **fields}).choices[0]
        last = list(client.completions.create(**{**kwargs, **fields}, stream=True))[-1].choices[0]
        assert choice.finish_reason == last.finish_reason == "stop"
        assert choice.model_extra["stop_reason"] == last.model_extra["stop_reason"] == expected
    chat = client.chat.completions.create(model=folder.name, messages=HI, max_tokens=3, temperature=0)
    assert chat.choices[0].model_extra["stop_reason"] is None


def _post(server, route, body, expect=200):
    status, data = post_json(server.base + route, body)
    assert status == expect, data
    return data


def test_model_may_be_left_out_and_seed_is_any_int64(server, folder):
    """vLLM and OpenAI take both: a body without `model` was 'Field required', `seed: -1` out of range."""

    def post(route, body):
        return _post(server, route, body)

    chat = post("/v1/chat/completions", {"messages": HI, "max_tokens": 3, "seed": -1})
    assert chat["model"] == folder.name and chat["usage"]["completion_tokens"] >= 1
    seeded = [post("/v1/completions", {"prompt": "Seoul", "max_tokens": 6, "seed": seed, "n": 2, "ignore_eos": True})
              for seed in (-2**63, -2**63)]
    assert seeded[0]["choices"] == seeded[1]["choices"] and seeded[0]["model"] == folder.name


def test_tokenize_and_detokenize_as_vllm_has_them(server, client, folder):
    """vLLM's /tokenize, /detokenize, /version and /ping were 404s."""
    tokenizer = _tokenizer(folder)
    got = _post(server, "/tokenize", {"model": folder.name, "prompt": "Seoul is"})
    assert got == {"count": len(tokenizer.encode("Seoul is").ids), "max_model_len": 1024,
                   "tokens": tokenizer.encode("Seoul is").ids, "token_strs": None}
    kwargs = {"chat_template_kwargs": {"enable_thinking": False}}
    chat = _post(server, "/tokenize", {"messages": HI, **kwargs, "return_token_strs": True})
    reply = client.chat.completions.create(model=folder.name, messages=HI, max_tokens=1, extra_body=kwargs)
    assert chat["count"] == reply.usage.prompt_tokens == len(chat["tokens"]) == len(chat["token_strs"])
    assert chat["token_strs"] == [tokenizer.id_to_token(i) for i in chat["tokens"]]
    text = _post(server, "/detokenize", {"model": folder.name, "tokens": chat["tokens"]})["prompt"]
    assert text.startswith("<|im_start|>user\nTwo plus two?<|im_end|>") and text.endswith("</think>")
    assert _post(server, "/version", {}, expect=405) and _post(server, "/ping", {}) is None
    with urllib.request.urlopen(server.base + "/version", timeout=10) as r:
        assert json.loads(r.read())["version"]
    errors = [("/tokenize", {"prompt": 5}, 400, "prompt"), ("/detokenize", {"tokens": [10**6]}, 400, "tokens[0]"),
              ("/tokenize", {"model": "gpt-4o", "prompt": "x"}, 404, "model"),
              ("/tokenize", {"messages": HI, "add_generation_prompt": False}, 400, "add_generation_prompt")]
    for route, body, status, param in errors:
        assert _post(server, route, body, expect=status)["error"]["param"] == param


def test_tokenize_takes_the_api_key_and_version_and_ping_do_not(folder):
    from fastapi.testclient import TestClient

    from axk1.infer.cli import build_server

    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=2), served_name="tiny"), api_key="k3y")
    try:
        with TestClient(app) as http:
            for route, body in (("/tokenize", {"prompt": "x"}), ("/detokenize", {"tokens": [5]})):
                assert http.post(route, json=body).status_code == 401
                assert http.post(route, json=body, headers={"Authorization": "Bearer k3y"}).status_code == 200
            assert http.get("/version").status_code == http.get("/ping").status_code == 200
    finally:
        engine.stop()


def test_tokenize_builds_and_encodes_its_reply_off_the_event_loop(folder, monkeypatch):
    """For a prompt of 800K tokens the token strings and the 6 MB of JSON were made on the event loop: /health and
    every stream waited ~0.5 s. Where they are made, not how long they take: timings are noise on a loaded machine.
    (The JSON is also encoded in pieces, each a short hold of the GIL: tokenize_routes._json_list.)"""
    import asyncio

    from fastapi.testclient import TestClient

    from axk1.infer.cli import build_server

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:  # a worker thread
            return False

    where: list[tuple[str, bool]] = []

    class Vocabulary:  # the tokenizer, noting where it names the tokens
        def __init__(self, tokenizer):
            self.tokenizer = tokenizer

        def __getattr__(self, name):
            return getattr(self.tokenizer, name)

        def id_to_token(self, i):
            where.append(("token_strs", on_loop()))
            return self.tokenizer.id_to_token(i)

    dumps = json.dumps

    def noting_dumps(obj, *args, **kwargs):
        if isinstance(obj, list) or isinstance(obj, dict) and "token_strs" in obj:  # the reply, or pieces of it
            where.append(("json", on_loop()))
        return dumps(obj, *args, **kwargs)

    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=1)))
    app.state.axk1.codec.tokenizer = Vocabulary(app.state.axk1.codec.tokenizer)
    monkeypatch.setattr(json, "dumps", noting_dumps)
    try:
        with TestClient(app) as http:
            reply = http.post("/tokenize", json={"prompt": "Seoul is " * 50, "return_token_strs": True})
    finally:
        engine.stop()
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    assert len(reply.json()["token_strs"]) == reply.json()["count"] > 50
    assert ("token_strs", False) in where and ("json", False) in where
    assert not any(loop for _, loop in where), where


def test_ping_takes_get_head_and_post_and_its_405_names_all_three(folder):
    """Two stacked routes: a PUT's 405 said `Allow: POST` though GET worked, and HEAD (a load balancer's probe,
    which /health takes) was refused."""
    from fastapi.testclient import TestClient

    from axk1.infer.cli import build_server

    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=1)))
    try:
        with TestClient(app) as http:
            assert [http.request(m, "/ping").status_code for m in ("GET", "HEAD", "POST")] == [200] * 3
            assert http.head("/ping").content == b""
            refused = http.put("/ping")
            schema = http.get("/openapi.json").json()
    finally:
        engine.stop()
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, POST"
    assert refused.json()["error"]["message"] == "PUT is not allowed on /ping: use GET, HEAD, POST"
    assert list(schema["paths"]["/ping"]) == ["get"]


def test_an_assistant_refusal_part_is_rendered_as_its_text(server, client, folder):
    """The openai client's assistant message may carry a `refusal` part (a refusal it got back, sent on in the
    history); it was a 400 (messages[1].content[0].type). vLLM renders its text as the message's content."""
    messages = [{"role": "user", "content": "Say something rude."},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "I would rather not."}]},
                {"role": "user", "content": "Then say hi."}]
    reply = client.chat.completions.create(model=folder.name, messages=messages, max_completion_tokens=2)
    assert reply.choices[0].finish_reason in ("length", "stop")
    ids = _post(server, "/tokenize", {"messages": messages})["tokens"]
    prompt = _post(server, "/detokenize", {"tokens": ids})["prompt"]
    assert "<|im_start|>assistant\nI would rather not.<|im_end|>" in prompt, prompt
