"""Where a training step's time goes, for the GPU check (benchmarks/gpu_check.py, docs/gpu.md): the host syncs a
step makes and where in axk1, kernel time by kind from torch.profiler, and what torch.compile made of the run."""

from __future__ import annotations

import collections
import time
import traceback
import warnings
from pathlib import Path

import torch

from axk1.train.trainer import Trainer


def count_syncs(trainer: Trainer, steps: int = 2) -> dict:
    """Host syncs in `steps` training steps, keyed by the innermost axk1 frame that caused them."""
    sites: collections.Counter = collections.Counter()
    shown = warnings.showwarning

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchronizing" not in str(message):
            return shown(message, category, filename, lineno, file, line)
        frames = [f for f in traceback.extract_stack() if "/axk1/" in f.filename and "/benchmarks/" not in f.filename]
        f = frames[-1] if frames else None
        sites[f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} {f.line}" if f else "?"] += 1

    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings():  # restores the filters and showwarning on the way out
            warnings.simplefilter("always")
            warnings.showwarning = record
            for step in range(steps):
                trainer.train_step(step)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return {"per_step": sum(sites.values()) / steps, "sites": dict(sites.most_common())}


KERNEL_KINDS = [  # (kind, any of these in the kernel's lower-cased name), first match wins
    # FlexAttention's compiled kernels (inductor names a kernel after its source op: triton_tem_fused_flex_attention_0,
    # ..._flex_attention_backward_...); CPU's SDPA. Not every `triton_tem` (template) kernel: under max_autotune
    # the matmuls and grouped matmuls are templates too (triton_tem_fused_mm_3, ..._grouped_mm_7)
    ("attention", ("flex", "attention")),
    ("experts (grouped matmul)", ("group",)),
    # the template kernels left after attention's are inductor's matmuls (mm, addmm, bmm)
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "cublas", "matmul", "::mm", "addmm", "bmm", "triton_tem")),
    ("communication", ("nccl",)),
    ("compiled fusions", ("triton", "compiledfxgraph")),  # inductor's kernels: triton on a GPU, C++ graphs on CPU
    ("copies", ("memcpy", "memset", "copy")),
]


def kernel_kind(name: str) -> str:
    """The KERNEL_KINDS kind of a kernel (or, on CPU, an op) by its name; "other" where none matches."""
    name = name.lower()
    return next((kind for kind, words in KERNEL_KINDS if any(w in name for w in words)), "other")


def profile_steps(trainer: Trainer, steps: int = 3) -> dict:
    """Where a step's time goes, from torch.profiler over `steps` more training steps: kernel time by kind (names
    matched against KERNEL_KINDS; "other" is eager elementwise and reductions), the share of the wall time the GPU
    was busy (well under 1: launch- or host-bound), the time inside the chunked head + loss (both heads, forward
    and backward: it computes its gradients in the forward) and the optimizer, and the top kernels by time."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from axk1.train import loss as loss_module

    cuda = trainer.device.type == "cuda"
    original_loss, original_step = loss_module.linear_cross_entropy, trainer.optimizer.step

    def head_loss(*a, **k):
        with record_function("axk1.head_loss"):
            return original_loss(*a, **k)

    def optimizer_step(*a, **k):
        with record_function("axk1.optimizer"):
            return original_step(*a, **k)

    loss_module.linear_cross_entropy, trainer.optimizer.step = head_loss, optimizer_step
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    try:
        with profile(activities=activities) as prof:
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for step in range(steps):
                trainer.train_step(trainer.state.step + 1 + step)
            if cuda:
                torch.cuda.synchronize()
            wall_us = (time.perf_counter() - t0) * 1e6
    finally:
        loss_module.linear_cross_entropy, trainer.optimizer.step = original_loss, original_step

    def self_time(e) -> float:  # a kernel's own device time (CUDA), an op's own CPU time (the CPU smoke run)
        if cuda:
            return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0.0)
        return e.self_cpu_time_total

    def total_time(e) -> float:
        if cuda:
            return getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0.0)
        return e.cpu_time_total

    events = prof.key_averages()
    on_cpu = lambda e: getattr(e, "device_type", None) == torch.autograd.DeviceType.CPU  # noqa: E731
    # On a GPU the kernels alone (an op's self device time repeats its kernels'; a GPU-side copy of a
    # record_function range spans idle time too); on CPU the ops' own time
    timed = [e for e in events if self_time(e) > 0 and not e.key.startswith("axk1.")
             and not getattr(e, "is_user_annotation", False) and not (cuda and on_cpu(e))]
    kinds: collections.Counter = collections.Counter()
    for e in timed:
        kinds[kernel_kind(e.key)] += self_time(e)
    busy = sum(kinds.values())
    phases = {e.key: total_time(e) for e in events if e.key in ("axk1.head_loss", "axk1.optimizer") and on_cpu(e)}
    per_step = lambda us: round(us / steps / 1e3, 2)  # noqa: E731  (ms a step)
    top = sorted(timed, key=self_time, reverse=True)[:15]
    return {"steps": steps, "wall_ms_per_step": per_step(wall_us),
            "busy_ms_per_step": per_step(busy), "busy_share": round(busy / wall_us, 3),
            "by_kind_ms_per_step": {k: per_step(v) for k, v in kinds.most_common()},
            "phases_ms_per_step": {k.removeprefix("axk1."): per_step(v) for k, v in phases.items()},
            "top_kernels": [{"name": e.key[:120], "ms_per_step": per_step(self_time(e)), "calls": e.count // steps}
                            for e in top]}


def dynamo_census() -> dict:
    """What torch.compile made of the run: graphs compiled and graph breaks by reason. Each compiled decoder layer
    should be one graph (one per layer shape: dense, MoE, the MTP layer's shorter rows), with no break inside."""
    from torch._dynamo.utils import counters

    breaks = {reason.splitlines()[0][:160]: n for reason, n in counters["graph_break"].items()}
    return {"unique_graphs": counters["stats"]["unique_graphs"], "graph_breaks": sum(breaks.values()),
            "break_reasons": breaks}
