"""Word and character n-grams and their overlap: the units of deduplication (synthetic samples) and of benchmark
decontamination (axk1/text/contamination.py). Words are runs of word characters after NFC and lower-casing."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text).lower())


def char_shingles(text: str, k: int = 5) -> set[str]:
    t = " ".join(words(text))
    return {t[i: i + k] for i in range(max(1, len(t) - k + 1))} if t else set()


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
