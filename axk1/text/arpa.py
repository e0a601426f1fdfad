"""ARPA files, the text format of backoff n-gram models (SRILM, KenLM's lmplz, NVIDIA's and Kaldi's tools), read
into and written from axk1's n-gram model (axk1/text/ngram_lm.py), whose tables are the same thing: for every
seen n-gram its interpolated log-probability, for every seen context its backoff weight.

Reading one lets a model trained elsewhere, at any scale, drive the perplexity filter: `lmplz -o 4 < tokens.txt >
ko.arpa` over the tokens `axk1 data lm tokens` writes, then `axk1 data lm import ko.arpa`. Writing one lets
KenLM (`kenlm.Model`, `build_binary`) read a model trained here. docs/data.md ("Perplexity filter") has the steps.

The format: a `\\data\\` header counting each order's entries, then per order `\\k-grams:` lines of
`log10 p <TAB> w1 … wk [<TAB> log10 backoff]`, then `\\end\\`. `<s>` is never predicted (log10 p = -99 by custom);
`<unk>`'s probability is that of any word the model never saw. A token that is a space (`chars` units) is written
as U+2581 (▁), since ARPA splits on whitespace.
"""

from __future__ import annotations

import math
import re
from array import array
from pathlib import Path

import numpy as np

from axk1.text.ngram_lm import NgramLM, Vocabulary

NEVER = -99.0  # log10 p of what is never predicted (<s>, contexts that hold <s> more than once)
SPACE = "\u2581"
_LN10 = math.log(10)
_HEADER = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)")


def _word(token: str) -> str:
    return SPACE if token == " " else token


def _token(word: str) -> str:
    return " " if word == SPACE else word


def _log10(ln: float) -> float:
    return max(ln / _LN10, NEVER)  # a probability of 0 (ln = -inf) is written as ARPA's "never"


def write_arpa(lm: NgramLM, path: str | Path) -> Path:
    """`lm` as an ARPA file. Contexts that are no n-gram of the model (those holding <s> more than once: a sequence
    is padded with order-1 of them) are written as n-grams of probability 10^-99 carrying their backoff, since
    ARPA keeps a backoff only on an n-gram's line and KenLM wants every context present."""
    if lm.arrays is None:
        raise ValueError("this model was loaded for scoring only: load it with keep_arrays=True to write it")
    tokens = [_word(t) for t in lm.vocab.tokens]
    sections = []
    for k in range(1, lm.order + 1):
        grams, logprobs = lm.arrays[f"grams{k}"], lm.arrays[f"logprobs{k}"]
        entries = {tuple(g): [_log10(lp), None] for g, lp in zip(grams.tolist(), logprobs.tolist())}
        if k == 1:
            entries[(0,)] = [NEVER, None]                       # <s>
            entries[(2,)] = [_log10(lm.log_uniform), None]      # <unk>: any word never seen
        if k < lm.order:
            contexts, gammas = lm.arrays[f"contexts{k + 1}"], lm.arrays[f"log_gammas{k + 1}"]
            for g, lg in zip(contexts.tolist(), gammas.tolist()):
                entries.setdefault(tuple(g), [NEVER, None])[1] = _log10(lg)
        sections.append(entries)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write("\\data\\\n" + "".join(f"ngram {k}={len(s)}\n" for k, s in enumerate(sections, 1)))
        for k, entries in enumerate(sections, 1):
            f.write(f"\n\\{k}-grams:\n")
            for gram, (lp, bo) in entries.items():
                words = " ".join(tokens[i] for i in gram)
                f.write(f"{lp:.7g}\t{words}" + ("" if bo is None else f"\t{bo:.7g}") + "\n")
        f.write("\n\\end\\\n")
    return path


def read_arpa(path: str | Path, meta: dict | None = None) -> NgramLM:
    """The model an ARPA file holds. Entries of probability 10^-99 or less (never predicted) keep only their
    backoff; `<unk>`'s probability is the model's share for unseen words (10^-99 when the file has none, as
    KenLM's -99 default). Errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ARPA file {path} does not exist")
    vocab = Vocabulary()
    counts: dict[int, int] = {}
    grams: dict[int, array] = {}
    values: dict[int, array] = {}
    contexts: dict[int, array] = {}
    gammas: dict[int, array] = {}
    log_unk = NEVER * _LN10
    k = 0  # the section being read; 0: the header
    seen_end = False

    def fail(number: int, why: str) -> ValueError:
        return ValueError(f"{path}:{number}: {why}; is it an ARPA language model file?")

    read: dict[int, int] = {}  # entries per order, against the header's counts
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise fail(number, f"not UTF-8 ({e.reason} at byte {e.start})") from None
            if not line:
                continue
            if line == "\\end\\":
                seen_end = True
                break
            if line == "\\data\\":
                continue
            m = _HEADER.fullmatch(line)
            if m and k == 0:
                counts[int(m.group(1))] = int(m.group(2))
                continue
            section = re.fullmatch(r"\\(\d+)-grams:", line)
            if section:
                k = int(section.group(1))
                if k not in counts:
                    raise fail(number, f"a {k}-grams section the \\data\\ header does not count")
                grams[k], values[k] = array("q"), array("d")
                contexts[k + 1], gammas[k + 1] = array("q"), array("d")
                continue
            if k == 0:
                raise fail(number, f"{line[:40]!r} before any n-gram section")
            fields = line.split()
            if len(fields) not in (k + 1, k + 2):
                raise fail(number, f"{len(fields)} fields in a {k}-gram line (log10 p, {k} words, optional backoff)")
            try:
                lp, bo = float(fields[0]), float(fields[k + 1]) if len(fields) == k + 2 else None
            except ValueError:
                raise fail(number, f"{fields[0]!r} is not a number") from None
            read[k] = read.get(k, 0) + 1
            ids = [vocab.add(_token(w)) for w in fields[1:k + 1]]
            if k == 1 and ids[0] == 2:
                log_unk = lp * _LN10
            elif lp > NEVER:
                grams[k].extend(ids)
                values[k].append(lp * _LN10)
            if bo is not None:
                contexts[k + 1].extend(ids)
                gammas[k + 1].append(bo * _LN10)
    order = max(counts, default=0)
    if not seen_end or not order or set(grams) != set(range(1, order + 1)):
        raise ValueError(f"{path}: not a whole ARPA file (no \\end\\, or an order of the header has no section)")
    short = {n: (read.get(n, 0), c) for n, c in counts.items() if read.get(n, 0) != c}
    if short:
        n, (got, want) = next(iter(short.items()))
        raise ValueError(f"{path}: the header counts {want:,} {n}-grams, the file holds {got:,}: a file cut or "
                         "joined in part")
    arrays = {}
    for n in range(1, order + 1):
        arrays[f"grams{n}"] = np.frombuffer(grams[n], dtype=np.int64).reshape(-1, n).astype(np.int32)
        arrays[f"logprobs{n}"] = np.frombuffer(values[n], dtype=np.float64).copy()
        if n > 1:
            arrays[f"contexts{n}"] = np.frombuffer(contexts[n], dtype=np.int64).reshape(-1, n - 1).astype(np.int32)
            arrays[f"log_gammas{n}"] = np.frombuffer(gammas[n], dtype=np.float64).copy()
    return NgramLM(order, vocab, arrays, log_unk, {}, dict(meta or {}, source=str(path)))
