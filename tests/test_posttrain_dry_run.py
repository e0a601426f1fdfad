"""`axk1 sft|rl RECIPE --dry-run --world-size N`: a post-training recipe checked for a launch of N ranks as `axk1 train`
checks a pretraining recipe (mesh, the step's rows over the data-parallel ranks, memory per GPU from the trainer's
account; RL's with its log-probability head, KL reference and rollout replica, measured here on one process), and
the 519B SFT recipe passes for its 1,024 GPUs against a folder laid out as the release is."""

import json

import pytest

from axk1.cli import main
from axk1.config import ModelConfig
from tests.posttrain_helpers import release_folder

RECIPE = "recipes/posttrain/axk1-519b-sft.toml"


@pytest.fixture(scope="module")
def release_weights(tmp_path_factory):
    """A folder as the released A.X K1's is laid out (config.json, tokenizer.json, safetensors headers)."""
    folder = release_folder(tmp_path_factory.mktemp("release"))
    (folder / "tokenizer.json").write_text("{}")  # the dry run reads no token: it checks the file is there
    return folder


@pytest.fixture
def release(release_weights, tmp_path):
    """The release folder (a copy of its small files; the shards linked) and chat data."""
    folder = tmp_path / "A.X-K1"
    folder.mkdir()
    for file in release_weights.iterdir():
        if file.suffix == ".safetensors":
            (folder / file.name).symlink_to(file)
        else:
            (folder / file.name).write_bytes(file.read_bytes())
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "1+1?"},
                                             {"role": "assistant", "content": "<think>1+1=2</think>2"}]}) + "\n")
    return ["--model.init_from", str(folder), "--sft.data", json.dumps([str(data)])]


def test_the_519b_sft_recipe_passes_for_its_1024_gpus(release, capsys):
    assert main(["sft", RECIPE, "--dry-run", "--world-size", "1024", *release]) == 0
    out = capsys.readouterr().out
    assert "ok: the recipe passes" in out and "dp_shard 512" in out
    row = next(line for line in out.splitlines() if line.startswith("sft "))
    assert row.split()[1:5] == ["32768", "1,024", "1", "1"]  # seq_len, rows a step, per rank, micro-batches
    assert float(row.split()[-1]) < 141 * 0.92


def test_an_sft_launch_that_cannot_run_is_refused_with_each_reason(release, capsys):
    """Rows that do not divide over the ranks, a world the mesh does not make, and 64K rows over the GPU's memory
    without recompute: every problem listed at once, exit 1, nothing built."""
    code = main(["sft", RECIPE, "--dry-run", "--world-size", "512", *release, "--batch.global_sequences", "1000",
                 "--parallelism.activation_checkpointing", "none", "--sft.seq_len", "65536"])
    out = capsys.readouterr().out
    assert code == 1
    assert "the job has 512 ranks" in out
    assert "1,000 sequences per step do not divide over 512 data-parallel ranks" in out
    assert "at seq_len 65536" in out and "OVER" in out and "activation_checkpointing" in out


def test_the_advice_for_a_step_that_does_not_fit_is_for_its_largest_term(release, capsys):
    """128K rows with dp_shard already the whole world: activations (197 GB) dominate, which sharding does not
    shrink, yet the advice was to shard over more ranks (dp_shard) and never named cp; with cp = 4 it fits."""
    long_rows = ["sft", RECIPE, "--dry-run", *release, "--sft.seq_len", "131072", "--parallelism.dp_replicate", "1",
                 "--parallelism.dp_shard", "1024"]
    assert main([*long_rows, "--world-size", "1024"]) == 1
    problem = next(line for line in capsys.readouterr().out.splitlines() if "GB per GPU >" in line)
    assert "activations (197.0 GB) is the largest term: raise [parallelism] cp (now 1" in problem
    assert "shorten [sft] seq_len" in problem and "dp_shard" not in problem
    assert main([*long_rows, "--world-size", "4096", "--parallelism.cp", "4"]) == 0
    capsys.readouterr()
    # 128-fold replicas of a state sharded 8 ways: the state is the term, and dp_shard what shrinks it
    assert main(["sft", RECIPE, "--dry-run", "--world-size", "1024", *release, "--sft.seq_len", "4096",
                 "--parallelism.dp_replicate", "128", "--parallelism.dp_shard", "8"]) == 1
    problem = next(line for line in capsys.readouterr().out.splitlines() if "GB per GPU >" in line)
    assert "state (" in problem and "raise [parallelism] dp_shard (now 8; dp_replicate = 128 copies it)" in problem


