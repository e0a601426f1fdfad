"""Asynchronous checkpoint writes (`[checkpointing] async = true`) as a callback: the write in flight, from the
save that started it (Trainer.save hands it over) until it is finished — its train_state.json written and its folder
renamed into place (axk1/checkpoint/dcp.py, PendingCheckpoint).

A write is finished at the first step after it has ended on every rank, not at the next save: a run killed in
between lost it, two intervals of training with the tensors all on disk. It is also finished before the next save
begins, at the end of the run (Checkpointer), and on Ctrl-C in one process.
"""

from __future__ import annotations

import torch.distributed as dist

from axk1.checkpoint.dcp import PendingCheckpoint
from axk1.parallel.distributed import host_all_sum
from axk1.train.callbacks import Callback


class AsyncSaves(Callback):
    """Early in the trainer's callbacks (after held-out validation), so a write that has ended is finished before
    the logs and the step's own save."""

    def __init__(self) -> None:
        self.pending: PendingCheckpoint | None = None

    def finish(self) -> None:
        """Waits for the write in flight, if any, and finishes it."""
        if self.pending is not None:
            self.pending.wait()
            self.pending = None

    def on_step_end(self, trainer, row: dict) -> None:
        """One small host collective a step while a write is in flight, so that every rank finishes it at the
        same step."""
        if self.pending is None:
            return
        written = self.pending.written()
        if trainer.parallel is not None:  # every rank's write ended: as many as there are ranks
            written = host_all_sum([float(written)])[0] == dist.get_world_size()
        if written:
            self.finish()

    def on_error(self, trainer, error: BaseException) -> None:
        # Ctrl-C: the write in flight holds the newest state, already copied: finished (a second Ctrl-C abandons
        # it) rather than left as a temp folder. One process only: under torchrun the other ranks may be gone, and
        # the write's barriers would wait for them forever.
        if isinstance(error, KeyboardInterrupt) and trainer.parallel is None:
            self.finish()
