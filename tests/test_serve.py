"""`axk1 serve` as a real process on loopback, driven by the official openai client (and raw HTTP for what the
client cannot send). Replies are checked against in-process greedy generation on the same folder."""

import http.client
import json
import threading
import time

import openai
import pytest
import torch

import axk1
from axk1.infer.chat import ChatCodec
from tests.reasoning_reference import split_reasoning_streamed
from axk1.infer.generate import generate
from tests.serve_helpers import ServerProcess, make_model_folder

KEY = "test-key"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("serve") / "axk1-tiny-chat")


@pytest.fixture(scope="module")
def server(folder):
    # the key comes from the environment variable --api-key-env names, as a deployment passes it
    with ServerProcess(folder, "--api-key-env", "AXK1_TEST_SERVE_KEY", "--max-batch", "8",
                       env={"AXK1_TEST_SERVE_KEY": KEY}) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base + "/v1", api_key=KEY, timeout=30, max_retries=0)


@pytest.fixture(scope="module")
def reference(folder):
    """Greedy tokens from axk1.infer.generate on the same weights: what the server must reproduce."""
    model = axk1.load_model(folder, dtype=torch.float32)
    codec = ChatCodec.from_folder(folder)

    def run(ids, max_new_tokens):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the server runs one thread: same reduction order, same argmax
        try:
            return generate(model, [ids], max_new_tokens=max_new_tokens, stop_ids=[2]).tokens[0]
        finally:
            torch.set_num_threads(threads)

    return codec, run


def _raw(server, method, path, body=None, key=KEY, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    h = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def test_models_health_and_api_key(server, client, folder):
    assert [m.id for m in client.models.list().data] == [folder.name]
    status, body = _raw(server, "GET", "/v1/models", key=None)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError) as e:
        openai.OpenAI(base_url=server.base + "/v1", api_key="wrong", max_retries=0).models.list()
    # RFC 9110 (15.5.2): a 401 must say which scheme would pass, so a generic HTTP client knows to send a Bearer
    assert e.value.response.headers.get("www-authenticate") == "Bearer"
    assert _raw(server, "GET", "/health", key=None) == (200, {"status": "ok"})


def test_head_answers_every_get_route_and_a_405_names_both(server):
    """HEAD /v1/models and /metrics were 405s (only /health had a HEAD twin), and PUT /health said "use GET"
    though HEAD worked there: RFC 9110 has a general-purpose server answer HEAD wherever it answers GET."""
    for path, key in (("/health", None), ("/v1/models", KEY), ("/metrics", None), ("/version", None)):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("HEAD", path, headers={"Authorization": f"Bearer {key}"} if key else {})
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b""), path  # the GET's status and headers, no body
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("PUT", "/health")
    r = conn.getresponse()
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"
    assert "use GET, HEAD" in json.loads(r.read())["error"]["message"]
    conn.close()
    spec = _raw(server, "GET", "/openapi.json", key=None)[1]
    assert "head" not in spec["paths"]["/v1/models"] and "get" in spec["paths"]["/v1/models"]


WEBSOCKET = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_a_websocket_upgrade_is_answered_as_http_without_log_noise(server):
    """The server has no WebSocket route. An upgrade request (a probe; OpenAI's Realtime API at /v1/realtime) logged
    two warnings each, one advising to install a WebSocket library; now it is answered as plain HTTP: 401 without
    the key, a 404 naming the routes with it, and nothing in the log."""
    before = server.log.read_text()
    for _ in range(3):
        status, body = _raw(server, "GET", "/v1/realtime", key=None, headers=WEBSOCKET)
        assert status == 401 and body["error"]["code"] == "invalid_api_key", body
    status, body = _raw(server, "GET", "/v1/realtime", headers=WEBSOCKET)
    assert status == 404 and "this server answers" in body["error"]["message"], body
    assert _raw(server, "GET", "/v1/models", headers=WEBSOCKET)[0] == 200
    _raw(server, "GET", "/health", key=None)  # a request after them: their log lines, if any, are written
    added = server.log.read_text()[len(before):]
    assert "upgrade" not in added.lower() and "websocket" not in added.lower(), added