def test_a_template_folder_without_a_tokenizer_is_named_when_the_recipe_is_read(release, tmp_path, capsys):
    (tmp_path / "A.X-K1" / "tokenizer.json").unlink()
    assert main(["sft", RECIPE, "--dry-run", "--world-size", "1024", *release]) != 0
    err = capsys.readouterr().err
    assert "has no tokenizer.json" in err and "template_from" in err and "Traceback" not in err


def test_launch_flags_without_dry_run_are_refused(release, capsys):
    assert main(["sft", RECIPE, "--world-size", "1024", *release]) != 0
    assert "add --dry-run" in capsys.readouterr().err


def _rl_release(release, tmp_path):
    """The release folder with a real tokenizer (RL renders the tasks' prompts to size its rows) and task files."""
    from axk1.posttrain.tasks import generate_tasks, write_jsonl
    from tests.serve_helpers import make_model_folder

    folder = tmp_path / "A.X-K1"
    tokenizer = make_model_folder(tmp_path / "tok")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (folder / name).write_bytes((tokenizer / name).read_bytes())
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, generate_tasks(40, seed=0, kinds=("math",), levels=(1,)))
    return ["--model.init_from", str(folder), "--rl.tasks", json.dumps([str(tasks)])]


RL_519B = "recipes/posttrain/axk1-519b-rl.toml"


