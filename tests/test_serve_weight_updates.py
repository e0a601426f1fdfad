"""Weight updates between choices (`Engine.replace_weights`, `POST /update_weights_from_disk`): an update holds
new requests, waits for the choices already sampling to finish under the weights that began them, swaps, and the
held requests sample with the new weights; a request's prompts start under one version; a reply names the weights
that sampled it; an update that cannot drain in time is refused and the queue moves on. The RL client's side is
tests/test_posttrain_rl_server.py."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import torch

import axk1
from axk1.infer.engine import Engine
from axk1.infer.sequence import RequestError, RequestGroups, SamplingParams
from axk1.infer.engine_config import EngineConfig
from tests.serve_helpers import ServerProcess, make_model_folder, weight_folders
from tests.rl_helpers import KEY, KEYED, keyed_post, local_greedy


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return weight_folders(tmp_path_factory.mktemp("weights"))


def _one_thread_engine(folder: Path) -> Engine:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the engine thread takes the creator's count: _local_greedy's reduction order
    try:
        return Engine(axk1.load_model(folder), EngineConfig(max_batch=2))
    finally:
        torch.set_num_threads(threads)


def test_a_queued_request_does_not_block_a_weight_update_and_samples_the_new_weights(folders):
    base, other, _ = folders
    engine = Engine(axk1.load_model(base), EngineConfig(max_batch=2))  # not started: a submitted request stays waiting
    [queued] = engine.submit([3, 4, 5], SamplingParams(max_tokens=4), lambda *a: None)
    engine.replace_weights(axk1.load_model(other), "other")  # nothing started: no wait at all
    assert queued.weights_version == engine.weights_version != "0"


def _gated_sink(gate, events=None, name=""):
    """A sink that holds the engine thread at the choice's first token until `gate` is set: the choice is then
    certainly running when a test's weight update arrives, however fast or loaded the machine."""
    def take(s, token, reason, error):
        assert error is None, error
        if len(s.tokens) == 1 and token is not None:
            gate.wait(60)
        if events is not None:
            events.append((name, token))
    return take


