"""Bad steps dropped before their update, as callbacks (`on_before_optimizer_step`, in this order in the Trainer's
list): a non-finite loss or gradient norm always (NonFiniteGuard), and a step whose loss stands more than `[run]
spike_zscore` standard deviations above the recent good steps' (LossSpikeGuard); BadStepGuard stops the run after
`[run] max_bad_steps` bad steps in a row. Both judge numbers the step has already read to the host (its one read of
device values, docs/gpu.md): neither reads the device.

The recent losses are the TrainState's `recent_losses`, saved with every checkpoint, so a resumed run judges its
next step against the same history.
"""

from __future__ import annotations

import math

from axk1.train.callbacks import Callback

HISTORY = 50      # good steps' losses kept
MIN_HISTORY = 10  # no judgement before this many: the first steps' losses fall fast


class NonFiniteGuard(Callback):
    """A NaN or infinite loss or gradient norm: the step is never taken, or every weight would be NaN."""

    def on_before_optimizer_step(self, trainer, row: dict) -> None:
        if not (math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])):
            row["skipped"] = "non-finite loss or gradient"


class LossSpikeGuard(Callback):
    def on_before_optimizer_step(self, trainer, row: dict) -> None:
        if "skipped" in row:  # already a bad step (non-finite): its loss is no history
            return
        loss, z, hist = row["loss"], trainer.recipe.run.spike_zscore, trainer.state.recent_losses
        if z > 0 and len(hist) >= MIN_HISTORY:
            mean = sum(hist) / len(hist)
            std = math.sqrt(sum((x - mean) ** 2 for x in hist) / len(hist)) or 1e-12
            if (loss - mean) / std > z:
                row["skipped"] = f"loss spike (z > {z})"
                return
        # kept whether or not spikes are judged (z = 0), so the checkpoints hold the same history either way
        trainer.state.recent_losses = (hist + [loss])[-HISTORY:]
