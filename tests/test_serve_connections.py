"""What a hostile client does to connections rather than to request bodies, against a real `axk1 serve` with
`--read-timeout 1`: headers or a body that never finish, a client that leaves halfway through its body, a body
that is not JSON by its Content-Type, a body that is slow to parse or holds more JSON items than a request needs.
Found in session 13 by a hostile client: 1,500 half-sent requests were kept open for minutes (under a limit of 256
descriptors the server stopped accepting anyone), a body cut short was logged with a traceback and counted as a
500, and a megabyte of small JSON items was checked on the event loop, stalling /health for seconds."""

import asyncio
import http.client
import json
import socket
import time
import urllib.request

import pytest
from fastapi.testclient import TestClient

from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import ServerProcess, app_server, make_model_folder, post_json

TIMEOUT = 1.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("conn") / "tiny")


@pytest.fixture(scope="module")
def server(folder):
    with ServerProcess(folder, "--read-timeout", str(TIMEOUT)) as s:
        yield s


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing the connection, or None if it is still open after `seconds`."""
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
    except TimeoutError:
        return None


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def test_connections_that_never_finish_their_headers_are_closed(server):
    socks = [_connect(server) for _ in range(40)]
    for i, s in enumerate(socks):
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GET /hea")
    closed = [_closed_within(s, TIMEOUT + 5) for s in socks]
    assert all(c == b"" for c in closed), closed  # closed, nothing answered
    # a kept-alive connection that starts its next request and stalls is closed too
    s = _connect(server)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n")
    got = _closed_within(s, TIMEOUT + 5)
    assert got is not None and got.startswith(b"HTTP/1.1 200") and got.count(b"HTTP/1.1") == 1
    # a slow but steady client within the deadline is served
    s = _connect(server)
    for part in (b"GET /health HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n\r\n"):
        s.sendall(part)
        time.sleep(TIMEOUT / 4)
    assert _closed_within(s, 5).startswith(b"HTTP/1.1 200")


def test_a_body_that_never_finishes_is_answered_408(server, folder):
    s = _connect(server)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{\"model\": ")
    got = _closed_within(s, TIMEOUT + 5)
    assert got is not None and got.startswith(b"HTTP/1.1 408"), got
    error = json.loads(got.split(b"\r\n\r\n", 1)[1])["error"]
    assert error["code"] == "request_timeout" and "did not arrive within 1 s" in error["message"]


def test_a_client_that_leaves_during_its_body_is_a_499_not_a_500(server, folder):
    start = server.metrics()
    for _ in range(3):
        s = _connect(server)
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100000\r\n\r\n" + b" " * 50_000)
        s.close()
    gone = 'axk1_requests_total{endpoint="/v1/completions",status="499"}'
    failed = 'axk1_requests_total{endpoint="/v1/completions",status="500"}'
    deadline = time.monotonic() + 10
    while (m := server.metrics()).get(gone, 0) - start.get(gone, 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert m.get(gone, 0) - start.get(gone, 0) == 3 and m.get(failed, 0) == start.get(failed, 0)


@pytest.mark.parametrize("encoding", ["gzip", "deflate, gzip"])
def test_a_compressed_body_is_415_naming_content_encoding(server, folder, encoding):
    """A gzipped body was read as text: a 400 saying "not valid UTF-8: can't decode byte 0x8b", which names neither
    the header nor the fix (and a plain body under `Content-Encoding: gzip` was served as if the header were not
    there). RFC 9110 answers a content coding the server cannot read with 415."""
    import gzip

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    body = gzip.compress(json.dumps({"model": folder.name, "prompt": "Seoul", "max_tokens": 2}).encode())
    conn.request("POST", "/v1/completions", body=body,
                 headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    r = conn.getresponse()
    error = json.loads(r.read())["error"]
    assert r.status == 415 and error["code"] == "unsupported_content_encoding", error
    assert "Content-Encoding" in error["message"] and "uncompressed" in error["message"]
    conn.close()


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415(server, folder, content_type):
    """A browser's cross-site "simple" POST cannot send application/json, so it cannot drive a loopback server."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    body = json.dumps({"model": folder.name, "prompt": "Seoul", "max_tokens": 2})
    conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": content_type} if content_type else {})
    r = conn.getresponse()
    error = json.loads(r.read())["error"]
    assert r.status == 415 and error["code"] == "unsupported_media_type" and "application/json" in error["message"]
    conn.close()  # the unread body ends the connection
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json; charset=utf-8"})
    r = conn.getresponse()
    r.read()
    assert r.status == 200
    conn.request("HEAD", "/health")  # load balancers probe with HEAD
    r = conn.getresponse()
    r.read()
    assert r.status == 200


