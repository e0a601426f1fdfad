"""The compiled decode step's compile and steps (docs/gpu.md, "Decoding"): `torch.compile(decoder, dynamic=True)`, as
`generate(compile=True)` compiled it until now, against `generate.compile_decoder` (dynamic only in the sizes that
change between steps: the attended span, the rows, the cache's length).

dynamic=True made every size and constant a symbol: dynamo traced the step twice (AOTAutograd turned the constant
floats into tensors and restarted the analysis) and guarded the symbols that happened to be equal, so another
generation of other rows compiled the step again. Each variant runs in a child of its own with an empty inductor
cache: the first generation holds the compile; then the same generation three times; then one of 3 rows and 40
new tokens.

    .venv/bin/python benchmarks/bench_decode_compile.py [--layers 4] [--rows 8] [--new 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = "AXK1_BENCH_DECODE_COMPILE_CHILD"


def child(variant: str, layers: int, rows: int, new: int) -> dict:
    import torch
    from torch._dynamo.utils import counters

    import axk1.infer.generate as generate_module
    from axk1 import AXK1ForCausalLM, ModelConfig

    if variant == "dynamic=True":
        generate_module.compile_decoder = lambda decoder: torch.compile(decoder.__call__, dynamic=True)
    torch.manual_seed(0)
    config = ModelConfig.from_preset("axk1-gpu-small").replace(vocab_size=4096, num_hidden_layers=layers)
    model = AXK1ForCausalLM(config).eval()
    prompts = torch.randint(3, 4000, (rows, 32)).tolist()

    def timed(batch, tokens):
        t0 = time.perf_counter()
        result = generate_module.generate(model, batch, max_new_tokens=tokens, compile=True, stop_ids=[])
        return time.perf_counter() - t0, result.tokens

    first, tokens = timed(prompts, new)
    steady = [timed(prompts, new) for _ in range(3)]
    other, _ = timed(prompts[:3], 40)
    return {"first": first, "steady": min(s for s, _ in steady), "same_tokens": all(t == tokens for _, t in steady),
            "other": other, "graphs": counters["stats"]["unique_graphs"],
            "ops_traced": counters["stats"]["calls_captured"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--new", type=int, default=64)
    args = p.parse_args()
    if os.environ.get(CHILD):
        print(json.dumps(child(os.environ[CHILD], args.layers, args.rows, args.new)))
        return
    print(f"axk1-gpu-small's widths, {args.layers} layers, vocabulary 4,096, fp32; {args.rows} rows of 32 tokens, "
          f"{args.new} new (steady: the best of 3)")
    print("| compiled step | first generation (compile) | steady generation | 3 rows x 40 | graphs | ops traced |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in ("dynamic=True", "compile_decoder"):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, **{CHILD: variant, "TORCHINDUCTOR_CACHE_DIR": cache})
            out = subprocess.run([sys.executable, __file__, *sys.argv[1:]], env=env, capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{variant}: the child failed:\n{out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        same = "" if r["same_tokens"] else " (tokens differ between runs!)"
        print(f"| {variant} | {r['first']:.1f} s | {r['steady']:.2f} s{same} | {r['other']:.2f} s | {r['graphs']} "
              f"| {r['ops_traced']} |", flush=True)


if __name__ == "__main__":
    main()
