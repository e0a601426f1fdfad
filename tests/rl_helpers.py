"""Shared by the RL tests: tasks, a reward that varies within a group, the run recipes (a dict, a TOML file, TOML text
for ranks), the keyed server's requests, greedy tokens computed locally, and one and two-rank runs of RL."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import axk1
from axk1.infer.generate import generate
from axk1.json_text import read_metrics_rows
from axk1.posttrain.rewards import Score
from axk1.posttrain.tasks import generate_tasks, write_jsonl
from tests.serve_helpers import post_json
from tests.train_helpers import ranks_cli


def rl_tasks(path: Path, n: int = 12) -> Path:
    """`n` level-1 math tasks written to `path`."""
    write_jsonl(path, generate_tasks(n, seed=0, kinds=("math",), levels=(1,)))
    return path


def fake_scores(items, format_penalty=-1.0, workers=None):
    """A reward that varies within a group (the tiny random model never answers right): +1 for an even number of
    characters. The real scorer is tested above; this isolates the loop."""
    return [Score(len(text) % 2 == 0, True, "correct" if len(text) % 2 == 0 else "wrong",
                  1.0 if len(text) % 2 == 0 else -1.0) for _, text, _, _ in items]


def rl_run_recipe(tmp: Path, folder: Path, tasks: Path, out: str, **rl_keys) -> dict:
    """A 3-iteration RL recipe (as a dict) on `tasks` into tmp/out, checkpointing every step; `rl_keys` go in [rl]."""
    return {"model": {"init_from": str(folder), "mtp_depth": 0},
            "rl": {"tasks": [str(tasks)], "iterations": 3, "prompts_per_step": 2, "group_size": 4,
                   "max_new_tokens": 8, "updates_per_batch": 2, "overlong": "none", "clip_low": 0.2, "clip_high": 0.28,
                   **rl_keys},
            "optimizer": {"lr": 1e-2}, "schedule": {"kind": "constant"}, "batch": {"micro_batch": 4},
            "checkpointing": {"interval_steps": 1}, "logging": {"progress": False, "tensorboard": "tb"},
            "run": {"out_dir": str(tmp / out), "threads": 1}}


def rl_toml_file(tmp: Path, folder: Path, **rl_keys) -> Path:
    """A 4-iteration RL run that checkpoints every 8 iterations (so only at its end, or when stopped)."""
    tasks = tmp / "tasks.jsonl"
    write_jsonl(tasks, generate_tasks(12, seed=0, kinds=("math",), levels=(1,)))
    keys = {"iterations": 4, "export": False} | rl_keys
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    path = tmp / "rl.toml"
    path.write_text(f'[model]\ninit_from = "{folder}"\nmtp_depth = 0\n'
                    f'[rl]\ntasks = ["{tasks}"]\nprompts_per_step = 2\ngroup_size = 4\nmax_new_tokens = 8\n'
                    'updates_per_batch = 2\noverlong = "none"\nclip_low = 0.2\nclip_high = 0.28\n' + extra +
                    '[optimizer]\nlr = 1e-2\n[schedule]\nkind = "constant"\n[batch]\nmicro_batch = 4\n'
                    '[checkpointing]\ninterval_steps = 8\n[logging]\nprogress = false\n'
                    f'[run]\nout_dir = "{tmp / "run"}"\nthreads = 1\n')
    return path


KEY = "rl-key"


KEYED = {"AXK1_API_KEY": KEY}  # axk1 serve reads its key from the environment, never from a flag


def keyed_post(base: str, path: str, body: dict, key: str | None = KEY) -> tuple[int, dict]:
    """POST `body` to base + path with the RL server's key (`key=None`: none): (status, reply)."""
    return post_json(base + path, body, {"Authorization": f"Bearer {key}"} if key else None)


def local_greedy(folder: Path, prompt: list[int], n: int = 6) -> list[int]:
    """The `n` greedy tokens after `prompt`, generated here on one thread as the server would."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the server's one thread: the same reduction order, the same argmax
    try:
        return generate(axk1.load_model(folder), [prompt], max_new_tokens=n).tokens[0]
    finally:
        torch.set_num_threads(threads)


RL_RUNNER = """
import json, os, sys, tomllib
import axk1.posttrain.rl as rl
import axk1.posttrain.rl_rollout as rl_rollout
from axk1.posttrain.rewards import Score
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.parallel.distributed import shutdown_distributed

def fake_scores(items, format_penalty=-1.0, workers=None):  # varies within a group for an untrained model
    return [Score(len(t) % 2 == 0, True, "correct", 1.0 if len(t) % 2 == 0 else -1.0) for _, t, _, _ in items]

rl_rollout.score_all = fake_scores
slow = float(os.environ.get("AXK1_SLOW_ROLLOUT_S", "0"))
if slow:  # the first rollout outlasts the default group's timeout (here a fraction of it, for the 30 minutes of a
    # run): the other ranks wait that long once, as they would at every rollout of a long run
    import time
    from datetime import timedelta
    import torch.distributed.distributed_c10d as c10d
    c10d.default_pg_timeout = timedelta(seconds=slow / 3)
    real_generate, slept = rl_rollout.generate, []
    def slow_generate(*args, **kwargs):
        if not slept:
            slept.append(time.sleep(slow))
        return real_generate(*args, **kwargs)
    rl_rollout.generate = slow_generate
recipe = sys.argv[1]
census = os.environ.get("AXK1_COLLECTIVE_CENSUS")  # the device of every collective's tensors (tests/collective_census.py)
try:
    if census:
        from tests.collective_census import HostTensors, record_collectives
        calls, host = [], HostTensors()
        record_collectives(host, calls)
        with host:
            rl.run_rl(parse_rl_recipe(tomllib.loads(open(recipe).read()), "."))
        open(f"{census}.{os.environ['RANK']}", "w").write(json.dumps(calls))
    else:
        rl.run_rl(parse_rl_recipe(tomllib.loads(open(recipe).read()), "."))
finally:
    shutdown_distributed()
"""


def rl_recipe_text(folder, tasks, out, parallel: str = "") -> str:
    """A 2-iteration RL recipe as TOML text for RL_RUNNER; `parallel`: a [parallel] table to add."""
    return f"""
[model]
init_from = "{folder}"
mtp_depth = 0
[rl]
tasks = ["{tasks}"]
iterations = 2
prompts_per_step = 2
group_size = 4
max_new_tokens = 8
updates_per_batch = 2
overlong = "none"
clip_low = 0.2
clip_high = 0.28
level = "sequence"
[optimizer]
lr = 1e-2
[schedule]
kind = "constant"
[batch]
micro_batch = 2
[checkpointing]
interval_steps = 100
[logging]
progress = false
[run]
out_dir = "{out}"
threads = 1
{parallel}
"""


def run_rl_one_and_two(tmp_path: Path, one: Path, two: Path, env: dict, two_env: dict | None = None
                       ) -> tuple[list[dict], list[dict]]:
    """RL_RUNNER on recipe `one` in one process, then on `two` on 2 ranks (tests/warm_ranks.py; `two_env` added to its
    environment); the metrics rows of each, from [run] out_dir tmp_path/one and tmp_path/two."""
    runner = tmp_path / "runner.py"
    runner.write_text(RL_RUNNER)
    ranks_cli(str(one), nproc=None, script=runner, timeout=180, env=env)
    ranks_cli(str(two), script=runner, timeout=240, env={**env, **(two_env or {})})
    one, two = (read_metrics_rows(tmp_path / name / "metrics.jsonl") for name in ("one", "two"))
    return one, two
