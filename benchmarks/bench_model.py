"""axk1 vs transformers 5.23 `AXK1ForCausalLM` on one config and machine (goals: benchmarks/RESULTS.md).

(a) a training step (forward, backward, AdamW) in fp32, batch 4 x 512 tokens, ~10M-parameter config with 16 experts,
    top-4; tokens/s and achieved FLOP/s as a fraction of this machine's measured fp32 matmul peak;
(b) greedy decoding of 128 new tokens after a 256-token prompt, tokens/s;
(c) KV-cache bytes per token.
Both models hold the same weights (axk1 saves, transformers loads the folder). Each measurement alternates the two
implementations over several rounds and reports medians, so drift on a shared machine hits both alike.

    python benchmarks/bench_model.py [--rounds 12] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/ helpers

import torch
from transformers import AXK1ForCausalLM as HFModel
from transformers import DynamicCache
from transformers.utils import logging as hf_logging

import axk1
from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.flops import training_flops_per_token
from axk1.infer.generate import generate
from axk1.model import LatentKVCache
from axk1.parallel.compile import apply_compile
from tests.lm_loss import causal_lm_loss

hf_logging.set_verbosity_error()

BENCH_CONFIG = dict(
    vocab_size=8192, hidden_size=256, intermediate_size=768, moe_intermediate_size=128, num_hidden_layers=4,
    first_k_dense_replace=1, num_attention_heads=4, q_lora_rank=128, kv_lora_rank=64, qk_nope_head_dim=32,
    qk_rope_head_dim=16, v_head_dim=32, n_routed_experts=16, n_shared_experts=1, num_experts_per_tok=4,
    n_group=4, topk_group=2, max_position_embeddings=2048, bos_token_id=1, eos_token_id=2,
)
BATCH, SEQ = 4, 512
PROMPT, NEW = 256, 128


def matmul_peak_flops(n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times)


def time_train_step(model, ids, steps: int, hf: bool) -> float:
    # The same optimizer for both sides: AdamW's fused CPU kernel (one pass per parameter; the foreach path on CPU
    # loops over tensors op by op and cost ~4x as much).
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        # Each library's own training loss: transformers' `labels=` path, axk1's chunked fused head + CE.
        loss = model(ids, labels=ids).loss if hf else causal_lm_loss(model, ids)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:  # the first step warms up allocators and autograd
            times.append(time.perf_counter() - t)
    return statistics.median(times)


@torch.inference_mode()
def time_decode_hf(model, prompt) -> float:
    t = time.perf_counter()
    out = model.generate(prompt, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, pad_token_id=0)
    elapsed = time.perf_counter() - t
    assert out.shape[1] == PROMPT + NEW
    return elapsed


def time_decode_axk1(model, prompt, compile: bool = False) -> float:
    t = time.perf_counter()
    result = generate(model, prompt.tolist(), max_new_tokens=NEW, stop_ids=[], compile=compile)
    elapsed = time.perf_counter() - t
    assert len(result.tokens[0]) == NEW
    return elapsed


def hf_cache_bytes_per_token(model, prompt) -> int:
    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        model(prompt, past_key_values=cache, use_cache=True)
    total = 0
    for layer in cache.layers:
        for t in (layer.keys, layer.values):
            total += t.numel() * t.element_size()
    return total // prompt.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = ModelConfig(**BENCH_CONFIG)
    torch.manual_seed(0)
    folder = tempfile.mkdtemp()
    axk1.save_pretrained(AXK1ForCausalLM(config), folder)
    ours = axk1.load_model(folder, dtype=torch.float32).train()
    ref = HFModel.from_pretrained(folder, dtype=torch.float32).train()
    n_params = sum(p.numel() for p in ours.parameters())
    ids = torch.randint(0, config.vocab_size, (BATCH, SEQ), generator=torch.Generator().manual_seed(1))

    peak = matmul_peak_flops()
    flops_tok = training_flops_per_token(config, SEQ, with_mtp=False, causal=True)  # no MTP here
    compiled = AXK1ForCausalLM(config).train()
    compiled.load_state_dict(ours.state_dict())
    apply_compile(compiled)
    time_train_step(compiled, ids, 1, hf=False)  # compiles; not counted
    train = {"axk1": [], "axk1 (compiled layers)": [], "transformers": []}
    for _ in range(args.rounds):
        train["axk1"].append(time_train_step(ours, ids, args.train_steps, hf=False))
        train["axk1 (compiled layers)"].append(time_train_step(compiled, ids, args.train_steps, hf=False))
        train["transformers"].append(time_train_step(ref, ids, args.train_steps, hf=True))
    tokens = BATCH * SEQ
    train_tps = {k: tokens / statistics.median(v) for k, v in train.items()}
    del compiled

    ours.eval()
    ref.eval()
    prompt = torch.randint(0, config.vocab_size, (1, PROMPT), generator=torch.Generator().manual_seed(2))
    decode = {"axk1": [], "axk1 (compiled decode step)": [], "transformers": []}
    compile_seconds = time_decode_axk1(ours, prompt, compile=True)  # first call compiles; not counted
    for _ in range(args.rounds):
        decode["axk1"].append(time_decode_axk1(ours, prompt))
        decode["axk1 (compiled decode step)"].append(time_decode_axk1(ours, prompt, compile=True))
        decode["transformers"].append(time_decode_hf(ref, prompt))
    decode_tps = {k: NEW / statistics.median(v) for k, v in decode.items()}

    kv = {"axk1": LatentKVCache.bytes_per_token(config, torch.float32),
          "transformers": hf_cache_bytes_per_token(ref, prompt)}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}",
        "params": n_params,
        "train_tokens_per_s": train_tps,
        "train_ratio": train_tps["axk1"] / train_tps["transformers"],
        "train_ratio_compiled": train_tps["axk1 (compiled layers)"] / train_tps["transformers"],
        # each round's own ratio (the two sides ran back to back): how far the machine's drift moves the figure
        "train_ratio_per_round": sorted(round(hf / ax, 3) for ax, hf in zip(train["axk1"], train["transformers"])),
        "train_mfu_vs_matmul_peak": {k: v * flops_tok / peak for k, v in train_tps.items()},
        "fp32_matmul_peak_gflops": peak / 1e9,
        "decode_tokens_per_s": decode_tps,
        "decode_ratio": decode_tps["axk1"] / decode_tps["transformers"],
        "decode_ratio_compiled": decode_tps["axk1 (compiled decode step)"] / decode_tps["transformers"],
        "decode_compile_seconds": compile_seconds,
        "kv_cache_bytes_per_token_fp32": kv,
        "kv_ratio": kv["transformers"] / kv["axk1"],
        "kv_cache_bytes_per_token_bf16_axk1_519b": LatentKVCache.bytes_per_token(ModelConfig.from_preset("axk1-519b")),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
