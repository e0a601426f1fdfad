"""Held-out validation as a trainer callback: the loss on documents the run never trains on (axk1/train/data.py:
split_validation holds out a seeded block of each shard's documents), so a falling training loss can be told apart
from memorisation.

Every `[validation] every_steps` steps and at the last step of every stage, `sequences` rows are drawn from the
held-out documents with the current stage's mixture and length — the same rows every time for a stage (a fixed
key), so successive figures differ by the model only — and run forward without gradients. The row gets
`val_loss` (nats per labelled token), `val_ppl` and `val_loss/<domain>`; the speed monitor's progress bar shows it,
the metrics writer logs it, the plots draw it beside the training loss. Under torchrun each data-parallel rank takes
every dp-th row, under context parallelism each rank of a cp group its chunk of those rows (as in a training
step), and the sums are added over all ranks.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from axk1.train.callbacks import Callback
from axk1.train.data import StageSampler
from axk1.train.loss import IGNORE_INDEX, host_counts

VALIDATION_KEY = 104_729  # keeps validation draws apart from the training steps' (seed, step) keys


def rows_problem(sequences: int, dp_size: int) -> str | None:
    """Why `[validation] sequences` rows cannot be shared by `dp_size` data-parallel ranks, or None. Each rank runs
    its rows' forwards, and under FSDP2 (or expert parallelism) every forward is collectives that all ranks must
    join: a rank with fewer micro-batches than the others would leave them waiting for ever."""
    if sequences % dp_size:
        return (f"[validation] sequences = {sequences} does not divide over {dp_size} data-parallel ranks (every "
                f"rank measures as many rows): make it a multiple of {dp_size}")
    return None


class Validator(Callback):
    def __init__(self, sampler: StageSampler) -> None:
        self.sampler = sampler  # over the held-out shards (missing_ok: a stage may have nothing held out)

    def due(self, trainer) -> bool:
        done = trainer.state.step
        if done % trainer.recipe.validation.every_steps == 0 or done == trainer.total_steps:
            return True
        return trainer.sampler.position(done).stage != trainer.sampler.position(done - 1).stage  # a stage ended

    def on_step_end(self, trainer, row: dict) -> None:
        pos = trainer.sampler.position(trainer.state.step - 1)
        if not self.due(trainer) or not self.sampler.has_stage(pos.stage):
            return
        row.update(self.evaluate(trainer, pos.stage, pos.seq_len))  # a row with val_loss is a log row

    @torch.no_grad()
    def evaluate(self, trainer, stage: int, seq_len: int) -> dict[str, float]:
        n = trainer.recipe.validation.sequences
        dp_rank, dp_size = (trainer.parallel.dp_rank, trainer.parallel.dp_size) if trainer.parallel else (0, 1)
        *rows, domains, _ = self.sampler.draw(stage, seq_len, range(dp_rank, n, dp_size),
                                              (trainer.recipe.data.seed, VALIDATION_KEY, stage))  # shards: by row
        host = trainer.rank_rows(*rows)  # under cp this rank's chunk of every row, as in a training step
        local = host.to(trainer._to_device)
        names = sorted(self.sampler.domains)
        sums_2X = torch.zeros(2, len(names), dtype=torch.float64, device=trainer.device)
        mb = trainer.recipe.batch.micro_batch
        trainer.model.eval()
        try:
            for start in range(0, len(domains), mb):
                counts = host_counts(trainer.config, *host.rows(start, start + mb)[:3], mtp_depth=0)  # no device read
                ids, docs, labels, context = local.rows(start, start + mb)
                with trainer.autocast:  # MTP weight 0: the next-token loss only
                    out = trainer.objective(ids, docs, 0.0, labels, context, counts)
                rows_X = torch.tensor([names.index(d) for d in domains[start:start + mb]], device=trainer.device)
                sums_2X[0].index_add_(0, rows_X, out.token_loss_BT.sum(1).double())
                sums_2X[1].index_add_(0, rows_X, (labels != IGNORE_INDEX).sum(1).double())
        finally:
            trainer.model.train()
        if trainer.parallel is not None:
            dist.all_reduce(sums_2X)
        nll_X, count_X = sums_2X.tolist()
        loss = sum(nll_X) / max(sum(count_X), 1.0)
        out = {"val_loss": loss, "val_ppl": math.exp(min(loss, 50.0))}
        out.update({f"val_loss/{d}": a / c for d, a, c in zip(names, nll_X, count_X) if c > 0})
        return out
