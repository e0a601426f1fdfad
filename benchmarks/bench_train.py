"""Training throughput on CPU: tokens/s and achieved FLOP/s as a fraction of this
machine's fp32 matmul peak, for axk1-tiny and the demo's axk1-mini (vocabulary 8,192).

(a) axk1's trainer in one process on 2 threads vs world size 2 (torch.multiprocessing, gloo, FSDP2 over both
    ranks, 1 thread per rank), same global batch, MTP on;
(b) side by side on one process, 2 threads, MTP off: a plain training loop over transformers'
    `AXK1ForCausalLM` (`model(ids, labels=ids).loss.backward()`, gradient clipping, AdamW with the trainer's
    hyper-parameters, decay groups and fused kernel) vs axk1's trainer step, on the same config, weights (axk1 saves,
    transformers loads the folder) and token batches.

Every variant starts from the same saved weights ([model] init_from). The peak is measured once (best of several
1024^3 sgemm trials on 2 threads) or given with --peak-gflops (measure it on a quiet machine: a peak taken under
load reads low and inflates every fraction). Variants alternate within each round; a run's step time is the
median of its steps, and figures are medians over rounds. The first step of every run (allocation, warm-up) is
not timed.

    .venv/bin/python benchmarks/bench_train.py [--rounds 3] [--steps 5] [--peak-gflops 150] [--models axk1-tiny]
                                               [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import textwrap
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/synthetic_shards.py

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from axk1 import AXK1ForCausalLM, save_pretrained
from axk1.flops import training_flops_per_token
from axk1.train.data import StageSampler, load_shards
from axk1.train.metrics import measure_matmul_peak
from axk1.train.recipe import load_recipe
from axk1.train.recipe_sections import RecipeModelConfig
from axk1.train.trainer import Trainer
from tests.synthetic_shards import write_synthetic_shards

CASES = [  # (preset, overrides, vocab, sequences per step, seq_len)
    ("axk1-tiny", "{}", 512, 8, 128),
    ("axk1-mini", "{ vocab_size = 8192, max_position_embeddings = 1024 }", 8192, 8, 256),
]


def write_recipe(folder: Path, name: str, case: tuple, steps: int, mtp: bool, ranks: int) -> Path:
    preset, overrides, _, seqs, seq_len = case
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""
        [model]
        preset = "{preset}"
        overrides = {overrides}
        mtp_depth = {int(mtp)}
        init_from = "init"
        [data]
        manifest = "tokens/manifest.json"
        [batch]
        global_sequences = {seqs}
        micro_batch = {seqs // ranks}
        [parallelism]
        dp_shard = {ranks}
        [checkpointing]
        interval_steps = 100000
        [logging]
        progress = false
        jsonl = ""
        [run]
        out_dir = "{name}"
        threads = {2 // ranks}
        [[stages]]
        name = "s1"
        tokens = {seqs * seq_len * (steps + 1)}
        seq_len = {seq_len}
        mixture = {{ web = 1.0 }}
    """))
    return path


def time_trainer(recipe: Path, steps: int) -> list[float]:
    """Seconds of each of `steps` steps after one untimed step (all ranks in step when distributed)."""
    trainer = Trainer(load_recipe(recipe))
    trainer.train_step(0)
    sync = dist.barrier if dist.is_initialized() else (lambda: None)
    times = []
    for step in range(1, steps + 1):
        sync()
        start = time.perf_counter()
        trainer.train_step(step)
        sync()
        times.append(time.perf_counter() - start)
    return times


