"""`torchrun --nproc-per-node 2 -m axk1 sft` with FSDP2 + expert parallelism (gloo, CPU) gives the single-process
run's losses: SFT is the pretraining trainer with a chat batch source, so its data-parallel split, masking and
token-weighted loss must not depend on the launch."""

import json
from pathlib import Path

import pytest

from axk1.json_text import read_metrics_rows
from axk1.posttrain.sft import parse_sft_recipe, run_sft
from tests.serve_helpers import ROOT, make_model_folder
from tests.train_helpers import launch_env, ranks_cli
from tests.rl_helpers import rl_recipe_text, run_rl_one_and_two

pytestmark = pytest.mark.distributed


def _rows(n: int) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"What is {i} plus {i % 7}?"},
                          {"role": "assistant", "content": f"{i + i % 7}", "reasoning_content": f"{i}+{i % 7}"}]}
            for i in range(n)]


def _recipe(folder, data, out, parallel: str = "") -> str:
    text = f"""
[model]
init_from = "{folder}"
mtp_depth = 0
[sft]
data = ["{data}"]
mode = "think"
seq_len = 64
[optimizer]
lr = 3e-3
[schedule]
kind = "constant"
[batch]
global_sequences = 4
micro_batch = 1
[checkpointing]
interval_steps = 100
[logging]
every_steps = 1
progress = false
[run]
out_dir = "{out}"
max_steps = 3
{parallel}
"""
    return text


def test_torchrun_sft_fsdp_ep_matches_single_process(tmp_path):
    folder = make_model_folder(tmp_path / "base")
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _rows(40)) + "\n")
    import tomllib

    one = run_sft(parse_sft_recipe(tomllib.loads(_recipe(folder, data, tmp_path / "one")), tmp_path))["rows"]
    recipe = tmp_path / "two.toml"
    recipe.write_text(_recipe(folder, data, tmp_path / "two", "[parallelism]\ndp_shard = 2\nep = 2"))
    _torchrun_sft(recipe)
    two = read_metrics_rows(tmp_path / "two" / "metrics.jsonl")
    assert len(two) == len(one) == 3
    # same token-weighted loss over the same packed rows; gradients summed in another order (float noise)
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-5)
    assert [r["grad_norm"] for r in two] == pytest.approx([r["grad_norm"] for r in one], rel=1e-4)
    assert (tmp_path / "two" / "model" / "config.json").exists()  # rank 0 exported the trained model


def test_torchrun_sft_under_context_parallelism_matches_single_process(tmp_path):
    """cp = 2 with rows longer than their chat: the second half of a row is padding, so one rank's chunk holds no
    label. It must still run its forward and backward (the latent gather is a collective the other rank waits in;
    skipping it hung the launch) and the run must follow one process's."""
    import tomllib

    folder = make_model_folder(tmp_path / "base")
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _rows(3)) + "\n")

    def recipe(out, parallel=""):  # the three chats pack into one row of 256 positions, its last half padding
        text = _recipe(folder, data, out, parallel).replace("seq_len = 64", "seq_len = 256\nepochs = 6")
        return text.replace("global_sequences = 4", "global_sequences = 2")

    one = run_sft(parse_sft_recipe(tomllib.loads(recipe(tmp_path / "one")), tmp_path))["rows"]
    path = tmp_path / "cp.toml"
    path.write_text(recipe(tmp_path / "cp", "[parallelism]\ncp = 2"))
    _torchrun_sft(path)
    got = read_metrics_rows(tmp_path / "cp" / "metrics.jsonl")
    assert len(got) == len(one) == 3
    assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in one], rel=1e-5)
    assert [r["grad_norm"] for r in got] == pytest.approx([r["grad_norm"] for r in one], rel=1e-4)
    # the per-mode loss from each rank's chunk of the targets' modes (axk1/posttrain/sft.py) is the whole rows'
    assert [r["loss/think"] for r in got] == pytest.approx([r["loss"] for r in one], rel=1e-5)


def _torchrun_sft(recipe: Path) -> None:
    ranks_cli("sft", str(recipe), timeout=180)  # two ranks with torchrun's environment (tests/warm_ranks.py)


@pytest.fixture(scope="module")
def rl_runs(tmp_path_factory):
    """The RL recipe in one process and on 2 ranks (FSDP2 + EP), the latter recording the device of every collective's
    tensors and with a first rollout that outlasts the default group's timeout: (the one process's metrics rows,
    the 2 ranks', the 2 ranks' recorded collectives). One launch for the two tests below: the slow rollout only
    sleeps, so the run is the one they both check."""
    from axk1.posttrain.tasks import generate_tasks, write_jsonl

    tmp_path = tmp_path_factory.mktemp("rl")
    folder = make_model_folder(tmp_path / "base")
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, generate_tasks(12, seed=0, kinds=("math",), levels=(1,)))
    env = launch_env(tmp_path, PYTHONPATH=str(ROOT))
    (tmp_path / "one.toml").write_text(rl_recipe_text(folder, tasks, tmp_path / "one"))
    (tmp_path / "two.toml").write_text(rl_recipe_text(folder, tasks, tmp_path / "two", "[parallelism]\ndp_shard = 2\nep = 2"))
    census = tmp_path / "calls.json"
    one, two = run_rl_one_and_two(tmp_path, tmp_path / "one.toml", tmp_path / "two.toml", env,
                                  {"AXK1_COLLECTIVE_CENSUS": str(census), "AXK1_SLOW_ROLLOUT_S": "9"})
    calls = [c for rank in (0, 1) for c in json.loads(Path(f"{census}.{rank}").read_text())]
    assert (tmp_path / "two" / "model" / "config.json").exists()  # rank 0 exported the trained model
    return one, two, calls


