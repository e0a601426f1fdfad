"""The parallel layout a plan trains with: the cheapest one of the trainer's layouts (FSDP2 over dp_shard, HSDP
replicas over dp_replicate, expert parallelism inside the shard axis; the trainer has no pipeline or context
parallelism, so a plan never asks for them) whose memory per GPU fits at the recipe's longest sequence. Memory
comes from the trainer's own account (axk1/train/memory.py), the one `axk1 train --dry-run` prints, so what the
planner calls fitting is what the dry run accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from axk1.config import ModelConfig
from axk1.plan.arch import parameter_counts
from axk1.train.memory import USABLE_FRACTION, StepMemory, step_memory

EP_ORDER = (8, 4, 16, 2, 32, 64, 1)  # 8: one NVLink node


@dataclass(frozen=True)
class Layout:
    dp_replicate: int
    dp_shard: int
    ep: int
    recompute: bool
    pp: int = 1  # the trainer has neither pipeline nor context parallelism
    cp: int = 1

    @property
    def gpus(self) -> int:
        return self.dp_replicate * self.dp_shard


@dataclass(frozen=True)
class MemoryEstimate:
    layout: Layout
    step: StepMemory
    seq_len: int          # the sequence length it was checked at (the recipe's longest)
    why: str              # why this layout, in a sentence

    @property
    def total_gb(self) -> float:
        return self.step.total


def find_layout(c: ModelConfig, gpus: int, memory_gb: float, seq_len: int, precision: str = "bf16",
                mtp_depth: int = 1) -> MemoryEstimate | None:
    """The first layout that fits `memory_gb` x USABLE_FRACTION at `seq_len` (micro-batch 1), in this order of
    preference: no recomputation (a third less compute), then the smallest FSDP shard group (fewer ranks in each
    all-gather; HSDP replicates the rest), with ep 8 (one NVLink node) where it divides. None if nothing fits."""
    counts = parameter_counts(c)
    total = counts.total + (counts.mtp if mtp_depth else 0)
    limit = memory_gb * USABLE_FRACTION
    for recompute in (False, True):
        for shard in [s for s in range(1, gpus + 1) if gpus % s == 0]:
            eps = [e for e in EP_ORDER if c.n_routed_experts % e == 0 and shard % e == 0]
            if not eps:
                continue
            step = step_memory(c, dp_shard=shard, ep=eps[0], seq_len=seq_len, recompute=recompute,
                               precision=precision, mtp_depth=mtp_depth, total_params=total)
            if step.total <= limit:
                layout = Layout(gpus // shard, shard, eps[0], recompute)
                why = (f"the smallest shard group ({shard} ranks{', replicated ' + str(gpus // shard) + 'x' if gpus > shard else ''}) "
                       f"that holds {step.total:.0f} of {limit:.0f} usable GB at {seq_len:,} tokens"
                       + (", with full recompute (nothing fits without)" if recompute else ", without recompute")
                       + f"; ep {eps[0]}")
                return MemoryEstimate(layout, step, seq_len, why)
    return None
