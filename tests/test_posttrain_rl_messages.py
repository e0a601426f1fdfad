"""What an RL run tells its user beyond the metrics: a task pool smaller than a step's draw and copied prompts said at
the start, rl_curves.png's reward axis in the recipe's own range, and the rollout server's 404 said once."""

from __future__ import annotations

import io
import json
import urllib.error
from types import SimpleNamespace

import pytest

import axk1.posttrain.rl as rl
import axk1.posttrain.rollout_server as rollout_server
from axk1.posttrain.plots import RLPlots
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.posttrain.rollout_server import RolloutServer, RolloutServerError
from tests.serve_helpers import make_model_folder
from tests.rl_helpers import rl_run_recipe


def test_a_pool_smaller_than_a_step_and_copied_prompts_are_said_at_the_start(tmp_path, capsys):
    """prompts_per_step = 8 draws 4 tasks a step; a file of 3 made every step 3 tasks, 6 prompts, and nothing said
    so. Two rows with the same prompt are two tasks: that prompt is drawn twice as often, also unsaid."""
    rows = [{"prompt": "What is 2 + 2?", "answer": "4"}, {"prompt": "What is 3 + 3?", "answer": "6"},
            {"prompt": "What is 2 + 2?", "answer": "4"}]
    tasks = tmp_path / "t.jsonl"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = make_model_folder(tmp_path / "base")
    recipe = parse_rl_recipe(rl_run_recipe(tmp_path, folder, tasks, "a", iterations=1, prompts_per_step=8,
                                           export=False), tmp_path)
    trainer = rl.RLTrainer(recipe)
    trainer.release()
    err = capsys.readouterr().err
    assert "prompts_per_step = 8 draws 4 tasks a step" in err and "the task files hold 3" in err
    assert any("prompts_per_step = 8" in w for w in trainer.warnings)  # into rl_report.json's warnings too
    assert "note: 1 of the 3 tasks repeat an earlier task's prompt exactly" in err


@pytest.mark.parametrize("rl_keys, label", [
    ({}, "reward (−2..1)"),
    ({"format_penalty": -0.5, "overlong": "penalty", "overlong_buffer": 4}, "reward (−2.5..1)"),
    ({"format_penalty": 0.0}, "reward (−1..1)"),
])
def test_the_reward_axis_says_the_recipes_range(tmp_path, monkeypatch, rl_keys, label):
    """The label was a fixed "reward (−2..1)" whatever format_penalty and overlong made the range."""
    import matplotlib.figure

    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text("".join(json.dumps({"step": i, "reward/think": -1.0 + i / 2, "accuracy/think": 0.5,
                                         "response_len/think": 10.0}) + "\n" for i in (1, 2)))
    labels = []
    real_savefig = matplotlib.figure.Figure.savefig

    def recording_savefig(fig, *args, **kwargs):
        labels.append(fig.axes[0].get_ylabel())
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", recording_savefig)
    rl_section = SimpleNamespace(**{"format_penalty": -1.0, "overlong": "filter", "overlong_buffer": 16, **rl_keys})
    trainer = SimpleNamespace(is_main=True, recipe=SimpleNamespace(logging=SimpleNamespace(jsonl=str(jsonl)),
                                                                   rl=rl_section))
    RLPlots().on_fit_end(trainer)
    assert labels == [f"{label} / sampled accuracy"] and (tmp_path / "rl_curves.png").stat().st_size > 0


def test_the_servers_own_404_advice_is_not_repeated(tmp_path, monkeypatch):
    """axk1 serve's 404 for the update route already says to start it with --enable-weight-updates; the trainer's
    error added the same advice again."""
    said = "/update_weights_from_disk is off: start the server with --enable-weight-updates"
    reply = {"body": json.dumps({"error": {"message": said}})}

    def not_found(method, url, body, key, timeout):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, io.BytesIO(reply["body"].encode()))

    monkeypatch.setattr(rollout_server, "request_json", not_found)
    server = RolloutServer("http://127.0.0.1:9", tmp_path / "w", str(tmp_path), model="base", is_main=False)
    with pytest.raises(RolloutServerError) as e:
        server._call("POST", rollout_server.UPDATE_ROUTE, {})
    assert str(e.value).count("--enable-weight-updates") == 1 and said in str(e.value)
    reply["body"] = '{"detail": "Not Found"}'  # a server that does not say it (an older SGLang): the advice is added
    with pytest.raises(RolloutServerError) as e:
        server._call("POST", rollout_server.UPDATE_ROUTE, {})
    assert "start the server with --enable-weight-updates (axk1 serve)" in str(e.value)
