"""Pretraining's Trainer and RL's RLTrainer share one interface around their loop (axk1/train/trainer_base.py): a
callback written once runs on both, and sees the same counters, stop and checkpoint fields. The parts of the loop
that used to be inline are callbacks: the progress bar, the non-finite skip; the resume tests' fault injector is
in a run only when its environment variable asks for it."""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import pytest

import axk1.posttrain.rl_rollout as rl_rollout
from axk1.checkpoint.dcp import list_steps
from axk1.posttrain.rl import RLTrainer
from axk1.posttrain.rl_recipe import load_rl_recipe
from axk1.train.callbacks import KILL_AFTER_STEP_ENV, Callback, KillAfterCheckpoint, ProgressBar
from axk1.train.loss_spike import LossSpikeGuard, NonFiniteGuard
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from axk1.train.trainer_base import TrainerBase, TrainState
from tests.serve_helpers import make_model_folder
from tests.rl_helpers import fake_scores, rl_toml_file
from tests.train_helpers import write_recipe


class SignalAfterStep1(Callback):
    """Written once for both trainers: asks for a stop as SIGTERM's handler would, and records what every step
    leaves in the shared fields."""

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def on_step_end(self, trainer, row: dict) -> None:
        s = trainer.state
        self.seen.append((s.step, s.skipped_steps, trainer.stop_requested, trainer.saved_step, bool(trainer.progress)))
        if s.step == 1:
            trainer.stop_signal = "SIGTERM"


def _stops_after_step_2(trainer: TrainerBase) -> SignalAfterStep1:
    probe = SignalAfterStep1()
    trainer.callbacks.append(probe)  # after StopOnSignal: it sees the checkpoint of the stop
    try:
        trainer.fit()
    finally:
        trainer.release()
    assert trainer.stopped_by == "SIGTERM" and trainer.state.step == 2 and list_steps(trainer.ckpt_dir) == [2]
    return probe


def test_one_callback_runs_on_both_trainers_and_stops_both_the_same_way(tmp_path, monkeypatch):
    """The stop asked for after step 1 is agreed over the ranks in step 2 (the Trainer's step sum; RL's own host
    sum), so both stop after step 2 with its checkpoint; the counters, the bar's figures and the saved step are
    the same fields on both."""
    pre = Trainer(load_recipe(write_recipe(tmp_path / "pre")))
    monkeypatch.setattr(rl_rollout, "score_all", fake_scores)
    (tmp_path / "rl").mkdir()
    rl = RLTrainer(load_rl_recipe(rl_toml_file(tmp_path / "rl", make_model_folder(tmp_path / "base"))))
    for trainer in (pre, rl):
        assert isinstance(trainer, TrainerBase) and isinstance(trainer.state, TrainState)
        assert sum(isinstance(c, ProgressBar) for c in trainer.callbacks) == 1  # the bar's one owner
        probe = _stops_after_step_2(trainer)
        skipped = trainer.state.skipped_steps
        assert [(step, stop, saved, shown) for step, _, stop, saved, shown in probe.seen] == \
            [(1, False, None, True), (2, True, 2, True)], type(trainer).__name__
        assert probe.seen[-1][1] == skipped


def test_bad_steps_are_counted_once_for_both_trainers():
    """A skipped step counts; a bad one in a row too, and a good one ends the run of them; RL's iteration with no
    signal (`judged` False) neither adds to it nor ends it."""
    t = TrainerBase()
    t.start_state()
    for row, judged in (({"skipped": "x"}, True), ({"skipped": "y"}, True), ({"skipped": "flat"}, False)):
        t.count_step(row, judged)
    assert (t.state.skipped_steps, t.state.bad_in_a_row) == (3, 2)
    t.count_step({}, True)
    assert (t.state.skipped_steps, t.state.bad_in_a_row) == (3, 0)


def test_a_non_finite_loss_or_gradient_is_skipped_by_its_callback_before_the_spike_check():
    trainer = SimpleNamespace(recipe=SimpleNamespace(run=SimpleNamespace(spike_zscore=3.0)),
                              state=TrainState(recent_losses=[2.0] * 10))
    guards = [NonFiniteGuard(), LossSpikeGuard()]
    rows = [{"loss": math.nan, "grad_norm": 1.0}, {"loss": 2.0, "grad_norm": math.inf}, {"loss": 2.0, "grad_norm": 1.0}]
    for row in rows:
        for guard in guards:
            guard.on_before_optimizer_step(trainer, row)
    assert [r.get("skipped") for r in rows] == ["non-finite loss or gradient"] * 2 + [None]
    assert trainer.state.recent_losses == [2.0] * 11  # the non-finite losses are no history


def test_the_trainer_drops_a_non_finite_step_before_a_spike_is_judged(tmp_path):
    trainer = Trainer(load_recipe(write_recipe(tmp_path, extra="max_steps = 1")))
    names = [type(c).__name__ for c in trainer.callbacks]
    assert names.index("NonFiniteGuard") < names.index("LossSpikeGuard")
    trainer.release()


def test_the_fault_injector_is_in_a_run_only_when_its_variable_asks(tmp_path, monkeypatch):
    monkeypatch.delenv(KILL_AFTER_STEP_ENV, raising=False)
    plain = Trainer(load_recipe(write_recipe(tmp_path / "plain")))
    assert not any(isinstance(c, KillAfterCheckpoint) for c in plain.callbacks)
    plain.release()
    monkeypatch.setenv(KILL_AFTER_STEP_ENV, "3")
    asked = Trainer(load_recipe(write_recipe(tmp_path / "asked")))
    injectors = [c for c in asked.callbacks if isinstance(c, KillAfterCheckpoint)]
    assert len(injectors) == 1 and injectors[0].kill_at == 3
    names = [type(c).__name__ for c in asked.callbacks]
    assert names.index("Checkpointer") < names.index("KillAfterCheckpoint")  # it kills after the step's checkpoint
    asked.release()


def test_the_progress_bar_shows_what_the_trainer_reports_and_ticks_each_step(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the bar is a terminal's (a log gets lines instead)
    trainer = SimpleNamespace(state=SimpleNamespace(step=3), total_steps=10, is_main=True, progress={},
                              recipe=SimpleNamespace(logging=SimpleNamespace(progress=True)))
    bar = ProgressBar("train")
    bar.on_fit_start(trainer)
    trainer.progress.update(loss="2.000")
    bar.on_step_end(trainer, {})
    assert bar.bar.n == 4 and bar.bar.postfix == "loss=2.000"
    trainer.progress.update(loss="1.500")
    bar.on_step_end(trainer, {})
    assert bar.bar.n == 5 and bar.bar.postfix == "loss=1.500"
    bar.on_fit_end(trainer)


@pytest.fixture(autouse=True)
def _no_injector(monkeypatch):
    monkeypatch.delenv(KILL_AFTER_STEP_ENV, raising=False)
