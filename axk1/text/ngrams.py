"""Word and character n-grams and their overlap: the units of deduplication (the corpus's shingles, synthetic
samples') and of benchmark decontamination (axk1/text/contamination.py). Words are runs of word characters after NFC
and lower-casing."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text).lower())


# Characters per near-duplicate shingle, for the corpus's MinHash (axk1/data/dedup.py) and synthetic samples
# (axk1/synth/) alike. Characters, not whitespace words, whose shingles all change with one particle (한국어는 ->
# 한국어가); taken with the whitespace removed, as Korean spacing varies (한국어는 / 한국어 는); 7 of them are 7
# Hangul syllables, inside the 5-10 that is the useful range (docs/data.md, "Deduplication")
SHINGLE_CHARS = 7
_SPACE = re.compile(r"\s+")


def char_grams(text: str, k: int = SHINGLE_CHARS) -> set[str]:
    """The k-character shingles of `text` with its whitespace removed (a text shorter than k: itself, one shingle;
    none: no shingles). Normalising it first is the caller's: the corpus's datatrove simplify_text, char_shingles'
    words."""
    t = _SPACE.sub("", text)
    return {t[i: i + k] for i in range(max(1, len(t) - k + 1))} if t else set()


def char_shingles(text: str, k: int = SHINGLE_CHARS) -> set[str]:
    """char_grams of `text`'s words (NFC, lower case, word characters only): synthetic samples' shingles."""
    return char_grams("".join(words(text)), k)


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
