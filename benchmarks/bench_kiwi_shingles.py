"""Kiwi shingles for MinHash dedup (axk1/data/dedup.py): the whole simplified document given to Kiwi at once (before)
against a sentence or line at a time (now), on konlpy's 10 bills: speed, and how alike the shingles stay for a copy
with 200 spaces dropped and for two different bills (Jaccard over Kiwi morpheme 5-grams). One process, the same Kiwi.

    .venv/bin/python benchmarks/bench_kiwi_shingles.py
"""

from __future__ import annotations

import itertools
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from datatrove.utils.text import TextNormConfig, simplify_text  # noqa: E402

from axk1.data.dedup import _SENTENCE_BREAK_RE  # noqa: E402
from axk1.text.korean import get_kiwi  # noqa: E402
from korean_corpus import bills  # noqa: E402

kiwi = get_kiwi("sbg")
kiwi.tokenize("가나다")   # its first call loads more of the model
norm = TextNormConfig()


def words(piece: str) -> list[str]:
    simple = unicodedata.normalize("NFC", simplify_text(piece, norm))
    return [simple[t.start:t.end] for t in kiwi.tokenize(simple)] if simple else []


def whole(text: str) -> list[str]:
    return words(text)


def by_sentence(text: str) -> list[str]:
    return [w for piece in _SENTENCE_BREAK_RE.split(text) for w in words(piece)]


def shingles(ws: list[str], n: int = 5) -> set[str]:
    return {" ".join(ws[i:i + n]) for i in range(len(ws) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


texts = bills()
print(f"{len(texts)} bills, {sum(map(len, texts.values())):,} characters")
for fn in (whole, by_sentence, whole, by_sentence):
    start = time.perf_counter()
    sh = {n: shingles(fn(t)) for n, t in texts.items()}
    rate = len(texts) / (time.perf_counter() - start)
    copies = [jaccard(sh[n], shingles(fn(t.replace(" ", "", 200)))) for n, t in texts.items()]
    pairs = [jaccard(sh[a], sh[b]) for a, b in itertools.combinations(texts, 2)]
    print(f"{fn.__name__:12s} {rate:5.2f} bills/s; copy without 200 spaces: Jaccard min {min(copies):.3f} mean "
          f"{sum(copies) / len(copies):.3f}; two different bills: max {max(pairs):.3f}, "
          f"{sum(p >= 0.72 for p in pairs)} pairs at 0.72 or more", flush=True)
