"""SIGTERM with requests in flight (`axk1 serve --shutdown-timeout`): each stream ends with an error event and
[DONE], a non-streaming request with a 503, one log line and no traceback; a request that finishes within the
timeout is answered as usual."""

import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import pytest

import axk1
from tests.serve_helpers import ServerProcess, make_model_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # a 16K context: the tiny model writes ~700 tokens a second, so a stream of its 1K context could end before
    # the signal came
    config = axk1.ModelConfig.from_preset("axk1-tiny").replace(max_position_embeddings=16384)
    return make_model_folder(tmp_path_factory.mktemp("shutdown") / "axk1-tiny-chat", config=config)


def _post(base, body):
    connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=60)
    connection.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    return connection.getresponse()


def _stream_events(base, body, out, started):
    """The SSE data lines of a streamed completion, read to the end (or to a cut-off connection)."""
    try:
        response = _post(base, {**body, "stream": True})
        while line := response.readline():
            if line.startswith(b"data: "):
                out.append(line[6:].decode().strip())
                started.set()
    except (http.client.HTTPException, OSError) as e:  # a reply cut off without its end: what used to happen
        out.append(f"cut off: {type(e).__name__}")


def test_sigterm_ends_running_streams_with_an_error_event_and_done(folder):
    body = {"model": folder.name, "prompt": "Seoul", "max_tokens": 16000, "temperature": 0, "ignore_eos": True}
    with ServerProcess(folder, "--max-batch", "2", "--shutdown-timeout", "0") as server:
        streams = [([], threading.Event()) for _ in range(3)]
        threads = [threading.Thread(target=_stream_events, args=(server.base, body, out, started))
                   for out, started in streams]
        plain: dict = {}
        threads.append(threading.Thread(target=lambda: plain.update(r=_post(server.base, body))))
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30  # two generating (which two is the server's choice), two queued
        while (m := server.metrics())["axk1_num_requests_running"] + m["axk1_num_requests_waiting"] < 4:
            assert time.monotonic() < deadline, m
            time.sleep(0.05)
        assert m["axk1_num_requests_running"] == 2
        sent = time.monotonic()
        server.proc.terminate()
        for t in threads:
            t.join(timeout=30)
        server.proc.wait(timeout=30)
        took = time.monotonic() - sent
        log = server.proc.stdout.read()
    for out, _ in streams:
        assert out[-1] == "[DONE]", out[-3:]
        error = json.loads(out[-2])["error"]
        assert error["code"] == "server_shutting_down" and "shutting down" in error["message"]
    assert plain["r"].status == 503 and json.loads(plain["r"].read())["error"]["code"] == "server_shutting_down"
    assert took < 4, took  # at once (0 s), not after uvicorn's backstop
    assert "Traceback" not in log and "CancelledError" not in log and "Cancel " not in log, log
    assert log.count("still running after --shutdown-timeout") == 1, log


def test_a_request_that_finishes_within_the_shutdown_timeout_is_answered_as_usual(folder):
    body = {"model": folder.name, "prompt": "Seoul", "max_tokens": 40, "temperature": 0, "ignore_eos": True}
    with ServerProcess(folder, "--shutdown-timeout", "60") as server:
        out, started = [], threading.Event()
        thread = threading.Thread(target=_stream_events, args=(server.base, body, out, started))
        thread.start()
        assert started.wait(30)
        server.proc.terminate()
        thread.join(timeout=60)
        server.proc.wait(timeout=60)
    assert out[-1] == "[DONE]" and json.loads(out[-2])["choices"][0]["finish_reason"] == "length"