def _until(condition, what: str, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never {what}")
        time.sleep(0.001)


def test_a_weight_update_waits_for_started_choices_while_new_requests_wait(folders):
    """A server that was never idle refused every update (409) for as long as its traffic lasted: now the update
    holds new requests, lets the started choices finish under the weights that began them, swaps, and the held
    requests sample with the new weights."""
    import threading

    base, other, _ = folders
    engine = _one_thread_engine(base).start()
    events: list[tuple[str, int | None]] = []
    gate = threading.Event()
    try:
        never_stops = SamplingParams(max_tokens=300, temperature=0, stop_ids=frozenset())
        [a] = engine.submit([3, 4, 5], never_stops, _gated_sink(gate, events, "a"))
        _until(lambda: a.tokens, "did a start")
        update = threading.Thread(target=engine.replace_weights, args=(axk1.load_model(other), "other", 600.0))
        update.start()
        _until(lambda: engine.scheduler.hold_new, "did the update hold new requests")
        prompt = [7, 8, 9, 10]
        [b] = engine.submit(prompt, SamplingParams(max_tokens=6, temperature=0), _gated_sink(gate, events, "b"))
        gate.set()
        update.join(600)
        _until(lambda: b.finished, "did b finish", 600)
    finally:
        gate.set()
        engine.stop()
    assert not update.is_alive() and len(a.tokens) == 300
    first_b = next(i for i, (name, _) in enumerate(events) if name == "b")
    assert all(name == "a" for name, _ in events[:first_b]) and events[first_b - 1] == ("a", None)  # a ended first
    assert a.weights_version == "0" and b.weights_version == engine.weights_version != "0"
    assert b.tokens == local_greedy(other, prompt)  # sampled by the new weights


def test_a_requests_prompts_start_together_under_one_weights_version(folders):
    """A completion with several prompts is one group a prompt; with one row, its second prompt waited while the
    first ran, an update then held it, and the request came back sampled by two policies."""
    import threading

    base, other, _ = folders
    engine = Engine(axk1.load_model(base), EngineConfig(max_batch=1)).start()
    gate = threading.Event()
    try:
        params = SamplingParams(max_tokens=60, stop_ids=frozenset())
        request = RequestGroups()
        first = engine.submit([3, 4, 5], params, _gated_sink(gate), request=request)[0]
        second = engine.submit([6, 7, 8], params, lambda *a: None, request=request)[0]  # same request, no row yet
        alone = engine.submit([9, 10], SamplingParams(max_tokens=2), lambda *a: None)[0]  # another request
        _until(lambda: first.tokens, "did the first prompt start")
        update = threading.Thread(target=engine.replace_weights, args=(axk1.load_model(other), "other", 600.0))
        update.start()
        _until(lambda: engine.scheduler.hold_new, "did the update hold new requests")
        gate.set()
        update.join(600)
        assert not update.is_alive()
        _until(lambda: alone.finished, "did the held request run", 600)
    finally:
        gate.set()
        engine.stop()
    assert first.finished and second.finished and len(second.tokens) == 60  # it ran before the swap
    assert first.weights_version == second.weights_version == "0"
    assert alone.weights_version == engine.weights_version != "0"  # held, then sampled by the new weights


def test_a_reply_held_by_a_weight_update_names_the_weights_that_sampled_it(tmp_path):
    """Its system_fingerprint was taken when it was queued: the old version, on tokens the new weights sampled."""
    import http.client
    import threading

    config = axk1.ModelConfig.from_preset("axk1-tiny").replace(max_position_embeddings=16384)  # a long stream
    base = make_model_folder(tmp_path / "base", config=config)
    other = tmp_path / "other"
    torch.manual_seed(1)
    axk1.save_pretrained(axk1.AXK1ForCausalLM(config), other)
    prompt = [11, 12, 13, 14]
    held = {"model": "base", "prompt": prompt, "max_tokens": 6, "temperature": 0, "logprobs": 0,
            "return_tokens_as_token_ids": True}
    results: dict = {}
    with ServerProcess(base, "--enable-weight-updates", "--served-model-name", "base", env=KEYED) as server:
        # a stream of 16K tokens, cut by the test once the held requests are queued (its client goes away)
        long = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        long.request("POST", "/v1/completions", json.dumps(
            {"model": "base", "prompt": [3, 4, 5], "max_tokens": 16000, "ignore_eos": True, "stream": True}),
            {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
        stream = long.getresponse()
        first = json.loads(next(line for line in stream if line.startswith(b"data: {"))[6:])
        pusher = threading.Thread(target=lambda: results.update(update=keyed_post(
            server.base, "/update_weights_from_disk", {"model_path": str(other)})))
        pusher.start()
        _wait_for_metric(server.base, "axk1_weight_update_waiting", 1)
        asker = threading.Thread(target=lambda: results.update(
            whole=keyed_post(server.base, "/v1/completions", held),
            streamed=_stream_fingerprints(server.base, {**held, "stream": True})))
        asker.start()
        _wait_for_metric(server.base, "axk1_num_requests_waiting", 1)  # held, behind the update
        long.close()  # the long stream's client leaves: its choice ends, the update swaps, the held one runs
        pusher.join(120)
        asker.join(120)
    status, reply = results["whole"]
    assert status == 200 and results["update"][0] == 200, (reply, results.get("update"))
    version = results["update"][1]["weights_version"]
    assert first["system_fingerprint"] == "0"  # the stream that ran before the swap: the weights that began it
    assert reply["system_fingerprint"] == version
    assert [int(t.removeprefix("token_id:")) for t in reply["choices"][0]["logprobs"]["tokens"]] == \
        local_greedy(other, prompt)
    chunks = results["streamed"]
    assert chunks and set(chunks) == {version}  # sent after the swap: every chunk names it


def _wait_for_metric(base: str, name: str, value: int, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith(name + " ") and float(line.split()[-1]) == value:
                    return
        time.sleep(0.02)
    raise AssertionError(f"{name} never reached {value}")


def _stream_fingerprints(base: str, body: dict) -> list[str]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    request = urllib.request.Request(base + "/v1/completions", json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as reply:
        lines = [line[6:] for line in reply.read().decode().splitlines() if line.startswith("data: {")]
    return [json.loads(line)["system_fingerprint"] for line in lines]


def test_a_weight_update_that_cannot_drain_in_time_is_refused_and_the_queue_moves_on(folders):
    import threading

    base, other, _ = folders
    engine = Engine(axk1.load_model(base), EngineConfig(max_batch=2)).start()
    gate = threading.Event()
    try:
        [a] = engine.submit([3, 4, 5], SamplingParams(max_tokens=20, stop_ids=frozenset()), _gated_sink(gate))
        _until(lambda: a.tokens, "did a start")
        with pytest.raises(RequestError, match="1 choices are being generated and did not finish within 0.05 s"):
            engine.replace_weights(axk1.load_model(other), "other", drain_s=0.05)
        assert engine.weights_version == "0" and not engine.scheduler.hold_new
        gate.set()
        [b] = engine.submit([6, 7], SamplingParams(max_tokens=3), lambda *x: None)
        _until(lambda: b.finished, "did the request sent after a refused update run")
    finally:
        gate.set()
        engine.stop()