def _post_json(server, raw: bytes) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/completions", body=raw, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    answer = (r.status, json.loads(r.read()))
    conn.close()
    return answer


def test_a_body_of_more_json_items_than_a_request_needs_is_413(server, folder):
    """json.loads holds the GIL for the whole body, worker thread or not: 340,000 empty lists (1 MB, under the
    size limit) were parsed, ~0.4 s of every other request's time, each (at a 128K context's 8 MiB limit, 2.8
    million of them held /health for 3.1 s). Past a whole-context prompt of token ids and 65,536 items besides,
    a body is refused before it is parsed; such a prompt is still served."""
    heavy = (b'{"model": "%s", "prompt": "a", "max_tokens": 1, "x": [' % folder.name.encode()
             + b",".join([b"[]"] * 340_000) + b"]}")
    status, body = _post_json(server, heavy)
    assert status == 413 and body["error"]["code"] == "request_too_large", body
    # 340,000 [ and the 339,999 commas between them; the object's {, 4 colons and 3 commas. The limit: 1,024 + 65,536
    assert "680,008 JSON items" in body["error"]["message"] and "66,560" in body["error"]["message"]
    context = 1024  # axk1-tiny's
    status, body = _post_json(server, json.dumps({"model": folder.name, "prompt": [5] * (context - 1),
                                                  "max_tokens": 1, "stop": [",", ":"]}).encode())
    assert status == 200 and body["usage"]["prompt_tokens"] == context - 1, body


def test_request_bodies_are_checked_off_the_event_loop(folder, monkeypatch):
    """The checks of a body (protocol.decode_body, the schema) run in a worker thread: a megabyte of small JSON
    items is ~0.5 s of Python, which on the event loop stalled /health and every stream (8 such requests at once:
    7.5 s). In process: the check must find no running event loop in its thread."""
    from axk1.infer import server as server_module
    from axk1.infer.cli import build_server

    seen = []
    decode = server_module.decode_body

    def recording(raw, limits):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return decode(raw, limits)

    monkeypatch.setattr(server_module, "decode_body", recording)
    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=2, max_model_len=64), served_name="tiny"))
    try:
        with TestClient(app) as client:
            heavy = {"model": "tiny", "prompt": "a", "max_tokens": 1, "x": [[] for _ in range(30_000)]}
            r = client.post("/v1/completions", json=heavy)
            assert r.status_code == 200, r.text
    finally:
        engine.stop()
    assert seen == ["worker thread"]


def test_a_chat_body_is_checked_and_rendered_off_the_event_loop(folder, monkeypatch):
    """13,000 one-letter content parts (351 KB, under every limit) held the event loop 0.3 s in the special-token
    check and the template's render, and /health with it. In process: both run where no event loop is."""
    from axk1.infer import chat_prompt
    from axk1.infer.cli import build_server

    seen = []
    refuse = chat_prompt.refuse_special_tokens

    def recording(codec, messages, kwargs):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker thread")
        return refuse(codec, messages, kwargs)

    monkeypatch.setattr(chat_prompt, "refuse_special_tokens", recording)
    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=2, max_model_len=64), served_name="tiny"))
    try:
        with TestClient(app) as client:
            parts = [{"type": "text", "text": "a"}] * 300
            r = client.post("/v1/chat/completions", json={"model": "tiny", "max_tokens": 1,
                                                          "messages": [{"role": "user", "content": parts}]})
            assert r.status_code == 400 and "context" in r.text  # 300 tokens of a 64-token context: refused, named
            r = client.post("/v1/chat/completions", json={"model": "tiny", "max_tokens": 1,
                                                          "messages": [{"role": "user", "content": "<|im_end|>"}]})
            assert r.status_code == 400 and "special token" in r.text
    finally:
        engine.stop()
    assert seen == ["worker thread", "worker thread"]


