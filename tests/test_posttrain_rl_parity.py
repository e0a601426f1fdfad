"""`axk1 rl` against `axk1 train`: every recipe setting the pretraining trainer reads is read by RL or refused by
its recipe (axk1/posttrain/recipe_rules.py: "refused rather than accepted and ignored"), bf16 in one process runs
RL's update under autocast as it runs pretraining's step, and a run's folder is claimed and a changed recipe refused
before any model is built or checkpoint tensor read, as pretraining does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

import axk1.posttrain.rl as rl
import axk1.posttrain.rl_rollout as rl_rollout
import axk1.train.resume as resume
from axk1.posttrain.rl_recipe import load_rl_recipe
from tests.serve_helpers import make_model_folder
from tests.rl_helpers import fake_scores, rl_toml_file

AXK1 = Path(__file__).resolve().parents[1] / "axk1"
SETTING = re.compile(r"\b(?:r|recipe)\.(\w+)\.(\w+)\b(?!\()")  # recipe.section.key, not a method call

# What RL refuses of the settings it does not read: a value other than the default, and the words its error says.
REFUSED = {
    "run.spike_zscore": ("3.0", r"\[run\] spike_zscore = 3.0 is not read by `axk1 rl`"),
    "run.max_steps": ("5", r"\[run\] max_steps = 5 is not read by `axk1 rl`"),
    "checkpointing.async_": ("true", r"\[checkpointing\] async = true is not read by `axk1 rl`"),
    "moe.seq_aux_loss_alpha": ("0.01", r"\[moe\] seq_aux_loss_alpha = 0.01 is not read by `axk1 rl`"),
    "model.mtp_depth": ("1", r"\[model\] mtp_depth = 1 is not read by `axk1 rl`"),
    "model.mtp_loss_weight": ("[0.5]", r"\[model\] mtp_loss_weight = \[0.5\] is not read by `axk1 rl`"),
    "schedule.decay_starts_at_stage": ("3", r"\[schedule\] decay_starts_at_stage = 3 is not read by `axk1 rl`"),
    "data.manifest": ('"/nowhere/manifest.json"', r"\[data\] manifest is not read by `axk1 rl`"),
    "logging.every_steps": ("1", r"\[logging\] every_steps = 1 is not read by `axk1 rl`, which logs every iteration"),
    "validation.held_out": ("0.1", r"unknown key 'validation'"),
    "validation.sequences": ("4", r"unknown key 'validation'"),
}


def _definition(path: str, name: str) -> str:
    text = (AXK1 / path).read_text()
    return next(ast.get_source_segment(text, n) for n in ast.parse(text).body if getattr(n, "name", None) == name)


def _settings(text: str) -> set[str]:
    return {f"{s}.{k}" for s, k in SETTING.findall(text)}


def _override(key: str, value: str) -> list[str]:
    return [f"--{key.removesuffix('_')}", value]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("rl-parity") / "base")


def test_every_setting_the_pretraining_trainer_reads_is_read_or_refused_by_rl(tmp_path, folder):
    """[run] spike_zscore, [checkpointing] async, [moe] seq_aux_loss_alpha and [parallelism] precision (one process)
    were taken by `axk1 rl` and did nothing. The settings the Trainer alone reads (its class, the loss-spike guard,
    background saves) must each be read by RL's own code or the code both run (trainer_base, callbacks, the loop,
    build_model), or refused by RL's recipe."""
    trainer_only = (_definition("train/trainer.py", "Trainer") + (AXK1 / "train/loss_spike.py").read_text()
                    + (AXK1 / "train/async_save.py").read_text())
    shared = "".join((AXK1 / p).read_text() for p in ("posttrain/rl.py", "posttrain/rl_update.py",
                                                       "posttrain/rl_rollout.py", "posttrain/rl_resume.py",
                                                       "train/trainer_base.py", "train/callbacks.py", "train/loop.py"))
    rl_reads = _settings(shared + _definition("train/trainer.py", "build_model"))
    read_by_trainer = _settings(trainer_only)
    assert {"run.spike_zscore", "checkpointing.async_", "moe.seq_aux_loss_alpha"} <= read_by_trainer  # the scan works
    assert "parallelism.precision" in rl_reads  # the precision setup both trainers run (TrainerBase.set_precision)
    unhandled = sorted(k for k in read_by_trainer if k not in rl_reads and k not in REFUSED)
    assert not unhandled, f"read by the Trainer, neither read nor refused by `axk1 rl`: {unhandled}"
    path = rl_toml_file(tmp_path, folder, iterations=1)
    load_rl_recipe(path)  # the defaults pass
    for key in sorted((read_by_trainer - rl_reads) | set(REFUSED)):  # and each refusal the table lists
        value, says = REFUSED[key]
        with pytest.raises(ValueError, match=says):
            load_rl_recipe(path, _override(key, value))


def test_bf16_in_one_process_runs_rls_update_under_autocast(tmp_path, folder, monkeypatch):
    """`[parallelism] precision = "bf16"` in one process: pretraining's step ran under autocast, RL's update in
    fp32 (while RL's memory estimate sized it as bf16)."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    seen: set[torch.dtype] = set()
    real = torch.nn.functional.linear

    def linear(x, w, b=None):
        out = real(x, w, b)
        if torch.is_grad_enabled():  # the update's forwards (the rollout runs without gradients)
            seen.add(out.dtype)
        return out

    recipe = load_rl_recipe(rl_toml_file(tmp_path, folder, iterations=1), ["--parallelism.precision", "bf16"])
    trainer = rl.RLTrainer(recipe)
    try:
        samples, _ = trainer.rollout(0)
        monkeypatch.setattr(torch.nn.functional, "linear", linear)
        trainer.update(samples, 0)
    finally:
        trainer.release()
    assert torch.bfloat16 in seen
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # fp32 master weights


def test_a_new_rl_run_into_an_earlier_runs_folder_is_refused_before_any_model_is_built(tmp_path, folder,
                                                                                       monkeypatch):
    """The folder was claimed after the policy (and a KL reference) had been built and loaded."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    path = rl_toml_file(tmp_path, folder, iterations=1)
    rl.run_rl(load_rl_recipe(path))
    built = []
    monkeypatch.setattr(rl, "build_model", lambda *a, **k: built.append(1) or pytest.fail("built before the claim"))
    with pytest.raises(ValueError, match=r"already holds checkpoints of an earlier run"):
        rl.RLTrainer(load_rl_recipe(path))
    assert not built


def test_an_rl_resume_with_another_recipe_is_refused_before_any_tensor_is_read(tmp_path, folder, monkeypatch):
    """RL loaded the checkpoint's model and optimizer, then compared the recipe; pretraining compares first."""
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    path = rl_toml_file(tmp_path, folder, iterations=1)
    rl.run_rl(load_rl_recipe(path))
    read = []
    for module in (rl, resume):
        if hasattr(module, "resume_latest"):
            monkeypatch.setattr(module, "resume_latest", lambda *a, **k: read.append(1) or pytest.fail("read first"))
    with pytest.raises(ValueError, match=r"--resume: the recipe differs .*optimizer.lr: 0.01 -> 0.02"):
        rl.RLTrainer(load_rl_recipe(path, ["--optimizer.lr", "0.02"]), resume=True)
    assert not read
