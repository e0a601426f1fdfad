"""RL rollouts on an inference server (`[rl] server_url`, axk1/posttrain/rollout_server.py) against a real
`axk1 serve --enable-weight-updates` process: each update's weights reach the server through a folder on disk
(`POST /update_weights_from_disk`, SGLang's route), so no training rank holds a replica; under torchrun the ranks
write that folder together and the run equals the one-process run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import axk1
import axk1.posttrain.rl as rl
import axk1.posttrain.rl_rollout as rl_rollout
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import ServerProcess, weight_folders
from tests.rl_helpers import KEY, KEYED, fake_scores, keyed_post, local_greedy, rl_run_recipe, rl_tasks

ROOT = Path(__file__).resolve().parents[1]


def _greedy(base: str, prompt: list[int], n: int = 6) -> list[int]:
    status, reply = keyed_post(base, "/v1/completions", {"model": "base", "prompt": prompt, "max_tokens": n,
                                                         "temperature": 0, "logprobs": 0,
                                                         "return_tokens_as_token_ids": True})
    assert status == 200, reply
    return [int(t.removeprefix("token_id:")) for t in reply["choices"][0]["logprobs"]["tokens"]]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return weight_folders(tmp_path_factory.mktemp("weights"))


def test_weight_updates_replace_the_served_model_and_its_prefix_cache(folders):
    base, other, wider = folders
    prompt = list(range(3, 40))  # two full cache blocks: a repeat hits the prefix cache
    with ServerProcess(base, "--enable-weight-updates", "--served-model-name", "base", env=KEYED) as server:
        assert _greedy(server.base, prompt) == local_greedy(base, prompt)
        status, reply = keyed_post(server.base, "/update_weights_from_disk", {"model_path": str(other)})
        assert status == 200 and reply["success"] and "2 cached prefix blocks dropped" in reply["message"], reply
        # every client's replies carry the version, never the server's folder (a pusher chose up to 4 KB of it)
        version = reply["weights_version"]
        assert version.startswith("1:") and str(other) not in version and other.name not in version
        completion = keyed_post(server.base, "/v1/completions", {"model": "base", "prompt": prompt, "max_tokens": 1})[1]
        assert completion["system_fingerprint"] == version
        # the same prompt again: computed by the new weights, not read from blocks the old ones wrote
        assert _greedy(server.base, prompt) == local_greedy(other, prompt) != local_greedy(base, prompt)
        # what cannot replace it is named, and the server goes on serving the weights it has
        status, reply = keyed_post(server.base, "/update_weights_from_disk", {"model_path": str(wider)})
        assert status == 400 and "moe_intermediate_size" in reply["error"]["message"], reply
        status, reply = keyed_post(server.base, "/update_weights_from_disk", {"model_path": str(base / "nope")})
        assert status == 400 and "nope" in reply["error"]["message"], reply
        status, reply = keyed_post(server.base, "/update_weights_from_disk", {"path": str(base)})
        assert status == 400 and reply["error"]["param"] == "model_path", reply
        status, reply = keyed_post(server.base, "/update_weights_from_disk", {"model_path": str(base)}, key=None)
        assert status == 401, reply
        assert _greedy(server.base, prompt) == local_greedy(other, prompt)
    with ServerProcess(base) as server:  # off unless asked for: the route reads any folder the server can see
        status, reply = keyed_post(server.base, "/update_weights_from_disk", {"model_path": str(other)}, key=None)
        assert status == 404 and "start the server with --enable-weight-updates" in reply["error"]["message"], reply
        status, reply = keyed_post(server.base, "/nowhere", {}, key=None)
        assert status == 404 and "/update_weights_from_disk" not in reply["error"]["message"], reply  # not offered


def test_a_weight_update_sent_while_another_loads_is_409(folders, monkeypatch):
    """Two pushes at once each loaded a whole copy of the weights beside the served one (three in memory: for the
    real model, out of memory); the second is refused while the first loads, and the RL client tries it again."""
    import threading

    from fastapi.testclient import TestClient

    import axk1.infer.weight_updates as wu
    from axk1.infer.cli import build_server

    base, other, _ = folders
    loading, release, calls = threading.Event(), threading.Event(), []
    real = wu._replace

    def slow(engine, folder):  # the first load waits until the second request has been answered
        calls.append(folder)
        if len(calls) == 1:
            loading.set()
            release.wait(30)
        return real(engine, folder)

    monkeypatch.setattr(wu, "_replace", slow)
    app, engine = build_server(ServeConfig(base, EngineConfig(max_batch=2), served_name="base", weight_updates=True))
    first = {}
    try:
        with TestClient(app) as client:
            body = {"model_path": str(other)}
            push = threading.Thread(target=lambda: first.update(r=client.post(wu.ROUTE, json=body)))
            push.start()
            assert loading.wait(30)
            second = client.post(wu.ROUTE, json={"model_path": str(base)})
            release.set()
            push.join(30)
    finally:
        release.set()
        engine.stop()
    assert second.status_code == 409 and "another weight update" in second.json()["error"]["message"], second.text
    assert first["r"].status_code == 200 and len(calls) == 1


def test_rl_rollouts_on_a_server_that_takes_each_update(tmp_path, folders, monkeypatch):
    """Two iterations sampled by the server; after the run the server holds the final policy (its greedy tokens
    are the exported model's) and only that folder of weights is left on disk."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    base = folders[0]
    tasks = rl_tasks(tmp_path / "tasks.jsonl")
    monkeypatch.setenv("AXK1_API_KEY", KEY)
    with ServerProcess(base, "--enable-weight-updates", "--served-model-name", "base", env=KEYED) as server:
        recipe = rl_run_recipe(tmp_path, base, tasks, "a", iterations=2, server_url=server.base)
        result = rl.run_rl(parse_rl_recipe(recipe, tmp_path))
        rows = result["rows"]
        assert [r["step"] for r in rows] == [1, 2] and all(r["rollout_tokens"] > 0 for r in rows)
        assert server.metrics()["axk1_generation_tokens_total"] >= sum(r["rollout_tokens"] for r in rows)
        prompt = list(range(3, 20))
        final = Path(result["model_dir"])
        assert _greedy(server.base, prompt) == local_greedy(final, prompt) != local_greedy(base, prompt)
    # the pushed folders went once the server held their weights, the last at the end, the staging copy each time
    assert list((tmp_path / "a" / "rollout-weights").iterdir()) == []


def test_a_resumed_run_pushes_again_and_leaves_other_runs_folders_alone(tmp_path, folders, monkeypatch):
    """The probe of session 19: pushes were DCP steps kept beside the run's, so a resume whose checkpoint was older
    than its last push found its new push pruned ("step-000003 does not exist") every time; and every model-*
    folder in weights_dir was deleted, another run's too. Now the staging copy goes after each export, and only
    folders marked as this run's are deleted."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    base = folders[0]
    tasks = rl_tasks(tmp_path / "tasks.jsonl")
    monkeypatch.setenv("AXK1_API_KEY", KEY)
    shared = tmp_path / "shared"
    (shared / "model-keepme").mkdir(parents=True)
    (shared / "model-keepme" / "notes.txt").write_text("another run's")
    with ServerProcess(base, "--enable-weight-updates", "--served-model-name", "base", env=KEYED) as server:
        def recipe(iterations):
            return parse_rl_recipe(rl_run_recipe(tmp_path, base, tasks, "a", iterations=iterations,
                                                 server_url=server.base, weights_dir=str(shared), export=False),
                                   tmp_path)

        rl.run_rl(recipe(1))
        (shared / ".staging" / "step-000009").mkdir(parents=True)  # what a process killed mid-push leaves
        rows = rl.run_rl(recipe(2), resume=True)["rows"]
        assert [r["step"] for r in rows] == [2]
    assert sorted(p.name for p in shared.iterdir()) == ["model-keepme"]
    assert (shared / "model-keepme" / "notes.txt").read_text() == "another run's"


def test_samples_from_weights_another_client_pushed_are_refused(tmp_path, folders):
    """Nothing tied the served weights to the run: a second client's update between a push and the sampling made
    the run train on another model's rollouts, exit 0. Each reply now carries the weights version
    (system_fingerprint) and the client checks it against the one its update was answered with."""
    from axk1.posttrain.rollout_server import RolloutServer, RolloutServerError

    base, other, _ = folders
    with ServerProcess(base, "--enable-weight-updates", "--served-model-name", "base", env=KEYED) as server:
        client = RolloutServer(server.base, tmp_path / "w", "run-a", api_key=KEY)
        client.version = client._update(base)["weights_version"]
        prompt = list(range(3, 12))
        assert len(client.generate([prompt], 2, 4, 1.0, 1.0, seed=0, stop_ids=[2]).tokens) == 2  # its own weights: sampled
        status, reply = keyed_post(server.base, "/update_weights_from_disk", {"model_path": str(other)})  # another's
        assert status == 200, reply
        with pytest.raises(RolloutServerError, match="another client replaced them"):
            client.generate([prompt], 2, 4, 1.0, 1.0, seed=0, stop_ids=[2])


def test_an_update_refused_while_the_server_is_busy_is_tried_again(tmp_path, monkeypatch):
    """The server answers 409 while another update loads or its requests in flight do not finish in time: the run
    died on the first 409 a concurrent client caused. Now it tries again until the server is free (or its request timeout passes)."""
    import threading
    from http.server import ThreadingHTTPServer

    import axk1.posttrain.rollout_server as rs
    from tests.serve_helpers import JsonHandler

    answers = [409, 409, 200]

    class Busy(JsonHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            status = answers.pop(0)
            self._send(status, {"success": True, "weights_version": "7:x"} if status == 200 else
                       {"error": {"message": "2 choices are being generated"}})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Busy)  # the port the OS picks: httpd.server_port
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(rs, "BUSY_RETRY_S", 0.01)
    try:
        client = rs.RolloutServer(f"http://127.0.0.1:{httpd.server_port}", tmp_path, "run", model="m")
        assert client._update(tmp_path)["weights_version"] == "7:x" and answers == []
    finally:
        httpd.shutdown()


def test_a_server_error_is_one_line_that_says_what_to_do(tmp_path, folders, monkeypatch, capsys):
    """A wrong key, or a server that cannot take group_size choices: a RuntimeError traceback before; now the
    command's one-line error, found before any weights are written."""
    from axk1.cli import main
    from axk1.toml_file import to_toml

    base = folders[0]
    tasks = rl_tasks(tmp_path / "tasks.jsonl")
    with ServerProcess(base, "--enable-weight-updates", "--max-batch", "2", env=KEYED) as server:
        recipe = tmp_path / "rl.toml"
        recipe.write_text(to_toml(parse_rl_recipe(rl_run_recipe(tmp_path, base, tasks, "a", iterations=1,
                                                                server_url=server.base), tmp_path)))
        monkeypatch.setenv("AXK1_API_KEY", "wrong")
        assert main(["rl", str(recipe)]) == 2
        err = capsys.readouterr().err
        assert "HTTP 401" in err and "AXK1_API_KEY" in err and "Traceback" not in err, err
        monkeypatch.setenv("AXK1_API_KEY", KEY)
        assert main(["rl", str(recipe), "--out", str(tmp_path / "b")]) == 2  # group_size 4 > --max-batch 2
        err = capsys.readouterr().err
        assert "n must be at most 2 (this server's --max-batch)" in err and "Traceback" not in err, err
        assert not (tmp_path / "b" / "rollout-weights").exists()  # refused before the first push


@pytest.mark.distributed
def test_torchrun_rl_on_a_server_matches_one_process(tmp_path, folders):
    """Two ranks (FSDP2 + EP) write each update's folder together (their DCP shards, then each its run of the
    safetensors files): the server samples the same rollouts as for the one-process run, and the losses agree."""
    from tests.rl_helpers import rl_recipe_text, run_rl_one_and_two

    base = folders[0]
    tasks = rl_tasks(tmp_path / "tasks.jsonl")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "AXK1_API_KEY": KEY}
    with ServerProcess(base, "--enable-weight-updates", env=KEYED) as server:
        def recipe(out: str, parallel: str = "") -> Path:
            path = tmp_path / f"{out}.toml"  # one prompt at a time: the server's batches, so its sums, are the same
            path.write_text(rl_recipe_text(base, tasks, tmp_path / out, parallel).replace(
                "[rl]\n", f"[rl]\nserver_url = \"{server.base}\"\nserver_concurrency = 1\n"))
            return path

        one, two = run_rl_one_and_two(tmp_path, recipe("one"), recipe("two", "[parallelism]\ndp_shard = 2\nep = 2"),
                                      env)
    assert len(one) == len(two) == 2
    for a, b in zip(one, two):  # iteration 2 samples from the folder the two ranks wrote after iteration 1
        assert (a["reward_mean"], a["response_len/think"], a["rollout_tokens"]) == \
            (b["reward_mean"], b["response_len/think"], b["rollout_tokens"])
        assert b["loss"] == pytest.approx(a["loss"], abs=5e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)


