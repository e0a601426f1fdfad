"""Near-duplicate search within the output: MinHash signatures over character 7-gram shingles (the corpus dedup's:
axk1/text/ngrams.py), banded into an LSH index (candidates), each candidate confirmed by the exact Jaccard
similarity. Exact duplicates (after normalisation) are found by hash first.

Numbers decide: two texts are near-duplicates only when they hold the same numbers in the same order. A math
problem is its numbers, and a few digits changed in 250 characters leave 85-90% of the shingles shared, so "12
sheep and 5 more" and "37 sheep and 18 more" were one sample above the 0.8 threshold."""

from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np

from axk1.text.ngrams import char_shingles, jaccard, words

_PRIME = np.uint64((1 << 61) - 1)
_DIGITS = re.compile(r"\d+")


def numbers(text: str) -> tuple[str, ...]:
    """The text's numbers in order, over its normalised words (so "1,000" is "1", "000" on both sides)."""
    return tuple(_DIGITS.findall(" ".join(words(text))))


class NearDuplicateIndex:
    def __init__(self, threshold: float = 0.8, num_perm: int = 64, bands: int = 16, seed: int = 0) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 61, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 61, num_perm, dtype=np.uint64)
        self.threshold, self.bands, self.rows = threshold, bands, num_perm // bands
        self.buckets: list[dict[bytes, list[str]]] = [{} for _ in range(bands)]
        self.shingles: dict[str, set[str]] = {}
        self.numbers: dict[str, tuple[str, ...]] = {}
        self.exact: dict[str, str] = {}

    def _signature(self, shingles: set[str]) -> np.ndarray:
        x = np.array([zlib.crc32(s.encode()) for s in shingles], dtype=np.uint64)[:, None]
        with np.errstate(over="ignore"):  # arithmetic mod 2^64, then mod the prime: a universal hash family
            return ((x * self.a + self.b) % _PRIME).min(axis=0)

    def find(self, text: str) -> tuple[str | None, float]:
        """(id of an indexed text this one duplicates, similarity), or (None, best similarity seen)."""
        key = hashlib.sha1(" ".join(words(text)).encode()).hexdigest()
        if key in self.exact:
            return self.exact[key], 1.0
        shingles = char_shingles(text)
        if not shingles:
            return None, 0.0
        sig = self._signature(shingles)
        best = 0.0
        seen: set[str] = set()
        mine = numbers(text)
        for band in range(self.bands):
            for other in self.buckets[band].get(sig[band * self.rows:(band + 1) * self.rows].tobytes(), []):
                if other in seen:
                    continue
                seen.add(other)
                if self.numbers[other] != mine:  # another problem, however alike its words
                    continue
                sim = jaccard(shingles, self.shingles[other])
                if sim >= self.threshold:
                    return other, sim
                best = max(best, sim)
        return None, best

    def add(self, id: str, text: str) -> None:
        self.exact[hashlib.sha1(" ".join(words(text)).encode()).hexdigest()] = id
        shingles = char_shingles(text)
        if not shingles:
            return
        self.shingles[id] = shingles
        self.numbers[id] = numbers(text)
        sig = self._signature(shingles)
        for band in range(self.bands):
            self.buckets[band].setdefault(sig[band * self.rows:(band + 1) * self.rows].tobytes(), []).append(id)
