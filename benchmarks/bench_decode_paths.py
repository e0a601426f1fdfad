"""Decode-step paths for accelerators, measured on CPU (docs/gpu.md, "Decoding"): how a MoE layer runs its chosen
experts, and the compiled step with and without its graph break.

1. experts: one decode step of a 2-layer model (a dense layer, a MoE layer) at `axk1-gpu-small`'s widths (64
   experts of 512, top-6, hidden 1,024), 32 rows, bf16, through `LatentDecoder(experts=...)`: "gathered" (a copy
   of each assignment's expert weights, then one batched matmul: what accelerators ran before), "grouped" (grouped
   matmuls over the assignments sorted by expert: what they run now) and "loop" (CPU's). The copy is memory traffic
   that a GPU pays too: 192 assignments x 1.5M weights x 2 bytes written, then read, per MoE layer and step.
2. compiled: `generate(..., compile=True)` compiled `model.forward_latent`, whose first act (building a
   LatentDecoder) dynamo cannot trace: a graph break every step. It now compiles a decoder built once. Steps/s of
   each, and dynamo's graph-break count.

    .venv/bin/python benchmarks/bench_decode_paths.py [--rows 32] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.model import LatentDecoder, LatentKVCache
from timing import time_ms


def step_inputs(config, rows: int, dtype, filled: int = 64):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, config.vocab_size, (rows, 1), generator=g)
    positions = torch.full((rows, 1), filled)
    mask = torch.ones(rows, 1, 1, filled + 1, dtype=torch.bool)
    cache = LatentKVCache(config, rows, filled + 1, dtype)
    return ids, positions, cache, filled, mask


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=32)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    torch.manual_seed(0)
    config = ModelConfig.from_preset("axk1-gpu-small").replace(vocab_size=4096, num_hidden_layers=2)
    model = AXK1ForCausalLM(config).eval().to(torch.bfloat16)
    inputs = step_inputs(config, args.rows, torch.bfloat16)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.rows} rows, one decode step of "
          f"a dense + a MoE layer at axk1-gpu-small's widths, bf16; median of {args.repeats}")
    print("| experts path | step | vs gathered |\n|---|---:|---:|")
    base = None
    with torch.no_grad():
        for path in ("gathered", "grouped", "loop"):
            decoder = LatentDecoder(model, experts=path)
            ms = time_ms(lambda: decoder(*inputs), args.repeats, warmup=2, pick=statistics.median)
            base = base or ms
            print(f"| {path} | {ms:.2f} ms | {base / ms:.2f}x |", flush=True)

    from torch._dynamo.utils import counters
    print("\n| compiled decode step (fp32: experts gathered) | step | graph breaks |\n|---|---:|---:|")
    model = model.float()
    inputs = step_inputs(config, args.rows, torch.float32)
    with torch.no_grad():
        for name, fn in (("torch.compile(model.forward_latent) (before)", model.forward_latent),
                         ("torch.compile(LatentDecoder(model).__call__) (now)", LatentDecoder(model).__call__)):
            torch._dynamo.reset()
            counters.clear()
            step = torch.compile(fn, dynamic=True)
            ms = time_ms(lambda: step(*inputs), args.repeats, warmup=2, pick=statistics.median)
            print(f"| {name} | {ms:.2f} ms | {sum(counters['graph_break'].values())} |", flush=True)


if __name__ == "__main__":
    main()
