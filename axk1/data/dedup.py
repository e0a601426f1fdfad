"""Deduplication on datatrove's blocks: exact (hash of normalised text) and near-duplicate MinHash-LSH across
all shards, with shingles over Kiwi morphemes (datatrove's KiwiTokenizer) or character n-grams."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
from datatrove.utils.hashing import HashConfig
from datatrove.utils.text import ngrams, simplify_text
from datatrove.utils.word_tokenizers import KiwiTokenizer, WordTokenizer

from axk1.data.dedup_check import SketchWriter
from axk1.text.korean import get_kiwi
from axk1.text.ngrams import SHINGLE_CHARS, char_grams, fold_width

_SPACE_RE = re.compile(r"\s+")
# Where Kiwi's input is cut for "kiwi" shingles: line breaks and sentence ends (before simplify_text removes them)
_SENTENCE_BREAK_RE = re.compile(r"(?<=[.!?。？！])\s+|\n+")


@dataclass
class DedupConfig:
    exact: bool = True
    near: bool = True
    shingles: str = "char"     # "char" (character n-grams, no model) or "kiwi" (Kiwi morphemes, FineWeb-2's choice)
    n_grams: int = 5            # words per shingle for "kiwi"
    char_n_grams: int = SHINGLE_CHARS  # characters per shingle for "char" (7, synthetic data's too: text/ngrams.py)
    num_buckets: int = 14
    hashes_per_bucket: int = 8
    seed: int = 1
    # candidate pairs are kept at this estimated Jaccard or more (axk1/data/dedup_check.py); 0 = LSH alone
    min_jaccard: float = 0.72

    def __post_init__(self) -> None:
        if self.shingles not in ("char", "kiwi"):
            raise ValueError(f"dedup.shingles = {self.shingles!r}: use 'char' or 'kiwi'")
        # each must be a positive count: 0 buckets divided by zero inside datatrove, 0 hashes indexed past a tuple,
        # 0-character shingles made nearly every document a near-duplicate of another, negative ones none
        for name in ("n_grams", "char_n_grams", "num_buckets", "hashes_per_bucket"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"dedup.{name} = {value!r}: must be a whole number >= 1 (default "
                                 f"{getattr(DedupConfig, name)})")
        j = self.min_jaccard
        if isinstance(j, bool) or not isinstance(j, (int, float)) or not 0 <= j <= 1:
            raise ValueError(f"dedup.min_jaccard = {j!r}: must be a number from 0 (LSH alone) to 1 (default 0.72)")

    def minhash_config(self) -> MinhashConfig:
        return MinhashConfig(n_grams=self.n_grams, num_buckets=self.num_buckets,
                             hashes_per_bucket=self.hashes_per_bucket, seed=self.seed,
                             hash_config=HashConfig(precision=64, hash_fc="xxhash"))


def normalized_content(doc: Document) -> str:
    """The exact-dedup key: NFC, fullwidth ASCII folded (fold_width), lower case, whitespace collapsed (the return
    annotation picks the hash input)."""
    return _SPACE_RE.sub(" ", fold_width(unicodedata.normalize("NFC", doc.text))).strip().lower()


def exact_config() -> ExactDedupConfig:
    return ExactDedupConfig(content_getter=normalized_content, hash_config=HashConfig(precision=64, hash_fc="xxhash"))


class _SharedKiwi(KiwiTokenizer):
    """datatrove's KiwiTokenizer (its "sbg" model, its preprocessing) over the process's one Kiwi of that model.
    Its own loads a Kiwi per instance, about 4 s, and datatrove's executors give every task its own copy of the
    pipeline (a deep copy in-process, a pickle per task in a pool), so each task of the signature stage loaded
    the model again."""

    @property
    def tokenizer(self):
        return get_kiwi(self.model_type)


class _Whitespace(WordTokenizer):
    """Placeholder word tokenizer for character shingles (datatrove's default for "en" would need spaCy)."""

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return text.split("\n")

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]


class ShingledMinhashSignature(MinhashDedupSignature):
    """datatrove's MinHash signature stage with a choice of shingles: Kiwi morpheme n-grams or character n-grams
    of the simplified text with whitespace removed (robust to Korean spacing differences)."""

    name = "🎯 MinHash stage 1 (axk1 shingles)"

    def __init__(self, output_folder, config: DedupConfig):
        self.dedup_config = config
        super().__init__(output_folder, config=config.minhash_config(),
                         language=_SharedKiwi() if config.shingles == "kiwi" else _Whitespace())

    def run(self, data, rank: int = 0, world_size: int = 1):
        # A document from a source with near_dedup = false gets no signature (empty text has no shingles) but
        # still takes its index, so the filter stage stays aligned.
        def blank_skipped():
            for self._doc_idx, doc in enumerate(data):
                if doc.metadata.get("skip_near_dedup"):
                    doc = Document(text="", id=doc.id, metadata=doc.metadata)
                yield doc
        # Each document's whole signature, for the check of candidate pairs (dedup_check.py); datatrove computes a
        # document's signature before it takes the next one, so _doc_idx is that document's index.
        self._sketch = SketchWriter(self.output_folder.path, rank, self.num_hashes) \
            if self.dedup_config.min_jaccard else None
        try:
            return super().run(blank_skipped(), rank, world_size)
        finally:
            if self._sketch:
                self._sketch.close()

    def get_signature(self, shingles: np.ndarray) -> list[list[int]]:
        signature = super().get_signature(shingles)
        if getattr(self, "_sketch", None):
            self._sketch.write(self._doc_idx, signature)
        return signature

    def _simplified(self, text: str) -> str:
        # datatrove's simplify_text strips diacritics by decomposing to NFD, which splits every Hangul syllable into
        # two or three jamo: Kiwi then finds no morphemes (it returns whole eojeol) and a 7-character shingle held
        # under three syllables. Recomposing keeps the diacritic stripping for Latin text and gives Hangul back.
        # Fullwidth ASCII is folded first (fold_width), so a fullwidth copy has the shingles of its original.
        return unicodedata.normalize("NFC", simplify_text(fold_width(text), self.config.norm_config))

    def get_shingles(self, text: str) -> np.ndarray:
        if self.dedup_config.shingles == "kiwi":
            # Kiwi's "sbg" model slows down sharply on one long unpunctuated string, which simplify_text makes of a
            # whole document: each sentence or line is simplified and tokenised on its own (11 times faster on
            # konlpy's bills, as good a match: benchmarks/RESULTS.md), and the shingles still run across them.
            words = [w for piece in _SENTENCE_BREAK_RE.split(text) if (simple := self._simplified(piece))
                     for w in self.word_tokenizer.word_tokenize(simple)]
            return np.fromiter((self._hash_func(" ".join(g)) for g in ngrams(words, self.config.n_grams)),
                               dtype=np.uint64).reshape((-1, 1))
        grams = char_grams(self._simplified(text), self.dedup_config.char_n_grams)
        return np.fromiter((self._hash_func(g) for g in sorted(grams)), dtype=np.uint64).reshape((-1, 1))
