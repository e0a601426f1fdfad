"""Speculative decoding with the MTP drafter against plain decoding, batch 1, greedy (the same tokens both ways).

    .venv/bin/python benchmarks/bench_speculative.py --checkpoint out/train/checkpoints [--prompts 8] [--new 128]

The checkpoint is the demo's pretraining run (recipes/demo.toml trains with MTP depth 1); it is exported with
`--keep-mtp` into a temporary folder. Prompts are the openings of held-out-style text: the demo's own sample
prompts and a few lines in its domains. Prints acceptance rate, tokens/s both ways and the ratio (one run); then the
serving engine (`axk1 serve`'s, in process) plain and with `--speculative`, one request at a time and all prompts
at once.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from axk1.checkpoint.export import export_checkpoint  # noqa: E402
from axk1.checkpoint.hf import load_model  # noqa: E402
from axk1.infer.engine import Engine, SamplingParams  # noqa: E402
from axk1.infer.generate import generate  # noqa: E402
from axk1.infer.speculative import generate_speculative  # noqa: E402
from axk1.infer.engine_config import EngineConfig

PROMPTS = ["The sum of 3 and 4 is", "def fibonacci(n):", "대한민국의 수도는", "The history of the city",
           "An engineer reviewed the", "Local farmers documented", "def parse_config(path):", "Question: what is 12 times"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="a training checkpoint with MTP (the demo's out/train/checkpoints)")
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json (default: out/model/tokenizer.json beside it)")
    ap.add_argument("--prompts", type=int, default=len(PROMPTS))
    ap.add_argument("--new", type=int, default=128, help="new tokens per prompt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from tokenizers import Tokenizer

    checkpoint = Path(args.checkpoint)
    tok_path = Path(args.tokenizer) if args.tokenizer else checkpoint.parent.parent / "model" / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(tok_path))
    with tempfile.TemporaryDirectory() as tmp:
        model = load_model(export_checkpoint(checkpoint, Path(tmp) / "model", keep_mtp=True))
    model.eval()
    prompts = [tokenizer.encode(p).ids for p in PROMPTS[: args.prompts]]
    generate(model, [prompts[0]], max_new_tokens=8, stop_ids=[])  # warm-up (allocator, first-call costs)
    generate_speculative(model, prompts[0], max_new_tokens=8, stop_ids=[])
    rows = []
    for ids in prompts:
        t = time.perf_counter()
        plain = generate(model, [ids], max_new_tokens=args.new, stop_ids=[])
        t_plain = time.perf_counter() - t
        t = time.perf_counter()
        spec = generate_speculative(model, ids, max_new_tokens=args.new, stop_ids=[])
        t_spec = time.perf_counter() - t
        same = plain.tokens == spec.tokens
        rows.append({"prompt_tokens": len(ids), "plain_s": t_plain, "speculative_s": t_spec, "same_tokens": same,
                     "drafted": spec.drafted, "accepted": spec.accepted})
        print(f"{len(ids):>4} prompt tokens: plain {args.new / t_plain:6.1f} tok/s, speculative {args.new / t_spec:6.1f} "
              f"tok/s, drafts kept {spec.accepted}/{spec.drafted}, same tokens: {same}")
    n = args.new * len(rows)
    plain_s, spec_s = sum(r["plain_s"] for r in rows), sum(r["speculative_s"] for r in rows)
    summary = {"machine": f"{platform.processor() or platform.machine()}, {args.threads} threads",
               "config": {k: getattr(model.config, k) for k in ("hidden_size", "num_hidden_layers", "vocab_size")},
               "new_tokens_per_prompt": args.new, "prompts": len(rows),
               "acceptance_rate": sum(r["accepted"] for r in rows) / sum(r["drafted"] for r in rows),
               "plain_tok_s": n / plain_s, "speculative_tok_s": n / spec_s, "speedup": plain_s / spec_s,
               "speedup_median_prompt": statistics.median(r["plain_s"] / r["speculative_s"] for r in rows),
               "all_same_tokens": all(r["same_tokens"] for r in rows), "rows": rows}
    summary["engine"] = {f"{mode}, {batch}": engine_run(model, prompts, args.new, mode == "speculative", batch)
                         for batch in ("one at a time", "all at once") for mode in ("plain", "speculative")}
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


def engine_run(model, prompts: list[list[int]], new: int, speculative: bool, batch: str) -> dict:
    """The serving engine stepped in this thread: greedy, `new` tokens per prompt; tokens/s and drafts kept."""
    engine = Engine(model, EngineConfig(max_batch=len(prompts), max_model_len=max(map(len, prompts)) + new + 2,
                                        speculative=speculative))
    params = SamplingParams(max_tokens=new, temperature=0.0, stop_ids=frozenset())
    waves = [[p] for p in prompts] if batch == "one at a time" else [prompts]
    start = time.perf_counter()
    for wave in waves:
        for p in wave:
            engine.submit(p, params, lambda *a: None)
        while engine.num_running or engine.num_waiting:
            engine.step()
    seconds = time.perf_counter() - start
    out = {"tokens_per_s": engine.stats.generated_tokens / seconds, "decode_steps": engine.stats.decode_steps}
    if engine.drafter:
        out["acceptance_rate"] = engine.drafter.accepted / max(1, engine.drafter.drafted)
    print(f"engine, {batch}, {'speculative' if speculative else 'plain'}: {out}", flush=True)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
