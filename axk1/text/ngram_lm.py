"""A small interpolated Kneser-Ney n-gram language model (Chen & Goodman 1998, "modified" discounts): pure Python
for training and scoring, a numpy .npz file for storage (never pickle).

A sequence of tokens is padded with order-1 BOS on the left and one EOS on the right; each real token and the EOS
is one predicted event. Only the events' n-grams are counted (BOS is never predicted, so it holds no probability).
The highest order uses raw counts; each lower order uses continuation counts, the number of distinct words seen
before it (N1+(• h w)): a word seen after many contexts is a better guess for a new context than a frequent word
seen after one. Interpolation:

    p_k(w | h) = max(c(h w) - D_k(c), 0) / c(h •)  +  gamma_k(h) * p_{k-1}(w | h minus its first word)
    gamma_k(h) = (D_k1 N1(h •) + D_k2 N2(h •) + D_k3+ N3+(h •)) / c(h •)

down to the unigram, which interpolates with the uniform 1/|V| (|V| = words seen + EOS + UNK), so an unseen word
keeps a small probability. A context never seen backs off with weight 1. With one fixed discount D for every
count (D_k1 = D_k2 = D_k3+) this is plain interpolated Kneser-Ney, the variant nltk.lm.KneserNeyInterpolated
implements (there with an undiscounted unigram: discount 0 at order 1; tests/test_data_perplexity.py).

Stored like an ARPA file: every seen n-gram's interpolated log-probability and every seen context's log gamma,
so scoring a word is one lookup when its full n-gram was seen and one more per order it backs off.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FORMAT = "axk1-ngram-lm/1"
Discounts = tuple[float, float, float]  # for counts 1, 2, 3 and more


class Vocabulary:
    """Token <-> id; ids 0, 1, 2 are BOS, EOS, UNK."""

    def __init__(self, tokens: Sequence[str] = ()):
        self.tokens = [BOS, EOS, UNK] + [t for t in tokens if t not in (BOS, EOS, UNK)]
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    def add(self, token: str) -> int:
        i = self.ids.get(token)
        if i is None:
            i = self.ids[token] = len(self.tokens)
            self.tokens.append(token)
        return i

    def lookup(self, token: str) -> int:
        return self.ids.get(token, 2)

    def encode(self, tokens: Iterable[str], add: bool = False) -> list[int]:
        """Ids of tokens; a new token joins the vocabulary when `add`, else is UNK."""
        return [self.add(t) for t in tokens] if add else [self.ids.get(t, 2) for t in tokens]


def padded(ids: list[int], order: int) -> list[int]:
    return [0] * (order - 1) + ids + [1]


def count_ngrams(sequences: Iterable[Sequence[int]], order: int) -> Counter:
    """Raw counts of the events' n-grams (tuples of ids) over id sequences (Vocabulary.encode)."""
    counts: Counter = Counter()
    for seq in sequences:
        ids = padded(list(seq), order)
        counts.update(tuple(ids[i - order + 1:i + 1]) for i in range(order - 1, len(ids)))
    return counts


def modified_discounts(counts: Iterable[int]) -> Discounts:
    """Chen & Goodman's estimates from the count-of-counts n1..n4: D_r = r - (r+1) Y n_{r+1} / n_r, Y = n1/(n1+2 n2).
    A small corpus can lack a count (n_r = 0) or give a discount outside (0, r); it then gets one absolute discount
    Y for all counts (Ney's estimate), or 0.5 where even that is undefined."""
    n = Counter(min(c, 4) for c in counts)
    n1, n2, n3, n4 = (n[r] for r in (1, 2, 3, 4))
    y = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    if n1 and n2 and n3 and n4:
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        if all(0 < dr < r for r, dr in zip((1, 2, 3), d)):
            return d
    y = y if 0 < y < 1 else 0.5
    return (y, y, y)


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