@pytest.mark.parametrize("thinking", [True, False])
def test_chat_matches_greedy_generation_and_splits_reasoning(client, folder, reference, thinking):
    codec, run = reference
    messages = [{"role": "user", "content": "서울은 어떤 도시인가요?"}]
    r = client.chat.completions.create(model=folder.name, messages=messages, max_tokens=12, temperature=0,
                                       extra_body={"chat_template_kwargs": {"enable_thinking": thinking}})
    ids = codec.encode(codec.render(messages, enable_thinking=thinking), add_special_tokens=False)
    expected = codec.decode(run(ids, 12))
    message = r.choices[0].message
    assert r.usage.prompt_tokens == len(ids)
    assert 1 <= r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    if thinking:
        reasoning, content = split_reasoning_streamed(expected)
        assert message.reasoning_content == reasoning
        assert (message.content or "") == content
    else:
        assert message.reasoning_content is None
        assert message.content == expected


def test_chat_stream_equals_non_stream_with_usage(client, folder):
    kwargs = dict(model=folder.name, messages=[{"role": "user", "content": "Two plus two?"}], max_tokens=10,
                  temperature=0)
    whole = client.chat.completions.create(**kwargs).choices[0].message
    reasoning, content, usage, finish = "", "", None, None
    for chunk in client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert reasoning == (whole.reasoning_content or "") and content == (whole.content or "")
    assert usage is not None and usage.completion_tokens >= 1 and finish in ("stop", "length")


def test_completions_text_and_token_ids_match_reference(client, folder, reference):
    codec, run = reference
    prompt = "The capital of Korea"
    r = client.completions.create(model=folder.name, prompt=prompt, max_tokens=8, temperature=0)
    tokens = run(codec.encode(prompt), 8)
    assert r.choices[0].text == codec.decode(tokens)
    assert r.usage.completion_tokens == len(tokens)
    by_ids = client.completions.create(model=folder.name, prompt=codec.encode(prompt), max_tokens=8, temperature=0)
    assert by_ids.choices[0].text == r.choices[0].text


def test_stop_string_n_and_seed(client, folder):
    base = dict(model=folder.name, prompt="Seoul is", max_tokens=12, temperature=0, extra_body={"ignore_eos": True})
    text = client.completions.create(**base).choices[0].text
    stop = text[4:7]
    cut = client.completions.create(**base, stop=[stop]).choices[0]
    assert cut.finish_reason == "stop" and cut.text == text[: text.find(stop)]
    sampled = dict(model=folder.name, prompt="Seoul is", max_tokens=10, temperature=1.0, n=3, seed=7)
    first = [c.text for c in client.completions.create(**sampled).choices]
    again = [c.text for c in client.completions.create(**sampled).choices]
    assert len(first) == 3 and first == again  # a seed makes sampling repeatable, batch or not
    assert len(set(first)) > 1  # each choice samples its own stream


def test_bad_requests_get_openai_errors_and_the_server_lives(server, client, folder):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="no-such-model", prompt="hi", max_tokens=2)
    assert "does not exist" in e.value.message
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.completions.create(model=folder.name, prompt=[5] * 1100, max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="Ask for at most"):
        client.completions.create(model=folder.name, prompt="hi", max_tokens=5000)
    with pytest.raises(openai.BadRequestError, match="out of range"):
        client.completions.create(model=folder.name, prompt=[1, 99999], max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model=folder.name, prompt="hi", max_tokens=2, temperature=-1)
    status, body = _raw(server, "POST", "/v1/chat/completions", body=b'{"model": "x", "messages": [')
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = _raw(server, "POST", "/v1/chat/completions", body=json.dumps({"model": folder.name}))
    assert status == 400 and body["error"]["param"] == "messages"
    status, body = _raw(server, "GET", "/v1/nothing-here")
    assert status == 404 and "error" in body
    assert client.completions.create(model=folder.name, prompt="hi", max_tokens=2,
                                    extra_body={"ignore_eos": True}).usage.completion_tokens == 2


