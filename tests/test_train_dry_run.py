"""`axk1 train RECIPE --dry-run --world-size N` (docs/gpu.md): the recipe checked for a launch of N ranks without
building anything — mesh, every stage's batch over the data-parallel ranks, memory per GPU from the trainer's own
account — and the planner's recipes pass it."""

import pytest
import torch

from axk1.cli import main
from axk1.train.dry_run import dry_run
from axk1.train.memory import RESERVED_BYTES, STATE_BYTES_PER_PARAM, step_memory
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


def test_the_519b_recipe_passes_for_its_1024_gpus(capsys):
    assert main(["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024"]) == 0
    out = capsys.readouterr().out
    assert "ok: the recipe passes" in out and "32768" in out and "OVER" not in out


def test_the_old_519b_layout_is_refused_with_each_reason(capsys):
    """8 x 128 HSDP with 15,360 x 4,096 tokens a step: the long stages' batches do not divide 1,024 ranks and the 32K
    stage does not fit (the findings that made the recipe unstartable)."""
    code = main(["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024", "--parallelism.dp_replicate",
                 "8", "--parallelism.dp_shard", "128", "--batch.global_tokens", "62914560"])
    out = capsys.readouterr().out
    assert code == 1
    assert "1,920 sequences per step do not divide over 1024" in out and "3,840 sequences" in out
    assert "at seq_len 32768" in out and "GB per GPU >" in out and "OVER" in out


