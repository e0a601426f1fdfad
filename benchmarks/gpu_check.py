"""The GPU check (docs/gpu.md): what only a GPU can prove, in one run of a few minutes on one H200.

1. bf16 training of `axk1-gpu-small` (2B parameters, A.X K1's vocabulary) through axk1's trainer (FSDP2-free single
   GPU: autocast bf16, FlexAttention over packed documents, fused AdamW) for --steps steps on synthetic token shards;
   tokens/s and MFU against the GPU's bf16 dense peak, from the trainer's own metrics;
2. the same config in transformers 5.23's `AXK1ForCausalLM`: a plain training step (bf16 autocast, AdamW fused) on
   the same batches, tokens/s, and the ratio;
3. decoding: 32 rows x 128 new tokens after a 512-token prompt, axk1's `generate` vs transformers' `generate`
   (greedy, bf16 weights), tokens/s and the ratio.

    python benchmarks/gpu_check.py [--steps 300] [--json out.json]
    python benchmarks/gpu_check.py --smoke   # the same code on CPU with axk1-tiny, seconds (CI-sized)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import textwrap
import time
from pathlib import Path

import torch

from axk1 import AXK1ForCausalLM, ModelConfig, save_pretrained
from axk1.infer.generate import generate
from axk1.train.memory import step_memory
from axk1.train.metrics import read_jsonl, train_flops_per_token
from axk1.train.recipe import load_recipe
from axk1.train.synthetic import write_synthetic_shards
from axk1.train.trainer import Trainer


def recipe_text(preset: str, vocab: int, steps: int, seqs: int, seq_len: int, device: str, precision: str) -> str:
    return textwrap.dedent(f"""
        [model]
        preset = "{preset}"
        overrides = {{ vocab_size = {vocab}, max_position_embeddings = {max(seq_len, 1024)} }}
        mtp_depth = 1
        init_from = "init"
        [data]
        manifest = "tokens/manifest.json"
        [optimizer]
        lr = 3e-4
        [schedule]
        kind = "constant"
        warmup_steps = 10
        [batch]
        global_sequences = {seqs}
        micro_batch = {seqs}
        [checkpointing]
        interval_steps = 1000000
        [logging]
        every_steps = 10
        progress = false
        [parallelism]
        precision = "{precision}"
        activation_checkpointing = "none"
        [run]
        out_dir = "run"
        device = "{device}"
        max_steps = {steps}
        [[stages]]
        name = "bench"
        tokens = {steps * seqs * seq_len}
        seq_len = {seq_len}
        mixture = {{ web = 0.5, code = 0.5 }}
    """)


def train_axk1(work: Path, args) -> dict:
    path = work / "recipe.toml"
    path.write_text(recipe_text(args.preset, args.vocab, args.steps, args.seqs, args.seq_len, args.device, args.precision))
    recipe = load_recipe(path)
    trainer = Trainer(recipe)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - t0
    # the trainer's memory account (what --dry-run prints) beside what the allocator saw
    account = step_memory(trainer.config, dp_shard=1, ep=1, seq_len=args.seq_len, micro_batch=args.seqs,
                          recompute=False, precision=args.precision, mtp_depth=1)
    measured = torch.cuda.max_memory_allocated() / 1e9 if trainer.device.type == "cuda" else None
    rows = [r for r in read_jsonl(work / "run" / "metrics.jsonl") if r.get("tokens_per_s")]
    steady = rows[len(rows) // 2:] or rows  # after compile and warm-up
    tps = sorted(r["tokens_per_s"] for r in steady)[len(steady) // 2]
    mfu = [r["mfu"] for r in steady if r.get("mfu") is not None]
    return {"tokens_per_s": tps, "mfu": sorted(mfu)[len(mfu) // 2] if mfu else None, "wall_s": wall,
            "loss_first": rows[0]["loss"], "loss_last": rows[-1]["loss"],
            "memory_account_gb": {k: round(v, 2) for k, v in account.as_dict().items()},
            "memory_allocated_peak_gb": measured}


def train_transformers(work: Path, args, steps: int) -> dict:
    """A plain loop over transformers' model: forward with labels, backward, clip, fused AdamW, on random batches
    of the same shape (tokens/s depends on the shape, not the values)."""
    from transformers import AutoModelForCausalLM

    device = torch.device(args.device)
    model = AutoModelForCausalLM.from_pretrained(work / "init").to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    ids = torch.randint(3, args.vocab, (args.seqs, args.seq_len), device=device)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = model(ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    step = sorted(times[steps // 2:])[len(times[steps // 2:]) // 2]
    return {"tokens_per_s": args.seqs * args.seq_len / step}


def decode(work: Path, args) -> dict:
    from transformers import AutoModelForCausalLM

    device, dtype = torch.device(args.device), torch.bfloat16 if args.precision == "bf16" else torch.float32
    ours = __import__("axk1").load_model(work / "init").to(device=device, dtype=dtype).eval()
    theirs = AutoModelForCausalLM.from_pretrained(work / "init", dtype=dtype).to(device).eval()
    prompts = torch.randint(3, args.vocab, (args.rows, args.prompt)).tolist()
    out = {}
    for name, run in (("axk1", lambda: generate(ours, prompts, max_new_tokens=args.new_tokens, stop_ids=[])),
                      ("transformers", lambda: theirs.generate(torch.tensor(prompts, device=device),
                                                               max_new_tokens=args.new_tokens,
                                                               min_new_tokens=args.new_tokens, do_sample=False))):
        run()  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out[name] = args.rows * args.new_tokens / (time.perf_counter() - t)
    return {"tokens_per_s": out, "ratio": out["axk1"] / out["transformers"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="CPU, axk1-tiny, a few steps: checks the script itself")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    if args.smoke:
        args.__dict__.update(preset="axk1-tiny", vocab=512, seqs=4, seq_len=128, device="cpu", precision="bf16",
                             steps=min(args.steps, 20), rows=4, prompt=32, new_tokens=8)
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_check: torch sees no GPU (run with --smoke to check the script on CPU)")
        args.__dict__.update(preset="axk1-gpu-small", vocab=163840, seqs=8, seq_len=4096, device="cuda",
                             precision="bf16", rows=32, prompt=512, new_tokens=128)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = ModelConfig.from_preset(args.preset).replace(vocab_size=args.vocab,
                                                              max_position_embeddings=max(args.seq_len, 1024))
        torch.manual_seed(0)
        save_pretrained(AXK1ForCausalLM(config, with_mtp=True), work / "init")
        write_synthetic_shards(work / "tokens", vocab_size=args.vocab, docs=256, doc_len=(256, 4096))
        result = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                  "torch": torch.__version__, "preset": args.preset, "batch": [args.seqs, args.seq_len],
                  "flops_per_token": train_flops_per_token(config, args.seq_len, True)}
        result["train_axk1"] = train_axk1(work, args)
        print("axk1 training:", result["train_axk1"], flush=True)
        result["train_transformers"] = train_transformers(work, args, steps=min(args.steps, 30))
        result["train_ratio"] = result["train_axk1"]["tokens_per_s"] / result["train_transformers"]["tokens_per_s"]
        print("transformers training:", result["train_transformers"], "ratio", round(result["train_ratio"], 2),
              flush=True)
        result["decode"] = decode(work, args)
        print("decode:", result["decode"], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