def test_torchrun_rl_update_fsdp_ep_matches_single_process(rl_runs):
    """The GSPO update sharded over 2 ranks (FSDP2 + EP; rollouts on the main rank's replica, refreshed from the
    shards after each update) gives the single-process run's rollouts, losses and gradient norms."""
    one, two, calls = rl_runs
    # every collective of the run got device tensors (on a GPU, NCCL rejects host ones), the balancer's included
    assert not sorted({c["caller"] for c in calls if c["host"]}), calls
    assert {"balance.py:step"} <= {c["caller"] for c in calls} and {c["op"] for c in calls} >= {"all_to_all_single"}
    assert len(one) == len(two) == 2
    for a, b in zip(one, two):
        # iteration 2's rollouts come from the replica refreshed out of the shards: same samples as one process
        assert (a["reward_mean"], a["response_len/think"], a["samples_kept"]) == \
            (b["reward_mean"], b["response_len/think"], b["samples_kept"])
        # the loss is a small difference of O(1) terms (ratio x advantage, advantages summing to 0 per group), so it
        # is compared on the scale of those terms; Adam's first steps amplify float noise in near-zero gradients
        assert b["loss"] == pytest.approx(a["loss"], abs=5e-5)
        assert b["ratio_mean"] == pytest.approx(a["ratio_mean"], abs=5e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
        assert b["expert_drift_mean"] == pytest.approx(a["expert_drift_mean"], rel=1e-4, abs=1e-9)


def test_the_other_ranks_wait_out_a_rollout_longer_than_the_default_timeout(rl_runs):
    """Rollouts run on the main rank while the others wait for its samples: on the default group they gave up after
    its timeout (30 minutes, NCCL's 10: shorter than a rollout of long think traces). They wait on a group of
    their own now (ROLLOUT_TIMEOUT), here through a first rollout three times the default group's timeout (one
    such wait is the defect; a second slow rollout only added 9 s), and a second iteration after it. The launch is
    rl_runs' (AXK1_SLOW_ROLLOUT_S in RL_RUNNER): a rank that gave up would have failed it."""
    assert len(rl_runs[1]) == 2


def test_torchrun_rl_with_groups_that_do_not_divide_over_the_ranks(tmp_path):
    """group_size 3 on 2 ranks, one completion a micro-batch: rank 0 takes two of a minibatch's three completions,
    rank 1 one and a padding micro-batch (a loss, gradients and statistics of nothing) so that both run as many
    forwards and backwards. The run is the one process's: at 1,024 ranks a group needed 1,024 completions before.
    With a KL term, the frozen reference is sharded as the policy (it was a whole copy on every rank)."""
    from axk1.posttrain.tasks import generate_tasks, write_jsonl

    folder = make_model_folder(tmp_path / "base")
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, generate_tasks(12, seed=0, kinds=("math",), levels=(1,)))
    env = launch_env(tmp_path, PYTHONPATH=str(ROOT))

    def recipe(out: str, parallel: str = "") -> Path:
        path = tmp_path / f"{out}.toml"
        path.write_text(rl_recipe_text(folder, tasks, tmp_path / out, parallel).replace(
            "group_size = 4", "group_size = 3\nbeta = 0.1").replace("micro_batch = 2", "micro_batch = 1"))
        return path

    one, two = run_rl_one_and_two(tmp_path, recipe("one"), recipe("two", "[parallelism]\ndp_shard = 2\nep = 2"), env)
    assert len(one) == len(two) == 2
    for a, b in zip(one, two):
        assert (a["reward_mean"], a["samples_kept"]) == (b["reward_mean"], b["samples_kept"])
        assert b["loss"] == pytest.approx(a["loss"], abs=5e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
        # the padding's statistics are left out: the means are over the same three completions
        for key in ("entropy", "ratio_mean", "clip_frac", "kl_mean"):  # kl: the reference sharded as the policy
            assert b[key] == pytest.approx(a[key], abs=1e-5), key
        # nor do its routed tokens move the balancing bias (they did: the drift was another run's)
        assert b["expert_drift_mean"] == pytest.approx(a["expert_drift_mean"], rel=1e-4, abs=1e-9)
        assert b["update_tokens_per_s"] > 0