def test_rl_at_519b_needs_a_rollout_server_and_fits_with_one(release, tmp_path, capsys):
    """`axk1 rl --dry-run` of the 519B RL recipe: 256 prompts x 16 completions of up to 32K tokens on 1,024 GPUs.
    Without [rl] server_url the main rank would load a whole replica (2 TB: this config names no dtype, so fp32)
    for rollouts: refused with the reason; with a server the step fits, the log-probability head's fp32 copies and
    a KL reference counted."""
    argv = ["rl", RL_519B, "--dry-run", "--world-size", "1024", *_rl_release(release, tmp_path)]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "whole replica of the model" in out and "server_url" in out
    assert main([*argv, "--rl.server_url", "http://10.0.0.5:8000", "--rl.beta", "0.01"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("rl "))
    seq_len, completions, per_rank = int(row.split()[1]), int(row.split()[2].replace(",", "")), int(row.split()[3])
    assert 32768 < seq_len < 32768 + 200 and completions == 2048 and per_rank == 2  # 2 updates: 128 x 16 a step
    assert "ok: the recipe passes" in out and "padding" not in out
    # --max-steps is RL's iterations in the dry run too (a recipe's [run] max_steps is refused: RL does not read it);
    # 10 iterations of 2 updates are the recipe's 20 warmup steps (fewer would never reach the peak: refused)
    assert main([*argv, "--rl.server_url", "http://10.0.0.5:8000", "--max-steps", "10"]) == 0


def test_the_demo_rl_recipe_on_1024_ranks_is_refused_for_its_idle_ranks(release, tmp_path, capsys):
    """The README's 519B RL dry run used the demo's rl.toml: 64 completions a step on 1,024 ranks (960 of them
    computing padding only) passed with a note and "ok". Now a step more than half padding is a problem; the 519B
    recipe carries the GSPO paper's clip ranges for long completions and pushes bf16."""
    argv = ["rl", "recipes/posttrain/rl.toml", "--dry-run", "--world-size", "1024", *_rl_release(release, tmp_path),
            "--rl.server_url", "http://10.0.0.5:8000", "--parallelism.dp_replicate", "2", "--parallelism.dp_shard",
            "512", "--parallelism.ep", "8", "--parallelism.precision", "bf16"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "64 completions an optimizer step over 1,024 data-parallel ranks: 94% of the rows" in out
    assert "ok: the recipe passes" not in out and "1 problem(s)" in out  # the layout itself fits
    from axk1.posttrain.rl_recipe import load_rl_recipe

    rl = load_rl_recipe(RL_519B, _rl_release(release, tmp_path)).rl
    assert (rl.clip_low, rl.clip_high, rl.push_dtype) == (3e-4, 4e-4, "bfloat16")


def test_an_rl_step_stays_within_its_account(tmp_path, monkeypatch):
    """One process, fp32, one RL update under MemTracker: the peak stays under the account, and what is not weights
    or optimizer state (activations, the log-probability head's buffers) is within 15% of the account's terms."""
    import torch
    from torch.distributed._tools.mem_tracker import MemTracker

    import axk1
    import axk1.posttrain.rl as rl
    from axk1.posttrain.rl_memory import rl_step_memory
    from axk1.posttrain.rl_recipe import parse_rl_recipe
    from axk1.posttrain.tasks import generate_tasks, write_jsonl
    from tests.serve_helpers import make_model_folder

    config = axk1.ModelConfig.from_preset("axk1-tiny").replace(vocab_size=4096, hidden_size=128)
    folder = make_model_folder(tmp_path / "base", config=config)
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, generate_tasks(8, seed=0, kinds=("math",), levels=(1,)))
    B, P, C = 4, 24, 40
    raw = {"model": {"init_from": str(folder), "mtp_depth": 0},
           "rl": {"tasks": [str(tasks)], "modes": ["think"], "prompts_per_step": 1, "group_size": B,
                  "max_new_tokens": C, "updates_per_batch": 1, "overlong": "none", "export": False},
           "batch": {"micro_batch": B}, "parallelism": {"precision": "fp32", "activation_checkpointing": "none"},
           "logging": {"progress": False}, "run": {"out_dir": str(tmp_path / "out"), "threads": 1, "device": "cpu"}}
    trainer = rl.RLTrainer(parse_rl_recipe(raw, tmp_path))
    g = torch.Generator().manual_seed(0)
    samples = [{"prompt": torch.randint(8, 4000, (P,), generator=g).tolist(),
                "completion": torch.randint(8, 4000, (C,), generator=g).tolist(), "reward": float(i % 2),
                "truncated": False} for i in range(B)]
    trainer.update(samples, 0)  # the optimizer's state exists from here on
    tracker = MemTracker()
    tracker.track_external(trainer.policy, trainer.optimizer)
    with tracker:
        trainer.update(samples, 1)
    peak = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
    account = rl_step_memory(trainer.config, dp_shard=1, ep=1, seq_len=P + C, micro_batch=B, recompute=False,
                             precision="fp32", one_process=True, completion_tokens=B * C, kl_reference=False,
                             accelerator=False)
    assert peak["Total"] <= (account.total - account.reserved) * 1e9
    not_state = peak["Activation"] + peak["Temp"] + peak["Other"]
    assert not_state == pytest.approx((account.gathered + account.loss + account.activations) * 1e9, rel=0.15)
    trainer.release()


def test_the_log_prob_heads_memory_counts_at_the_moment_it_runs():
    """The head's backward peak (12.5 GB at A.X K1's vocabulary) was added to whichever moment of the pretraining
    account was largest: with 4K rows that is the backward's end (every gradient, no activation), long after the
    head's memory is freed: 63.4 GB for a step that peaks near 51. It now counts at the forward's end, where the
    head's backward runs, and the step's account is the largest moment."""
    from axk1.posttrain.rl_memory import logprob_head_bytes, rl_step_memory
    from axk1.train.memory import step_moments

    c = ModelConfig.from_preset("axk1-519b")
    layout = dict(dp_shard=512, ep=8, seq_len=4096, micro_batch=1, precision="bf16", one_process=False)
    moments = step_moments(c, mtp_depth=0, recompute=True, **layout)
    step = rl_step_memory(c, recompute=True, completion_tokens=2048, kl_reference=False, **layout)
    assert step == moments["backward_end"] and step.loss == 0 and step.total < 52
    head = logprob_head_bytes(c, 2048, "bf16") / 1e9
    # without recompute the forward's end, every activation held, is the peak: with the head's memory there
    forward_end = step_moments(c, mtp_depth=0, recompute=False, **layout)["forward_end"]
    step = rl_step_memory(c, recompute=False, completion_tokens=2048, kl_reference=False, **layout)
    assert step.loss == pytest.approx(head) and step.activations == forward_end.activations


def _tiny_folder(path, config: ModelConfig | None = None, with_mtp: bool = True):
    """A tiny model folder (weights saved from `config`, by default the tiny preset's) with the tokenizer file the
    dry run looks for; returns the folder."""
    import torch

    from axk1 import save_pretrained
    from axk1.model import AXK1ForCausalLM

    torch.manual_seed(0)
    save_pretrained(AXK1ForCausalLM(config or ModelConfig.from_preset("axk1-tiny"), with_mtp=with_mtp), path)
    (path / "tokenizer.json").write_text("{}")
    return path


def _rewrite_config(folder, **fields) -> None:
    raw = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**raw, **fields}))


