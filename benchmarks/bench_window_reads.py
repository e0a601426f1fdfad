"""How often the training sampler reads each token, by document length (axk1/train/data.py::window_start): the
exact expectation, not a sampled run, over documents of log-normal lengths, for three ways to pick a row's start:
a document start (the sampler before windows), a window drawn with weight its length (the sampler now: a token
drawn uniformly, its window's start), and a window drawn uniformly. A row reads [start, start + seq_len) across
document ends, so a token's read rate is the summed probability of the starts in the seq_len tokens up to it;
1.0 is concatenate-and-chunk's (every token equally often).

    .venv/bin/python benchmarks/bench_window_reads.py [--docs 20000] [--median 1000] [--sigma 1.3] [--seq-len 4096]
"""

from __future__ import annotations

import argparse

import numpy as np


def starts_and_weights(lengths: np.ndarray, seq_len: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Every possible row start in the concatenated stream and its probability."""
    doc_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    if how == "document starts":
        return doc_starts, np.full(len(lengths), 1 / len(lengths))
    per_doc = -(-lengths // seq_len)  # windows a document is cut into
    first = np.repeat(doc_starts, per_doc)
    k = np.arange(per_doc.sum()) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc)  # window index in its document
    starts = first + k * seq_len
    size = np.minimum(seq_len, np.repeat(lengths, per_doc) - k * seq_len)
    w = size.astype(np.float64) if how == "windows by length" else np.ones(len(starts))
    return starts, w / w.sum()


def read_rates(lengths: np.ndarray, seq_len: int, how: str) -> np.ndarray:
    """Per token, its expected reads a row relative to concatenate-and-chunk's seq_len / tokens."""
    n = int(lengths.sum())
    starts, p = starts_and_weights(lengths, seq_len, how)
    delta = np.zeros(n + seq_len + 1)
    np.add.at(delta, starts, p)
    np.add.at(delta, starts + seq_len, -p)
    return np.cumsum(delta)[:n] * n / seq_len


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--median", type=float, default=1000)
    ap.add_argument("--sigma", type=float, default=1.3)
    ap.add_argument("--seq-len", type=int, default=4096)
    a = ap.parse_args()
    lengths = np.maximum(1, np.random.default_rng(0).lognormal(np.log(a.median), a.sigma, a.docs).astype(np.int64))
    doc_of = np.repeat(np.arange(len(lengths)), lengths)
    classes = [(1, 300), (300, 2000), (2000, a.seq_len), (a.seq_len, 4 * a.seq_len), (4 * a.seq_len, None)]
    print(f"{a.docs:,} documents, median {a.median:,.0f} tokens (sigma {a.sigma}), {int(lengths.sum()):,} tokens, "
          f"rows of {a.seq_len:,}")
    print(f"{'row starts':<18} {'never read':>10} {'p1':>6} {'p50':>6} {'p99':>6}  " + "  ".join(
        f"{lo}-{hi or ''}" for lo, hi in classes) + "  (mean read rate by document length)")
    for how in ("document starts", "windows by length", "windows uniform"):
        rate = read_rates(lengths, a.seq_len, how)
        per_doc = np.bincount(doc_of, rate)
        by_class = []
        for lo, hi in classes:
            m = (lengths >= lo) & (lengths < (hi or np.inf))
            by_class.append(per_doc[m].sum() / lengths[m].sum() if m.any() else float("nan"))
        p1, p50, p99 = np.percentile(rate, [1, 50, 99])
        print(f"{how:<18} {(rate < 1e-12).mean():>10.1%} {p1:>6.2f} {p50:>6.2f} {p99:>6.2f}  "
              + "  ".join(f"{x:.2f}" for x in by_class))


if __name__ == "__main__":
    main()
