"""The loss-spike check across stages and level shifts (axk1/train/loss_spike.py), and what a run stopped by bad
steps is told to do (axk1.train.callbacks.BadStepGuard)."""

import json
import math
import re
from types import SimpleNamespace

import pytest

from axk1.checkpoint.dcp import TRAIN_STATE, step_dir
from axk1.train.callbacks import BadStepGuard, TrainingStopped
from axk1.train.loss_spike import MIN_HISTORY, LossSpikeGuard, NonFiniteGuard, zscore
from axk1.train.recipe import load_recipe
from axk1.train.resume import check_resume, run_definition
from axk1.train.trainer import Trainer
from axk1.train.trainer_base import TrainState
from tests.train_helpers import write_recipe

SPIKE = "loss spike (z > 3.0)"


def _trainer(history, stage="s1", max_bad_steps=3, **state):
    return SimpleNamespace(recipe=SimpleNamespace(run=SimpleNamespace(spike_zscore=3.0, max_bad_steps=max_bad_steps)),
                           state=TrainState(recent_losses=list(history), loss_stage=stage, **state))


def _judge(trainer, *rows):
    for row in rows:
        row.setdefault("grad_norm", 1.0)
        row.setdefault("stage", "s1")
        for guard in (NonFiniteGuard(), LossSpikeGuard()):
            guard.on_before_optimizer_step(trainer, row)
    return [row.get("skipped") for row in rows]


HISTORY = [2.0 + 0.01 * (i % 3) for i in range(MIN_HISTORY)]


def test_a_new_stage_starts_its_own_history_and_waits_before_judging():
    """A new stage's higher loss (another mixture) was judged against the stage before: a spike at every step."""
    t = _trainer(HISTORY)
    assert _judge(t, {"loss": 5.0, "stage": "s1"}) == [SPIKE]
    rows = [{"loss": 5.0 + 0.01 * i, "stage": "s2"} for i in range(MIN_HISTORY)]
    assert _judge(t, *rows) == [None] * MIN_HISTORY
    assert t.state.loss_stage == "s2" and t.state.recent_losses == [r["loss"] for r in rows]
    assert _judge(t, {"loss": 9.0, "stage": "s2"}) == [SPIKE]  # judged again once the stage has its own history
    # a checkpoint written before the stage was saved with the history (none): the history restarts at once
    old = _trainer(HISTORY, stage=None)
    assert _judge(old, {"loss": 5.0, "stage": "s2"}) == [None] and old.state.recent_losses == [5.0]


def test_a_loss_that_stays_high_for_max_bad_steps_steps_is_taken_as_its_new_level():
    t = _trainer(HISTORY, max_bad_steps=3)
    rows = [{"loss": 5.0}, {"loss": 5.1}, {"loss": 5.2}, {"loss": 5.1}]
    assert _judge(t, *rows) == [SPIKE, SPIKE, None, None]
    assert "new_loss_level" in rows[2] and "new_loss_level" not in rows[3]
    assert t.state.recent_losses == [5.0, 5.1, 5.2, 5.1] and t.state.spike_losses == []
    # a good step ends a run of spikes
    t = _trainer(HISTORY)
    assert _judge(t, {"loss": 5.0}, {"loss": 2.0}, {"loss": 5.0}, {"loss": 5.0}) == [SPIKE, None, SPIKE, SPIKE]
    # a non-finite step among them is a fault, not a level: the spikes after it count afresh, so BadStepGuard stops
    t = _trainer(HISTORY)
    assert _judge(t, {"loss": 5.0}, {"loss": math.nan}, {"loss": 5.0}) == [
        SPIKE, "non-finite loss or gradient", SPIKE]
    # max_bad_steps = 1: the first spike is the stop asked for, never a level
    assert _judge(_trainer(HISTORY, max_bad_steps=1), {"loss": 5.0}) == [SPIKE]


def _two_stage_recipe(tmp_path, extra=""):
    """Stage 1 on web alone long enough for a settled history, then code alone: a higher loss from its first step."""
    path = write_recipe(tmp_path, steps_tokens=8 * 32 * 20, extra=f"spike_zscore = 3.0\nmax_bad_steps = 3\n{extra}")
    text = path.read_text().replace("web = 0.7, code = 0.3", "web = 1.0").replace("lr = 3e-3", "lr = 1e-2")
    s2 = text.index('name = "s2"')
    path.write_text(text[:s2] + text[s2:].replace(f"tokens = {8 * 32 * 20}", f"tokens = {8 * 32 * 4}"))
    return load_recipe(path)


def test_a_planned_stage_change_does_not_stop_the_run_and_a_resume_judges_as_it_did(tmp_path):
    """The probe's run: `3 bad steps in a row (loss spike (z > 3.0)) at step 23`, and a resume stopped again."""
    recipe = _two_stage_recipe(tmp_path)
    trainer = Trainer(recipe)
    rows = trainer.fit()
    s1, s2 = [r["loss"] for r in rows if r["stage"] == "s1"], [r["loss"] for r in rows if r["stage"] == "s2"]
    assert len(rows) == 24 and not any("skipped" in r for r in rows)
    assert zscore(s2[0], s1) > 3  # what the old history judged a spike
    saved = json.loads((step_dir(recipe.checkpointing.dir, 24) / TRAIN_STATE).read_text())["state"]
    assert (saved["loss_stage"], saved["recent_losses"], saved["spike_losses"]) == ("s2", s2, [])
    resumed = Trainer(recipe, resume=True)
    assert resumed.state == trainer.state
    resumed.release()


def _stopped_message(tmp_path, reason: str):
    """BadStepGuard's message for a run stopped at step 23 after 3 bad steps, checkpoints at steps 20 and 22."""
    recipe = _two_stage_recipe(tmp_path)
    root = tmp_path / "ckpts"
    for step in (20, 22):
        step_dir(root, step).mkdir(parents=True)
        (step_dir(root, step) / TRAIN_STATE).write_text("{}")
    trainer = SimpleNamespace(recipe=recipe, state=TrainState(step=23, bad_in_a_row=3), ckpt_dir=root,
                              save=lambda wait: step_dir(root, 23))
    with pytest.raises(TrainingStopped) as stopped:
        BadStepGuard().on_step_end(trainer, {"skipped": reason})
    return str(stopped.value), recipe


@pytest.mark.parametrize("reason", [SPIKE, "non-finite loss or gradient",
                                    "non-finite loss or gradient in every update"])
def test_a_stopped_run_is_told_only_what_a_resume_accepts(tmp_path, reason):
    """It said "Lower the learning rate", which --resume refuses. Every setting the message names is one a resume
    may change, or the message says to start a new run for it."""
    message, recipe = _stopped_message(tmp_path, reason)
    named = re.findall(r"--(\w+)\.(\w+)|\[(\w+)\] (\w+)", message)
    assert named, message
    base = run_definition(recipe, recipe.model.build_config())
    for flag_section, flag_key, section, key in named:
        setting = f"{flag_section or section}.{flag_key or key}"
        changed = load_recipe(tmp_path / "recipe.toml", [f"--{setting}", "5e-4"])
        try:
            check_resume(base, run_definition(changed, changed.model.build_config()), tmp_path)
        except ValueError:  # a setting that defines the run: only a new run may change it
            assert "start a new run" in message and f"--{setting}" not in message, message
    if "learning rate" in message:
        assert "start a new run" in message, message
    assert ("--run.spike_zscore" in message) == ("spike" in reason)
    # the checkpoint the skipped steps' batches can be redone from: before the first bad step, 21
    assert f"step 21) is {step_dir(tmp_path / 'ckpts', 20)}" in message
