"""The step loop that pretraining and SFT (`Trainer.fit`) and RL (`RLTrainer.fit`) share, OLMo-core's shape: a step,
then each callback in list order (axk1/train/callbacks.py). What a step is differs (a packed batch's optimizer step;
an RL iteration's rollout and updates); everything around it is here once, or a callback (the progress bar too:
axk1.train.callbacks.ProgressBar).

The trainer is a TrainerBase (axk1/train/trainer_base.py): what the callbacks read, `callbacks`, `total_steps`,
`stopped_by`.
"""

from __future__ import annotations

from typing import Callable, MutableSequence

from axk1.train.callbacks import run_callbacks, stop_requests


def run_loop(trainer, step: Callable[[int], dict], rows: MutableSequence[dict]) -> None:
    """`step(i)` for i from the steps done (`trainer.state.step`) to `trainer.total_steps`, each row appended to
    `rows` and then shown to the callbacks; a stop asked for by SIGTERM ends it after the step that saved it
    (StopOnSignal sets `trainer.stopped_by`). An exception is shown to the callbacks (`on_error`), then raised on."""
    callbacks = trainer.callbacks
    try:
        with stop_requests(trainer):
            run_callbacks(callbacks, "on_fit_start", trainer)
            for i in range(trainer.state.step, trainer.total_steps):
                row = step(i)
                rows.append(row)
                run_callbacks(callbacks, "on_step_end", trainer, row)
                if trainer.stopped_by:  # StopOnSignal has written this step's checkpoint
                    break
            run_callbacks(callbacks, "on_fit_end", trainer)
    except BaseException as e:
        run_callbacks(callbacks, "on_error", trainer, e)
        raise
