"""Ctrl-C (SIGINT) during an async checkpoint save, in one process: the save's staging is not cut short (the
interrupt waits for the hand-over, axk1/train/trainer.py `Trainer.save`), and the write is finished before the run
ends (axk1/train/async_save.py)."""

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
