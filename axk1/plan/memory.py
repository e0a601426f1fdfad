"""The parallel layout a plan trains with: the cheapest one of the trainer's layouts (FSDP2 over dp_shard, HSDP
replicas over dp_replicate, expert parallelism inside the shard axis, context parallelism for long sequences; the
trainer has no pipeline parallelism, so a plan never asks for it) whose memory per GPU fits at the recipe's longest
sequence. Memory
comes from the trainer's own account (axk1/train/memory.py), the one `axk1 train --dry-run` prints, so what the
planner calls fitting is what the dry run accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from axk1.config import ModelConfig
from axk1.flops import parameter_counts
from axk1.plan.recipe import context_lengths
from axk1.train.memory import USABLE_FRACTION, StepMemory, step_memory
from axk1.train.step_checks import MAX_TOKENS_PER_STEP

CONTEXT_PARALLEL = (1, 2, 4, 8)  # degrees tried for the long-context stage (A.X K1 published CP 4-8)

EP_ORDER = (8, 4, 16, 2, 32, 64, 1)  # 8: one NVLink node
TRIAL_DIVISORS = 10**6  # divisors of a GPU count found by trial division up to here (every one below 10^12 GPUs)


@lru_cache(maxsize=64)
def shard_sizes(n: int) -> tuple[int, ...]:
    """The divisors of `n`, ascending: the shard group sizes a data-parallel axis of n ranks can take. Found by
    trial division up to sqrt(n) (bounded by TRIAL_DIVISORS, so an absurd --gpus costs a second, not hours; past
    10^12 the set is the divisors up to 10^6 and their co-divisors); cached, as every candidate asks again."""
    small = [d for d in range(1, min(math.isqrt(n), TRIAL_DIVISORS) + 1) if n % d == 0]
    return tuple(sorted(set(small) | {n // d for d in small}))


@dataclass(frozen=True)
class Layout:
    dp_replicate: int
    dp_shard: int
    ep: int
    recompute: bool
    cp: int = 1
    pp: int = 1  # the trainer has no pipeline parallelism

    @property
    def gpus(self) -> int:
        return self.dp_replicate * self.dp_shard * self.cp


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
                mtp_depth: int = 1, cps: tuple[int, ...] = (1,)) -> MemoryEstimate | None:
    """The first layout that fits `memory_gb` x USABLE_FRACTION at `seq_len` (micro-batch 1), in this order of
    preference: no recomputation (it costs a quarter of the run's tokens: the planner counts it, search.rescore),
    then no context parallelism (under it the trainer runs without MTP; A.X K1 itself trained its long-context stage
    with CP 4-8), then the smallest FSDP shard group (fewer ranks in each all-gather; HSDP replicates the rest), with
    ep 8 (one NVLink node) where it divides; context parallel degrees from `cps`. None if nothing fits."""
    counts = parameter_counts(c)
    limit = memory_gb * USABLE_FRACTION
    for recompute in (False, True):
        for cp in [x for x in cps if gpus % x == 0 and seq_len % x == 0]:
            depth = min(mtp_depth, c.num_nextn_predict_layers) if cp == 1 else 0
            total = counts.total + (counts.mtp if depth else 0)
            data = gpus // cp
            for shard in shard_sizes(data):
                eps = ([1] if c.first_k_dense_replace >= c.num_hidden_layers  # dense: no experts to split
                       else [e for e in EP_ORDER if c.n_routed_experts % e == 0 and shard % e == 0])
                if not eps:
                    continue
                step = step_memory(c, dp_shard=shard, ep=eps[0], cp=cp, seq_len=seq_len, recompute=recompute,
                                   precision=precision, mtp_depth=depth, total_params=total,
                                   one_process=gpus == 1)  # one GPU: `axk1 train` without torchrun, as the dry run
                if step.total > limit:
                    continue
                layout = Layout(data // shard, shard, eps[0], recompute, cp=cp)
                why = (f"the smallest shard group ({shard} rank{'' if shard == 1 else 's'}"
                       f"{', replicated ' + str(data // shard) + 'x' if data > shard else ''}) that holds "
                       f"{step.total:.0f} of {limit:.0f} usable GB at {seq_len:,} tokens"
                       + (", with full recompute (nothing fits without)" if recompute else ", without recompute")
                       + f"; ep {eps[0]}"
                       + (f"; context parallel {cp} (no layout holds {seq_len:,} tokens on one GPU without "
                          "recompute; the run then trains without MTP)" if cp > 1 else ""))
                return MemoryEstimate(layout, step, seq_len, why)
    return None


def step_cps(gpus: int, seq_len: int, context: int) -> tuple[int, ...]:
    """The context-parallel degrees the trainer can run at `context`: each divides the base length (so every
    stage's), and leaves data-parallel ranks few enough that one `context`-token sequence on each stays within the
    tokens a step may take (MAX_TOKENS_PER_STEP, the dry run's check)."""
    return tuple(x for x in CONTEXT_PARALLEL
                 if seq_len % x == 0 and gpus % x == 0 and gpus // x * context <= MAX_TOKENS_PER_STEP)


def check_step_cap(gpus: int, seq_len: int) -> None:
    """Refuses a GPU count whose data-parallel ranks, at one long-context sequence each under the most context
    parallelism the planner uses, make a step larger than the trainer takes: the plan's recipe would fail its own
    dry run. 100,000 H200 at 32K tokens was 1.6B tokens a step against the cap of 2**30."""
    context = context_lengths(seq_len)[-1]
    if step_cps(gpus, seq_len, context):
        return
    cp = max(x for x in CONTEXT_PARALLEL if seq_len % x == 0)
    ranks = min(gpus // x for x in CONTEXT_PARALLEL if seq_len % x == 0 and gpus % x == 0)
    most = cp * (MAX_TOKENS_PER_STEP // context)
    raise ValueError(f"{gpus:,} GPUs are too many for one optimizer step: the recipe's longest stage trains "
                     f"{context:,}-token sequences, at least one on each data-parallel rank, and the most context "
                     f"parallelism the planner uses leaves {ranks:,} ranks, {ranks * context:,} tokens a step, more "
                     f"than the {MAX_TOKENS_PER_STEP:,} axk1 train takes (the dry run refuses it); plan for at most "
                     f"{most:,} GPUs (a multiple of {cp}), or a shorter --seq-len")