class NgramLM:
    """logprobs[k]: n-gram of order k (tuple of ids) -> ln p(w | h); log_gammas[k]: context of order k-1 -> ln gamma_k;
    log_uniform: ln(gamma_1 / |V|), the share of a word never seen."""

    def __init__(self, order: int, vocab: Vocabulary, logprobs: dict, log_gammas: dict, log_uniform: float,
                 discounts: dict, meta: dict | None = None):
        self.order, self.vocab, self.logprobs, self.log_gammas = order, vocab, logprobs, log_gammas
        self.log_uniform, self.discounts, self.meta = log_uniform, discounts, dict(meta or {})

    @classmethod
    def train(cls, sequences: Iterable[Sequence[str]], order: int,
              discounts: dict[int, Discounts] | None = None) -> "NgramLM":
        """The model of token sequences (see estimate for `discounts`)."""
        vocab = Vocabulary()
        return cls.estimate(count_ngrams((vocab.encode(t, add=True) for t in sequences), order), order, vocab,
                            discounts)

    @classmethod
    def estimate(cls, counts: Counter, order: int, vocab: Vocabulary,
                 discounts: dict[int, Discounts] | None = None) -> "NgramLM":
        """The model of raw top-order `counts` (count_ngrams). `discounts`: {order: (D1, D2, D3+)} to fix them
        (e.g. nltk's variant), else each order's modified discounts from its own count-of-counts."""
        if not counts:
            raise ValueError("no n-gram to estimate a language model from: the reference corpus has no tokens")
        levels = {order: counts}
        for k in range(order - 1, 0, -1):  # continuation counts: distinct left extensions
            cont: Counter = Counter()
            for gram in levels[k + 1]:
                cont[gram[1:]] += 1
            levels[k] = cont
        discounts = {k: (discounts or {}).get(k) or modified_discounts(levels[k].values())
                     for k in range(1, order + 1)}
        logprobs: dict[int, dict] = {}
        log_gammas: dict[int, dict] = {}
        lower: dict = {}
        log_uniform = -math.inf
        for k in range(1, order + 1):
            d = discounts[k]
            totals: Counter = Counter()
            left: Counter = Counter()  # the discounted mass of each context, passed to the lower order
            for gram, c in levels[k].items():
                totals[gram[:-1]] += c
                left[gram[:-1]] += min(d[min(c, 3) - 1], c)
            gamma = {h: left[h] / totals[h] for h in totals}
            if k == 1:
                words = len(levels[1]) + 1  # + UNK
                uniform = gamma[()] / words
                probs = {g: max(c - d[min(c, 3) - 1], 0) / totals[()] + uniform for g, c in levels[1].items()}
                log_uniform = _log(uniform)
            else:
                probs = {g: max(c - d[min(c, 3) - 1], 0) / totals[g[:-1]] + gamma[g[:-1]] * lower[g[1:]]
                         for g, c in levels[k].items()}
                log_gammas[k] = {h: _log(v) for h, v in gamma.items()}
            logprobs[k] = {g: _log(p) for g, p in probs.items()}
            lower = probs
        return cls(order, vocab, logprobs, log_gammas, log_uniform, discounts)

    def logprob(self, word: int, context: Sequence[int]) -> float:
        """ln p(word | the last order-1 ids of context) (ids; context padded with BOS as a sequence is)."""
        context = tuple(context[max(0, len(context) - self.order + 1):]) if self.order > 1 else ()
        backoff = 0.0
        for k in range(self.order, 1, -1):
            h = context[max(0, len(context) - k + 1):]  # shorter than k - 1 when the context is: no entry there
            lp = self.logprobs[k].get(h + (word,))
            if lp is not None:
                return backoff + lp
            backoff += self.log_gammas[k].get(h, 0.0)  # a context never seen: weight 1
        lp = self.logprobs[1].get((word,))
        return backoff + (self.log_uniform if lp is None else lp)

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """p(word | context), tokens as strings (BOS for padding); for checks and tests."""
        return math.exp(self.logprob(self.vocab.lookup(word), [self.vocab.lookup(t) for t in context]))

    def score(self, ids: Sequence[int]) -> tuple[float, int]:
        """(sum of ln p over the events of a sequence of ids, number of events: ids + EOS)."""
        ids = padded(list(ids), self.order)
        n = self.order - 1
        return sum(self.logprob(ids[i], ids[i - n:i]) for i in range(n, len(ids))), len(ids) - n

    def perplexity(self, tokens: Sequence[str]) -> float:
        """exp(-mean ln p) over the events of a token sequence: tokens + EOS."""
        logp, events = self.score(self.vocab.encode(tokens))
        return math.exp(-logp / events)

    def save(self, path: str | Path) -> Path:
        """One .npz file: ids and log-probabilities as arrays, vocabulary and settings as JSON text."""
        path = Path(path)
        meta = dict(self.meta, format=FORMAT, order=self.order, log_uniform=self.log_uniform,
                    discounts={str(k): list(v) for k, v in self.discounts.items()})
        arrays = {"meta": np.array(json.dumps(meta, ensure_ascii=False)),
                  "vocab": np.array(json.dumps(self.vocab.tokens, ensure_ascii=False))}
        for k in range(1, self.order + 1):
            arrays[f"grams{k}"], arrays[f"logprobs{k}"] = _table(self.logprobs[k], k)
            if k > 1:
                arrays[f"contexts{k}"], arrays[f"log_gammas{k}"] = _table(self.log_gammas[k], k - 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # a file object: np.savez would append .npz to another suffix
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "NgramLM":
        meta = read_meta(path)
        with np.load(path, allow_pickle=False) as z:
            vocab = Vocabulary(json.loads(str(z["vocab"]))[3:])
            order = int(meta["order"])
            logprobs = {k: _dict(z[f"grams{k}"], z[f"logprobs{k}"]) for k in range(1, order + 1)}
            log_gammas = {k: _dict(z[f"contexts{k}"], z[f"log_gammas{k}"]) for k in range(2, order + 1)}
        discounts = {int(k): tuple(v) for k, v in meta.pop("discounts").items()}
        return cls(order, vocab, logprobs, log_gammas, float(meta.pop("log_uniform")), discounts, meta)


def read_meta(path: str | Path) -> dict:
    """A model file's settings without loading its tables; ValueError naming the file when it is not a model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"language model {path} does not exist: train one with `axk1 data lm train`")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
    except Exception as e:  # noqa: BLE001 - any reading failure means the same to the user: not a model file
        raise ValueError(f"{path} is not an n-gram language model file ({type(e).__name__}: {e}); train one with "
                         "`axk1 data lm train`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an {FORMAT} model file; train one with `axk1 data lm train`")
    return meta


def _table(entries: dict, width: int) -> tuple[np.ndarray, np.ndarray]:
    grams = np.array(list(entries), dtype=np.int32).reshape(len(entries), width)
    return grams, np.array(list(entries.values()), dtype=np.float32)


def _dict(grams: np.ndarray, values: np.ndarray) -> dict:
    return dict(zip(map(tuple, grams.tolist()), values.tolist()))