def _rank_main(rank: int, port: int, recipe: str, steps: int, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        seconds = time_trainer(Path(recipe), steps)  # the Trainer joins the group (gloo) as under torchrun
        if rank == 0:
            Path(out).write_text(json.dumps(seconds))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def time_trainer_2_ranks(recipe: Path, steps: int) -> list[float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = recipe.with_suffix(".seconds.json")
    mp.start_processes(_rank_main, args=(port, str(recipe), steps, str(out)), nprocs=2, start_method="spawn", join=True)
    return json.loads(out.read_text())


def time_transformers(recipe: Path, steps: int) -> list[float]:
    """The plain loop over transformers' model, fed the batches the trainer draws for the same steps."""
    from transformers import AXK1ForCausalLM as HFModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    r = load_recipe(recipe)
    torch.set_num_threads(r.run.threads)
    model = HFModel.from_pretrained(r.model.init_from, dtype=torch.float32).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed_tokens" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or "embed_tokens" in n]
    o = r.optimizer
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": o.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=o.lr, betas=tuple(o.betas), eps=o.eps,
                                  fused=True)  # as axk1's trainer (axk1/train/optim.py): compare like with like
    _, shards = load_shards(r.data.manifest)
    sampler = StageSampler(r, shards)
    times = []
    for step in range(steps + 1):
        ids_BT = sampler.batch(step, range(sampler.position(step).sequences)).ids_BT
        start = time.perf_counter()
        loss = model(ids_BT, labels=ids_BT).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())
        times.append(time.perf_counter() - start)
    return times[1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run (after one untimed step)")
    ap.add_argument("--peak-gflops", type=float, default=0.0, help="fp32 matmul peak measured on a quiet machine")
    ap.add_argument("--models", default=",".join(c[0] for c in CASES), help="comma-separated presets to run")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    peak = args.peak_gflops * 1e9 or measure_matmul_peak(seconds=5.0, n=1024, trials=10)
    print(f"fp32 matmul peak, 2 threads: {peak / 1e9:.1f} GFLOP/s "
          f"({'given' if args.peak_gflops else 'measured now, best of 10'}; load average {os.getloadavg()[0]:.2f})")
    results = []
    for case in [c for c in CASES if c[0] in args.models.split(",")]:
        preset, _, vocab, seqs, seq_len = case
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_synthetic_shards(folder / "tokens", vocab_size=vocab, docs=128, doc_len=(64, 512))
            recipes = {
                "axk1, 1 process x 2 threads": (write_recipe(folder, "one", case, args.steps, True, 1), time_trainer),
                "axk1, 2 ranks x 1 thread (FSDP2)": (write_recipe(folder, "two", case, args.steps, True, 2),
                                                     time_trainer_2_ranks),
                "axk1, 1 process, no MTP": (write_recipe(folder, "nomtp", case, args.steps, False, 1), time_trainer),
                "transformers loop, 1 process, no MTP": (folder / "nomtp.toml", time_transformers),
            }
            config = RecipeModelConfig(preset=preset, overrides=tomllib.loads(f"o = {case[1]}")["o"]).build_config()
            torch.manual_seed(0)
            save_pretrained(AXK1ForCausalLM(config, with_mtp=True), folder / "init")
            seconds = {k: [] for k in recipes}  # per round: the run's step times
            for _ in range(args.rounds):
                for name, (recipe, fn) in recipes.items():
                    seconds[name].append(fn(recipe, args.steps))
                    print(f"  {preset} | {name}: step seconds {[round(t, 3) for t in seconds[name][-1]]}", flush=True)
                    torch.set_num_threads(2)
        for name, rounds in seconds.items():
            mtp = "no MTP" not in name
            times = [statistics.median(steps) for steps in rounds]  # robust to a step that caught other work
            tps = seqs * seq_len / statistics.median(times)
            flops = tps * training_flops_per_token(config, seq_len, with_mtp=mtp, causal=True)
            results.append({"model": preset, "variant": name, "tokens_per_step": seqs * seq_len, "tokens_per_s": tps,
                            "gflops": flops / 1e9, "fraction_of_peak": flops / peak,
                            "spread": (max(times) - min(times)) / statistics.median(times), "step_seconds": rounds})
    for row in results:
        print(f"{row['model']:10s} {row['variant']:38s} {row['tokens_per_s']:9.0f} tok/s {row['gflops']:7.2f} GFLOP/s "
              f"{row['fraction_of_peak']:6.1%} of peak  (spread over rounds {row['spread']:.0%})")
    ratios = {}
    for preset in dict.fromkeys(r["model"] for r in results):
        by = {r["variant"]: r["tokens_per_s"] for r in results if r["model"] == preset}
        ratios[preset] = {"2 ranks / 1 process": by["axk1, 2 ranks x 1 thread (FSDP2)"] / by["axk1, 1 process x 2 threads"],
                          "axk1 / transformers (no MTP)": by["axk1, 1 process, no MTP"] / by["transformers loop, 1 process, no MTP"]}
        print(f"{preset:10s} " + "  ".join(f"{k}: {v:.2f}x" for k, v in ratios[preset].items()))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
            "peak_gflops": peak / 1e9, "rounds": args.rounds, "steps": args.steps, "rows": results, "ratios": ratios,
        }, indent=2))


if __name__ == "__main__":
    main()