def test_a_launch_of_the_wrong_size_is_named(capsys):
    assert main(["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "512"]) == 1
    assert "the job has 512 ranks" in capsys.readouterr().out


def test_the_planners_recipe_passes_the_dry_run(tmp_path, capsys):
    assert main(["plan", "--gpu", "H200", "--gpus", "1024", "--days", "73", "-o", str(tmp_path / "plan")]) == 0
    assert main(["train", str(tmp_path / "plan" / "recipe.toml"), "--dry-run", "--world-size", "1024"]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out


def test_the_state_term_is_what_the_trainer_allocates(tmp_path):
    """One process: the master weights, gradients and AdamW moments the trainer holds after a step are the account's
    16 bytes per parameter."""
    trainer = Trainer(load_recipe(write_recipe(tmp_path)))
    trainer.train_step(0)
    # (layer 0's post-MoE norm has no MoE to follow, so it never gets a gradient: the account counts it anyway)
    trained = [p for p in trainer.model.parameters() if p.grad is not None]
    held = sum(p.numel() * p.element_size() + p.grad.numel() * p.grad.element_size() for p in trained)
    held += sum(t.numel() * t.element_size() for p in trained for k, t in trainer.optimizer.state[p].items()
                if k != "step")
    assert held == STATE_BYTES_PER_PARAM * sum(p.numel() for p in trained)
    n = sum(p.numel() for p in trainer.model.parameters())
    memory = step_memory(trainer.config, dp_shard=1, ep=1, seq_len=32, precision="fp32", mtp_depth=1)
    assert memory.state * 1e9 == STATE_BYTES_PER_PARAM * n
    assert torch.isfinite(torch.tensor(memory.total))


def test_the_planner_splits_long_context_over_cp_where_one_gpu_cannot_hold_it(tmp_path, capsys):
    """DeepSeek-V3's budget on 80 GB H800s: no layout holds a 32K sequence on one GPU, so the plan lays the run out
    with context parallelism (and MTP off, which the trainer cannot combine with it) and says so; the recipe passes
    the dry run at 32K."""
    out = tmp_path / "plan"
    assert main(["plan", "--gpu", "H800", "--gpus", "2048", "--days", "56.7", "--serve-precision", "fp8",
                 "-o", str(out)]) == 0
    recipe = load_recipe(out / "recipe.toml")
    assert recipe.parallelism.cp > 1 and recipe.model.mtp_depth == 0
    assert max(recipe.stages[-1].lengths()) == 32768
    assert "context parallel" in (out / "plan.md").read_text()
    capsys.readouterr()
    assert main(["train", str(out / "recipe.toml"), "--dry-run", "--world-size", "2048"]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out


def test_micro_batch_beyond_a_ranks_rows_counts_the_rows_it_has(capsys):
    """The trainer slices a rank's rows ids[s:s + micro_batch]: with 2 rows per rank, micro_batch 4 holds 2."""
    argv = ["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024"]
    main([*argv, "--batch.micro_batch", "2"])
    two = capsys.readouterr().out
    main([*argv, "--batch.micro_batch", "4"])
    four = capsys.readouterr().out
    row = [line for line in four.splitlines() if line.startswith("stage3-long-context            32768")]
    assert len(row) == 1 and row[0] in two.splitlines() and "143.4" in row[0]  # 2 rows a rank either way
    # recompute is already on: the advice does not ask for it
    assert "GB per GPU >" in four and "activation_checkpointing" not in four


def test_a_cuda_recipe_is_checked_on_a_host_without_a_gpu(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a login node
    assert main(["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024", "--device", "cuda"]) == 0
    assert "device cuda (not checked against this host's GPUs" in capsys.readouterr().out


def test_a_device_override_reaches_the_dry_run(capsys):
    assert main(["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024", "--run.device", "cpu"]) == 0
    assert "note: [run] device = \"cpu\": the 1024 ranks train on CPU with gloo" in capsys.readouterr().out


def test_an_explicit_cpu_recipe_passes_for_the_ranks_torchrun_runs_it_on(tmp_path, capsys):
    """`[run] device = "cpu"` under torchrun trains N ranks on CPU with gloo (the suite's 2-rank runs do): the dry
    run passes it, says so, and does not hold host memory to a GPU's HBM."""
    recipe = write_recipe(tmp_path, extra="[parallelism]\ndp_shard = 2")
    assert main(["train", str(recipe), "--dry-run", "--world-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "on 2 x CPU rank, device cpu" in out and "the 2 ranks train on CPU with gloo" in out
    assert "ok: the recipe passes" in out and "problem" not in out
    # 519B sharded over 8 ranks only: ~1 TB of state a rank, far over a GPU's HBM, which a CPU run does not use
    # (the table says whose memory it counts)
    narrow = ["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024", "--parallelism.dp_shard", "8",
              "--parallelism.dp_replicate", "128"]
    assert main([*narrow, "--device", "cuda"]) == 1
    assert "GB per GPU >" in capsys.readouterr().out
    assert main([*narrow, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "GB per rank, host memory" in out and "OVER" not in out and "GB per GPU >" not in out


def test_a_cpu_ranks_memory_has_no_gpu_reserve_and_the_table_says_what_it_counts(tmp_path, capsys):
    """A CPU run's table added a GPU's 6 GB reserve (CUDA context, NCCL) to every rank: 6.0 GB for a run whose
    ranks peak at 0.4 GB. The GPU figures (the planner's too) keep it; the table says what each column holds."""
    recipe = load_recipe(write_recipe(tmp_path, extra="[parallelism]\ndp_shard = 2"))
    cpu = dry_run(recipe, 2)
    recipe.run.device = "cuda"
    gpu = dry_run(recipe, 2)
    for row in cpu.rows:
        m = row.memory
        assert m.reserved == 0 and m.total == pytest.approx(m.state + m.gathered + m.loss + m.activations)
    assert [r.memory.reserved for r in gpu.rows] == [RESERVED_BYTES / 1e9] * len(gpu.rows)
    assert step_memory(recipe.model.build_config(), dp_shard=2, ep=1, seq_len=32).reserved == RESERVED_BYTES / 1e9
    assert main(["train", str(recipe.path), "--dry-run", "--world-size", "2"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")  # (the legend is wrapped)
    assert "rsv: a GPU's reserve" in out and "at its peak" in out


def test_world_size_without_dry_run_is_refused(capsys):
    assert main(["train", "recipes/axk1-519b.toml", "--world-size", "8"]) == 2
    assert "add --dry-run" in capsys.readouterr().err


def test_a_batch_with_both_sizes_is_advised_on_the_one_that_decides(capsys):
    """global_tokens wins over global_sequences (axk1.train.recipe.Recipe.sequences_per_step): a batch that does not
    divide is fixed by changing global_tokens, and a global_sequences beside it is named as ignored."""
    argv = ["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024", "--batch.global_tokens", "62914560",
            "--batch.global_sequences", "15360"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "make [batch] global_tokens a multiple of 1024 x the longest seq_len" in out
    assert "global_sequences a multiple" not in out
    assert "note: [batch] global_sequences = 15360 is ignored: global_tokens = 62,914,560 decides" in out


def test_a_device_the_trainer_cannot_run_on_is_refused_by_name(tmp_path, capsys):
    """torch knows "meta" and "mps" as devices; the trainer runs on CPU or CUDA only. Such a recipe used to pass
    the dry run and then fail training with a traceback from deep in torch."""
    import pytest

    recipe = write_recipe(tmp_path)
    for name in ("meta", "mps"):
        with pytest.raises(ValueError, match=rf"\[run\] device '{name}': axk1 runs on \"cpu\" or \"cuda\""):
            load_recipe(recipe, ["--run.device", name])
        assert main(["train", str(recipe), "--dry-run", "--device", name]) == 2
        assert f"device '{name}': axk1 runs on" in capsys.readouterr().err


def test_threads_and_seed_out_of_range_are_refused_before_the_run(tmp_path, capsys):
    """A negative [run] threads died in torch.set_num_threads with a traceback, and a negative [data] seed as
    numpy's bare "expected non-negative integer", both after the model was built: the recipe now refuses them. So
    are threads = 100000 (a segfault at the first matmul, no message) and a seed past 64 bits (torch's bare "Overflow
    when unpacking long long")."""
    recipe = write_recipe(tmp_path)
    threads = "[run] threads must be a whole number from 0 (torch's default) to 1024"
    for override, says in ((["--run.threads", "-2"], threads), (["--run.threads", "100000"], threads),
                           (["--data.seed", "-1"], "[data] seed must be >= 0"),
                           (["--data.seed", "99999999999999999999999999"], "[data] seed must be below 2**63"),
                           (["--run.seed", "-1"], "[run] seed must be >= 0"),
                           (["--run.seed", str(2**63)], "[run] seed must be below 2**63")):
        assert main(["train", str(recipe), "--dry-run", *override]) == 2
        assert says in capsys.readouterr().err


def test_a_schedule_that_does_not_fit_the_run_is_noted(tmp_path, capsys):
    """A warmup as long as the run, or a total_steps other than the stages' steps, is legal (a part of a longer
    run) but rarely meant: the dry run says what it does to the learning rate. The 519B recipe has neither. A warmup
    longer than the run, whose learning rate never reaches its peak, is refused when the recipe is read: 100,000
    on a 12-step run was accepted by `axk1 train`, silently (axk1/train/step_checks.py)."""
    recipe = write_recipe(tmp_path)  # two stages of 6 steps
    assert main(["train", str(recipe), "--dry-run", "--schedule.warmup_steps", "12"]) == 0
    assert "warmup_steps = 12 is the schedule's 12 steps: the learning rate reaches its peak on the last step only" \
        in capsys.readouterr().out
    for verb in (["--dry-run"], []):
        assert main(["train", str(recipe), *verb, "--schedule.warmup_steps", "100000"]) == 2
        assert ("[schedule] warmup_steps = 100,000 is more than the schedule's 12 steps (the stages' tokens over "
                "[batch]'s tokens a step): the learning rate would never reach its peak") in capsys.readouterr().err
    # a part of a longer run says so in total_steps
    assert main(["train", str(recipe), "--dry-run", "--schedule.warmup_steps", "100", "--schedule.total_steps",
                 "1000"]) == 0
    capsys.readouterr()
    assert main(["train", str(recipe), "--dry-run", "--schedule.total_steps", "10"]) == 0
    assert "total_steps = 10 but the stages take 12 steps: the learning rate schedule ends before the run" in \
        capsys.readouterr().out
    assert main(["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: a checkpoint holds"), notes  # the schedule fits


def test_the_dry_run_says_what_write_bandwidth_the_collective_timeout_asks_for(capsys):
    """A 519B checkpoint is ~6.3 TB and the ranks wait for the slowest writer: at the 600 s default timeout a file
    system slower than ~10 GB/s would stop a healthy launch at its first save, and nothing said so."""
    assert main(["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024",
                 "--run.collective_timeout_s", "600"]) == 0
    out = capsys.readouterr().out
    assert ("a checkpoint holds ~6.33 TB (527.69B parameters: fp32 weights and AdamW's two moments); the ranks wait "
            "for the slowest writer within [run] collective_timeout_s = 600 s, so the file system must write 10.6 GB/s "
            "or more in all") in out, out


def test_a_small_checkpoint_and_its_bandwidth_are_given_in_units_that_fit(tmp_path, capsys):
    """A tiny model's checkpoint read "~0.00 TB" and its bandwidth "6.9e-06 GB/s"."""
    recipe = write_recipe(tmp_path, extra="[parallelism]\ndp_shard = 2")
    assert main(["train", str(recipe), "--dry-run", "--world-size", "2"]) == 0
    note = next(line for line in capsys.readouterr().out.splitlines() if "a checkpoint holds" in line)
    size, rate = note.split("~")[1].split(" (")[0], note.split("must write ")[1].split(" or more")[0]
    assert size.endswith((" KB", " MB")) and rate.endswith((" KB/s", " MB/s")), note
    assert 1 <= float(size.split()[0]) < 1000 and 1 <= float(rate.split()[0]) < 1000, note


def test_validation_rows_that_do_not_divide_over_the_ranks_are_named(capsys):
    """Every rank measures as many held-out rows: 16 rows on 1,024 data-parallel ranks would leave 1,008 ranks
    waiting for ever in the first validation's collectives."""
    args = ["train", "recipes/axk1-519b.toml", "--dry-run", "--world-size", "1024", "--validation.held_out", "0.001"]
    assert main(args + ["--validation.sequences", "16"]) == 1
    assert "[validation] sequences = 16 does not divide over 1024 data-parallel ranks" in capsys.readouterr().out
    assert main(args + ["--validation.sequences", "2048"]) == 0


def test_what_the_trainer_refuses_about_the_shards_the_dry_run_refuses_too(tmp_path, capsys):
    """A mixture domain no shard holds (a typo), a bucket none has, a model vocabulary below the tokenizer's: the
    dry run printed "ok" for each (and a budget row of a domain read infinitely often), the real run refused it.
    Now it reads the manifest as the trainer does and names the problem."""
    recipe = write_recipe(tmp_path)
    assert main(["train", str(recipe), "--dry-run"]) == 0
    capsys.readouterr()
    for override, named in [(["--stages.0.mixture", "{ wbe = 1.0 }"], "mixture domain(s) ['wbe']"),
                            (["--stages.0.buckets", '["d9"]'], "buckets ['d9']"),
                            (["--model.overrides", "{ vocab_size = 10 }"], "vocab_size is 10")]:
        assert main(["train", str(recipe), "--dry-run", *override]) == 1, override
        out = capsys.readouterr().out
        assert "problem:" in out and named in out and "ok: the recipe passes" not in out, out


def test_global_tokens_that_are_not_whole_sequences_are_noted(tmp_path, capsys):
    """`global_tokens = 100` at seq_len 32 trains 3 sequences (96 tokens) a step: floored without a word before."""
    recipe = write_recipe(tmp_path)
    assert main(["train", str(recipe), "--dry-run", "--batch.global_tokens", "100"]) == 0
    assert "global_tokens = 100 is not a multiple of seq_len 32: a step at that length takes 3 sequences = 96 " \
           "tokens" in capsys.readouterr().out
    assert main(["train", str(recipe), "--dry-run", "--batch.global_tokens", "256"]) == 0
    assert "not a multiple" not in capsys.readouterr().out


def test_a_dry_run_under_torchrun_checks_the_launch_it_runs_in(tmp_path, capsys, monkeypatch):
    """`torchrun --nproc-per-node 2 -m axk1 train RECIPE --dry-run` of a one-rank recipe said "ok"; the real 2-rank
    launch then failed. Without --world-size the dry run takes torchrun's WORLD_SIZE."""
    recipe = write_recipe(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", str(recipe), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "on 2 x CPU rank" in out and "problem:" in out, out
    assert main(["train", str(recipe), "--dry-run", "--parallelism.dp_shard", "2"]) == 0


def test_the_dry_run_refuses_an_init_from_folder_of_another_size(tmp_path, capsys):
    """[model] init_from's folder against the recipe's model, as the run checks it when it loads the folder: a
    folder of another width is a problem of the dry run (`axk1 sft|rl --dry-run` make the same check)."""
    from axk1 import ModelConfig, save_pretrained
    from axk1.model import AXK1ForCausalLM

    save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny").replace(hidden_size=48)), tmp_path / "other")
    recipe = write_recipe(tmp_path, sections={"model": 'init_from = "other"'})
    assert main(["train", str(recipe), "--dry-run"]) == 1
    out, err = capsys.readouterr()
    assert "problem: [model] init_from: tensor " in out and "has shape (512, 48)" in out
    assert "hidden_size: 48 -> 64" in out
    assert "Traceback" not in out + err
    save_pretrained(AXK1ForCausalLM(ModelConfig.from_preset("axk1-tiny")), tmp_path / "other")
    assert main(["train", str(recipe), "--dry-run"]) == 0
    assert "ok: the recipe passes" in capsys.readouterr().out


def test_a_micro_batch_that_does_not_divide_a_ranks_rows_is_noted(tmp_path, capsys):
    """8 rows a step in micro-batches of 3 run as 3 + 3 + 2: the loss is the same, but each step has a second shape
    (a recompile under torch.compile). Nothing said it before."""
    recipe = write_recipe(tmp_path)  # global_sequences 8, one rank
    assert main(["train", str(recipe), "--dry-run", "--batch.micro_batch", "3"]) == 0
    assert "8 rows per rank in micro-batches of 3: the last holds 2" in capsys.readouterr().out
    assert main(["train", str(recipe), "--dry-run", "--batch.micro_batch", "4"]) == 0
    assert "micro-batches of" not in capsys.readouterr().out


def test_a_micro_batch_that_does_not_divide_a_ranks_rows_is_noted_when_the_run_starts(tmp_path, capsys):
    """The dry run said it; a launch without one trained 3 + 3 + 2 a step and said nothing. The note names the rows,
    the micro_batch and the divisors near it that avoid the second shape."""
    from axk1.train.dry_run import micro_batch_notes

    recipe = write_recipe(tmp_path)  # global_sequences 8, one rank
    assert main(["train", str(recipe), "--max-steps", "1", "--batch.micro_batch", "3"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "micro-batches of" in line]
    assert notes == [f"note: stage {s!r} at seq_len 32: 8 rows per rank in micro-batches of 3: the last holds 2 (a "
                     "second shape each step, recompiled under compile); set [batch] micro_batch to a divisor of 8 (2 "
                     "or 4) to avoid it" for s in ("s1", "s2")]
    # over two data-parallel ranks each holds 4 rows; a micro_batch that divides them, or past them, says nothing
    assert micro_batch_notes(load_recipe(recipe, ["--batch.micro_batch", "3"]), 2)[0].startswith(
        "stage 's1' at seq_len 32: 4 rows per rank in micro-batches of 3: the last holds 1")
    for fits in ("4", "8", "16"):
        assert micro_batch_notes(load_recipe(recipe, ["--batch.micro_batch", fits]), 1) == []


@pytest.mark.parametrize("world_size", [1, 2, 4])
@pytest.mark.parametrize("micro_batch", ["1", "3", "5", "16"])
def test_the_run_start_notes_are_the_dry_runs(tmp_path, world_size, micro_batch):
    """The notes a run says at its start (micro_batch_notes) and the dry run's are one account
    (dry_run.shape_micro_batches), as its table's rows per rank and micro-batches."""
    from axk1.train.dry_run import micro_batch_notes

    recipe = load_recipe(write_recipe(tmp_path), ["--batch.micro_batch", micro_batch])  # 8 sequences a step
    checked = dry_run(recipe, world_size)
    said = [note for note in checked.notes if "micro-batches of" in note]
    assert said == micro_batch_notes(recipe, world_size)
    assert [(r.per_rank, r.micro_batches) for r in checked.rows] == [
        (8 // world_size, -(-(8 // world_size) // min(int(micro_batch), 8 // world_size)))] * len(checked.rows)
    assert bool(said) == (8 // world_size % min(int(micro_batch), 8 // world_size) != 0)