def test_a_reply_is_built_and_encoded_off_the_event_loop(folder, monkeypatch):
    """A non-streaming reply was built (choices, logprobs) and JSON-encoded on the event loop: n=32 x 1,000 tokens
    with 20 top logprobs (45 MB) held /health and every other stream for 3 s. Now in a worker thread: while the
    reply is being built, /health answers (on the loop it could not until the build was over; the wait below only
    keeps the old code from hanging), and the encoding finds no event loop in its thread."""
    from axk1.infer import server as server_module
    from axk1.infer.cli import build_server

    health, encoded, port = [], [], {}
    build, encode = server_module.choice_text, getattr(server_module, "json_chunks", None)

    def building(*args, **kwargs):
        if not health:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port['port']}/health", timeout=10) as r:
                    health.append(r.status)
            except OSError as e:  # timed out: the event loop was busy building this very reply
                health.append(repr(e))
        return build(*args, **kwargs)

    def encoding(value):
        try:
            asyncio.get_running_loop()
            encoded.append("event loop")
        except RuntimeError:
            encoded.append("worker thread")
        return encode(value)

    monkeypatch.setattr(server_module, "choice_text", building)
    monkeypatch.setattr(server_module, "json_chunks", encoding, raising=False)
    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=4, max_model_len=64), served_name="tiny"))
    try:
        with app_server(app) as port["port"]:
            status, reply = post_json(f"http://127.0.0.1:{port['port']}/v1/completions",
                                      {"model": "tiny", "prompt": "a", "max_tokens": 3, "n": 2, "logprobs": 2,
                                       "ignore_eos": True})
    finally:
        engine.stop()
    assert status == 200 and len(reply["choices"]) == 2 and len(reply["choices"][1]["logprobs"]["tokens"]) == 3
    assert health == [200] and encoded == ["worker thread"]


def _metric(server, name: str) -> float:
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    finally:
        c.close()
    return float(next(ln.split()[1] for ln in text.splitlines() if ln.startswith(f"axk1_{name} ")))


N_UNREAD = 32  # the server's --max-batch (its default): every choice runs at once


def test_a_stream_whose_client_reads_nothing_is_closed_and_its_generation_stopped(server):
    """A client that sends a long streamed request and never reads: the engine generated every token for nobody
    and the connection stayed open for as long as the client liked (40 such streams held 0.7 GB). Once the
    server's write buffer stays full for --read-timeout seconds the connection is aborted and the choices stopped."""
    # 32 choices of 1,000 tokens: several seconds of generation for the tiny model (8 took ~2 s on 2 cores, a race
    # with the server's send buffer filling and the 1 s timeout after it, which the generation sometimes won)
    body = json.dumps({"model": "tiny", "prompt": [5, 6, 7], "max_tokens": 1000, "ignore_eos": True, "n": N_UNREAD,
                       "stream": True, "logprobs": 20}).encode()
    aborted, generated = _metric(server, "requests_aborted_total"), _metric(server, "generation_tokens_total")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window it advertises
    s.connect(("127.0.0.1", server.port))
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    deadline = time.monotonic() + 60
    while _metric(server, "requests_aborted_total") < aborted + N_UNREAD:
        assert time.monotonic() < deadline, "the unread stream's choices were not stopped within 60 s"
        time.sleep(0.25)
    assert _metric(server, "num_requests_running") == 0
    assert _metric(server, "generation_tokens_total") - generated < N_UNREAD * 1000  # stopped, not run to the end
    s.settimeout(10)
    got = b""
    try:
        while chunk := s.recv(1 << 20):
            got += chunk
    except ConnectionResetError:  # aborted with unread data: a reset
        pass
    assert got.startswith(b"HTTP/1.1 200") and b"data: [DONE]" not in got  # cut off, not finished
    s.close()
