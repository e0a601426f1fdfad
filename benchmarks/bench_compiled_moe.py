"""One MoE decoder layer under torch.compile for training, as `[parallelism] compile = true` runs it in a bf16
recipe: forward and backward at `axk1-gpu-small`'s widths (hidden 1,024, 64 experts of 512, top-6), bf16 autocast,
on this machine's CPU. Prints the graphs and graph breaks dynamo made and the time of a step (docs/gpu.md,
"Compile"). Run it at two commits to compare: before the experts' SwiGLU backward was traceable the layer broke
4 times (its in-place `out=` writes), so it ran as 8 graphs with the SwiGLU eager between them.

    .venv/bin/python benchmarks/bench_compiled_moe.py [--tokens 1024] [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch._dynamo.utils import counters

from axk1 import AXK1ForCausalLM, ModelConfig
from timing import time_ms


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=1024, help="tokens per step (2 rows)")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.manual_seed(0)
    config = ModelConfig.from_preset("axk1-gpu-small").replace(vocab_size=4096, num_hidden_layers=2)
    model = AXK1ForCausalLM(config).train()
    layer = model.decoder_layers()[1]
    T = args.tokens // 2
    ids = torch.randint(0, config.vocab_size, (2, T))
    _, (cos, sin, mask) = model.hidden_states(ids)
    cos, sin = cos.detach(), sin.detach()
    x = torch.randn(2, T, config.hidden_size)
    compiled = torch.compile(layer)

    def step(run) -> None:
        x_in = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = run(x_in, cos, sin, mask)
        out.float().square().mean().backward()
        layer.zero_grad(set_to_none=True)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; one MoE layer at axk1-gpu-small's widths, "
          f"{args.tokens} tokens, bf16 autocast, forward + backward; median of {args.repeats}")
    eager_ms = time_ms(lambda: step(layer), args.repeats, warmup=2, pick=statistics.median)
    counters.clear()
    compiled_ms = time_ms(lambda: step(compiled), args.repeats, warmup=2, pick=statistics.median)
    breaks = sum(counters["graph_break"].values())
    print("| run | step | graphs | graph breaks |\n|---|---:|---:|---:|")
    print(f"| eager | {eager_ms:.1f} ms | – | – |")
    print(f"| compiled | {compiled_ms:.1f} ms | {counters['stats']['unique_graphs']} | {breaks} |")


if __name__ == "__main__":
    main()
