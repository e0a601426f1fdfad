"""Faults of a cluster during `axk1 rl` (and the post-training exports), injected into tiny CPU runs as
tests/test_train_faults.py does for `axk1 train`: a second run on the same output folder, SIGTERM, SIGKILL in the
middle of a checkpoint save, a full disk after the last checkpoint, damaged checkpoints, an unwritable --out."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

import axk1.posttrain.rl as rl
import axk1.posttrain.rl_rollout as rl_rollout
import axk1.posttrain.rl_update as rl_update
from axk1.checkpoint.dcp import list_steps, step_dir
from axk1.checkpoint.run_lock import LOCK_FILE, FolderInUse
from axk1.cli import main
from axk1.json_text import read_metrics_rows
from axk1.posttrain.rl_recipe import load_rl_recipe
from axk1.posttrain.tasks import generate_tasks, write_jsonl
from tests.serve_helpers import make_model_folder
from tests.rl_helpers import fake_scores, rl_toml_file
from tests.train_helpers import lock_held_elsewhere, strict_json_rows
from tests.warm_ranks import run_code

REPO = Path(__file__).resolve().parents[1]

# `axk1 ARGS...` with the loop's reward replaced by tests/test_posttrain_rl.py's fake one (the tiny model never
# answers right, so every real reward is equal and nothing would train), and one fault injected: SIGTERM sent to
# itself during iteration N, or a SIGKILL once iteration N's checkpoint is half written.
DRIVER = textwrap.dedent("""
    import os, signal, sys
    import torch.distributed.checkpoint as dcp
    import axk1.posttrain.rl as rl
    import axk1.posttrain.rl_rollout as rl_rollout
    from tests.rl_helpers import fake_scores
    from tests.train_helpers import kill_half_written, sigterm_during_step
    rl_rollout.score_all = fake_scores
    point, n, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if point == "sigterm-rl":
        real = rl.RLTrainer.rollout
        def rollout(self, iteration):
            if iteration == n - 1:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(self, iteration)
        rl.RLTrainer.rollout = rollout
    elif point == "sigterm-sft":
        sigterm_during_step(n)
    elif point == "writing":
        real_save = dcp.save
        def save(state, checkpoint_id, **kw):
            real_save(state, checkpoint_id=checkpoint_id, **kw)
            if checkpoint_id.endswith(f".step-{n:06d}.tmp"):
                kill_half_written(checkpoint_id)
        dcp.save = save
    from axk1.cli import main
    sys.exit(main(args))
""")


def _cli(point: str, n: int, *args) -> subprocess.CompletedProcess:
    """DRIVER in a process of its own, forked from a warm server (tests/warm_ranks.py: torch imported once)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return run_code(DRIVER, [point, str(n), *map(str, args)], env, timeout=120, cwd=REPO)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("rl-faults") / "base")


def _trajectory(jsonl: Path) -> list[tuple]:
    """What an exact resume must repeat: each iteration's rollout rewards and lengths, losses and gradient norms."""
    return [(r["step"], r["reward_mean"], r["response_len/think"], r["loss"], r["grad_norm"])
            for r in read_metrics_rows(jsonl)]


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> list[tuple]:
    """The rows of an uninterrupted 4-iteration run."""
    tmp = tmp_path_factory.mktemp("rl-reference")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rl_rollout, "score_all", fake_scores)
        assert main(["rl", str(rl_toml_file(tmp, folder))]) == 0
    return _trajectory(tmp / "run" / "metrics.jsonl")


