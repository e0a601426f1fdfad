"""A big non-streaming reply against everyone else: encoded in pieces a worker thread lets the event loop in between
(offload.json_chunks) and sent chunk by chunk as the client takes it (offload.json_reply). Joined, encoded and
written in one piece, a 30 MB reply (n=48 x 1,000 tokens with 20 top logprobs) held the GIL ~0.15 s in the join and
the encoding, then was copied twice on the event loop; /health waited for all of it
(benchmarks/bench_serve_big_reply.py). That the reply is built and encoded off the event loop at all:
tests/test_serve_connections.py."""

import asyncio
import http.client
import json
import urllib.request

import pytest

from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import app_server, make_model_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("big") / "tiny")


def test_a_reply_encoded_in_pieces_is_what_json_dumps_writes(monkeypatch):
    """offload.json_chunks joins the top levels itself (so that the encoder lets the event loop in between) and
    encodes them a chunk at a time: the chunks joined must be JSONResponse's bytes, compact UTF-8, whatever the
    nesting and the chunk size, and NaN refused as there."""
    from axk1.infer import offload

    reply = {"id": "x", "choices": [{"index": i, "text": "서울 \"q\"\n", "logprobs": {
        "tokens": ["a", "\ufffd"], "top_logprobs": [{"a": -0.5, "b": -1.0}, {}], "text_offset": [0, 1]},
        "empty": [], "none": None, "deep": [[[[[1, [2, {"k": [3]}]]]]]]} for i in range(3)], "usage": {}, "n": 1.5}
    for chunk in (1, 64, 1 << 20):
        monkeypatch.setattr(offload, "CHUNK_CHARS", chunk)
        for value in (reply, [], {}, [reply, [reply]], "s", 3):
            for depth in (0, 1, 5, 9):
                chunks = offload.json_chunks(value, depth)
                assert b"".join(chunks) == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(offload.json_chunks(reply)) > 1 if chunk < 1000 else len(offload.json_chunks(reply)) == 1
    with pytest.raises(ValueError):
        offload.json_chunks({"choices": [{"logprob": float("nan")}]})


def test_a_big_reply_is_sent_in_chunks_and_health_answers_between_them(folder, monkeypatch):
    """A big non-streaming reply was joined into one string, encoded and written in one piece: for 30 MB (n=48 x
    1,000 tokens, 20 top logprobs) ~0.15 s of joining and encoding that held the GIL, then the body copied twice on
    the event loop, while /health waited. It now goes in chunks of about offload.CHUNK_CHARS (made small here), one
    ASGI message each, the next produced only once the last is handed over: once the first chunk is out, /health
    is asked (from the server's send, so the next chunk waits for it) and answered with the reply unfinished (the
    old code had handed over the whole body by then); the client gets JSONResponse's bytes under its headers."""
    from axk1.infer import offload
    from axk1.infer.cli import build_server

    monkeypatch.setattr(offload, "CHUNK_CHARS", 4096)
    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=4, max_model_len=64), served_name="tiny"))
    port, sent, health = {}, [], []

    async def watched(scope, receive, send):
        async def sending(message):
            await send(message)
            if scope.get("path") == "/v1/completions" and message["type"] == "http.response.body":
                sent.append(len(message["body"]))
                if len(sent) == 1 and message.get("more_body"):  # the reply's first chunk is out, the rest not
                    url = f"http://127.0.0.1:{port['port']}/health"
                    health.append((await asyncio.to_thread(_health_status, url), sum(sent)))
        await app(scope, receive, sending)

    try:
        with app_server(watched) as port["port"]:
            c = http.client.HTTPConnection("127.0.0.1", port["port"], timeout=60)
            c.request("POST", "/v1/completions", json.dumps({"model": "tiny", "prompt": "a", "max_tokens": 40, "n": 4,
                      "logprobs": 20, "ignore_eos": True}), {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
    finally:
        engine.stop()
    assert r.status == 200 and r.getheader("content-type") == "application/json"
    assert int(r.getheader("content-length")) == len(data) == sum(sent) > 8 * 4096
    reply = json.loads(data)
    assert data == json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(reply["choices"]) == 4 and all(len(c["logprobs"]["tokens"]) == 40 for c in reply["choices"])
    assert len(health) == 1 and health[0][0] == 200 and health[0][1] < len(data)  # answered mid-reply
    assert max(sent) < 2 * 4096  # a chunk: the pieces that reach CHUNK_CHARS (each piece short: no whole body)


def _health_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status
