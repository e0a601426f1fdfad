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
so scoring a word is one lookup when its full n-gram was seen and one more per order it backs off (an ARPA file
is the same thing as text: axk1/text/arpa.py). In memory each order is a sorted array of 64-bit hashes of its
n-grams beside float32 values (KenLM's probing tables also keep hashes, not words): 12 bytes an n-gram as loaded,
where Python dicts of tuples took ~200, and a document is scored with a few vectorised lookups (`np.searchsorted`)
per order instead of a dict lookup per token and order.
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


class _Table:
    """One order's n-grams (or contexts): sorted 64-bit keys (_keys) and their values (float64 as estimated,
    float32 as stored)."""

    def __init__(self, grams: np.ndarray, values: np.ndarray):
        keys = _keys(grams)
        order = np.argsort(keys)
        self.keys, self.values = keys[order], np.asarray(values)[order]

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, value where found else 0) for an array of keys."""
        if not len(self.keys):
            return np.zeros(keys.shape, bool), np.zeros(keys.shape, np.float64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[at] == keys
        return found, np.where(found, self.values[at], 0.0)


class NgramLM:
    """tables[k]: n-grams of order k -> ln p(w | h); gammas[k]: contexts of order k-1 -> ln gamma_k (k >= 2);
    log_uniform: ln(gamma_1 / |V|), the share of a word never seen. `arrays` holds the id tuples the tables were
    built from, for save(); a model loaded for scoring drops them."""

    def __init__(self, order: int, vocab: Vocabulary, arrays: dict[str, np.ndarray], log_uniform: float,
                 discounts: dict, meta: dict | None = None, keep_arrays: bool = True):
        self.order, self.vocab, self.log_uniform, self.discounts = order, vocab, log_uniform, discounts
        self.meta = dict(meta or {})
        self.tables = {k: _Table(arrays[f"grams{k}"], arrays[f"logprobs{k}"]) for k in range(1, order + 1)}
        self.gammas = {k: _Table(arrays[f"contexts{k}"], arrays[f"log_gammas{k}"]) for k in range(2, order + 1)}
        self.arrays = arrays if keep_arrays else None

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
        arrays: dict[str, np.ndarray] = {}
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
                arrays[f"contexts{k}"], arrays[f"log_gammas{k}"] = _table({h: _log(v) for h, v in gamma.items()}, k - 1)
            arrays[f"grams{k}"], arrays[f"logprobs{k}"] = _table({g: _log(p) for g, p in probs.items()}, k)
            lower = probs
        return cls(order, vocab, arrays, log_uniform, discounts)

    def _logprobs(self, windows: np.ndarray) -> np.ndarray:
        """ln p(last id | the ids before it) for each row of `windows` [events, order] (ids, BOS-padded)."""
        events = len(windows)
        out = np.zeros(events)
        done = np.zeros(events, bool)
        backoff = np.zeros(events)
        for k in range(self.order, 1, -1):
            found, lp = self.tables[k].lookup(_keys(windows[:, self.order - k:]))
            take = found & ~done
            out[take] = backoff[take] + lp[take]
            done |= take
            _, gamma = self.gammas[k].lookup(_keys(windows[:, self.order - k:-1]))  # a context never seen: 0
            backoff = np.where(done, backoff, backoff + gamma)
        found, lp = self.tables[1].lookup(_keys(windows[:, -1:]))
        rest = ~done
        out[rest] = backoff[rest] + np.where(found, lp, self.log_uniform)[rest]
        return out

    def logprob(self, word: int, context: Sequence[int]) -> float:
        """ln p(word | the last order-1 ids of context) (ids; context padded with BOS as a sequence is)."""
        n = self.order - 1
        context = list(context)[len(context) - n:] if n else []
        # a context shorter than n: its missing ids match nothing (-1 is no id), as an unseen longer context
        window = [-1] * (n - len(context)) + context + [word]
        return float(self._logprobs(np.array([window], dtype=np.int64))[0])

    def score(self, ids: Sequence[int]) -> tuple[float, int]:
        """(sum of ln p over the events of a sequence of ids, number of events: ids + EOS)."""
        seq = np.array(padded(list(ids), self.order), dtype=np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(seq, self.order)
        return float(self._logprobs(windows).sum()), len(windows)

    def perplexity(self, tokens: Sequence[str]) -> float:
        """exp(-mean ln p) over the events of a token sequence: tokens + EOS."""
        logp, events = self.score(self.vocab.encode(tokens))
        return math.exp(-logp / events)

    def save(self, path: str | Path) -> Path:
        """One .npz file: ids and log-probabilities as arrays, vocabulary and settings as JSON text."""
        if self.arrays is None:
            raise ValueError("this model was loaded for scoring only (its n-grams' ids were dropped): load it with "
                             "keep_arrays=True to save it again")
        path = Path(path)
        meta = dict(self.meta, format=FORMAT, order=self.order, log_uniform=self.log_uniform,
                    discounts={str(k): list(v) for k, v in self.discounts.items()})
        arrays = {"meta": np.array(json.dumps(meta, ensure_ascii=False)),
                  "vocab": np.array(json.dumps(self.vocab.tokens, ensure_ascii=False))}
        for name, values in self.arrays.items():  # log-probabilities stored as float32, as they always were
            arrays[name] = values.astype(np.float32) if values.dtype.kind == "f" else values
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # a file object: np.savez would append .npz to another suffix
            np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path, keep_arrays: bool = False) -> "NgramLM":
        meta = read_meta(path)
        with np.load(path, allow_pickle=False) as z:
            vocab = Vocabulary(json.loads(str(z["vocab"]))[3:])
            order = int(meta["order"])
            names = [f"grams{k}" for k in range(1, order + 1)] + [f"logprobs{k}" for k in range(1, order + 1)]
            names += [f"{n}{k}" for k in range(2, order + 1) for n in ("contexts", "log_gammas")]
            arrays = {n: z[n] for n in names}
        discounts = {int(k): tuple(v) for k, v in meta.pop("discounts").items()}
        return cls(order, vocab, arrays, float(meta.pop("log_uniform")), discounts, meta, keep_arrays)


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
    return grams, np.array(list(entries.values()), dtype=np.float64)


def _keys(grams: np.ndarray) -> np.ndarray:
    """A 64-bit key for each row of ids [rows, width] (width 0: one key, the empty context's): the ids folded by a
    polynomial hash, then mixed (splitmix64's finaliser) so nearby n-grams spread over the key space. Two of a
    table's n keys coincide with odds of about n² / 2^65 (3e-4 at 100 million n-grams), and a lookup of an unseen
    n-gram finds a seen one's key with odds n / 2^64: the price of not storing the ids, as KenLM's probing tables
    pay it. An id of -1 (a context position left unknown) is a value no real id takes."""
    grams = np.asarray(grams).astype(np.uint64)
    h = np.full(grams.shape[:-1], np.uint64(grams.shape[-1]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(grams.shape[-1]):
            h = h * np.uint64(0x100000001B3) + grams[..., col] + np.uint64(1)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h