def test_weights_can_be_pushed_in_bf16(tmp_path, monkeypatch):
    """Every update pushed fp32 weights (A.X K1: 2.1 TB written and loaded per iteration, plus the staging copy);
    `[rl] push_dtype = "bfloat16"` writes what the release ships and a server computes in."""
    import torch
    from safetensors import safe_open

    from axk1 import AXK1ForCausalLM, ModelConfig
    from axk1.posttrain.rollout_server import RolloutServer

    config = ModelConfig.from_preset("axk1-tiny")
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config)
    monkeypatch.setattr(RolloutServer, "_update", lambda self, folder: {"success": True, "weights_version": "v1"})
    server = RolloutServer("http://127.0.0.1:9", tmp_path / "w", "run-a", model="m", push_dtype=torch.bfloat16)
    folder = server.publish(holder, 1, {"model_config": config.to_dict(), "mtp_depth": 0})
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys() if not k.endswith("e_score_correction_bias")}
    assert dtypes == {"BF16"}


def test_pushed_weights_route_with_the_bias_the_policy_routes_with(tmp_path, monkeypatch):
    """RL's pushes went through the pretraining export, which writes the routers' balancing bias as zeros: a policy
    from a base with a non-zero bias (DeepSeek-style, transformers-trained) was sampled on the server by another
    model than the one trained. The pushed folder holds the policy's own bias."""
    from axk1 import AXK1ForCausalLM, ModelConfig
    from axk1.posttrain.rollout_server import RolloutServer

    config = ModelConfig.from_preset("axk1-tiny")
    holder = torch.nn.Module()
    holder.lm = AXK1ForCausalLM(config)
    with torch.no_grad():
        for name, t in holder.named_buffers():
            if name.endswith("e_score_correction_bias"):
                t.normal_(0.0, 0.2)
    monkeypatch.setattr(RolloutServer, "_update", lambda self, folder: {"success": True, "weights_version": "v1"})
    server = RolloutServer("http://127.0.0.1:9", tmp_path / "w", "run-a", model="m")
    folder = server.publish(holder, 1, {"model_config": config.to_dict(), "mtp_depth": 0})
    pushed = axk1.load_model(folder, dtype=torch.float32)
    ids = torch.randint(3, config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(pushed(ids), holder.lm.eval()(ids), rtol=0, atol=1e-5)
