"""The perplexity filter's n-gram model beside KenLM (the `kenlm` package) on the same model: memory once loaded,
load time, scoring speed, and the largest per-token difference in log10 p. Also the in-memory form it replaced
(Python dicts of id tuples, as `NgramLM.load` built them before the hashed tables) for the memory it saved.

    .venv/bin/python benchmarks/bench_ngram_lm.py [--order 4] [--out /tmp/bench_lm]

The reference: CPython's top-level standard-library modules (real text nobody here wrote; code and docstrings as
`words` units), all but every tenth module, which is scored. Each variant loads in a fresh process, so its memory is
the resident-set growth of the load alone.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def documents() -> tuple[list[str], list[str]]:
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    return [t for i, t in enumerate(texts) if i % 10], [t for i, t in enumerate(texts) if not i % 10]


def measure(variant: str, model: Path, arpa: Path, docs: Path) -> dict:
    """Runs in its own process: load one variant, score the held-out documents token by token."""
    import numpy as np

    from axk1.text.ngram_lm import NgramLM

    tokens = json.loads(docs.read_text())
    base = rss_bytes()
    t0 = time.perf_counter()
    if variant == "kenlm":
        import kenlm

        lm = kenlm.Model(str(arpa))
    else:
        lm = NgramLM.load(model, keep_arrays=variant == "dicts")
        if variant == "dicts":  # the replaced form: every table a dict of id tuples -> float
            tables = {k: dict(zip(map(tuple, lm.arrays[f"grams{k}"].tolist()), lm.arrays[f"logprobs{k}"].tolist()))
                      for k in lm.tables}
            gammas = {k: dict(zip(map(tuple, lm.arrays[f"contexts{k}"].tolist()),
                                  lm.arrays[f"log_gammas{k}"].tolist())) for k in lm.gammas}
            lm.arrays = lm.tables = lm.gammas = None
    load_s = time.perf_counter() - t0
    held = rss_bytes() - base
    t0 = time.perf_counter()
    scores: list[float] = []
    for doc in tokens:
        if variant == "kenlm":
            order = lm.order
            words = " ".join(["<s>"] * (order - 1) + doc)
            scores += [s for s, _, _ in lm.full_scores(words, bos=False, eos=True)][order - 1:]
        elif variant == "dicts":
            n = lm.order - 1
            seq = [0] * n + lm.vocab.encode(doc) + [1]
            for i in range(n, len(seq)):  # the replaced scoring: a dict lookup per order until one is found
                context, word, backoff = tuple(seq[i - n:i]), seq[i], 0.0
                for k in range(lm.order, 1, -1):
                    h = context[len(context) - k + 1:]
                    lp = tables[k].get(h + (word,))
                    if lp is not None:
                        break
                    backoff += gammas[k].get(h, 0.0)
                else:
                    lp = tables[1].get((word,), lm.log_uniform)
                scores.append((backoff + lp) / math.log(10))
        else:
            seq = np.array([0] * (lm.order - 1) + lm.vocab.encode(doc) + [1], dtype=np.int64)
            windows = np.lib.stride_tricks.sliding_window_view(seq, lm.order)
            scores += (lm._logprobs(windows) / math.log(10)).tolist()
    score_s = time.perf_counter() - t0
    return {"variant": variant, "load_s": round(load_s, 3), "held_bytes": held, "tokens": len(scores),
            "tokens_per_s": round(len(scores) / score_s), "scores": scores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--out", default="/tmp/bench_lm")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    out = Path(args.out)
    model, arpa, docs = out / "m.npz", out / "m.arpa", out / "held.json"
    if args.variant:
        print(json.dumps(measure(args.variant, model, arpa, docs)))
        return

    from axk1.data.perplexity_model import lm_tokens
    from axk1.text.arpa import write_arpa
    from axk1.text.ngram_lm import NgramLM

    out.mkdir(parents=True, exist_ok=True)
    train, held = documents()
    t0 = time.perf_counter()
    lm = NgramLM.train((lm_tokens(t, "words") for t in train), args.order)
    train_s = time.perf_counter() - t0
    lm.save(model)
    write_arpa(lm, arpa)
    docs.write_text(json.dumps([lm_tokens(t, "words") for t in held]))
    ngrams = sum(len(t) for t in lm.tables.values())
    contexts = sum(len(t) for t in lm.gammas.values())
    print(f"reference: {len(train)} modules, {ngrams:,} n-grams + {contexts:,} contexts, order {args.order}, "
          f"trained in {train_s:.1f} s; scored: {len(held)} modules")
    results = {}
    for variant in ("tables", "dicts", "kenlm"):
        run = subprocess.run([sys.executable, __file__, "--out", str(out), "--variant", variant],
                             capture_output=True, text=True, check=True)
        results[variant] = json.loads(run.stdout.strip().splitlines()[-1])
    worst = max(abs(a - b) for a, b in zip(results["tables"]["scores"], results["kenlm"]["scores"]))
    same = max(abs(a - b) for a, b in zip(results["tables"]["scores"], results["dicts"]["scores"]))
    print("| | axk1 hashed tables | axk1 dicts (replaced) | KenLM (ARPA, probing) | tables / KenLM |")
    print("|---|---|---|---|---|")
    r = {k: v for k, v in results.items()}
    n = ngrams + contexts
    print("| memory once loaded, bytes per n-gram or context | " + " | ".join(
        f"{r[v]['held_bytes'] / n:.0f}" for v in ("tables", "dicts", "kenlm")) +
        f" | {r['tables']['held_bytes'] / r['kenlm']['held_bytes']:.2f}× |")
    print("| load, s | " + " | ".join(f"{r[v]['load_s']:.2f}" for v in ("tables", "dicts", "kenlm")) +
          f" | {r['tables']['load_s'] / r['kenlm']['load_s']:.2f}× |")
    print("| scoring, tokens/s | " + " | ".join(f"{r[v]['tokens_per_s']:,}" for v in ("tables", "dicts", "kenlm")) +
          f" | {r['tables']['tokens_per_s'] / r['kenlm']['tokens_per_s']:.2f}× |")
    print(f"tokens scored: {r['tables']['tokens']:,}; largest |log10 p| difference per token: tables vs KenLM "
          f"{worst:.1e}, tables vs dicts {same:.1e}")


if __name__ == "__main__":
    main()
