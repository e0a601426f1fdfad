"""The memory account (axk1/train/memory.py) against measurement on CPU (benchmarks/RESULTS.md, "Memory account").

1. census: bytes autograd keeps per token for a dense and a MoE decoder layer (tests/memory_census.py) beside
   the account's figure, for A.X K1's own layer shape and axk1-gpu-small's, on the three compute paths. The attention
   kernel's saved tensors are left out of both (CPU's kernel keeps a dense mask, a GPU's FlexAttention does not);
   the account's kernel term is printed apart. Shapes keep their layers' widths; vocabulary, depth and the number of
   experts are cut so the model fits this machine (a dense layer and a MoE layer, no MTP) (none of them changes a layer's bytes per token but the 4 bytes
   per expert of the router's scores, which the account counts at the cut size too).
2. step: the peak of one whole training step (torch's MemTracker) in one process, beside the account's total less
   its 6 GB reserve, for fp32 and bf16 (autocast), without and with full recompute.

    .venv/bin/python benchmarks/bench_memory.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests/ helpers

import torch

from axk1 import AXK1ForCausalLM, ModelConfig
from axk1.train.memory import layer_bytes_per_token, step_memory
from tests.memory_census import bytes_per_token, step_peak

CENSUS = {  # preset -> the cuts that fit a CPU (widths untouched)
    "axk1-519b": dict(vocab_size=4096, num_hidden_layers=2, n_routed_experts=16, max_position_embeddings=4096),
    "axk1-gpu-small": dict(vocab_size=4096, num_hidden_layers=2, max_position_embeddings=4096),
}
STEP_SHAPE = dict(vocab_size=16384, hidden_size=256, intermediate_size=1024, moe_intermediate_size=128,
                  num_hidden_layers=4, num_attention_heads=4, q_lora_rank=128, kv_lora_rank=64, qk_nope_head_dim=32,
                  qk_rope_head_dim=16, v_head_dim=32, n_routed_experts=16, num_experts_per_tok=4, n_group=4,
                  topk_group=2, max_position_embeddings=1024)


def census() -> None:
    print("bytes kept per token and layer (attention kernel apart): measured / account")
    print(f"{'shape':<16} {'path':<9} {'dense layer':>19} {'MoE layer':>19} {'kernel (account)':>17}")
    for preset, cuts in CENSUS.items():
        config = ModelConfig.from_preset(preset).replace(**cuts)
        for path in ("bf16", "autocast", "fp32"):
            torch.manual_seed(0)
            model = AXK1ForCausalLM(config, with_mtp=False)  # (the census counts the decoder's layers)
            if path == "bf16":
                model = model.to(torch.bfloat16)
            measured = bytes_per_token(model, path, B=1, lengths=(32, 64))
            dense, moe = (layer_bytes_per_token(config, m, path, attention_kernel=False) for m in (False, True))
            kernel = layer_bytes_per_token(config, True, path) - moe
            print(f"{preset:<16} {path:<9} {measured[0]:>9,.0f} / {dense:>7,.0f} {measured[1]:>9,.0f} / {moe:>7,.0f} "
                  f"{kernel:>17,.0f}", flush=True)


def step(B: int, T: int) -> None:
    from axk1.train.recipe import load_recipe
    from tests.synthetic_shards import write_synthetic_shards
    from axk1.train.trainer import Trainer

    print(f"\none training step, one process, {B} x {T} tokens (MB): peak measured / account less its reserve")
    shape = ", ".join(f"{k} = {v}" for k, v in STEP_SHAPE.items())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_synthetic_shards(work / "tokens", vocab_size=STEP_SHAPE["vocab_size"], docs=64, doc_len=(64, T))
        os.chdir(work)
        for precision in ("fp32", "bf16"):
            for recompute in ("none", "full"):
                (work / "r.toml").write_text(textwrap.dedent(f"""
                    [model]
                    preset = "axk1-gpu-small"
                    overrides = {{ {shape} }}
                    mtp_depth = 1
                    [data]
                    manifest = "tokens/manifest.json"
                    [batch]
                    global_sequences = {B}
                    micro_batch = {B}
                    [logging]
                    progress = false
                    [parallelism]
                    precision = "{precision}"
                    activation_checkpointing = "{recompute}"
                    [run]
                    out_dir = "o"
                    device = "cpu"
                    max_steps = 2
                    [[stages]]
                    name = "s"
                    tokens = {2 * B * T}
                    seq_len = {T}
                    mixture = {{ web = 0.5, code = 0.5 }}
                """))
                trainer = Trainer(load_recipe(work / "r.toml"))
                trainer.callbacks = []
                peak = step_peak(trainer)
                account = step_memory(trainer.config, dp_shard=1, ep=1, seq_len=T, micro_batch=B,
                                      precision=precision, recompute=recompute == "full", mtp_depth=1,
                                      one_process=True, accelerator=False)
                allocations = (account.total - account.reserved) * 1e3
                not_state = (peak["Activation"] + peak["Temp"] + peak["Other"]) / 1e6
                print(f"  {precision:<5} recompute {recompute:<5} total {peak['Total'] / 1e6:7.1f} / {allocations:7.1f}"
                      f" ({peak['Total'] / 1e6 / allocations:.2f})   beyond weights and state {not_state:7.1f} / "
                      f"{(account.gathered + account.loss + account.activations) * 1e3:7.1f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=512)
    args = p.parse_args()
    torch.set_num_threads(2)
    census()
    step(args.rows, args.seq_len)


if __name__ == "__main__":
    main()
