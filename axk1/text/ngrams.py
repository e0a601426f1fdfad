"""Word and character n-grams and their overlap: the units of deduplication (the corpus's shingles, synthetic
samples') and of benchmark decontamination (axk1/text/contamination.py). Words are runs of word characters after NFC,
fullwidth folding (fold_width) and lower-casing."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# Fullwidth ASCII (U+FF01-FF5E: Ａ, ｂ, ７, ！) and the ideographic space, as CJK pages and input methods write Latin
# text. NFKC would fold them but also rewrites compatibility jamo (never NFKC: axk1/text/korean.py), so they are
# folded by hand. For comparison keys only (exact-dedup keys, MinHash shingles, n-grams), never the stored text: a
# fullwidth copy of a page or of a benchmark problem escaped dedup and decontamination.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_WIDE_RE = re.compile("[\uff01-\uff5e\u3000]")


def fold_width(text: str) -> str:
    """`text` with fullwidth ASCII forms as ASCII and U+3000 as a space."""
    # a search first: most text has none, and str.translate with a table costs a dict lookup a character
    return text.translate(_FULLWIDTH) if not text.isascii() and _WIDE_RE.search(text) else text


def words(text: str) -> list[str]:
    return _WORD.findall(fold_width(normalize(text)).lower())


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
