"""Ctrl-C (SIGINT) during an async checkpoint save, in one process: the save's staging is not cut short (the
interrupt waits for the hand-over, axk1/train/trainer.py `Trainer.save`), and the write is finished before the run
ends (axk1/train/async_save.py); a second Ctrl-C while it waits stops at once (axk1/signal_handlers.py
`held_signals`)."""

import signal

import pytest
import torch.distributed.checkpoint as dcp

from axk1.checkpoint.dcp import list_steps
from axk1.train.recipe import load_recipe
from axk1.train.trainer import Trainer
from tests.train_helpers import write_recipe


def test_ctrl_c_at_the_start_of_an_async_save_still_writes_that_checkpoint(tmp_path, monkeypatch):
    """A SIGINT that arrived as step 4's async save began (before the write was handed over) lost the checkpoint:
    a `.step-000004.tmp` folder was left and --resume went back to step 2. The interrupt now comes once the save is
    handed over, which finishes it: step 4's checkpoint is complete and the run resumes from it."""
    recipe = load_recipe(write_recipe(tmp_path, sections={"checkpointing": "async = true"}))
    real_async_save = dcp.async_save
    sent = []

    def async_save(state, checkpoint_id, **kw):
        if checkpoint_id.endswith(".step-000004.tmp"):
            sent.append(checkpoint_id)
            signal.raise_signal(signal.SIGINT)  # Ctrl-C, as the terminal sends it, in the first moments of the save
        return real_async_save(state, checkpoint_id=checkpoint_id, **kw)

    monkeypatch.setattr(dcp, "async_save", async_save)
    trainer = Trainer(recipe)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert sent, "the save of step 4 never began"
    assert trainer.state.step == 4  # the interrupt ended the run at that save, not later
    ckpts = tmp_path / "run" / "checkpoints"
    assert list_steps(ckpts) == [2, 4]
    assert not list(ckpts.glob(".step-*.tmp"))
    monkeypatch.setattr(dcp, "async_save", real_async_save)
    assert Trainer(recipe, resume=True).state.step == 4


def test_a_second_ctrl_c_during_an_async_saves_staging_stops_at_once(tmp_path, monkeypatch, capfd):
    """The first Ctrl-C waits for the staging (which on one big GPU can take long) and says so; a second one was
    merged into the first, so nothing stopped the run until the staging had ended. Now it stops the run there: the
    write is never begun, step 4's checkpoint is not made, and the run resumes from step 2."""
    recipe = load_recipe(write_recipe(tmp_path, sections={"checkpointing": "async = true"}))
    real_async_save = dcp.async_save
    written = []

    def async_save(state, checkpoint_id, **kw):
        if checkpoint_id.endswith(".step-000004.tmp"):
            signal.raise_signal(signal.SIGINT)  # held: the save goes on
            signal.raise_signal(signal.SIGINT)  # again: the save stops here
        written.append(checkpoint_id)
        return real_async_save(state, checkpoint_id=checkpoint_id, **kw)

    monkeypatch.setattr(dcp, "async_save", async_save)
    trainer = Trainer(recipe)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert "note: Ctrl-C: the checkpoint of step 4 is being staged" in capfd.readouterr().err
    assert not any(w.endswith(".step-000004.tmp") for w in written)
    assert trainer.state.step == 4
    ckpts = tmp_path / "run" / "checkpoints"
    assert list_steps(ckpts) == [2]
    monkeypatch.setattr(dcp, "async_save", real_async_save)
    assert Trainer(recipe, resume=True).state.step == 2