def test_concurrent_requests_share_decode_steps(server, client, folder):
    before = server.metrics()
    results = []

    def ask(i):
        r = client.completions.create(model=folder.name, prompt=[1, 10 + i, 20 + i], max_tokens=16,
                                      temperature=0, extra_body={"ignore_eos": True})
        results.append(r.usage.completion_tokens)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    after = server.metrics()
    steps = after["axk1_decode_steps_total"] - before["axk1_decode_steps_total"]
    rows = after["axk1_decode_rows_total"] - before["axk1_decode_rows_total"]
    assert results == [16] * 6
    assert rows == 6 * 15  # every token after the first comes from a decode step
    assert steps < rows  # ... and steps were shared: fewer steps than rows
    assert after["axk1_generation_tokens_total"] - before["axk1_generation_tokens_total"] == 96


def test_client_disconnect_mid_stream_frees_its_row(server, folder):
    start = server.metrics()
    before = start["axk1_requests_aborted_total"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    body = json.dumps({"model": folder.name, "prompt": "Seoul", "max_tokens": 900, "stream": True,
                       "ignore_eos": True, "temperature": 0})
    conn.request("POST", "/v1/completions", body=body,
                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.readline().startswith(b"data: ")  # streaming has begun
    conn.sock.close()
    conn.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        m = server.metrics()
        if m["axk1_num_requests_running"] == 0 and m["axk1_requests_aborted_total"] > before:
            break
        time.sleep(0.1)
    assert m["axk1_num_requests_running"] == 0 and m["axk1_requests_aborted_total"] == before + 1
    assert m["axk1_generation_tokens_total"] - start["axk1_generation_tokens_total"] < 900  # it did not run to the end
    assert _raw(server, "GET", "/health", key=None)[0] == 200


def test_token_id_only_folder(tmp_path):
    folder = make_model_folder(tmp_path / "ids-only", with_tokenizer=False)
    with ServerProcess(folder) as s:
        client = openai.OpenAI(base_url=s.base + "/v1", api_key="unused", timeout=30, max_retries=0)
        r = client.completions.create(model=folder.name, prompt=[1, 5, 9], max_tokens=4, temperature=0,
                                      extra_body={"ignore_eos": True})
        assert len(r.choices[0].text.split()) == 4 and all(t.isdigit() for t in r.choices[0].text.split())
        with pytest.raises(openai.BadRequestError, match="token ids"):
            client.completions.create(model=folder.name, prompt="text", max_tokens=4)
        # there is no text to search: the stop "5" was matched inside the ids written as decimals, and cut one
        # short ("130 21" for 130 215), where vLLM refuses stop strings without a tokenizer
        with pytest.raises(openai.BadRequestError, match="stop_token_ids") as e:
            client.completions.create(model=folder.name, prompt=[1, 5, 9], max_tokens=4, stop=["5"])
        assert e.value.body["param"] == "stop"
        with pytest.raises(openai.BadRequestError, match="cannot chat"):
            client.chat.completions.create(model=folder.name, messages=[{"role": "user", "content": "hi"}])


def _wait_for(server, condition, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        m = server.metrics()
        if condition(m) or time.monotonic() > deadline:
            return m
        time.sleep(0.05)


def test_client_disconnect_without_streaming_frees_its_rows(server, folder):
    """A non-streaming reply is written only at the end, so nothing sends to a client that left: the server must
    watch for it and abort, or the rows generate to max_tokens for nobody."""
    start = server.metrics()
    body = json.dumps({"model": folder.name, "prompt": "Seoul", "max_tokens": 900, "ignore_eos": True,
                       "temperature": 0})
    conns = []
    for _ in range(4):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", "/v1/completions", body=body,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
        conns.append(conn)
    m = _wait_for(server, lambda m: m["axk1_num_requests_running"] == 4)
    assert m["axk1_num_requests_running"] == 4  # all four are generating
    for conn in conns:
        conn.sock.close()
        conn.close()
    m = _wait_for(server, lambda m: m["axk1_num_requests_running"] == 0
                  and m["axk1_requests_aborted_total"] == start["axk1_requests_aborted_total"] + 4)
    assert m["axk1_num_requests_running"] == 0
    assert m["axk1_requests_aborted_total"] == start["axk1_requests_aborted_total"] + 4
    assert m["axk1_generation_tokens_total"] - start["axk1_generation_tokens_total"] < 4 * 900
    gone = 'axk1_requests_total{endpoint="/v1/completions",status="499"}'
    assert m.get(gone, 0) - start.get(gone, 0) == 4  # answered "client closed request", not counted as served
    assert _raw(server, "GET", "/health", key=None)[0] == 200


def test_stop_strings_are_bounded_and_health_stays_responsive(server, client, folder):
    """1,000 stop strings of 1,000 characters are refused at once; the most the schema allows (16 of 256) costs
    little per token, so /health answers while such a request generates."""
    with pytest.raises(openai.BadRequestError, match="at most 16"):  # refused by the schema, before any token
        client.completions.create(model=folder.name, prompt="Seoul", max_tokens=4, stop=["x" * 1000] * 1000)
    stops = [("ab" * 128)[: 256 - i] for i in range(16)]  # never met; each a worst case for partial matching
    done = {}

    def generate():
        t = time.monotonic()
        r = client.completions.create(model=folder.name, prompt="Seoul", max_tokens=300, temperature=0, stop=stops,
                                      extra_body={"ignore_eos": True})
        done["tokens"], done["seconds"] = r.usage.completion_tokens, time.monotonic() - t

    worker = threading.Thread(target=generate)
    worker.start()
    latencies = []
    while worker.is_alive():
        t = time.monotonic()
        assert _raw(server, "GET", "/health", key=None)[0] == 200
        latencies.append(time.monotonic() - t)
        time.sleep(0.05)
    worker.join()
    assert done["tokens"] == 300 and latencies  # (how many polls fit depends on the machine's speed)
    assert max(latencies) < 1.0, latencies  # ~2 s with 1,000 x 1,000 stop strings before the limits


def test_prompts_that_cannot_fit_are_refused_untokenized_while_others_answer(client, folder):
    """A probe sent 12 completions of ~960 KB at once (under the 1 MiB body limit; 480,001 tokens each against a
    1,024-token context): each was tokenized in full before its 400 (18 s for 6), and a short request waited 50 s
    behind them. Their size alone shows they cannot fit: refused untokenized, `at least` the tokens their bytes
    need (axk1/infer/prompt_bound.py), a chat's as the engine names it (`messages`)."""
    from concurrent.futures import ThreadPoolExecutor

    big = "a b " * 240_000

    def send(chat: bool) -> dict:
        with pytest.raises(openai.BadRequestError) as e:
            if chat:
                client.chat.completions.create(model=folder.name, max_tokens=1,
                                               messages=[{"role": "user", "content": big}])
            else:
                client.completions.create(model=folder.name, prompt=big, max_tokens=1)
        return e.value.body

    with ThreadPoolExecutor(12) as pool:
        errors = list(pool.map(send, [False] * 11 + [True]))
    for error, param in zip(errors, ["prompt"] * 11 + ["messages"]):
        assert error["param"] == param and "but the prompt has at least" in error["message"], error
        assert "maximum context length is 1024 tokens" in error["message"]
    # ignore_eos: a sampled reply may draw its end of text first (seen once in ~10 runs: 1 token, not 2)
    reply = client.completions.create(model=folder.name, prompt="Seoul", max_tokens=2, extra_body={"ignore_eos": True})
    assert reply.usage.completion_tokens == 2