def test_sigterm_stops_rl_after_the_iteration_with_a_checkpoint_and_resume_equals_the_whole_run(folder, tmp_path,
                                                                                               reference, monkeypatch,
                                                                                               capsys):
    """SIGTERM (Slurm's notice) killed `axk1 rl` at once: no checkpoint since the last interval (here: none at
    all) and no word. Now it ends the iteration, checkpoints it, exports nothing and says how to resume; the resumed
    run repeats the uninterrupted one, and its report counts the whole run."""
    recipe = rl_toml_file(tmp_path, folder, export=True)
    ckpts = tmp_path / "run" / "checkpoints"
    stopped = _cli("sigterm-rl", 2, "rl", recipe)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert (f"axk1 rl: stopped by SIGTERM at iteration 2 of 4 with a checkpoint in {ckpts}: run the same command "
            "with --resume to go on") in stopped.stderr
    assert list_steps(ckpts) == [2]
    assert not (tmp_path / "run" / "model").exists() and not (tmp_path / "run" / "rl_report.json").exists()
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    assert main(["rl", str(recipe), "--resume"]) == 0
    assert f"resuming from {step_dir(ckpts, 2)} (iteration 2 of 4)" in capsys.readouterr().out
    assert _trajectory(tmp_path / "run" / "metrics.jsonl") == reference  # bitwise
    assert json.loads((tmp_path / "run" / "rl_report.json").read_text())["iterations"] == 4
    assert (tmp_path / "run" / "model" / "config.json").exists()


def test_a_kill_in_the_middle_of_an_rl_save_resumes_from_the_last_complete_checkpoint(folder, tmp_path, reference,
                                                                                       monkeypatch, capsys):
    """SIGKILL while iteration 3's checkpoint is written: --resume says where it starts, never reads the broken
    folder, repeats the uninterrupted run, and no temp folder outlives it."""
    recipe = rl_toml_file(tmp_path, folder)
    ckpts = tmp_path / "run" / "checkpoints"
    killed = _cli("writing", 3, "rl", recipe, "--checkpointing.interval_steps", 1, "--checkpointing.keep_latest", 1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert list_steps(ckpts) == [2]
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    assert main(["rl", str(recipe), "--resume"]) == 0
    assert f"resuming from {step_dir(ckpts, 2)} (iteration 2 of 4)" in capsys.readouterr().out
    assert _trajectory(tmp_path / "run" / "metrics.jsonl") == reference
    assert not [p.name for p in ckpts.iterdir() if p.name.startswith(".") and p.name != LOCK_FILE]


def test_sigterm_stops_sft_without_exporting_the_unfinished_model(folder, tmp_path):
    """A SIGTERM-stopped `axk1 sft` (the Trainer's stop) went on to export its checkpoint as `model/` and exit 0,
    as if training were complete. Now it exports nothing and says how to resume, as `axk1 train` does."""
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"What is {i}?"},
                                                     {"role": "assistant", "content": f"It is {i}.",
                                                      "reasoning_content": f"{i} is {i}"}]}) + "\n"
                            for i in range(8)))
    recipe = tmp_path / "sft.toml"
    recipe.write_text(f'[model]\ninit_from = "{folder}"\nmtp_depth = 0\n[sft]\ndata = ["{data}"]\nmode = "think"\n'
                      'seq_len = 96\nepochs = 2\n[schedule]\nkind = "constant"\n[batch]\nglobal_sequences = 2\n'
                      'micro_batch = 2\n[checkpointing]\ninterval_steps = 100\n[logging]\nprogress = false\n'
                      f'[run]\nout_dir = "{tmp_path / "run"}"\nthreads = 1\n')
    stopped = _cli("sigterm-sft", 2, "sft", recipe)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert re.search(r"axk1 sft: stopped by SIGTERM at step 2 of \d+ with a checkpoint in .*: run the same command "
                     "with --resume", stopped.stderr)
    assert list_steps(tmp_path / "run" / "checkpoints") == [2] and not (tmp_path / "run" / "model").exists()