def _past_mtp_layer(folder) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "mtp.safetensors")
    tensors["model.layers.99.input_layernorm.weight"] = tensors["model.layers.3.input_layernorm.weight"].clone()
    save_file(tensors, folder / "mtp.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize("case, preset, said", [
    ("another size", True, r"has shape \(512, 48\), the recipe's model needs \(512, 64\).*hidden_size: 48 -> 64"),
    ("weights not its config's", False, r"has shape \(512, 64\), the recipe's model needs \(1024, 64\); .*config\.json "
                                        "describes the recipe's model, so it does not describe these weights"),
    ("another layer count", True, r"config\.json has num_hidden_layers = 2, the recipe's model 3"),
    ("a layer past its MTP layer", False, r"'model\.layers\.99\.input_layernorm\.weight' .* past the 3 layers and 1 "
                                          "MTP layer"),
], ids=["another size", "weights not its config's", "another layer count", "a layer past its MTP layer"])
def test_the_dry_run_refuses_an_init_from_folder_the_run_would_refuse(tmp_path, capsys, case, preset, said):
    """`axk1 sft --dry-run` compared nothing of [model] init_from's weights with the recipe's model: a folder of
    another size passed "ok" and the launch failed once it had built the model. Now the run's own check (names and
    shapes on the files' headers) is a problem of the dry run, with the run's words, and no traceback."""
    import re

    from axk1.checkpoint.hf_sharded import load_hf_sharded_
    from axk1.model import AXK1ForCausalLM

    tiny = ModelConfig.from_preset("axk1-tiny")
    folder = tmp_path / "base"
    if case == "another size":
        _tiny_folder(folder, tiny.replace(hidden_size=48))
    elif case == "weights not its config's":
        _rewrite_config(_tiny_folder(folder), vocab_size=1024)
    elif case == "another layer count":
        _tiny_folder(folder, tiny.replace(num_hidden_layers=2))
    else:
        _past_mtp_layer(_tiny_folder(folder))
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "1+1?"},
                                             {"role": "assistant", "content": "2"}]}) + "\n")
    argv = ["sft", "recipes/posttrain/sft-think.toml", "--dry-run", "--model.init_from", str(folder), "--sft.data",
            json.dumps([str(data)]), *(["--model.preset", "axk1-tiny"] if preset else [])]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    problem = next(line for line in out.splitlines() if line.startswith("problem: "))
    assert problem.startswith("problem: [model] init_from") and re.search(said, problem)
    assert "Traceback" not in out + err and "ok: the recipe passes" not in out
    # the run, loading the folder, refuses it in the same words
    config = ModelConfig.from_pretrained(folder) if not preset else tiny
    with pytest.raises(ValueError) as refused:
        load_hf_sharded_(AXK1ForCausalLM(config, with_mtp=False), folder)
    assert problem == f"problem: {refused.value}"


def test_the_dry_run_passes_a_folder_whose_mtp_layer_the_recipe_does_not_train(tmp_path, capsys):
    """sft-think.toml trains without MTP (mtp_depth = 0) from a folder with an MTP layer: the layer is not used."""
    folder = _tiny_folder(tmp_path / "base")
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "1+1?"},
                                             {"role": "assistant", "content": "2"}]}) + "\n")
    assert main(["sft", "recipes/posttrain/sft-think.toml", "--dry-run", "--model.init_from", str(folder),
                 "--sft.data", json.dumps([str(data)])]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out
