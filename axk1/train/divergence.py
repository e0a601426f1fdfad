"""A note when training has diverged: the next-token loss far above ln(vocab_size), the loss of a uniform guess over
the vocabulary, which a model at its initial weights scores (about) and which training only lowers. A model that
scores well above it predicts worse than guessing: its updates went wrong, most often from a learning rate far too
high (lr 3 on axk1-tiny: 9.03 at the start, 177.7 at step 3). The loss-spike guard that would skip such steps is off
by default ([run] spike_zscore = 0, loss_spike.py), so such a run trained on to its end without a word.

Said once, when first seen; the run is not stopped (a note, as a spike guard is the recipe's choice). At the run's
end, a run still above the threshold is told again that it diverged and to train again; one that came back down
only part way (below the threshold, above ln V) that it still predicts worse than a guess, and to train again; one
that came back below ln V is told only that in one line (its loss is its own, and a new run would be wasted). A
step a guard skipped (NonFiniteGuard's non-finite loss, LossSpikeGuard's spike) is no evidence either way: it
changed no weight, and the guard has already said why it was skipped. A callback of the Trainer (pretraining and
SFT), after the step's loss is known (docs/training.md, "Loss spikes").
"""

from __future__ import annotations

import math
import sys

from axk1.train.callbacks import Callback

# How far above ln(vocab_size) a loss is divergence, not the noise of a model near its start (which scores a little
# above ln V: 6.27 against 6.24 on the tests' 512-token model): half as much again.
DIVERGED_OVER = 1.5


class DivergenceNote(Callback):
    def __init__(self) -> None:
        self.first: tuple[int, float] | None = None  # (step, loss) of the first diverged step
        self.last: tuple[int, float] | None = None

    def on_step_end(self, trainer, row: dict) -> None:
        loss = row["loss"]
        if "skipped" in row or not math.isfinite(loss):  # a guard's skipped step: its batch changed no weight
            return
        self.last = (row["step"], loss)
        uniform = math.log(trainer.config.vocab_size)
        if self.first is None and loss > threshold(trainer):
            self.first = self.last
            self._say(trainer, f"step {row['step']}: the loss {loss:.2f} is far above ln(vocab_size) = {uniform:.2f}, "
                               "the loss of a uniform guess over the vocabulary: the model predicts worse than "
                               f"guessing, so training has diverged. {advice(trainer)}; the run goes on")

    def on_fit_end(self, trainer) -> None:
        if self.first is None:
            return
        (step, loss), (end, last) = self.first, self.last
        uniform = math.log(trainer.config.vocab_size)
        if last > threshold(trainer):
            self._say(trainer, f"training diverged: the loss rose to {loss:.2f} at step {step}, far above "
                               f"ln(vocab_size) = {uniform:.2f} (a uniform guess), and was {last:.2f} at step {end}. "
                               f"{advice(trainer)}, and train again in a new --out folder")
        elif last <= uniform:  # below a guess again: the run learned after all, the first note is not the last word
            self._say(trainer, f"the loss rose to {loss:.2f} at step {step}, far above ln(vocab_size) = "
                               f"{uniform:.2f}, and recovered: it was {last:.2f} at step {end}")
        else:  # down, but not below a uniform guess: not recovered, whatever the threshold of the first note says
            self._say(trainer, f"the loss rose to {loss:.2f} at step {step}, far above ln(vocab_size) = "
                               f"{uniform:.2f}, and came back down to {last:.2f} at step {end}, still above it: the "
                               f"model still predicts worse than a uniform guess. {advice(trainer)}, and train again "
                               "in a new --out folder")

    @staticmethod
    def _say(trainer, text: str) -> None:
        if trainer.is_main:
            print(f"note: {text}", file=sys.stderr, flush=True)


def threshold(trainer) -> float:
    return DIVERGED_OVER * math.log(trainer.config.vocab_size)


def advice(trainer) -> str:
    r = trainer.recipe
    spike = ("" if r.run.spike_zscore > 0 else
             " or set [run] spike_zscore (e.g. 6) to skip steps whose loss spikes")
    return f"Lower [optimizer] lr (it is {r.optimizer.lr:g}){spike}"
