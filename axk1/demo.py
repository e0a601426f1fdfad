"""`axk1 demo`: the spine on a small model. Today: build, account, save in the HF layout, reload, generate."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from axk1.checkpoint.hf import load_model
from axk1.config import ModelConfig
from axk1.infer.generate import generate
from axk1.model import AXK1ForCausalLM
from axk1.params import count_parameters, format_table


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run_demo(output: Path, preset: str = "axk1-mini", seed: int = 0) -> dict:
    output.mkdir(parents=True, exist_ok=True)
    config = ModelConfig.from_preset(preset)

    _step(f"1. build {preset}")
    torch.manual_seed(seed)
    model = AXK1ForCausalLM(config).eval()
    print(format_table(count_parameters(config, with_mtp=True), f"parameters of {preset}"))

    _step("2. save in the Hugging Face layout")
    model_dir = output / "model"
    model.save_pretrained(model_dir, max_shard_size="100MB")
    for f in sorted(model_dir.iterdir()):
        print(f"  {f.name:<40}{f.stat().st_size / 1e6:>10.1f} MB")

    _step("3. reload and compare logits")
    reloaded = load_model(model_dir)
    ids = torch.randint(0, config.vocab_size, (2, 64), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        diff = (model(ids) - reloaded(ids)).abs().max().item()
    print(f"  max |logits(saved) - logits(reloaded)| = {diff:.2e}")
    if diff != 0:
        raise RuntimeError(f"reloaded model differs from the saved one (max abs diff {diff})")

    _step("4. generate with the latent KV cache (random weights: the tokens are noise, the path is real)")
    prompts = [[config.bos_token_id or 1, 17, 42, 99, 7], [config.bos_token_id or 1, 5]]
    start = time.perf_counter()
    result = generate(reloaded, prompts, max_new_tokens=48, temperature=0.8, top_p=0.95, seed=seed, stop_ids=[])
    elapsed = time.perf_counter() - start
    for prompt, tokens in zip(prompts, result.tokens):
        print(f"  prompt {prompt} -> {tokens[:16]} ... ({len(tokens)} tokens)")
    n_new = sum(len(t) for t in result.tokens)
    print(f"  {n_new} tokens in {elapsed:.2f}s ({n_new / elapsed:.1f} tok/s); latent cache "
          f"{result.cache_bytes / 1e6:.2f} MB = {result.cache_bytes // (len(prompts) * (max(map(len, prompts)) + 48))} "
          "bytes/token slot")
    print(f"\nmodel folder: {model_dir}")
    return {"model_dir": str(model_dir), "reload_max_abs_diff": diff, "tokens_per_s": n_new / elapsed}
