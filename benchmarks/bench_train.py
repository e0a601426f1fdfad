"""Training throughput, single process on CPU: tokens/s and achieved FLOP/s as a fraction of this machine's
measured fp32 matmul peak (axk1.train.metrics), for axk1-tiny and the demo's axk1-mini (vocab 8,192).

    .venv/bin/python benchmarks/bench_train.py [--steps 6] [--threads 2]

Synthetic shards (axk1.train.synthetic); the first step (allocation, warm-up) is excluded from the timing.
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

import torch

from axk1.train.metrics import measure_matmul_peak, train_flops_per_token
from axk1.train.recipe import load_recipe
from axk1.train.synthetic import write_synthetic_shards
from axk1.train.trainer import Trainer

CASES = [  # (preset, overrides, vocab, sequences per step, seq_len)
    ("axk1-tiny", "{}", 512, 8, 128),
    ("axk1-mini", "{ vocab_size = 8192, max_position_embeddings = 1024 }", 8192, 8, 256),
]


def bench(preset: str, overrides: str, vocab: int, seqs: int, seq_len: int, steps: int, folder: Path) -> dict:
    write_synthetic_shards(folder / "tokens", vocab_size=vocab, docs=128, doc_len=(64, 512))
    recipe = folder / "recipe.toml"
    recipe.write_text(textwrap.dedent(f"""
        [model]
        preset = "{preset}"
        overrides = {overrides}
        [data]
        manifest = "tokens/manifest.json"
        [batch]
        global_sequences = {seqs}
        micro_batch = {seqs}
        [checkpointing]
        interval_steps = 100000
        [logging]
        progress = false
        jsonl = ""
        [[stages]]
        name = "s1"
        tokens = {seqs * seq_len * steps}
        seq_len = {seq_len}
        mixture = {{ web = 1.0 }}
    """))
    trainer = Trainer(load_recipe(recipe))
    trainer.train_step(0)
    start = time.perf_counter()
    for step in range(1, steps):
        trainer.train_step(step)
    elapsed = time.perf_counter() - start
    tokens_per_s = (steps - 1) * seqs * seq_len / elapsed
    flops = train_flops_per_token(trainer.config, seq_len, with_mtp=True)
    return {"model": preset, "tokens/step": seqs * seq_len, "tokens/s": tokens_per_s,
            "GFLOP/s": tokens_per_s * flops / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    peak = measure_matmul_peak(seconds=1.0, n=1024)
    print(f"fp32 matmul peak ({args.threads} threads): {peak / 1e9:.1f} GFLOP/s")
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            r = bench(*case, args.steps, Path(tmp))
        print(f"{r['model']:10s} {r['tokens/step']:6d} tok/step  {r['tokens/s']:9.0f} tok/s  "
              f"{r['GFLOP/s']:7.2f} GFLOP/s  MFU {r['GFLOP/s'] * 1e9 / peak:.1%}")


if __name__ == "__main__":
    main()