def test_a_second_rl_run_on_a_folder_in_use_is_refused_and_a_dead_runs_lock_is_taken_over(folder, tmp_path,
                                                                                          monkeypatch):
    """Two `axk1 rl` on one --out ran side by side (the second truncating the first's metrics, both writing and
    pruning one checkpoints folder). The output folder's lock names the live holder, and so does one for a
    checkpoints folder outside it; a killed holder's lock file is taken over."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    recipe = load_rl_recipe(rl_toml_file(tmp_path, folder, iterations=1))
    out = Path(recipe.run.out_dir)
    shared = tmp_path / "shared-checkpoints"
    outside = load_rl_recipe(rl_toml_file(tmp_path, folder, iterations=1), ["--checkpointing.dir", str(shared)],
                             out_dir=str(tmp_path / "other"))
    with lock_held_elsewhere(out) as holder, lock_held_elsewhere(shared):
        with pytest.raises(FolderInUse, match=rf"^{re.escape(str(out))} is in use by another training run \(process "
                                              rf"{holder.pid} on .*another --out folder$"):
            rl.RLTrainer(recipe, resume=True)
        with pytest.raises(FolderInUse, match=rf"^{re.escape(str(shared))} is in use"):
            rl.RLTrainer(outside)
    rl.run_rl(recipe)
    assert (out / LOCK_FILE).read_text().split()[0] == str(os.getpid()) and list_steps(out / "checkpoints") == [1]


def test_an_unwritable_output_folder_is_refused_at_the_start(folder, tmp_path):
    """An --out that cannot be made (a file in its path) while the checkpoints go elsewhere: a bare 'Not a
    directory' before; now the run says to give it another --out folder."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    recipe = load_rl_recipe(rl_toml_file(tmp_path, folder), ["--checkpointing.dir", str(tmp_path / "ckpts")],
                            out_dir=str(blocker / "run"))
    with pytest.raises(PermissionError, match=rf"the run cannot write to {re.escape(str(blocker))}/run \(Not a "
                                              "directory\\): give this run another --out folder, one you can "
                                              "write to"):
        rl.RLTrainer(recipe)


def test_damaged_rl_checkpoints_are_named_with_the_way_back(folder, tmp_path, monkeypatch):
    """A train state without RL's counters failed on a bare KeyError; a step folder copied from another step
    resumed that step's iteration under the folder's name without a word."""
    import shutil

    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    recipe = load_rl_recipe(rl_toml_file(tmp_path, folder, iterations=2), ["--checkpointing.interval_steps", "1"])
    rl.run_rl(recipe)
    ckpts = Path(recipe.checkpointing.dir)
    shutil.copytree(step_dir(ckpts, 2), step_dir(ckpts, 5))
    with pytest.raises(ValueError, match=r"train_state.json says iteration 2, not its folder's 5: the folder was "
                                         "copied"):
        rl.RLTrainer(recipe, resume=True)
    state = step_dir(ckpts, 5) / "train_state.json"
    state.write_text('{"state": {"step": 5}, "model_config": {}}')
    with pytest.raises(ValueError, match=r"does not hold RL's counters .*move the step folder out"):
        rl.RLTrainer(recipe, resume=True)
    shutil.rmtree(step_dir(ckpts, 5))
    assert rl.RLTrainer(recipe, resume=True).state.step == 2


