"""Bad steps dropped before their update, as callbacks (`on_before_optimizer_step`, in this order in the Trainer's
list): a non-finite loss or gradient norm always (NonFiniteGuard), and a step whose loss stands more than `[run]
spike_zscore` standard deviations above the recent good steps' (LossSpikeGuard); BadStepGuard stops the run after
`[run] max_bad_steps` bad steps in a row. Both judge numbers the step has already read to the host (its one read of
device values, docs/gpu.md): neither reads the device.

The history a loss is judged against (docs/training.md, "Loss spikes"):
- it is the current stage's: a new stage (another mixture, another length) starts it empty, and its first
  MIN_HISTORY steps are not judged. Judged against the stage before, a new mixture's higher loss was a spike at
  every step and stopped the run for good (a resume loaded the same history and stopped again);
- a loss that stays above it for `max_bad_steps` steps in a row is a new level, not a spike: a skipped step changes
  no weight, so the same weights scoring high on that many different batches is the data's level (or the weights'
  since the last update), which skipping cannot mend and stopping would not either. That step is taken and the
  history restarts from those steps' losses (the row says `new_loss_level`). Only spikes in a row count: a
  non-finite step among them breaks the run of spikes, so BadStepGuard still stops on it; with `max_bad_steps = 1`
  the first spike stops the run, as asked.

The history, its stage and the spikes in a row are the TrainState's `recent_losses`, `loss_stage` and
`spike_losses`, saved with every checkpoint, so a resumed run judges its next step as the run would have.
"""

from __future__ import annotations

import math

from axk1.train.callbacks import Callback

HISTORY = 50      # good steps' losses kept
MIN_HISTORY = 10  # no judgement before this many: the first steps' losses fall fast (a stage's first ones too)


class NonFiniteGuard(Callback):
    """A NaN or infinite loss or gradient norm: the step is never taken, or every weight would be NaN."""

    def on_before_optimizer_step(self, trainer, row: dict) -> None:
        if not (math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])):
            row["skipped"] = "non-finite loss or gradient"


def zscore(loss: float, history: list[float]) -> float:
    mean = sum(history) / len(history)
    std = math.sqrt(sum((x - mean) ** 2 for x in history) / len(history)) or 1e-12
    return (loss - mean) / std


class LossSpikeGuard(Callback):
    def on_before_optimizer_step(self, trainer, row: dict) -> None:
        s = trainer.state
        if "skipped" in row:  # already a bad step (non-finite): its loss is no history, and it ends a run of spikes
            s.spike_losses = []
            return
        stage = row.get("stage")
        if stage != s.loss_stage:  # kept whether or not spikes are judged, as the history is
            s.recent_losses, s.spike_losses, s.loss_stage = [], [], stage
        loss, z, hist = row["loss"], trainer.recipe.run.spike_zscore, s.recent_losses
        if z > 0 and len(hist) >= MIN_HISTORY and zscore(loss, hist) > z:
            spikes = s.spike_losses + [loss]
            limit = trainer.recipe.run.max_bad_steps
            if len(spikes) < limit or limit == 1:
                s.spike_losses = spikes
                row["skipped"] = f"loss spike (z > {z})"
                return
            row["new_loss_level"] = f"the loss stayed high for {len(spikes)} steps in a row: taken as its new level"
            s.recent_losses, s.spike_losses = spikes[-HISTORY:], []
            return
        # kept whether or not spikes are judged (z = 0), so the checkpoints hold the same history either way
        s.recent_losses, s.spike_losses = (hist + [loss])[-HISTORY:], []
