"""The parts of a speculative decoding step, each timed alone: the main model over 1, 2 and 3 new tokens, its head
over 1 and 2 rows, one MTP draft, and one MoE layer's attention and experts (benchmarks/RESULTS.md, "Speculative
decoding with the MTP drafter": why the step cannot reach 1.3x on a CPU).

    .venv/bin/python benchmarks/bench_speculative_parts.py CHECKPOINTS_DIR [--cached 200] [--threads 1]

CHECKPOINTS_DIR is the demo's out/train/checkpoints (trained with MTP depth 1), exported with --keep-mtp.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axk1.checkpoint.export import export_checkpoint  # noqa: E402
from axk1.checkpoint.hf import load_model  # noqa: E402
from axk1.infer.speculative import MTPDrafter  # noqa: E402
from axk1.model import LatentDecoder, LatentKVCache  # noqa: E402


def ms(fn, repeat: int = 200) -> float:
    for _ in range(10):
        fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e3


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints")
    ap.add_argument("--cached", type=int, default=200, help="tokens already in the cache")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(export_checkpoint(Path(args.checkpoints), Path(tmp) / "model", keep_mtp=True)).eval()
    config, p = model.config, args.cached
    decoder = LatentDecoder(model)
    drafter = MTPDrafter(model, decoder)
    S = p + 4
    cache = LatentKVCache(config, 1, S, dtype=torch.float32)
    mtp_cache = LatentKVCache(config, 1, S, dtype=torch.float32, num_layers=1)
    causal_SS, slots_S = torch.ones(S, S, dtype=torch.bool).tril(), torch.arange(S)

    def mask(start: int, T: int) -> torch.Tensor:
        return causal_SS[start:start + T, :start + T][None, None]

    decoder.hidden(torch.randint(3, config.vocab_size, (1, p)), slots_S[None, :p], cache, 0, mask(0, p))
    new = {T: torch.randint(3, config.vocab_size, (1, T)) for T in (1, 2, 3)}

    def step(T: int):
        return decoder.hidden(new[T], slots_S[None, p:p + T], cache, p, mask(p, T))

    h1, h2 = step(1), step(2)
    rows = {f"main model, {T} new token{'s' * (T > 1)}": ms(lambda T=T: step(T)) for T in (1, 2, 3)}
    rows["head, 1 row"] = ms(lambda: decoder.logits(h1))
    rows["head, 2 rows"] = ms(lambda: decoder.logits(h2))
    rows["MTP draft"] = ms(lambda: drafter(h1, new[1][0], slots_S[None, p:p + 1], mtp_cache, p, mask(p, 1)))
    layer = next(lw for lw in decoder.layers if lw.is_moe)
    rot, bias = decoder.rotation_and_bias(slots_S[None, p:p + 1], mask(p, 1), torch.float32)
    rows["one layer's attention (weights hot in cache)"] = ms(lambda: decoder._attention(layer, h1, rot, cache.latent[1],
                                                                                         p, bias))
    rows["one layer's experts, 1 token (hot)"] = ms(lambda: decoder._moe(layer, h1, True))
    rows["one layer's experts, 2 tokens (hot)"] = ms(lambda: decoder._moe(layer, h2, True))
    print(f"hidden {config.hidden_size}, {config.num_hidden_layers} layers, vocabulary {config.vocab_size}, "
          f"{config.n_routed_experts} experts top-{config.num_experts_per_tok}; {p} cached tokens, {args.threads} thread(s)")
    for name, value in rows.items():
        print(f"{name:>46}  {value:6.2f} ms")
    plain = rows["main model, 1 new token"] + rows["head, 1 row"]
    spec = rows["main model, 2 new tokens"] + rows["head, 2 rows"] + rows["MTP draft"]
    print(f"bound on the speedup at 100% acceptance (2 tokens per draft-and-verify step): {2 * plain / spec:.2f}x")


if __name__ == "__main__":
    main()
