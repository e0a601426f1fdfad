"""Loss-spike detection (`[run] spike_zscore`) as a callback: a step whose loss stands more than z standard
deviations above the recent good steps' is dropped before its update, as a bad step (a non-finite loss or gradient
always is: the Trainer's own check); BadStepGuard stops the run after `[run] max_bad_steps` bad steps in a row.

The recent losses are the TrainState's `recent_losses`, saved with every checkpoint, so a resumed run judges its
next step against the same history.
"""

from __future__ import annotations

import math

from axk1.train.callbacks import Callback

HISTORY = 50      # good steps' losses kept
MIN_HISTORY = 10  # no judgement before this many: the first steps' losses fall fast


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