class _FullDisk:
    """A file opened for writing on a full disk: the first write fails with ENOSPC."""

    def __init__(self, path):
        self.f = open(path, "w")

    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_a_full_disk_after_the_last_checkpoint_names_the_output_and_resume_writes_it(folder, tmp_path, monkeypatch,
                                                                                    capsys):
    """The disk filling once training was complete: the export ended in safetensors' SafetensorError traceback,
    and rl_report.json was left empty with an error naming no file. Now each names what failed, says that training
    is complete, and `--resume` (nothing left to train) writes it."""
    from safetensors import SafetensorError

    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    recipe = rl_toml_file(tmp_path, folder, iterations=1, export=True)
    run = tmp_path / "run"

    def no_space(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr("axk1.checkpoint.folder.save_file", no_space)
    assert main(["rl", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"No space left on device \(os error 28\): exporting the model to {re.escape(str(run))}/model "
                     rf"failed after training was complete \(its checkpoint, step 1, is in {re.escape(str(run))}/"
                     r"checkpoints\)\. Free space there .*run the same command with --resume", err), err
    monkeypatch.undo()
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    real_open = Path.open

    def open_(self, mode="r", *args, **kwargs):
        return _FullDisk(self) if "rl_report.json" in self.name and "w" in mode else real_open(self, mode, *args,
                                                                                                **kwargs)

    monkeypatch.setattr(Path, "open", open_)
    assert main(["rl", str(recipe), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"No space left on device: writing {run / 'rl_report.json'} failed after training was complete" in err, err
    assert not [p.name for p in run.iterdir() if "rl_report" in p.name]  # no empty or partial report left
    monkeypatch.setattr(Path, "open", real_open)
    assert main(["rl", str(recipe), "--resume"]) == 0
    assert (run / "model" / "config.json").exists()
    assert json.loads((run / "rl_report.json").read_text()) == {"skipped_iterations": 0, "model_changed": True,
                                                                "iterations": 1}


def test_a_demo_stage_stopped_by_sigterm_ends_the_demo(folder, monkeypatch, capsys, tmp_path):
    """A stage stopped by SIGTERM has a checkpoint and no model folder: the demo went on to Path(None) (a TypeError
    traceback) instead of ending as the stage did."""
    from axk1.posttrain import pipeline

    monkeypatch.setattr(pipeline, "run_sft", lambda recipe, start_over: {
        "stopped_by": "SIGTERM", "model_dir": None, "data": {"kept_rows": 8}, "rows": [{"loss": 6.0}, {"loss": 5.0}]})
    with pytest.raises(SystemExit) as stop:
        (tmp_path / "chat.jsonl").write_text("")
        pipeline._sft("sft-think.toml", folder, [tmp_path / "chat.jsonl"], tmp_path / "out", None)
    assert stop.value.code == 128 + signal.SIGTERM
    assert "axk1 demo: SFT (sft-think.toml) stopped by SIGTERM; the demo's stages start over" in capsys.readouterr().err


def test_a_resume_that_would_train_another_rl_run_is_refused(folder, tmp_path, monkeypatch):
    """--resume took any recipe: another learning rate, other task rows under the same path, or more iterations of a
    schedule whose length follows them went on from the checkpoint without a word, as if the run were the same."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    path = rl_toml_file(tmp_path, folder, iterations=1)
    rl.run_rl(load_rl_recipe(path, ["--schedule.kind", "cosine"]))
    with pytest.raises(ValueError, match=r"--resume: the recipe differs from the run checkpointed in .*step-000001 in "
                                         r"what defines the run \(checkpoint -> recipe\): optimizer.lr: 0.01 -> 0.02"):
        rl.RLTrainer(load_rl_recipe(path, ["--schedule.kind", "cosine", "--optimizer.lr", "0.02"]), resume=True)
    with pytest.raises(ValueError, match=r"rl.schedule_steps: 2 -> 6"):
        rl.RLTrainer(load_rl_recipe(path, ["--schedule.kind", "cosine", "--rl.iterations", "3"]), resume=True)
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, generate_tasks(12, seed=1, kinds=("math",), levels=(1,)))  # other rows, same file
    with pytest.raises(ValueError, match=r"rl.tasks_sha256"):
        rl.RLTrainer(load_rl_recipe(path, ["--schedule.kind", "cosine"]), resume=True)
    write_jsonl(tasks, generate_tasks(12, seed=0, kinds=("math",), levels=(1,)))
    # what may change: where it writes, micro_batch, and (a constant schedule's) iterations, as in test_posttrain_rl
    assert rl.RLTrainer(load_rl_recipe(path, ["--schedule.kind", "cosine", "--batch.micro_batch", "2"]),
                        resume=True).state.step == 1


def test_a_full_disk_under_the_rl_metrics_names_the_file_and_resume_repairs_the_torn_row(folder, tmp_path,
                                                                                        monkeypatch):
    """RL writes its rows through the trainer's MetricsWriter, so it inherits what that does (no fix here; this
    keeps it so): the failed write names the file and the checkpoint to resume from, and --resume cuts the torn
    row and redoes it."""
    from axk1.train.metrics import JsonlLog
    from tests.train_helpers import tear_metrics_row_at

    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    recipe = load_rl_recipe(rl_toml_file(tmp_path, folder), ["--checkpointing.interval_steps", "2"])
    jsonl = Path(recipe.logging.jsonl)
    real_write = tear_metrics_row_at(monkeypatch, 3)
    with pytest.raises(OSError, match=rf"^No space left on device: writing metrics to {re.escape(str(jsonl))} failed "
                                      r"at step 3\. .*--resume \(the newest complete checkpoint is step 2"):
        rl.run_rl(recipe)
    monkeypatch.setattr(JsonlLog, "write", real_write)
    rl.run_rl(recipe, resume=True)
    assert [r["step"] for r in read_metrics_rows(jsonl)] == [1, 2, 3, 4]


def test_a_non_finite_rl_loss_drops_the_update_and_stops_the_run_as_pretraining_does(folder, tmp_path, monkeypatch):
    """A NaN loss (too high a learning rate, a bad batch) went into the optimizer step: every weight became NaN and
    the run went on to the end and exported the broken model with exit 0. Now the update is dropped (the weights
    stay as they were), the iteration is logged as skipped, and after [run] max_bad_steps such iterations in a row
    the run stops with a checkpoint and says what to change (the Trainer's BadStepGuard)."""
    from axk1.train.callbacks import TrainingStopped

    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    real_loss = rl_update.policy_loss

    def nan_from_iteration_2(logp, *args, **kwargs):
        loss, stats = real_loss(logp, *args, **kwargs)
        return (loss * float("nan") if trainer.state.step >= 1 else loss), stats

    monkeypatch.setattr(rl_update, "policy_loss", nan_from_iteration_2)
    recipe = load_rl_recipe(rl_toml_file(tmp_path, folder, export=True), ["--run.max_bad_steps", "2"])
    trainer = rl.RLTrainer(recipe)
    with pytest.raises(TrainingStopped, match=r"^2 bad steps in a row \(non-finite loss or gradient in every update\) "
                                              r"at step 3; stopped with a checkpoint at .*step-000003\. The learning "
                                              r"rate is part of the run \(--resume refuses another\): start a new run"):
        trainer.fit()
    rows = read_metrics_rows(Path(recipe.logging.jsonl))
    assert [(r["step"], r.get("skipped")) for r in rows] == [
        (1, None), (2, "non-finite loss or gradient in every update"), (3, "non-finite loss or gradient in every update")]
    assert rows[1]["bad_updates"] == 2
    strict = strict_json_rows(recipe.logging.jsonl)  # bare NaN before: no strict reader took the file
    assert [(r["loss"], r.get("non_finite", {}).get("loss")) for r in strict] == [
        (rows[0]["loss"], None), (None, "nan"), (None, "nan")]
    monkeypatch.setattr(rl_update, "policy_loss", real_loss)
    resumed = rl.RLTrainer(recipe, resume=True)
    assert resumed.state.step == 3 and all(p.isfinite().all() for p in resumed.model.parameters())


def test_the_demos_pretraining_stopped_by_sigterm_ends_the_demo(monkeypatch, capsys, tmp_path):
    """The demo ignored a pretraining run stopped by SIGTERM and went on to export and post-train its partial model."""
    import axk1.train.trainer
    from axk1 import demo

    class Stopped:
        def __init__(self, recipe, start_over):
            self.stopped_by, self.ckpt_dir = "SIGTERM", tmp_path / "checkpoints"
            self.recipe, self.sampler = recipe, SimpleNamespace(shards=[])  # what the demo's data budget reads

        def fit(self):
            return [{"step": 1, "stage": "s1", "loss": 6.0}]

    monkeypatch.setattr(axk1.train.trainer, "Trainer", Stopped)
    with pytest.raises(SystemExit) as stop:
        demo.run_training(tmp_path, tmp_path / "manifest.json")
    assert stop.value.code == 128 + signal.SIGTERM
    assert "axk1 demo: pretraining stopped by SIGTERM" in capsys.readouterr().err


def test_a_moved_rl_run_folder_resumes(folder, tmp_path, monkeypatch):
    """`mv run moved` then --resume was refused: [rl] weights_dir (the rollout server's folder, under the run folder
    by default) was saved in the run's definition as an absolute path. It is a path, which a resume may change; a
    checkpoint that saved it still resumes from the new place."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    path = rl_toml_file(tmp_path, folder, iterations=2)
    rl.run_rl(load_rl_recipe(path, ["--rl.iterations", "1"]))
    state = step_dir(tmp_path / "run" / "checkpoints", 1) / "train_state.json"
    saved = json.loads(state.read_text())
    saved["run"]["rl.weights_dir"] = str(tmp_path / "run" / "rollout-weights")  # as runs before saved it
    state.write_text(json.dumps(saved))
    (tmp_path / "run").rename(tmp_path / "moved")
    trainer = rl.RLTrainer(load_rl_recipe(path, ["--run.out_dir", str(tmp_path / "moved")]), resume=True)
    assert trainer.state.step == 1
    trainer.release()
